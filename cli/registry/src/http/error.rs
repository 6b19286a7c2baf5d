//! Why a transfer failed, typed: [`FetchError`] names the URL, and a
//! network failure carries its [`NetCause`] (classified from reqwest's
//! error type and its cause chain, never from the text of a message),
//! which decides whether it is retried and what the hint says; a timeout
//! names the [`Limit`] it hit and the variable that sets it.

use std::time::Duration;

use url::Url;

use super::HttpSettings;

/// Why a fetch failed; the message names the URL.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: {message}")]
    Network {
        url: String,
        message: String,
        cause: NetCause,
    },
    /// A redirect the policy refuses (see `http::client_builder`); not retried.
    #[error("{url}: {message}")]
    Redirect { url: String, message: String },
    #[error("{url}: the server answered HTTP {status}")]
    Status { url: String, status: u16 },
    /// A `304 Not Modified` to a request that named no cached copy (there
    /// is none).
    #[error(
        "{url}: the server answered 304 Not Modified to a request that named no cached copy (there is none), so there is no document to use; the server or a proxy in between is misconfigured"
    )]
    NotModifiedUnasked { url: String },
    #[error(
        "{url}: the document is larger than the limit of {limit} bytes (set KNAP_MAX_INDEX_SIZE to raise it)"
    )]
    TooLarge { url: String, limit: u64 },
    #[error("{0}")]
    Setup(String),
    /// The last failure of a request tried `attempts` times.
    #[error("{last} (after {attempts} attempts)")]
    Retried {
        attempts: u32,
        last: Box<FetchError>,
    },
}

impl FetchError {
    /// The exit-code class: a size limit is an integrity failure, a setup
    /// problem (a CA file, a token) "other", the rest the network's.
    pub fn kind(&self) -> crate::error::Kind {
        use crate::error::Kind;
        match self {
            FetchError::TooLarge { .. } => Kind::Integrity,
            FetchError::Setup(_) => Kind::Other,
            FetchError::Network { .. }
            | FetchError::Redirect { .. }
            | FetchError::Status { .. }
            | FetchError::NotModifiedUnasked { .. } => Kind::Registry,
            FetchError::Retried { last, .. } => last.kind(),
        }
    }

    /// What to do about it, when there is something.
    pub fn hint(&self) -> Option<String> {
        match self {
            FetchError::Network { cause, .. } => cause.hint(),
            FetchError::Retried { last, .. } => last.hint().or_else(|| {
                Some("the server kept failing: try again later, or raise KNAP_HTTP_RETRIES".into())
            }),
            _ => None,
        }
    }
}

/// The limit a transfer hit, and the variable that sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// No connection within `KNAP_HTTP_CONNECT_TIMEOUT`.
    Connect(Duration),
    /// No bytes for `KNAP_HTTP_READ_TIMEOUT` (inactivity).
    Read(Duration),
    /// An index document (or a git registry's fetch) past its total
    /// deadline, `KNAP_HTTP_TIMEOUT`.
    IndexTotal(Duration),
    /// An install source (an archive download, a git source's fetch) past
    /// its total deadline, `KNAP_HTTP_DOWNLOAD_TIMEOUT`.
    DownloadTotal(Duration),
}

impl Limit {
    /// The environment variable that sets this limit.
    pub fn setting(self) -> &'static str {
        match self {
            Limit::Connect(_) => "KNAP_HTTP_CONNECT_TIMEOUT",
            Limit::Read(_) => "KNAP_HTTP_READ_TIMEOUT",
            Limit::IndexTotal(_) => "KNAP_HTTP_TIMEOUT",
            Limit::DownloadTotal(_) => "KNAP_HTTP_DOWNLOAD_TIMEOUT",
        }
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = |d: &Duration| format!("{} s", d.as_secs_f64());
        match self {
            Limit::Connect(d) => write!(f, "no connection within {}", secs(d)),
            Limit::Read(d) => write!(f, "no data for {}", secs(d)),
            Limit::IndexTotal(d) | Limit::DownloadTotal(d) => {
                write!(f, "the total deadline of {} was reached", secs(d))
            }
        }?;
        write!(f, " ({})", self.setting())
    }
}

/// A transfer that hit `limit`.
pub fn timed_out(url: &Url, limit: Limit) -> FetchError {
    FetchError::Network {
        url: url.to_string(),
        message: format!("timed out: {limit}"),
        cause: NetCause::Timeout(limit),
    }
}

/// Why a request failed, as far as retrying and the hint are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetCause {
    /// A deadline or inactivity timeout: which one.
    Timeout(Limit),
    /// The TLS handshake failed (typically an untrusted certificate).
    Tls,
    /// The connection could not be made.
    Connect,
    /// The body was cut off or could not be decoded.
    Body,
    /// A redirect the policy refuses.
    Redirect,
    /// Anything else.
    Other,
}

impl NetCause {
    /// Classifies a reqwest error by its type and its cause chain (a
    /// client's own timeouts are its connect and read timeouts of
    /// `settings`: total deadlines are kept by [`until`]).
    pub fn of(e: &reqwest::Error, settings: &HttpSettings) -> Self {
        if e.is_timeout() && e.is_connect() {
            NetCause::Timeout(Limit::Connect(settings.connect_timeout))
        } else if e.is_timeout() {
            NetCause::Timeout(settings.read_limit())
        } else if e.is_redirect() {
            NetCause::Redirect
        } else if has_tls_error(e) {
            NetCause::Tls
        } else if e.is_connect() {
            NetCause::Connect
        } else if e.is_body() || e.is_decode() {
            NetCause::Body
        } else {
            NetCause::Other
        }
    }

    /// What to do about it, when there is something.
    pub fn hint(self) -> Option<String> {
        match self {
            NetCause::Timeout(limit) => Some(format!(
                "check the server, or raise {}",
                limit.setting()
            )),
            NetCause::Tls => Some(
                "if the registry uses a private CA, add it with `knap registry add ... --ca-file PEM` or `ca_file` in the configuration".into(),
            ),
            _ => None,
        }
    }
}

/// Whether a rustls error is anywhere in `e`'s chain (also inside an
/// `io::Error`, whose `source()` skips the error it wraps).
fn has_tls_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if c.is::<rustls::Error>() {
            return true;
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && has_tls_error(inner)
        {
            return true;
        }
        cur = c.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::retryable;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn a_timeout_names_its_limit_and_variable_and_a_retried_failure_its_attempts() {
        let url = u("https://reg.example/a.tar.gz");
        let e = timed_out(&url, Limit::DownloadTotal(Duration::from_secs(3)));
        assert_eq!(
            e.to_string(),
            "https://reg.example/a.tar.gz: timed out: the total deadline of 3 s was reached (KNAP_HTTP_DOWNLOAD_TIMEOUT)"
        );
        assert_eq!(
            e.hint().as_deref(),
            Some("check the server, or raise KNAP_HTTP_DOWNLOAD_TIMEOUT")
        );
        assert_eq!(
            Limit::Read(Duration::from_millis(1500)).to_string(),
            "no data for 1.5 s (KNAP_HTTP_READ_TIMEOUT)"
        );
        let retried = FetchError::Retried {
            attempts: 3,
            last: Box::new(FetchError::Status {
                url: url.to_string(),
                status: 500,
            }),
        };
        assert_eq!(
            retried.to_string(),
            "https://reg.example/a.tar.gz: the server answered HTTP 500 (after 3 attempts)"
        );
        assert_eq!(retried.kind(), crate::error::Kind::Registry);
        assert!(!retryable(&retried), "a spent retry is not retried again");
    }
}
