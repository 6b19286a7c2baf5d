//! gix's HTTP transport set up with a registry's policy, shared by git
//! registries ([`crate::registry::git`]) and git install sources
//! (`knap-client`'s `sources::git`): the extra trusted roots, the token for the
//! registry's origin only ([`Auth`]), the connect and inactivity timeouts,
//! no credential prompts; the total deadline of a fetch (`Deadline`: gix's
//! interrupt flag, set by a timer); and what a failed transfer means
//! ([`GitError`], classified from the types in gix's error tree: gix's
//! error classes, `io::ErrorKind`, reqwest's and rustls's errors; never from
//! the words of a message).

use std::any::Any;
use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use knap_schema::ErrorKind;

use crate::http::error::authority;
use crate::http::{Auth, HttpSettings, Limit};

/// How long past its deadline an abandoned fetch is waited for.
const GRACE: Duration = Duration::from_secs(1);

/// The total deadline of one git fetch, and its low-speed rule: a
/// watchdog thread sets gix's interrupt flag (`should_interrupt`, which gix
/// checks at some points of a fetch) when `limit` is reached, or when the
/// pack arrives slower than `KNAP_HTTP_LOW_SPEED_LIMIT` over
/// `KNAP_HTTP_LOW_SPEED_TIME` (the bytes gix has read, from its progress
/// tree: [`Deadline::progress`] is what the fetch reports to); [`Deadline::run`]
/// stops waiting for a fetch that goes on regardless; dropping the deadline
/// stops the watchdog.
pub struct Deadline {
    interrupt: Arc<AtomicBool>,
    hit: Arc<AtomicBool>,
    /// Set when the low-speed rule stopped the fetch: the limit it hit.
    slow: Arc<std::sync::Mutex<Option<Limit>>>,
    /// When the watchdog stopped the fetch.
    fired_at: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
    limit: Limit,
    progress: Arc<gix::progress::tree::Root>,
    _stop: std::sync::mpsc::Sender<()>,
}

/// How often the watchdog looks.
const TICK: Duration = Duration::from_millis(100);

impl Deadline {
    /// Starts the watchdog of `limit` (a total deadline) and of the
    /// low-speed rule of `settings`.
    pub fn start(limit: Limit, settings: &HttpSettings) -> Self {
        let total = limit_duration(limit);
        let interrupt = Arc::new(AtomicBool::new(false));
        let hit = Arc::new(AtomicBool::new(false));
        let slow = Arc::new(std::sync::Mutex::new(None));
        let fired_at = Arc::new(std::sync::Mutex::new(None));
        let progress = gix::progress::tree::Root::new();
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        {
            let (interrupt, hit, slow, fired_at) = (
                interrupt.clone(),
                hit.clone(),
                slow.clone(),
                fired_at.clone(),
            );
            let root = Arc::downgrade(&progress);
            let mut meter = crate::http::LowSpeed::start(settings);
            let started = std::time::Instant::now();
            std::thread::spawn(move || {
                let mut tasks = Vec::new();
                let mut seen = 0u64;
                loop {
                    if !matches!(
                        stopped.recv_timeout(TICK),
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout)
                    ) {
                        return;
                    }
                    let now = std::time::Instant::now();
                    let mut fire = now >= started + total;
                    if let (Some(m), Some(root)) = (&mut meter, root.upgrade()) {
                        let read = pack_bytes_read(&root, &mut tasks);
                        m.record(read.saturating_sub(seen));
                        seen = seen.max(read);
                        if let Err(l) = m.check(now) {
                            *slow.lock().expect("slow lock") = Some(l);
                            fire = true;
                        }
                    }
                    if fire {
                        *fired_at.lock().expect("fired lock") = Some(now);
                        hit.store(true, Ordering::SeqCst);
                        interrupt.store(true, Ordering::SeqCst);
                        return;
                    }
                }
            });
        }
        Self {
            interrupt,
            hit,
            slow,
            fired_at,
            limit,
            progress,
            _stop: stop,
        }
    }

    /// The progress a fetch under this deadline reports to (gix's
    /// `receive`/`fetch_only`): the watchdog reads the pack bytes from it.
    pub fn progress(&self) -> gix::progress::tree::Item {
        self.progress.add_child("fetch")
    }

    /// Runs `fetch` (given the flag) on a thread of its own and waits for
    /// it until a moment after the watchdog stopped it. gix honours the
    /// flag only at some points of a fetch, so a server that drips
    /// elsewhere would keep it going: then the fetch is abandoned (it ends
    /// with the process) and `None` says the deadline (or the low-speed
    /// rule) was reached.
    pub fn run<T: Send + 'static>(
        &self,
        fetch: impl FnOnce(&AtomicBool) -> T + Send + 'static,
    ) -> Option<T> {
        let (done, result) = std::sync::mpsc::channel();
        let interrupt = self.interrupt.clone();
        std::thread::spawn(move || {
            let _ = done.send(fetch(&interrupt));
        });
        loop {
            match result.recv_timeout(TICK) {
                Ok(r) => return Some(r),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return None,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    let fired = *self.fired_at.lock().expect("fired lock");
                    if fired.is_some_and(|at| at.elapsed() >= GRACE) {
                        self.hit.store(true, Ordering::SeqCst);
                        return None;
                    }
                }
            }
        }
    }

    /// Whether the deadline or the low-speed rule was reached.
    pub fn hit(&self) -> bool {
        self.hit.load(Ordering::SeqCst)
    }

    /// The limit that was reached: the low-speed rule's when it stopped
    /// the fetch, else the total deadline this keeps.
    pub fn limit(&self) -> Limit {
        self.slow.lock().expect("slow lock").unwrap_or(self.limit)
    }
}

