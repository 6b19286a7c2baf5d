//! The reqwest clients of knap's registries, built from a registry's
//! [`HttpPolicy`] (its redirect rules, timeouts, token, extra CA roots) and
//! shared by every registry with the same policy and origin (each origin's
//! connections managed by its [`Origin`]): an origin's [`Lanes`], one
//! client and so one connection pool each; and a failed request as a typed
//! [`FetchError`].

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use reqwest::header::{HeaderMap, HeaderValue, USER_AGENT};
use url::Url;

use super::origin::{Origin, Protocol};
use super::{FetchError, HttpPolicy, HttpSettings, NetCause, TlsRoots};

/// What makes two clients different: the redirect policy, whether a
/// token is sent, the CA files, the timeouts, and the origin requested
/// (`scheme://host:port`).
type ClientKey = (bool, bool, TlsRoots, HttpSettings, String);

/// How many requests the first HTTP/2 connection to an origin carries
/// before a second one is opened: 100, the stream limit of the smallest
/// common servers (Fastly, which serves GitHub Pages, Apache, h2o,
/// hypercorn) and curl's own per-connection count. Past it the requests
/// go to whichever connection carries fewer, up to the origin's
/// [`super::origin::HTTP2_IN_FLIGHT`] in all.
pub(super) const HTTP2_SECOND_CONNECTION_AT: usize = 100;

/// An origin's clients: the first, which every request to an origin that
/// speaks HTTP/1.x (or is not known yet) uses, and a second one, made when
/// the first carries [`HTTP2_SECOND_CONNECTION_AT`] HTTP/2 requests at
/// once: a second pool, so a second HTTP/2 connection (hyper's pool keeps
/// one per origin). A server's stream limit bounds the streams on one
/// connection, so with more requests ready than that, a second connection
/// is what lets them go out (Cargo, through curl, opens one too). Each
/// lane has its own [`Origin`] (its own connection's state: GOAWAY, the
/// requests to send again); the first lane's gate admits every request.
pub(super) struct Lanes {
    pub(super) first: Lane,
    second: tokio::sync::OnceCell<Option<Lane>>,
    /// The second lane's client is being made (or was).
    warming: AtomicBool,
    policy: HttpPolicy,
}

/// One client of an origin and the requests it carries now.
pub(super) struct Lane {
    pub(super) client: reqwest::Client,
    pub(super) origin: Arc<Origin>,
    in_flight: AtomicUsize,
}

/// A request on a lane, counted while it is held.
pub(super) struct OnLane<'a> {
    pub(super) lane: &'a Lane,
}

impl Drop for OnLane<'_> {
    fn drop(&mut self) {
        self.lane.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Lane {
    fn new(policy: &HttpPolicy) -> Result<Self, FetchError> {
        let origin = Origin::new();
        let client = client_builder(policy)?
            .connector_layer(origin.layer())
            .build()
            .map_err(|e| FetchError::setup_caused_by("cannot set up HTTP", e))?;
        Ok(Self {
            client,
            origin,
            in_flight: AtomicUsize::new(0),
        })
    }

    fn carrying(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    fn enter(&self) -> OnLane<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        OnLane { lane: self }
    }
}

impl Lanes {
    /// The lane for a request just admitted by the first lane's gate: the
    /// first, unless it speaks HTTP/2 and carries
    /// [`HTTP2_SECOND_CONNECTION_AT`] requests already; then the one that
    /// carries fewer. The second client is made off the runtime (it reads
    /// the system's CA roots), starting once the first lane carries half
    /// that many, so that it is most often ready when needed; a request
    /// that needs it before waits for it. The second lane is left alone if
    /// its connection turned out not to speak HTTP/2, or its client could
    /// not be made.
    pub(super) async fn pick(self: &Arc<Self>) -> OnLane<'_> {
        let first = &self.first;
        let busy = first.carrying();
        if busy < HTTP2_SECOND_CONNECTION_AT / 2 || first.origin.protocol() != Protocol::Http2 {
            return first.enter();
        }
        if busy < HTTP2_SECOND_CONNECTION_AT {
            if !self.warming.swap(true, Ordering::Relaxed) {
                let me = Arc::clone(self);
                tokio::spawn(async move {
                    me.second().await;
                });
            }
            return first.enter();
        }
        match self.second().await {
            Some(s)
                if s.origin.protocol() != Protocol::Http1 && s.carrying() < first.carrying() =>
            {
                s.enter()
            }
            _ => first.enter(),
        }
    }

    /// The second lane, made the first time it is asked for.
    async fn second(self: &Arc<Self>) -> Option<&Lane> {
        self.second
            .get_or_init(|| async {
                let me = Arc::clone(self);
                let made = tokio::task::spawn_blocking(move || Lane::new(&me.policy))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|l| l.map_err(|e| e.to_string()));
                match made {
                    Ok(l) => {
                        tracing::debug!("HTTP/2: a second client, for a second connection");
                        Some(l)
                    }
                    Err(e) => {
                        tracing::debug!("no second connection: {e}");
                        None
                    }
                }
            })
            .await
            .as_ref()
    }
}

/// The lanes for `policy` and the origin of `url`, shared by every caller
/// with the same key, each lane's [`Origin`] seeing every connect through
/// its connector layer. Their clients have the connect and read timeouts
/// only: the total deadlines are kept by the transfers themselves
/// ([`super::until`], which says which limit was hit).
pub(super) fn shared_lanes(policy: &HttpPolicy, url: &Url) -> Result<Arc<Lanes>, FetchError> {
    static LANES: Mutex<Vec<(ClientKey, Arc<Lanes>)>> = Mutex::new(Vec::new());
    let key = (
        policy.allow_http,
        policy.auth.is_set(),
        policy.tls.clone(),
        policy.settings.clone(),
        url.origin().ascii_serialization(),
    );
    let mut all = LANES.lock().expect("client cache lock");
    if let Some((_, l)) = all.iter().find(|(k, _)| *k == key) {
        return Ok(Arc::clone(l));
    }
    let lanes = Arc::new(Lanes {
        first: Lane::new(policy)?,
        second: tokio::sync::OnceCell::new(),
        warming: AtomicBool::new(false),
        policy: policy.clone(),
    });
    all.push((key, Arc::clone(&lanes)));
    Ok(lanes)
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
