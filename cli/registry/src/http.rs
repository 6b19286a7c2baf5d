//! HTTP(S) fetching of index documents: conditional GET, gzip, a size
//! limit enforced while streaming, and the reqwest clients every HTTP user
//! of a registry shares, built from its [`HttpPolicy`] (timeouts, retries,
//! the token for the registry's origin only, extra CA roots: see
//! [`crate::net`], which also lists the `KNAP_HTTP_*` knobs).

use std::sync::{Arc, Mutex};

use knap_schema::progress::{Event, Reporter};

use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, ETAG, HeaderMap, HeaderValue, IF_MODIFIED_SINCE,
    IF_NONE_MATCH, LAST_MODIFIED, USER_AGENT,
};
use url::Url;

pub use crate::net::FetchError;
pub use crate::net::{DEFAULT_MAX_SIZE, HttpSettings};
use crate::net::{HttpPolicy, NetCause, TlsRoots};

/// The download events of one body: started, every 256 KiB, finished.
pub(crate) struct Progress<'a> {
    reporter: &'a dyn Reporter,
    url: String,
    bytes: u64,
    reported: u64,
}

impl<'a> Progress<'a> {
    pub(crate) fn start(reporter: &'a dyn Reporter, url: &Url, total: Option<u64>) -> Self {
        let url = url.to_string();
        reporter.report(Event::DownloadStarted {
            url: url.clone(),
            total,
        });
        Self {
            reporter,
            url,
            bytes: 0,
            reported: 0,
        }
    }

    pub(crate) fn advance(&mut self, n: usize) {
        self.bytes += n as u64;
        if self.bytes - self.reported >= 256 * 1024 {
            self.reported = self.bytes;
            self.reporter.report(Event::Downloaded {
                url: self.url.clone(),
                bytes: self.bytes,
            });
        }
    }

    pub(crate) fn finish(self) {
        self.reporter.report(Event::DownloadFinished {
            url: self.url,
            bytes: self.bytes,
        });
    }
}

/// Validators of a cached copy, sent to revalidate it.
#[derive(Debug, Clone, Default)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// The answer to a (conditional) GET.
#[derive(Debug)]
pub enum Fetched {
    /// 304: the cached copy is current.
    NotModified,
    /// 404 or 410.
    NotFound,
    Body {
        bytes: Vec<u8>,
        etag: Option<String>,
        last_modified: Option<String>,
    },
}

/// What makes two clients different: the redirect policy, whether a
/// token is sent, the CA files and the timeouts.
type ClientKey = (bool, bool, TlsRoots, HttpSettings);

/// A client for one registry.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    policy: HttpPolicy,
    /// Where bodies report their progress.
    reporter: Arc<dyn Reporter>,
}

impl Fetcher {
    /// A fetcher for one registry. Registries with the same policy (but
    /// their tokens) share one client (and so one connection pool and one
    /// load of the CA bundles).
    pub fn new(policy: HttpPolicy, reporter: Arc<dyn Reporter>) -> Result<Self, FetchError> {
        let client = shared_client(&policy)?;
        Ok(Self {
            client,
            policy,
            reporter,
        })
    }

    /// The same fetcher with a smaller size limit (TUF metadata reads).
    pub fn limited(&self, max_size: u64) -> Fetcher {
        let mut f = self.clone();
        f.policy.settings.max_size = max_size.min(self.policy.settings.max_size);
        f
    }

    /// GET `url`, conditional on `validators`, retrying connection errors
    /// and 5xx with exponential backoff, all within the total deadline
    /// (`KNAP_HTTP_TIMEOUT`, retries included).
    pub async fn get(
        &self,
        url: &Url,
        validators: Option<&Validators>,
    ) -> Result<Fetched, FetchError> {
        let settings = &self.policy.settings;
        let deadline = tokio::time::Instant::now() + settings.timeout;
        crate::net::until(
            deadline,
            url,
            crate::net::Limit::IndexTotal(settings.timeout),
            crate::net::with_retries(settings, || self.get_once(url, validators)),
        )
        .await
    }