/// The length of a total limit.
fn limit_duration(limit: Limit) -> Duration {
    match limit {
        Limit::Connect(d) | Limit::Read(d) | Limit::IndexTotal(d) | Limit::DownloadTotal(d) => d,
        Limit::LowSpeed { over, .. } => over,
    }
}

/// The bytes of pack gix has read so far (its `read pack` task).
fn pack_bytes_read(
    root: &gix::progress::tree::Root,
    tasks: &mut Vec<(
        gix::progress::prodash::progress::Key,
        gix::progress::prodash::progress::Task,
    )>,
) -> u64 {
    let id: gix::progress::Id = gix::odb::pack::bundle::write::ProgressId::ReadPackBytes.into();
    root.sorted_snapshot(tasks);
    tasks
        .iter()
        .filter(|(_, t)| t.id == id)
        .filter_map(|(_, t)| t.progress.as_ref())
        .map(|p| p.step.load(Ordering::Relaxed) as u64)
        .sum()
}

/// What to do when a server asks for credentials.
const NEEDS_TOKEN: &str = "set the environment variable named by the registry's `token_env` (`knap registry add NAME URL --token-env VAR`)";

/// The error that answers gix's request for credentials ([`no_prompt`]):
/// knap never prompts.
#[derive(Debug, thiserror::Error)]
#[error("the server asks for credentials, and knap does not prompt for them")]
pub struct CredentialsAsked;

/// What a failed git transfer means for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitCause {
    /// A deadline or a transport timeout: which limit.
    Timeout(Limit),
    /// The TLS handshake failed (typically an untrusted certificate).
    Tls,
    /// The server asks for credentials (HTTP 401).
    NeedsToken,
    /// No git repository there: a local path that holds none, or a 404.
    NoRepository,
    /// Nothing listens at the address: the connection was refused.
    Refused,
    /// The server redirected to a URL with credentials, which knap refuses.
    RedirectWithCredentials,
    /// Anything else (a broken connection or transfer, a server error).
    Other,
}

/// A git transfer that failed: which URL, what it means ([`GitCause`], for
/// the message, the exit code and the hint), and gix's error as the cause
/// (none for a place that holds no repository or a refused redirect: the
/// message says it all).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct GitError {
    pub url: String,
    pub cause: GitCause,
    message: String,
    #[source]
    source: Option<Box<dyn Error + Send + Sync + 'static>>,
}

