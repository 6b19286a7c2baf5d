//! gix's HTTP transport set up with a registry's policy, shared by git
//! registries ([`crate::registry::git`]) and git install sources
//! ([`crate::sources::git`]): the extra trusted roots, the token for the
//! registry's origin only ([`Auth`]), and no credential prompts.

use std::any::Any;
use std::sync::Arc;

use crate::net::Auth;

fn err(e: impl std::error::Error) -> String {
    crate::http::chain(&e)
}

pub(crate) const NEEDS_TOKEN: &str = "the server asks for credentials: set the environment variable named by the registry's `token_env` (`knap registry add NAME URL --token-env VAR`)";

/// How gix's HTTP transport is set up for one URL (see [`HttpPolicy`](crate::net::HttpPolicy)): extra
/// trusted roots, and a token sent to the registry's origin only. Shared with git
/// install sources.
pub(crate) struct TransportSetup {
    pub url: String,
    pub auth: Auth,
    pub roots: Vec<reqwest::Certificate>,
    /// The time to connect and the total deadline of each HTTP request of
    /// a fetch (`KNAP_HTTP_CONNECT_TIMEOUT`, `KNAP_HTTP_TIMEOUT`); `None`
    /// keeps gix's own.
    pub connect_timeout: Option<std::time::Duration>,
    pub timeout: Option<std::time::Duration>,
}

type HttpOptions = gix::protocol::transport::client::blocking_io::http::Options;
type ReqwestOptions = gix::protocol::transport::client::blocking_io::http::reqwest::Options;

impl TransportSetup {
    /// gix's HTTP options for `repo` (from its git configuration) plus the
    /// extra roots and the token; `None` for non-HTTP URLs.
    pub(crate) fn options(&self, repo: &gix::Repository) -> Result<Option<Box<dyn Any>>, String> {
        let Some(opts) = repo
            .transport_options(self.url.as_str(), None)
            .map_err(err)?
        else {
            return Ok(None);
        };
        let mut opts = opts
            .downcast::<HttpOptions>()
            .map_err(|_| "gix gave HTTP options of an unexpected type".to_string())?;
        let mut backend = ReqwestOptions::default();
        // The timeouts bound every request of the fetch (the total one
        // includes reading the body, so a server that drips is cut off);
        // the extra roots are trusted besides the system's.
        let (roots, connect, total) = (self.roots.clone(), self.connect_timeout, self.timeout);
        backend.configure_client = Some(Box::new(move |mut b| {
            if !roots.is_empty() {
                b = b.tls_certs_merge(roots.clone());
            }
            if let Some(c) = connect {
                b = b.connect_timeout(c);
            }
            if let Some(t) = total {
                b = b.timeout(t);
            }
            Ok(b)
        }));
        if self.auth.is_set() {
            let auth = self.auth.clone();
            backend.configure_request = Some(Box::new(move |req| {
                if let Some(value) = auth.header_for(req.url()).map_err(gix::Error::from_error)? {
                    req.headers_mut()
                        .insert(reqwest::header::AUTHORIZATION, value);
                }
                Ok(())
            }));
        }
        opts.backend = Some(Arc::new(std::sync::Mutex::new(backend)));
        Ok(Some(opts))
    }
}

/// Answers gix's request for credentials: never a prompt, an error naming
/// `token_env` instead.
pub(crate) fn no_prompt(
    action: gix::credentials::helper::Action,
) -> gix::Result<Option<gix::credentials::protocol::Outcome>> {
    match action {
        gix::credentials::helper::Action::Get(_) => {
            Err(gix::Error::from_error(std::io::Error::other(NEEDS_TOKEN)))
        }
        _ => Ok(None),
    }
}
