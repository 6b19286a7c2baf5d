//! The reqwest clients of knap's registries, built from a registry's
//! [`HttpPolicy`] (its redirect rules, timeouts, token, extra CA roots) and
//! shared by every registry with the same policy and origin (each origin's
//! connections managed by its [`Origin`]); and a failed request as a typed
//! [`FetchError`].

use std::sync::{Arc, Mutex};

use reqwest::header::{HeaderMap, HeaderValue, USER_AGENT};
use url::Url;

use super::origin::Origin;
use super::{FetchError, HttpPolicy, HttpSettings, NetCause, TlsRoots};

/// What makes two clients different: the redirect policy, whether a
/// token is sent, the CA files, the timeouts, and the origin requested
/// (`scheme://host:port`).
type ClientKey = (bool, bool, TlsRoots, HttpSettings, String);

/// The client for `policy` and the origin of `url`, shared by every caller
/// with the same key, with that origin's [`Origin`] (which sees every
/// connect through its connector layer). It has the connect and read
/// timeouts only: the total deadlines are kept by the transfers themselves
/// ([`super::until`], which says which limit was hit).
pub(super) fn shared_client(
    policy: &HttpPolicy,
    url: &Url,
) -> Result<(reqwest::Client, Arc<Origin>), FetchError> {
    type Cached = (ClientKey, reqwest::Client, Arc<Origin>);
    static CLIENTS: Mutex<Vec<Cached>> = Mutex::new(Vec::new());
    let key = (
        policy.allow_http,
        policy.auth.is_set(),
        policy.tls.clone(),
        policy.settings.clone(),
        url.origin().ascii_serialization(),
    );
    let mut clients = CLIENTS.lock().expect("client cache lock");
    if let Some((_, c, o)) = clients.iter().find(|(k, ..)| *k == key) {
        return Ok((c.clone(), Arc::clone(o)));
    }
    let origin = Origin::new();
    let c = client_builder(policy)?
        .connector_layer(origin.layer())
        .build()
        .map_err(|e| FetchError::setup_caused_by("cannot set up HTTP", e))?;
    clients.push((key, c.clone(), Arc::clone(&origin)));
    Ok((c, origin))
}

/// A reqwest client builder with knap's policy for one registry: no
/// redirect to a URL with credentials (reqwest would send them as Basic
/// authentication); unless
/// `allow_http`, no redirect from https to plain http (not even to a
/// loopback host: that would be a downgrade) and none to plain http on
/// another host than a loopback one; with a token, no redirect from https
/// to plain http at all; no redirect to another scheme; at most 10
/// redirects; knap's user agent, the connect and read timeouts, and the
/// extra CA roots. (reqwest itself drops the `Authorization` header on a
/// redirect to another host or port.)
pub(super) fn client_builder(policy: &HttpPolicy) -> Result<reqwest::ClientBuilder, FetchError> {
    let allow_http = policy.allow_http;
    let with_token = policy.auth.is_set();
    let redirect = reqwest::redirect::Policy::custom(move |attempt| {
        let u = attempt.url();
        // `previous` starts with the URL first requested.
        let from_https = attempt.previous().iter().any(|p| p.scheme() == "https");
        if knap_schema::urls::has_userinfo(u) {
            // Never shown: the printers hide a URL's credentials anyway.
            attempt.error("refusing a redirect to a URL with credentials (user:password@)")
        } else if u.scheme() == "http" && from_https && with_token {
            let msg = format!(
                "refusing a redirect from https to plain http while sending the registry's token: {u}"
            );
            attempt.error(msg)
        } else if u.scheme() == "http" && !allow_http && from_https {
            let msg = format!(
                "refusing a redirect from https to plain http: {u}; the server should redirect to https (or add the registry with --allow-http if plain http is intended)"
            );
            attempt.error(msg)
        } else if u.scheme() == "http" && !allow_http && !knap_schema::urls::is_loopback(u) {
            let msg = format!("refusing a redirect to plain http: {u}");
            attempt.error(msg)
        } else if !matches!(u.scheme(), "http" | "https") {
            let msg = format!("refusing a redirect to {u}");
            attempt.error(msg)
        } else if attempt.previous().len() >= 10 {
            attempt.error("too many redirects")
        } else {
            attempt.follow()
        }
    });
    let mut headers = HeaderMap::new();
    headers.insert(
        USER_AGENT,
        HeaderValue::from_static(concat!("knap/", env!("CARGO_PKG_VERSION"))),
    );
    let settings = &policy.settings;
    let mut builder = reqwest::Client::builder()
        .default_headers(headers)
        .redirect(redirect)
        .connect_timeout(settings.connect_timeout)
        .read_timeout(settings.read_timeout);
    let certs = policy.tls.certificates()?;
    if !certs.is_empty() {
        builder = builder.tls_certs_merge(certs);
    }
    Ok(builder)
}

/// A failed request as a typed error: a refused redirect, or a network
/// failure with its [`NetCause`], reqwest's error (without the URL, which
/// the error names first) as its cause.
pub(super) fn network_error(url: &Url, e: reqwest::Error, settings: &HttpSettings) -> FetchError {
    let cause = NetCause::of(&e, settings);
    let url = url.to_string();
    let source = e.without_url();
    if cause == NetCause::Redirect {
        FetchError::Redirect { url, source }
    } else {
        FetchError::Network {
            url,
            cause,
            source: Some(source),
        }
    }
}
