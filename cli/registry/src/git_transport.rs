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
        if !self.roots.is_empty() {
            let roots = self.roots.clone();
            backend.configure_client =
                Some(Box::new(move |b| Ok(b.tls_certs_merge(roots.clone()))));
        }
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