    async fn get_once(
        &self,
        url: &Url,
        validators: Option<&Validators>,
    ) -> Result<Fetched, FetchError> {
        let net = |e: reqwest::Error| network_error(url, &e, &self.policy.settings);
        let mut req = self
            .client
            .get(url.clone())
            .header(ACCEPT, "application/json");
        if let Some(v) = self.policy.auth.header_for(url)? {
            req = req.header(AUTHORIZATION, v);
        }
        if let Some(v) = validators {
            if let Some(e) = &v.etag {
                req = req.header(IF_NONE_MATCH, e);
            }
            if let Some(m) = &v.last_modified {
                req = req.header(IF_MODIFIED_SINCE, m);
            }
        }
        tracing::debug!("GET {url}");
        let mut resp = req.send().await.map_err(net)?;
        let status = resp.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified);
        }
        if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
            return Ok(Fetched::NotFound);
        }
        if !status.is_success() {
            return Err(FetchError::Status {
                url: url.to_string(),
                status: status.as_u16(),
            });
        }
        let limit = self.policy.settings.max_size;
        let too_large = || FetchError::TooLarge {
            url: url.to_string(),
            limit,
        };
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let etag = header(ETAG);
        let last_modified = header(LAST_MODIFIED);
        let declared = resp.content_length();
        if declared.is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let mut bytes = Vec::with_capacity(declared.unwrap_or(0).min(limit) as usize);
        let mut progress = Progress::start(&*self.reporter, url, declared);
        while let Some(chunk) = resp.chunk().await.map_err(net)? {
            if bytes.len() as u64 + chunk.len() as u64 > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
            progress.advance(chunk.len());
        }
        progress.finish();
        Ok(Fetched::Body {
            bytes,
            etag,
            last_modified,
        })
    }
}

/// An HTTP client for the archives of one registry's install sources
/// (or of a direct install): the registry's [`HttpPolicy`] (its redirect
/// rules, its connect and per-read timeouts, its extra CA files, its token
/// for its own origin only), and no transparent decoding: a checksum is of
/// the bytes published, whatever Content-Encoding a server or proxy claims.
#[derive(Clone)]
pub struct Downloader {
    client: reqwest::Client,
    policy: HttpPolicy,
}

impl Downloader {
    pub fn new(policy: &HttpPolicy) -> Result<Self, FetchError> {
        let client = client_builder(policy)?
            .no_gzip()
            .build()
            .map_err(|e| FetchError::Setup(format!("cannot set up HTTP: {}", chain(&e))))?;
        Ok(Self {
            client,
            policy: policy.clone(),
        })
    }

    /// Starts the download of `url`: the request is retried (connection
    /// errors and 5xx, see [`crate::net::retryable`]), a body cut off
    /// half-way is not; the whole transfer has one total deadline
    /// (`KNAP_HTTP_DOWNLOAD_TIMEOUT`), kept by [`Download::chunk`] too.
    pub async fn get<'r>(
        &self,
        url: &Url,
        reporter: &'r dyn Reporter,
    ) -> Result<Download<'r>, FetchError> {
        let settings = &self.policy.settings;
        let auth = self.policy.auth.header_for(url)?;
        let deadline = tokio::time::Instant::now() + settings.download_timeout;
        let limit = crate::net::Limit::DownloadTotal(settings.download_timeout);
        let request = crate::net::with_retries(settings, || async {
            let mut req = self
                .client
                .get(url.clone())
                .header(ACCEPT_ENCODING, "identity");
            if let Some(v) = &auth {
                req = req.header(AUTHORIZATION, v.clone());
            }
            tracing::debug!("GET {url}");
            let resp = req
                .send()
                .await
                .map_err(|e| network_error(url, &e, settings))?;
            let status = resp.status();
            if !status.is_success() {
                return Err(FetchError::Status {
                    url: url.to_string(),
                    status: status.as_u16(),
                });
            }
            Ok(resp)
        });
        let resp = crate::net::until(deadline, url, limit, request).await?;
        Ok(Download {
            resp,
            url: url.clone(),
            deadline,
            limit,
            settings: settings.clone(),
            reporter,
            progress: None,
        })
    }
}

/// The body of a download under way (see [`Downloader::get`]).
pub struct Download<'r> {
    resp: reqwest::Response,
    url: Url,
    deadline: tokio::time::Instant,
    limit: crate::net::Limit,
    settings: HttpSettings,
    reporter: &'r dyn Reporter,
    /// Started with the first chunk asked for.
    progress: Option<Progress<'r>>,
}

