//! Index documents over HTTP(S): one GET path for every registry fetched
//! over HTTP, whole or sparse, with gzip and a size limit enforced while
//! streaming, retried and held to its total deadline, admitted by its
//! origin's gate and sent again when its connection goes away unanswered
//! ([`super::origin`]); the conditional GET that revalidates a cached copy
//! ([`Fetcher::revalidate`]), and the GET of a signed file by its
//! consistent-snapshot name ([`Fetcher::get_signed`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use knap_schema::progress::{Event, Reporter};
use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT, AUTHORIZATION, ETAG, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
};
use url::Url;

use super::client::{network_error, shared_lanes};
use super::origin::{Origin, Ticket};
use super::retry::with_retries_also;
use super::{FetchError, HttpPolicy, Limit, until};

/// The download events of one body: started, every 256 KiB, finished.
pub(super) struct Progress<'a> {
    reporter: &'a dyn Reporter,
    url: String,
    bytes: u64,
    reported: u64,
}

impl<'a> Progress<'a> {
    pub(super) fn start(reporter: &'a dyn Reporter, url: &Url, total: Option<u64>) -> Self {
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

    pub(super) fn advance(&mut self, n: usize) {
        self.bytes += n as u64;
        if self.bytes - self.reported >= 256 * 1024 {
            self.reported = self.bytes;
            self.reporter.report(Event::Downloaded {
                url: self.url.clone(),
                bytes: self.bytes,
            });
        }
    }

    pub(super) fn finish(self) {
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

/// The most times one attempt of a GET is sent (see
/// [`Fetcher::get`]): its copies sent again when its connection goes away
/// unanswered.
const MAX_SENDS: usize = 4;

/// A client for one registry.
#[derive(Clone)]
pub struct Fetcher {
    policy: HttpPolicy,
    /// Where bodies report their progress.
    reporter: Arc<dyn Reporter>,
}

impl Fetcher {
    /// A fetcher for one registry. Registries with the same policy (but
    /// their tokens) share one client per origin (and so one connection
    /// pool, and one state of the origin's connections); the CA files are
    /// read now, so that a bad one is told before any request.
    pub fn new(policy: HttpPolicy, reporter: Arc<dyn Reporter>) -> Result<Self, FetchError> {
        policy.tls.certificates()?;
        Ok(Self { policy, reporter })
    }

    /// The same fetcher with a smaller size limit (TUF metadata reads).
    pub fn limited(&self, max_size: u64) -> Fetcher {
        let mut f = self.clone();
        f.policy.settings.max_size = max_size.min(self.policy.settings.max_size);
        f
    }

    /// GET `url`, conditional on `validators`, once its origin admits it
    /// (see [`super::origin`]), retrying connection errors and 5xx with
    /// exponential backoff, all within the total deadline
    /// (`KNAP_HTTP_TIMEOUT`, retries included, from when it is admitted).
    pub async fn get(
        &self,
        url: &Url,
        validators: Option<&Validators>,
    ) -> Result<Fetched, FetchError> {
        let settings = &self.policy.settings;
        let lanes = shared_lanes(&self.policy, url)?;
        let _admitted = lanes.first.origin.admit().await;
        let on = lanes.pick().await;
        // A second lane is held to its own gate as well: while its
        // protocol is not known, as few requests as a new HTTP/1.x origin.
        let _also = if std::ptr::eq(on.lane, &lanes.first) {
            None
        } else {
            Some(on.lane.origin.admit().await)
        };
        let (client, origin) = (&on.lane.client, &on.lane.origin);
        let deadline = tokio::time::Instant::now() + settings.timeout;
        until(
            deadline,
            url,
            Limit::IndexTotal(settings.timeout),
            with_retries_also(
                settings,
                |e| origin.retry_refused(e),
                || self.get_resending(client, origin, url, validators),
            ),
        )
        .await
    }

    /// One attempt of [`Fetcher::get`], sent again (at most
    /// [`MAX_SENDS`] times in all, the first answer taken) whenever its
    /// origin says the latest copy is due for it: its connection went away
    /// or nothing comes from the server, with no response head yet.
    async fn get_resending(
        &self,
        client: &reqwest::Client,
        origin: &Arc<Origin>,
        url: &Url,
        validators: Option<&Validators>,
    ) -> Result<Fetched, FetchError> {
        type Attempt<'a> = Pin<Box<dyn Future<Output = Result<Fetched, FetchError>> + Send + 'a>>;
        let send = |ticket: Arc<Ticket>| -> Attempt<'_> {
            Box::pin(async move { self.get_once(client, &ticket, url, validators).await })
        };
        let mut newest = Arc::new(origin.send(true));
        let mut attempts = vec![send(Arc::clone(&newest))];
        loop {
            let room = attempts.len() < MAX_SENDS;
            let due = async {
                if room {
                    newest.resend_due().await;
                } else {
                    std::future::pending::<()>().await;
                }
            };
            let answered = std::future::poll_fn(|cx| {
                for (i, a) in attempts.iter_mut().enumerate() {
                    if let Poll::Ready(got) = a.as_mut().poll(cx) {
                        return Poll::Ready((i, got));
                    }
                }
                Poll::Pending
            });
            tokio::select! {
                (i, got) = answered => {
                    drop(attempts.swap_remove(i));
                    match got {
                        Err(e) if !attempts.is_empty() => {
                            tracing::debug!("GET {url}: {e}; another copy is still on its way");
                        }
                        got => return got,
                    }
                }
                () = due => {
                    tracing::debug!("GET {url} again");
                    newest = Arc::new(origin.send(true));
                    attempts.push(send(Arc::clone(&newest)));
                }
            }
        }
    }

    async fn get_once(
        &self,
        client: &reqwest::Client,
        ticket: &Ticket,
        url: &Url,
        validators: Option<&Validators>,
    ) -> Result<Fetched, FetchError> {
        let net = |e: reqwest::Error| network_error(url, e, &self.policy.settings);
        let mut req = client.get(url.clone()).header(ACCEPT, "application/json");
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
        ticket.head(resp.version());
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
        let mut meter = super::LowSpeed::start(&self.policy.settings);
        while let Some(chunk) =
            super::low_speed::next_chunk(&mut resp, &mut meter, url, &self.policy.settings).await?
        {
            if bytes.len() as u64 + chunk.len() as u64 > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
            progress.advance(chunk.len());
            ticket.progress();
        }
        progress.finish();
        Ok(Fetched::Body {
            bytes,
            etag,
            last_modified,
        })
    }

    /// The current copy of the document at `url`: a GET conditional on
    /// `validators` (those of the cached copy). A `304 Not Modified` is an
    /// answer only while `still_cached` says the copy is there; otherwise
    /// the document is fetched again without validators, and a 304 to that
    /// is an error ([`FetchError::NotModifiedUnasked`]).
    pub async fn revalidate(
        &self,
        url: &Url,
        validators: Option<Validators>,
        still_cached: impl Fn() -> bool,
    ) -> Result<Fetched, FetchError> {
        let mut validators = validators;
        loop {
            let f = self.get(url, validators.as_ref()).await?;
            if matches!(f, Fetched::NotModified) && !still_cached() {
                if validators.take().is_some() {
                    continue;
                }
                return Err(FetchError::NotModifiedUnasked {
                    url: url.to_string(),
                });
            }
            return Ok(f);
        }
    }

    /// GETs a signed file by its consistent-snapshot URL, else by its plain
    /// URL (a host that keeps no hashed copies); `None` when neither is
    /// served. The caller checks the bytes against the targets entry.
    pub async fn get_signed(
        &self,
        hashed: &Url,
        plain: &Url,
    ) -> Result<Option<Vec<u8>>, FetchError> {
        for url in [hashed, plain] {
            match self.get(url, None).await? {
                Fetched::Body { bytes, .. } => return Ok(Some(bytes)),
                Fetched::NotFound | Fetched::NotModified => continue,
            }
        }
        Ok(None)
    }
}
