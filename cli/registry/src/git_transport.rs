//! gix's HTTP transport set up with a registry's policy, shared by git
//! registries ([`crate::registry::git`]) and git install sources
//! (`knap-client`'s `sources::git`): the extra trusted roots, the token for the
//! registry's origin only ([`Auth`]), the connect and inactivity timeouts,
//! no credential prompts; and the total deadline of a fetch
//! (`Deadline`: gix's interrupt flag, set by a timer).

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::http::{Auth, HttpSettings, Limit};

/// How long past its deadline an abandoned fetch is waited for.
const GRACE: Duration = Duration::from_secs(1);

/// The total deadline of one git fetch: a timer thread sets gix's
/// interrupt flag (`should_interrupt`, which gix checks at some points of
/// a fetch) when `limit` is reached, and [`Deadline::run`] stops waiting
/// for a fetch that goes on regardless; dropping the deadline stops the
/// timer.
pub struct Deadline {
    interrupt: Arc<AtomicBool>,
    hit: Arc<AtomicBool>,
    limit: Limit,
    _stop: std::sync::mpsc::Sender<()>,
}

impl Deadline {
    /// Starts the timer of `limit` (a total deadline).
    pub fn start(limit: Limit) -> Self {
        let total = match limit {
            Limit::Connect(d) | Limit::Read(d) | Limit::IndexTotal(d) | Limit::DownloadTotal(d) => {
                d
            }
        };
        let interrupt = Arc::new(AtomicBool::new(false));
        let hit = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        {
            let (interrupt, hit) = (interrupt.clone(), hit.clone());
            std::thread::spawn(move || {
                if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(total)
                {
                    hit.store(true, Ordering::SeqCst);
                    interrupt.store(true, Ordering::SeqCst);
                }
            });
        }
        Self {
            interrupt,
            hit,
            limit,
            _stop: stop,
        }
    }

    /// Runs `fetch` (given the flag) on a thread of its own and waits for
    /// it until a moment after the deadline. gix honours the flag only at
    /// some points of a fetch, so a server that drips elsewhere would keep
    /// it going: then the fetch is abandoned (it ends with the process)
    /// and `None` says the deadline was reached.
    pub fn run<T: Send + 'static>(
        &self,
        fetch: impl FnOnce(&AtomicBool) -> T + Send + 'static,
    ) -> Option<T> {
        let (done, result) = std::sync::mpsc::channel();
        let interrupt = self.interrupt.clone();
        std::thread::spawn(move || {
            let _ = done.send(fetch(&interrupt));
        });
        match result.recv_timeout(self.total() + GRACE) {
            Ok(r) => Some(r),
            Err(_) => {
                self.hit.store(true, Ordering::SeqCst);
                None
            }
        }
    }

    fn total(&self) -> Duration {
        match self.limit {
            Limit::Connect(d) | Limit::Read(d) | Limit::IndexTotal(d) | Limit::DownloadTotal(d) => {
                d
            }
        }
    }

    /// The words for a fetch abandoned at the deadline.
    pub fn reached(&self) -> String {
        format!("timed out: {}", self.limit)
    }

    /// Whether the deadline was reached.
    pub fn hit(&self) -> bool {
        self.hit.load(Ordering::SeqCst)
    }

    /// The words for a failed fetch: the total deadline when it was
    /// reached, else the connect or inactivity limit when gix's transport
    /// timed out (naming the variable that sets it), else gix's words.
    pub fn explain(&self, message: String, settings: &HttpSettings) -> String {
        if self.hit() {
            return self.reached();
        }
        let lower = crate::http::words_without_urls(&message);
        if lower.contains("timed out") || lower.contains("timeout") {
            let limit = if lower.contains("connect") {
                Limit::Connect(settings.connect_timeout)
            } else {
                settings.read_limit()
            };
            return format!("timed out: {limit} ({message})");
        }
        message
    }
}

fn err(e: impl std::error::Error) -> String {
    crate::http::chain(&e)
}

pub const NEEDS_TOKEN: &str = "the server asks for credentials: set the environment variable named by the registry's `token_env` (`knap registry add NAME URL --token-env VAR`)";

/// How gix's HTTP transport is set up for one URL (see [`HttpPolicy`](crate::http::HttpPolicy)): extra
/// trusted roots, and a token sent to the registry's origin only. Shared with git
/// install sources.
#[derive(Clone)]
pub struct TransportSetup {
    pub url: String,
    pub auth: Auth,
    pub roots: Vec<reqwest::Certificate>,
    /// The time to connect and the longest wait for the next bytes of a
    /// response (`KNAP_HTTP_CONNECT_TIMEOUT`, `KNAP_HTTP_READ_TIMEOUT`);
    /// the fetch's total deadline is a [`Deadline`].
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
}

type HttpOptions = gix::protocol::transport::client::blocking_io::http::Options;
type ReqwestOptions = gix::protocol::transport::client::blocking_io::http::reqwest::Options;

impl TransportSetup {
    /// gix's HTTP options for `repo` (from its git configuration) plus the
    /// extra roots and the token; `None` for non-HTTP URLs.
    pub fn options(&self, repo: &gix::Repository) -> Result<Option<Box<dyn Any>>, String> {
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
        // The connect timeout, and the inactivity timeout (the blocking
        // client's `timeout` bounds the wait for the response and then
        // each read of its body); the extra roots are trusted besides the
        // system's.
        let (roots, connect, read) = (self.roots.clone(), self.connect_timeout, self.read_timeout);
        backend.configure_client = Some(Box::new(move |mut b| {
            if !roots.is_empty() {
                b = b.tls_certs_merge(roots.clone());
            }
            Ok(b.connect_timeout(connect).timeout(read))
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
pub fn no_prompt(
    action: gix::credentials::helper::Action,
) -> gix::Result<Option<gix::credentials::protocol::Outcome>> {
    match action {
        gix::credentials::helper::Action::Get(_) => {
            Err(gix::Error::from_error(std::io::Error::other(NEEDS_TOKEN)))
        }
        _ => Ok(None),
    }
}