impl Download<'_> {
    /// The size the server declares, if it does.
    pub fn declared_len(&self) -> Option<u64> {
        self.resp.content_length()
    }

    /// The next bytes of the body, `None` at its end; within the download's
    /// total deadline. Reports the download's progress events.
    pub async fn chunk(
        &mut self,
    ) -> Result<Option<impl std::ops::Deref<Target = [u8]> + 'static>, FetchError> {
        if self.progress.is_none() {
            let declared = self.declared_len();
            self.progress = Some(Progress::start(self.reporter, &self.url, declared));
        }
        let (url, settings) = (&self.url, &self.settings);
        let resp = &mut self.resp;
        let chunk = crate::net::until(self.deadline, url, self.limit, async {
            resp.chunk()
                .await
                .map_err(|e| network_error(url, &e, settings))
        })
        .await?;
        match chunk {
            Some(c) => {
                if let Some(p) = &mut self.progress {
                    p.advance(c.len());
                }
                Ok(Some(c))
            }
            None => {
                if let Some(p) = self.progress.take() {
                    p.finish();
                }
                Ok(None)
            }
        }
    }
}

/// The client for `policy`, shared by every caller with the same key. It
/// has the connect and read timeouts only: the total deadlines are kept
/// by the transfers themselves ([`crate::net::until`], which says which
/// limit was hit).
pub(crate) fn shared_client(policy: &HttpPolicy) -> Result<reqwest::Client, FetchError> {
    static CLIENTS: Mutex<Vec<(ClientKey, reqwest::Client)>> = Mutex::new(Vec::new());
    let key = (
        policy.allow_http,
        policy.auth.is_set(),
        policy.tls.clone(),
        policy.settings.clone(),
    );
    let mut clients = CLIENTS.lock().expect("client cache lock");
    if let Some((_, c)) = clients.iter().find(|(k, _)| *k == key) {
        return Ok(c.clone());
    }
    let c = client_builder(policy)?
        .build()
        .map_err(|e| FetchError::Setup(format!("cannot set up HTTP: {}", chain(&e))))?;
    clients.push((key, c.clone()));
    Ok(c)
}

/// A reqwest client builder with knap's policy for one registry: unless
/// `allow_http`, no redirect from https to plain http (not even to a
/// loopback host: that would be a downgrade) and none to plain http on
/// another host than a loopback one; with a token, no redirect from https
/// to plain http at all; no redirect to another scheme; at most 10
/// redirects; knap's user agent, the connect and read timeouts, and the
/// extra CA roots. (reqwest itself drops the `Authorization` header on a
/// redirect to another host or port.)
pub(crate) fn client_builder(policy: &HttpPolicy) -> Result<reqwest::ClientBuilder, FetchError> {
    let allow_http = policy.allow_http;
    let with_token = policy.auth.is_set();
    let redirect = reqwest::redirect::Policy::custom(move |attempt| {
        let u = attempt.url();
        // `previous` starts with the URL first requested.
        let from_https = attempt.previous().iter().any(|p| p.scheme() == "https");
        if u.scheme() == "http" && from_https && with_token {
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
/// failure with its [`NetCause`].
pub(crate) fn network_error(url: &Url, e: &reqwest::Error, settings: &HttpSettings) -> FetchError {
    let cause = NetCause::of(e, settings);
    // reqwest's text names the URL again ("... for url (URL)"): the error
    // names it once, first.
    let url = url.to_string();
    let message = describe(e, cause).replace(&format!(" for url ({url})"), "");
    if cause == NetCause::Redirect {
        FetchError::Redirect { url, message }
    } else {
        FetchError::Network {
            url,
            message,
            cause,
        }
    }
}

/// The whole error chain of a reqwest error in one line, saying what the
/// common causes mean (the hint is [`FetchError::hint`]).
fn describe(e: &reqwest::Error, cause: NetCause) -> String {
    let text = chain(e);
    match cause {
        NetCause::Timeout(limit) => format!("timed out: {limit} ({text})"),
        NetCause::Tls => format!("TLS certificate not trusted ({text})"),
        NetCause::Connect => format!("cannot connect ({text})"),
        NetCause::Body => format!("the response body was cut off or unreadable ({text})"),
        NetCause::Redirect | NetCause::Other => text,
    }
}

pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// An error message from a library that reports failures only in words,
/// lowercased and without the URLs in it (any word holding `://`), for
/// matching those words: a URL's host, port or path may hold any of them
/// (`…/timeout-utils.git`, port 40477).
pub fn words_without_urls(text: &str) -> String {
    text.split_whitespace()
        .filter(|w| !w.contains("://"))
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// True when `text` (an error message from a library that reports HTTP
/// statuses only in words) holds `status` as a number on its own: not
/// inside a longer number, nor as a port after `:` (port 40477 holds
/// "404").
pub fn names_status(text: &str, status: &str) -> bool {
    text.match_indices(status).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + status.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit() || c == ':')
            && !after.is_some_and(|c| c.is_ascii_digit())
    })
}