impl GitError {
    /// The failure `error` of a transfer from `url`, classified from the
    /// types in its error tree; `deadline` says whether the total deadline
    /// was reached meanwhile, `settings` which connect and read limits the
    /// transport had.
    pub fn of(
        url: &str,
        error: Box<dyn Error + Send + Sync + 'static>,
        settings: &HttpSettings,
        deadline: &Deadline,
    ) -> Self {
        let cause = if deadline.hit() {
            GitCause::Timeout(deadline.limit())
        } else {
            cause_of(url, &*error, settings)
        };
        // No repository, or a redirect refused by knap: the message says it
        // all, and gix's own words would only repeat it.
        let told = matches!(
            cause,
            GitCause::NoRepository | GitCause::RedirectWithCredentials
        );
        let source = (!told).then_some(error);
        Self::new(url, cause, source)
    }

    /// A transfer abandoned at its total deadline.
    pub fn deadline(url: &str, deadline: &Deadline) -> Self {
        Self::new(url, GitCause::Timeout(deadline.limit()), None)
    }

    fn new(
        url: &str,
        cause: GitCause,
        source: Option<Box<dyn Error + Send + Sync + 'static>>,
    ) -> Self {
        let message = match cause {
            GitCause::Timeout(limit @ Limit::LowSpeed { .. }) => {
                format!("git {url}: the transfer was too slow: {limit}")
            }
            GitCause::Timeout(limit) => format!("git {url}: timed out: {limit}"),
            GitCause::Tls => format!("git {url}: TLS certificate not trusted"),
            GitCause::NeedsToken => format!("git {url}: the server asks for credentials"),
            GitCause::NoRepository => match local_path(url).filter(|p| !p.exists()) {
                Some(p) => format!(
                    "{url} is not a git repository: {} does not exist",
                    p.display()
                ),
                None => format!("{url} is not a git repository"),
            },
            GitCause::Refused => format!(
                "git {url}: cannot connect: the connection was refused, nothing listens at {}",
                authority(url)
            ),
            GitCause::RedirectWithCredentials => format!(
                "git {url}: the server redirects to a URL with credentials (user:password@), and knap refuses to send them"
            ),
            GitCause::Other => format!("git {url}: the transfer failed"),
        };
        Self {
            url: url.to_owned(),
            cause,
            message,
            source,
        }
    }

    /// The exit-code class: no repository at all is "not found", anything
    /// else the network's.
    pub fn kind(&self) -> ErrorKind {
        match self.cause {
            GitCause::NoRepository => ErrorKind::NotFound,
            _ => ErrorKind::Registry,
        }
    }

    /// What to do about it, when there is something.
    pub fn hint(&self) -> Option<String> {
        match self.cause {
            GitCause::Timeout(Limit::LowSpeed { .. }) => Some(
                "check the server or the network, or lower KNAP_HTTP_LOW_SPEED_LIMIT (0 turns the rule off)"
                    .into(),
            ),
            GitCause::Timeout(limit) => Some(format!(
                "check the server, or raise {}",
                limit.setting()
            )),
            GitCause::Tls => Some(
                "if the registry uses a private CA, add it with `knap registry add ... --ca-file PEM` or `ca_file` in the configuration".into(),
            ),
            GitCause::NeedsToken => Some(NEEDS_TOKEN.into()),
            GitCause::Refused => Some("check the URL's host and port".into()),
            GitCause::RedirectWithCredentials => Some(
                "ask the server's operator to redirect without credentials; a registry's credentials go in a token (`--token-env`)".into(),
            ),
            GitCause::NoRepository | GitCause::Other => None,
        }
    }
}

/// The local path of a `file://` URL.
fn local_path(url: &str) -> Option<std::path::PathBuf> {
    url::Url::parse(url)
        .ok()
        .filter(|u| u.scheme() == "file")
        .and_then(|u| u.to_file_path().ok())
}

