//! HTTP(S) fetching for registries: conditional GET, gzip, a size limit
//! enforced while streaming, timeouts, retries with backoff, a bearer token
//! for the registry's own host only, and extra CA roots.
//!
//! Knobs for tests and slow links (environment): `KNAP_HTTP_TIMEOUT` (total
//! seconds per request, default 60), `KNAP_HTTP_CONNECT_TIMEOUT` (default
//! 10), `KNAP_HTTP_RETRIES` (default 3), `KNAP_HTTP_BACKOFF_MS` (first
//! backoff, doubled each retry, default 200), `KNAP_MAX_INDEX_SIZE` (bytes,
//! default 64 MiB).

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT, AUTHORIZATION, ETAG, HeaderMap, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    LAST_MODIFIED, USER_AGENT,
};
use url::Url;

/// The default largest document (64 MiB).
pub const DEFAULT_MAX_SIZE: u64 = 64 * 1024 * 1024;

/// Timeouts, retries and the size limit.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub retries: u32,
    pub backoff: Duration,
    pub max_size: u64,
}

impl HttpSettings {
    /// The defaults, overridden by the `KNAP_HTTP_*` variables.
    pub fn from_env() -> Self {
        fn num(name: &str) -> Option<f64> {
            std::env::var(name).ok()?.trim().parse().ok()
        }
        Self {
            timeout: Duration::from_secs_f64(num("KNAP_HTTP_TIMEOUT").unwrap_or(60.0)),
            connect_timeout: Duration::from_secs_f64(
                num("KNAP_HTTP_CONNECT_TIMEOUT").unwrap_or(10.0),
            ),
            retries: num("KNAP_HTTP_RETRIES").map(|n| n as u32).unwrap_or(3),
            backoff: Duration::from_millis(num("KNAP_HTTP_BACKOFF_MS").unwrap_or(200.0) as u64),
            max_size: num("KNAP_MAX_INDEX_SIZE")
                .map(|n| n as u64)
                .unwrap_or(DEFAULT_MAX_SIZE),
        }
    }
}

/// What one registry's fetcher is allowed and given.
#[derive(Debug, Clone, Default)]
pub struct FetchPolicy {
    /// Plain http:// to non-loopback hosts (also on redirects).
    pub allow_http: bool,
    /// The token and the only host it is sent to.
    pub token: Option<(String, String)>,
    /// PEM files whose certificates are trusted in addition to the system's.
    pub ca_files: Vec<PathBuf>,
    /// Show a progress bar for bodies.
    pub progress: bool,
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

/// Why a fetch failed; the message names the URL.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: {message}")]
    Network { url: String, message: String },
    /// A redirect the policy refuses (see [`client_builder`]); not retried.
    #[error("{url}: {message}")]
    Redirect { url: String, message: String },
    #[error("{url}: the server answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error(
        "{url}: the document is larger than the limit of {limit} bytes (set KNAP_MAX_INDEX_SIZE to raise it)"
    )]
    TooLarge { url: String, limit: u64 },
    #[error("{0}")]
    Setup(String),
}

/// What makes two registries' clients different: the redirect policy and
/// the CA files.
type ClientKey = (bool, Vec<PathBuf>);

/// A client for one registry.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    settings: HttpSettings,
    policy: FetchPolicy,
}

impl Fetcher {
    /// A fetcher for one registry. Registries with the same redirect policy
    /// and CA files share one client (and so one connection pool and one
    /// load of the CA bundles).
    pub fn new(settings: HttpSettings, policy: FetchPolicy) -> Result<Self, FetchError> {
        static CLIENTS: Mutex<Vec<(ClientKey, reqwest::Client)>> = Mutex::new(Vec::new());
        let key = (policy.allow_http, policy.ca_files.clone());
        let mut clients = CLIENTS.lock().expect("client cache lock");
        let client = match clients.iter().find(|(k, _)| *k == key) {
            Some((_, c)) => c.clone(),
            None => {
                let c = build_client(&settings, &policy)?;
                clients.push((key, c.clone()));
                c
            }
        };
        Ok(Self {
            client,
            settings,
            policy,
        })
    }

    /// The same fetcher with a smaller size limit (TUF metadata reads).
    pub fn limited(&self, max_size: u64) -> Fetcher {
        let mut f = self.clone();
        f.settings.max_size = max_size.min(self.settings.max_size);
        f
    }

