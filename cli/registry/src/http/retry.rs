//! Retries and deadlines: [`with_retries`] tries a request again on the
//! failures worth it ([`retryable`], decided on the typed [`NetCause`]),
//! with exponential backoff, and says how many attempts were made
//! ([`FetchError::Retried`]); [`until`] holds a transfer to its total
//! deadline.

use url::Url;

use super::{FetchError, HttpSettings, Limit, NetCause, timed_out};

/// Runs `f` until `deadline`; past it, the transfer of `url` failed with
/// `limit`.
pub async fn until<T>(
    deadline: tokio::time::Instant,
    url: &Url,
    limit: Limit,
    f: impl std::future::Future<Output = Result<T, FetchError>>,
) -> Result<T, FetchError> {
    tokio::time::timeout_at(deadline, f)
        .await
        .unwrap_or_else(|_| Err(timed_out(url, limit)))
}

/// Whether a failed request is worth another try: a connection error, a
/// cut-off body or a 5xx; a refused connection to another host (a server
/// restarting), never to this machine (a loopback address: nothing listens
/// there, as after a typo in the port); never a timeout (the server is
/// slow: another try would only wait as long again), a TLS failure, a
/// refused redirect or a size limit.
pub fn retryable(e: &FetchError) -> bool {
    match e {
        FetchError::Network {
            cause: NetCause::Refused,
            url,
            ..
        } => !Url::parse(url).is_ok_and(|u| knap_schema::urls::is_loopback(&u)),
        FetchError::Network { cause, .. } => {
            matches!(cause, NetCause::Connect | NetCause::Body | NetCause::Other)
        }
        FetchError::Status { status, .. } => *status >= 500,
        _ => false,
    }
}

/// Runs `attempt` until it succeeds, fails with an error that is not
/// [`retryable`], or the retries of `settings` are spent, with exponential
/// backoff between tries. A failure after more than one try says how many
/// ([`FetchError::Retried`]).
pub async fn with_retries<T, F, Fut>(settings: &HttpSettings, attempt: F) -> Result<T, FetchError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, FetchError>>,
{
    with_retries_also(settings, |_| false, attempt).await
}

/// [`with_retries`], also retrying the failures `also` says are worth it
/// (what the origin knows: a refused connection to a server that has
/// accepted connections, see [`super::origin`]).
pub(crate) async fn with_retries_also<T, F, Fut>(
    settings: &HttpSettings,
    also: impl Fn(&FetchError) -> bool,
    mut attempt: F,
) -> Result<T, FetchError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, FetchError>>,
{
    let worth = |e: &FetchError| retryable(e) || also(e);
    let mut tries = 0;
    let mut backoff = settings.backoff;
    loop {
        match attempt().await {
            Err(e) if tries < settings.retries && worth(&e) => {
                tries += 1;
                tracing::debug!("{e}; retry {tries} in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            // Retries ran out on a failure worth retrying; a failure that
            // retrying cannot help (a 404 after a 503) is itself the error.
            Err(e) if tries > 0 && worth(&e) => {
                return Err(FetchError::Retried {
                    attempts: tries + 1,
                    last: Box::new(e),
                });
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn with_retries_counts_the_attempts_it_made() {
        let settings = HttpSettings {
            retries: 2,
            backoff: Duration::from_millis(1),
            ..HttpSettings::default()
        };
        let mut calls = 0;
        let r: Result<(), _> = with_retries(&settings, || {
            calls += 1;
            async {
                Err(FetchError::Status {
                    url: "u".into(),
                    status: 503,
                })
            }
        })
        .await;
        assert_eq!(calls, 3);
        assert!(
            matches!(r, Err(FetchError::Retried { attempts: 3, .. })),
            "{r:?}"
        );
        // A failure that is not retried is returned as it is.
        let r: Result<(), _> = with_retries(&settings, || async {
            Err(FetchError::Status {
                url: "u".into(),
                status: 404,
            })
        })
        .await;
        assert!(
            matches!(r, Err(FetchError::Status { status: 404, .. })),
            "{r:?}"
        );
    }

    #[test]
    fn retries_are_decided_on_the_cause() {
        let net = |cause| FetchError::Network {
            url: "https://reg.example/index.json".into(),
            cause,
            source: None,
        };
        assert!(retryable(&net(NetCause::Connect)));
        assert!(
            retryable(&net(NetCause::Refused)),
            "another host may be restarting"
        );
        let refused_here = |url: &str| FetchError::Network {
            url: url.into(),
            cause: NetCause::Refused,
            source: None,
        };
        assert!(!retryable(&refused_here("http://127.0.0.1:9/index.json")));
        assert!(!retryable(&refused_here("http://localhost:9/index.json")));
        assert!(!retryable(&refused_here("http://[::1]:9/index.json")));
        assert!(retryable(&net(NetCause::Body)));
        assert!(!retryable(&net(NetCause::Timeout(Limit::Read(
            Duration::from_secs(1)
        )))));
        assert!(!retryable(&net(NetCause::Tls)));
        assert!(!retryable(&net(NetCause::Redirect)));
        let status = |status| FetchError::Status {
            url: "u".into(),
            status,
        };
        assert!(retryable(&status(503)));
        assert!(!retryable(&status(403)));
    }
}