/// Every error in `e`'s tree: its sources, the errors an `io::Error`
/// wraps (whose `source()` skips them), and the frames of a `gix::Error`.
fn tree<'a>(e: &'a (dyn Error + 'static)) -> Vec<&'a (dyn Error + 'static)> {
    fn visit<'a>(e: &'a (dyn Error + 'static), out: &mut Vec<&'a (dyn Error + 'static)>) {
        if out.len() > 256 || out.iter().any(|x| std::ptr::addr_eq(*x, e)) {
            return;
        }
        out.push(e);
        if let Some(g) = e.downcast_ref::<gix::Error>() {
            for x in g.iter_errors() {
                visit(x, out);
            }
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
        {
            visit(inner, out);
        }
        if let Some(s) = e.source() {
            visit(s, out);
        }
    }
    let mut out = Vec::new();
    visit(e, &mut out);
    out
}

/// What the failure `e` of a transfer from `url` means, from the types in
/// its tree (the connect and read limits of `settings` name a transport's
/// timeouts).
fn cause_of(url: &str, e: &(dyn Error + 'static), settings: &HttpSettings) -> GitCause {
    let errors = tree(e);
    let any = |f: &dyn Fn(&(dyn Error + 'static)) -> bool| errors.iter().any(|e| f(*e));
    let reqwest_error = |f: &dyn Fn(&reqwest::Error) -> bool| {
        any(&|e| e.downcast_ref::<reqwest::Error>().is_some_and(f))
    };
    let io_kind = |k: std::io::ErrorKind| {
        any(&|e| {
            e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == k)
        })
    };
    if any(&|e| e.is::<RedirectWithCredentials>()) {
        GitCause::RedirectWithCredentials
    } else if any(&|e| e.is::<rustls::Error>()) {
        GitCause::Tls
    } else if any(&|e| {
        e.is::<CredentialsAsked>()
            || e.is::<gix::protocol::transport::client::AuthenticationRequired>()
    }) || reqwest_error(&|r| r.status() == Some(reqwest::StatusCode::UNAUTHORIZED))
    {
        GitCause::NeedsToken
    } else if reqwest_error(&|r| r.status() == Some(reqwest::StatusCode::NOT_FOUND))
        || (local_path(url).is_some() && gix::error::classify(e).is_not_found())
    {
        GitCause::NoRepository
    } else if reqwest_error(&|r| r.is_timeout() && r.is_connect()) {
        GitCause::Timeout(Limit::Connect(settings.connect_timeout))
    } else if reqwest_error(&|r| r.is_timeout()) || io_kind(std::io::ErrorKind::TimedOut) {
        GitCause::Timeout(settings.read_limit())
    } else if io_kind(std::io::ErrorKind::ConnectionRefused) {
        GitCause::Refused
    } else {
        GitCause::Other
    }
}

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
    pub fn options(&self, repo: &gix::Repository) -> Result<Option<Box<dyn Any>>, gix::Error> {
        let Some(opts) = repo
            .transport_options(self.url.as_str(), None)
            .map_err(gix::Error::from_error)?
        else {
            return Ok(None);
        };
        let mut opts = opts.downcast::<HttpOptions>().map_err(|_| {
            gix::Error::from_error(std::io::Error::other(
                "gix gave HTTP options of an unexpected type",
            ))
        })?;
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

/// A transport as gix's connections hold it.
pub type BoxedTransport = Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>;

/// A git server redirected a fetch to a URL with credentials
/// (`user:password@`), and knap sends no request there.
#[derive(Debug, thiserror::Error)]
#[error("refusing a redirect to a URL with credentials (user:password@)")]
pub struct RedirectWithCredentials;

/// gix's transport with one rule added: no request to a URL that holds
/// credentials. gix follows the first redirect of a fetch by its own
/// policy (a redirect of the ref advertisement, which reqwest requests
/// without the credentials) and then sends every later request of the fetch
/// to the redirected URL, where reqwest would turn `user:password@` into a
/// Basic `Authorization` header. This looks at the URL the transport goes
/// to before each request and refuses one with credentials, so a redirect
/// can never make knap send them (the rule index and archive requests
/// follow in [`crate::http`], where the redirect itself is refused).
struct NoCredentialsInUrl {
    /// `None` only while [`refuse_credentials_in_url`] swaps it in.
    inner: Option<BoxedTransport>,
}

impl NoCredentialsInUrl {
    fn checked(&mut self) -> Result<&mut BoxedTransport, gix::protocol::transport::client::Error> {
        use gix::protocol::transport::client::Error as TransportError;
        let inner = self
            .inner
            .as_mut()
            .ok_or(TransportError::MissingHandshake)?;
        let url = inner.to_url();
        let has_credentials = url::Url::parse(&String::from_utf8_lossy(url.as_ref()))
            .is_ok_and(|u| knap_schema::urls::has_userinfo(&u));
        if has_credentials {
            return Err(TransportError::Io(std::io::Error::other(
                RedirectWithCredentials,
            )));
        }
        Ok(inner)
    }
}

impl gix::protocol::transport::client::TransportWithoutIO for NoCredentialsInUrl {
    fn set_identity(
        &mut self,
        identity: gix::protocol::transport::client::Account,
    ) -> Result<(), gix::protocol::transport::client::Error> {
        self.checked()?.set_identity(identity)
    }

    fn to_url(&self) -> std::borrow::Cow<'_, gix::bstr::BStr> {
        match &self.inner {
            Some(t) => t.to_url(),
            None => std::borrow::Cow::Borrowed("".into()),
        }
    }

    fn supported_protocol_versions(&self) -> &[gix::protocol::transport::Protocol] {
        self.inner
            .as_ref()
            .map_or(&[], |t| t.supported_protocol_versions())
    }

    fn connection_persists_across_multiple_requests(&self) -> bool {
        self.inner
            .as_ref()
            .is_some_and(|t| t.connection_persists_across_multiple_requests())
    }

    fn configure(&mut self, config: &dyn Any) -> gix::Result {
        match self.inner.as_mut() {
            Some(t) => t.configure(config),
            None => Ok(()),
        }
    }
}

impl gix::protocol::transport::client::blocking_io::Transport for NoCredentialsInUrl {
    fn handshake<'a>(
        &mut self,
        service: gix::protocol::transport::Service,
        extra_parameters: &'a [(&'a str, Option<&'a str>)],
    ) -> Result<
        gix::protocol::transport::client::blocking_io::SetServiceResponse<'_>,
        gix::protocol::transport::client::Error,
    > {
        self.checked()?.handshake(service, extra_parameters)
    }

    fn request(
        &mut self,
        write_mode: gix::protocol::transport::client::WriteMode,
        on_into_read: gix::protocol::transport::client::MessageKind,
        trace: bool,
    ) -> Result<
        gix::protocol::transport::client::blocking_io::RequestWriter<'_>,
        gix::protocol::transport::client::Error,
    > {
        self.checked()?.request(write_mode, on_into_read, trace)
    }
}

/// Wraps a connection's transport so that it sends no request to a URL
/// with credentials, whatever a server redirects it to
/// ([`NoCredentialsInUrl`]); every git fetch of knap goes through it.
pub fn refuse_credentials_in_url(transport: &mut BoxedTransport) {
    let inner = std::mem::replace(transport, Box::new(NoCredentialsInUrl { inner: None }));
    *transport = Box::new(NoCredentialsInUrl { inner: Some(inner) });
}

/// Answers gix's request for credentials: never a prompt, an error naming
/// `token_env` instead.
pub fn no_prompt(
    action: gix::credentials::helper::Action,
) -> gix::Result<Option<gix::credentials::protocol::Outcome>> {
    match action {
        gix::credentials::helper::Action::Get(_) => Err(gix::Error::from_error(CredentialsAsked)),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Error as IoError, ErrorKind as IoKind};

    use super::*;

    fn cause(url: &str, e: &(dyn Error + 'static)) -> GitCause {
        cause_of(url, e, &HttpSettings::default())
    }

    #[test]
    fn a_404_in_a_port_and_words_in_a_url_are_not_taken_for_what_happened() {
        // Only the types of the errors count: a message holding "404" (in
        // port 40477), "certificate", "timeout" or "401" is still nothing
        // knap can name.
        let url = "https://127.0.0.1:40477/team401/timeout-utils.git";
        for message in [
            "https://127.0.0.1:40477/tlsgit.git: invalid peer certificate: UnknownIssuer",
            "connect to 127.0.0.1:40477 failed: certificate unknown",
            "read 14049 bytes, then the connection closed",
            "GET https://h.example:40123/team401/timeout-utils.git failed: status 500",
            "Received HTTP status 404",
        ] {
            let e = IoError::other(message);
            assert_eq!(cause(url, &e), GitCause::Other, "{message}");
            let wrapped = gix::Error::from_error(IoError::other(message));
            assert_eq!(cause(url, &wrapped), GitCause::Other, "{message}");
        }
    }

    #[test]
    fn the_cause_is_read_from_the_types_anywhere_in_the_tree() {
        let url = "https://h.example/r.git";
        let settings = HttpSettings::default();
        let refused = gix::Error::from_error(IoError::new(IoKind::ConnectionRefused, "x"));
        assert_eq!(cause(url, &refused), GitCause::Refused);
        let slow = IoError::other(gix::Error::from_error(IoError::new(IoKind::TimedOut, "x")));
        assert_eq!(cause(url, &slow), GitCause::Timeout(settings.read_limit()));
        let asked = gix::Error::from_error(CredentialsAsked);
        assert_eq!(cause(url, &asked), GitCause::NeedsToken);
        let redirected = gix::Error::from_error(IoError::other(RedirectWithCredentials));
        assert_eq!(cause(url, &redirected), GitCause::RedirectWithCredentials);
        let tls = IoError::other(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ));
        assert_eq!(cause(url, &tls), GitCause::Tls);
        // No repository at a local path: gix's "not found" class counts
        // there only (a remote's missing object is no missing repository).
        let missing = IoError::other(gix::error::not_found("Missing HEAD at \".git/HEAD\""));
        assert_eq!(
            cause("file:///srv/not-git", &missing),
            GitCause::NoRepository
        );
        assert_eq!(cause(url, &missing), GitCause::Other);
    }

    #[test]
    fn each_cause_has_its_words_its_exit_code_and_its_hint() {
        let url = "https://h.example/r.git";
        let e = GitError::new(url, GitCause::Refused, None);
        assert_eq!(
            e.to_string(),
            "git https://h.example/r.git: cannot connect: the connection was refused, nothing listens at h.example:443"
        );
        assert_eq!(e.kind(), ErrorKind::Registry);
        assert_eq!(e.hint().as_deref(), Some("check the URL's host and port"));
        let e = GitError::new(url, GitCause::NoRepository, None);
        assert_eq!(
            e.to_string(),
            "https://h.example/r.git is not a git repository"
        );
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let gone = GitError::new("file:///no/such/dir", GitCause::NoRepository, None);
        assert_eq!(
            gone.to_string(),
            "file:///no/such/dir is not a git repository: /no/such/dir does not exist"
        );
        let e = GitError::new(url, GitCause::NeedsToken, None);
        assert!(e.hint().unwrap().contains("token_env"), "{:?}", e.hint());
        let e = GitError::new(
            url,
            GitCause::Timeout(Limit::IndexTotal(Duration::from_secs(3))),
            None,
        );
        assert_eq!(
            e.to_string(),
            "git https://h.example/r.git: timed out: the total deadline of 3 s was reached (KNAP_HTTP_TIMEOUT)"
        );
        assert_eq!(
            e.hint().as_deref(),
            Some("check the server, or raise KNAP_HTTP_TIMEOUT")
        );
    }
}
