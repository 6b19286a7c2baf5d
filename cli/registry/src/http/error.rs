//! Why a transfer failed, typed: [`FetchError`] names the URL, and a
//! network failure carries its [`NetCause`] (classified from reqwest's
//! error type and its cause chain, never from the text of a message),
//! which decides whether it is retried and what the hint says; a timeout
//! names the [`Limit`] it hit and the variable that sets it.

use std::time::Duration;

use url::Url;

use super::HttpSettings;

/// Why a fetch failed; the message names the URL, the cause (reqwest's
/// error, without the URL it would repeat) is the `#[source]`.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: {}", cause.describe(url))]
    Network {
        url: String,
        cause: NetCause,
        #[source]
        source: Option<reqwest::Error>,
    },
    /// A redirect the policy refuses (see `http::client_builder`); not
    /// retried. The cause says which and why.
    #[error("{url}: a redirect was refused")]
    Redirect {
        url: String,
        #[source]
        source: reqwest::Error,
    },
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
    /// Setting up the client failed (a CA file, a token, the TLS stack).
    #[error("{message}")]
    Setup {
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// A request tried `attempts` times; its last failure is the cause.
    #[error("gave up after {attempts} attempts")]
    Retried {
        attempts: u32,
        #[source]
        last: Box<FetchError>,
    },
}

impl FetchError {
    /// A setup failure without a cause.
    pub fn setup(message: impl Into<String>) -> Self {
        FetchError::Setup {
            message: message.into(),
            source: None,
        }
    }

    /// A setup failure caused by `source`.
    pub fn setup_caused_by(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        FetchError::Setup {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// The exit-code class: a size limit is an integrity failure, a setup
    /// problem (a CA file, a token) "other", the rest the network's.
    pub fn kind(&self) -> crate::error::Kind {
        use crate::error::Kind;
        match self {
            FetchError::TooLarge { .. } => Kind::Integrity,
            FetchError::Setup { .. } => Kind::Other,
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
    /// Fewer than `bytes_per_sec` over `over`: the low-speed rule
    /// (`KNAP_HTTP_LOW_SPEED_LIMIT`, `KNAP_HTTP_LOW_SPEED_TIME`).
    LowSpeed { bytes_per_sec: u64, over: Duration },
}

impl Limit {
    /// The environment variable that sets this limit.
    pub fn setting(self) -> &'static str {
        match self {
            Limit::Connect(_) => "KNAP_HTTP_CONNECT_TIMEOUT",
            Limit::Read(_) => "KNAP_HTTP_READ_TIMEOUT",
            Limit::IndexTotal(_) => "KNAP_HTTP_TIMEOUT",
            Limit::DownloadTotal(_) => "KNAP_HTTP_DOWNLOAD_TIMEOUT",
            Limit::LowSpeed { .. } => "KNAP_HTTP_LOW_SPEED_LIMIT",
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
            Limit::LowSpeed {
                bytes_per_sec,
                over,
            } => {
                return write!(
                    f,
                    "fewer than {bytes_per_sec} bytes/s over {} (KNAP_HTTP_LOW_SPEED_LIMIT, KNAP_HTTP_LOW_SPEED_TIME)",
                    secs(over)
                );
            }
        }?;
        write!(f, " ({})", self.setting())
    }
}

/// A transfer that hit `limit`.
pub fn timed_out(url: &Url, limit: Limit) -> FetchError {
    FetchError::Network {
        url: url.to_string(),
        cause: NetCause::Timeout(limit),
        source: None,
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
    /// The connection was refused: nothing listens at the address.
    Refused,
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
        } else if e.is_connect() && has_io_kind(e, std::io::ErrorKind::ConnectionRefused) {
            NetCause::Refused
        } else if e.is_connect() {
            NetCause::Connect
        } else if e.is_body() || e.is_decode() {
            NetCause::Body
        } else {
            NetCause::Other
        }
    }

    /// What happened, for the message of a failed request to `url`.
    fn describe(self, url: &str) -> String {
        match self {
            NetCause::Timeout(limit @ Limit::LowSpeed { .. }) => {
                format!("the transfer was too slow: {limit}")
            }
            NetCause::Timeout(limit) => format!("timed out: {limit}"),
            NetCause::Tls => "TLS certificate not trusted".into(),
            NetCause::Connect => "cannot connect".into(),
            NetCause::Refused => format!(
                "cannot connect: the connection was refused, nothing listens at {}",
                authority(url)
            ),
            NetCause::Body => "the response body was cut off or unreadable".into(),
            NetCause::Redirect => "a redirect was refused".into(),
            NetCause::Other => "the request failed".into(),
        }
    }

    /// What to do about it, when there is something.
    pub fn hint(self) -> Option<String> {
        match self {
            NetCause::Timeout(Limit::LowSpeed { .. }) => Some(
                "check the server or the network, or lower KNAP_HTTP_LOW_SPEED_LIMIT (0 turns the rule off)"
                    .into(),
            ),
            NetCause::Timeout(limit) => Some(format!(
                "check the server, or raise {}",
                limit.setting()
            )),
            NetCause::Tls => Some(
                "if the registry uses a private CA, add it with `knap registry add ... --ca-file PEM` or `ca_file` in the configuration".into(),
            ),
            NetCause::Refused => Some("check the URL's host and port".into()),
            _ => None,
        }
    }
}

/// `HOST:PORT` of a URL, for a message.
pub(crate) fn authority(url: &str) -> String {
    Url::parse(url)
        .ok()
        .and_then(|u| {
            let host = u.host_str()?.to_owned();
            Some(match u.port_or_known_default() {
                Some(p) => format!("{host}:{p}"),
                None => host,
            })
        })
        .unwrap_or_else(|| url.to_owned())
}

/// Whether an error `found` says is anywhere in `e`'s chain (also inside
/// an `io::Error`, whose `source()` skips the error it wraps).
fn in_chain(
    e: &(dyn std::error::Error + 'static),
    found: &dyn Fn(&(dyn std::error::Error + 'static)) -> bool,
) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if found(c) {
            return true;
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && in_chain(inner, found)
        {
            return true;
        }
        cur = c.source();
    }
    false
}

/// Whether a rustls error is anywhere in `e`'s chain.
fn has_tls_error(e: &(dyn std::error::Error + 'static)) -> bool {
    in_chain(e, &|c| c.is::<rustls::Error>())
}

/// Whether an `io::Error` of `kind` is anywhere in `e`'s chain.
fn has_io_kind(e: &(dyn std::error::Error + 'static), kind: std::io::ErrorKind) -> bool {
    in_chain(e, &|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == kind)
    })
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
        let slow = timed_out(
            &url,
            Limit::LowSpeed {
                bytes_per_sec: 1000,
                over: Duration::from_secs(2),
            },
        );
        assert_eq!(
            slow.to_string(),
            "https://reg.example/a.tar.gz: the transfer was too slow: fewer than 1000 bytes/s over 2 s (KNAP_HTTP_LOW_SPEED_LIMIT, KNAP_HTTP_LOW_SPEED_TIME)"
        );
        let retried = FetchError::Retried {
            attempts: 3,
            last: Box::new(FetchError::Status {
                url: url.to_string(),
                status: 500,
            }),
        };
        assert_eq!(retried.to_string(), "gave up after 3 attempts");
        assert_eq!(
            knap_schema::report::chain_line(&retried),
            "gave up after 3 attempts: https://reg.example/a.tar.gz: the server answered HTTP 500"
        );
        assert_eq!(retried.kind(), crate::error::Kind::Registry);
        assert!(!retryable(&retried), "a spent retry is not retried again");
    }
}