    /// GET `url`, conditional on `validators`, retrying connection errors
    /// and 5xx with exponential backoff.
    pub async fn get(
        &self,
        url: &Url,
        validators: Option<&Validators>,
    ) -> Result<Fetched, FetchError> {
        let mut attempt = 0;
        let mut backoff = self.settings.backoff;
        loop {
            match self.get_once(url, validators).await {
                Err(e) if attempt < self.settings.retries && retryable(&e) => {
                    attempt += 1;
                    tracing::debug!("{e}; retry {attempt} in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
                other => return other,
            }
        }
    }

    async fn get_once(
        &self,
        url: &Url,
        validators: Option<&Validators>,
    ) -> Result<Fetched, FetchError> {
        let net = |e: reqwest::Error| {
            let (url, message) = (url.to_string(), describe(&e));
            if e.is_redirect() {
                FetchError::Redirect { url, message }
            } else {
                FetchError::Network { url, message }
            }
        };
        let mut req = self
            .client
            .get(url.clone())
            .header(ACCEPT, "application/json");
        if let Some((host, token)) = &self.policy.token
            && url.host_str() == Some(host.as_str())
        {
            let mut v = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                FetchError::Setup("the registry token is not a valid header value".into())
            })?;
            v.set_sensitive(true);
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
        let limit = self.settings.max_size;
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
        let bar = (self.policy.progress && declared.is_some_and(|n| n > 256 * 1024))
            .then(|| crate::progress::download_bar(declared.unwrap_or(0), url.as_str()));
        let mut bytes = Vec::with_capacity(declared.unwrap_or(0).min(limit) as usize);
        while let Some(chunk) = resp.chunk().await.map_err(net)? {
            if bytes.len() as u64 + chunk.len() as u64 > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
            if let Some(b) = &bar {
                b.set_position(bytes.len() as u64);
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        Ok(Fetched::Body {
            bytes,
            etag,
            last_modified,
        })
    }
}

fn build_client(
    settings: &HttpSettings,
    policy: &FetchPolicy,
) -> Result<reqwest::Client, FetchError> {
    client_builder(settings, policy.allow_http, &policy.ca_files)?
        .timeout(settings.timeout)
        .build()
        .map_err(|e| FetchError::Setup(format!("cannot set up HTTP: {}", chain(&e))))
}

/// A reqwest client builder with knap's policy for one registry: unless
/// `allow_http`, no redirect from https to plain http (not even to a
/// loopback host: that would be a downgrade) and none to plain http on
/// another host than a loopback one; no redirect to another scheme; at
/// most 10 redirects; knap's user agent, the connect and read timeouts,
/// and the extra CA roots. Index fetches add a total timeout; archive
/// downloads, which may be large, do not.
pub(crate) fn client_builder(
    settings: &HttpSettings,
    allow_http: bool,
    ca_files: &[PathBuf],
) -> Result<reqwest::ClientBuilder, FetchError> {
    let redirect = reqwest::redirect::Policy::custom(move |attempt| {
        let u = attempt.url();
        // `previous` starts with the URL first requested.
        let from_https = attempt.previous().iter().any(|p| p.scheme() == "https");
        if u.scheme() == "http" && !allow_http && from_https {
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
    let mut builder = reqwest::Client::builder()
        .default_headers(headers)
        .redirect(redirect)
        .connect_timeout(settings.connect_timeout)
        .read_timeout(settings.timeout);
    let certs = extra_roots(ca_files)?;
    if !certs.is_empty() {
        builder = builder.tls_certs_merge(certs);
    }
    Ok(builder)
}

/// The certificates of `ca_files` and of `SSL_CERT_FILE` (if set), trusted
/// in addition to the system's roots; shared with the git transport.
pub(crate) fn extra_roots(ca_files: &[PathBuf]) -> Result<Vec<reqwest::Certificate>, FetchError> {
    let mut certs = Vec::new();
    let mut files = ca_files.to_vec();
    if let Some(f) = crate::config::non_empty_env("SSL_CERT_FILE") {
        files.push(PathBuf::from(f));
    }
    for f in &files {
        let pem = std::fs::read(f).map_err(|e| {
            FetchError::Setup(format!("cannot read the CA file {}: {e}", f.display()))
        })?;
        let found = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            FetchError::Setup(format!(
                "{}: not a PEM certificate bundle: {e}",
                f.display()
            ))
        })?;
        if found.is_empty() {
            return Err(FetchError::Setup(format!(
                "{}: holds no PEM certificate",
                f.display()
            )));
        }
        certs.extend(found);
    }
    Ok(certs)
}

fn retryable(e: &FetchError) -> bool {
    match e {
        FetchError::Network { message, .. } => !message.contains("timed out"),
        FetchError::Status { status, .. } => *status >= 500,
        _ => false,
    }
}

/// The whole error chain of a reqwest error in one line, with a hint for
/// the common causes.
fn describe(e: &reqwest::Error) -> String {
    let text = chain(e);
    let lower = text.to_lowercase();
    if e.is_timeout() || lower.contains("timed out") {
        format!("timed out ({text}); check the server, or raise KNAP_HTTP_TIMEOUT")
    } else if lower.contains("certificate") || lower.contains("unknownissuer") {
        format!(
            "TLS certificate not trusted ({text}); if the registry uses a private CA, add it with `knap registry add ... --ca-file PEM` or `ca_file` in the configuration"
        )
    } else if e.is_connect() {
        format!("cannot connect ({text})")
    } else if e.is_body() || e.is_decode() {
        format!("the response body was cut off or unreadable ({text})")
    } else {
        text
    }
}

pub(crate) fn chain(e: &dyn std::error::Error) -> String {
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
