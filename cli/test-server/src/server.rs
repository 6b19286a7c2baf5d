//! The listening socket (socket2, for `listen(2)`'s backlog), the accept
//! loop with its pause, and each connection: TLS with ALPN, then hyper's
//! HTTP/1.x or HTTP/2 as the [`Protocol`] allows, answering from the
//! served directory after the configured delay, and closed after a number
//! of requests when [`Config::max_requests_per_connection`] says so.

use std::convert::Infallible;
use std::fmt;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response, Version};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use serde::{Deserialize, Serialize};
use socket2::{Domain, Socket, Type};
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc};

use crate::files;
use crate::pki::{PkiError, TestPki};
use crate::stats::{ConnCounters, Counters, Stats};

/// Which HTTP the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// HTTP/1.1 with keep-alive and HTTP/2: over TLS as ALPN chooses
    /// (`h2`, `http/1.1` offered in that order), in plain HTTP HTTP/2 with
    /// prior knowledge (h2c), else HTTP/1.1.
    Auto,
    /// HTTP/1.1 (keep-alive) only.
    Http1,
    /// HTTP/2 only.
    Http2,
    /// Like python's `http.server`: HTTP/1.0 answers with `Connection:
    /// close`, one request per connection.
    Http10,
}

impl Protocol {
    /// The protocols offered by ALPN, in order.
    fn alpn(self) -> &'static [&'static [u8]] {
        match self {
            Protocol::Auto => &[b"h2", b"http/1.1"],
            Protocol::Http1 => &[b"http/1.1"],
            Protocol::Http2 => &[b"h2"],
            Protocol::Http10 => &[b"http/1.1", b"http/1.0"],
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Auto => "auto",
            Protocol::Http1 => "http1",
            Protocol::Http2 => "http2",
            Protocol::Http10 => "http10",
        })
    }
}

impl FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Protocol::Auto),
            "http1" => Ok(Protocol::Http1),
            "http2" => Ok(Protocol::Http2),
            "http10" => Ok(Protocol::Http10),
            _ => Err(format!(
                "unknown protocol `{s}` (expected auto, http1, http2 or http10)"
            )),
        }
    }
}

/// How to start a [`Server`]. [`Config::new`] gives the defaults; the
/// `with_*`-less setters below change one field each.
#[derive(Clone)]
pub struct Config {
    /// The directory served.
    pub root: PathBuf,
    /// Where to listen; port 0 picks a free one. Default `127.0.0.1:0`.
    pub bind: SocketAddr,
    /// Default [`Protocol::Auto`].
    pub protocol: Protocol,
    /// HTTPS with this certificate; `None` (the default) for plain HTTP.
    pub tls: Option<Arc<TestPki>>,
    /// Added before every response. Default none.
    pub delay: Duration,
    /// `listen(2)`'s backlog: how many connections the kernel keeps
    /// waiting to be accepted (Linux keeps one more, and caps it at
    /// `net.core.somaxconn`). Default 1024.
    pub backlog: u32,
    /// The most HTTP/2 streams a client may have open on one connection.
    /// Default 128 (nginx's `http2_max_concurrent_streams`).
    pub max_concurrent_streams: u32,
    /// tokio worker threads. Default 1.
    pub threads: usize,
    /// Appends a JSON line per connection event and request to this file.
    pub log: Option<PathBuf>,
    /// Close a connection after this many requests, as nginx does
    /// (`keepalive_requests`, 1000 by default) and hypercorn
    /// (`keep_alive_max_requests`, 1000): HTTP/2 gets a GOAWAY and HTTP/1.1
    /// `Connection: close`. Default: never.
    pub max_requests_per_connection: Option<u64>,
    /// How a connection is closed at that limit. `None` (the default): as
    /// nginx does, the requests it carries are answered, then it closes.
    /// `Some(wait)`: as hypercorn 0.18 does, the request over the limit and
    /// every request still open on the connection are never answered (its
    /// HTTP/2 library refuses to send after its GOAWAY), and the connection
    /// closes only after `wait` (hypercorn's `keep_alive_timeout`, 5 s): a
    /// client learns of the lost requests only then.
    pub abandon_at_limit: Option<Duration>,
}

impl Config {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Config {
            root: root.into(),
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            protocol: Protocol::Auto,
            tls: None,
            delay: Duration::ZERO,
            backlog: 1024,
            max_concurrent_streams: 128,
            threads: 1,
            log: None,
            max_requests_per_connection: None,
            abandon_at_limit: None,
        }
    }
    pub fn protocol(mut self, p: Protocol) -> Self {
        self.protocol = p;
        self
    }
    pub fn tls(mut self, pki: Arc<TestPki>) -> Self {
        self.tls = Some(pki);
        self
    }
    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
    pub fn backlog(mut self, n: u32) -> Self {
        self.backlog = n;
        self
    }
    pub fn max_concurrent_streams(mut self, n: u32) -> Self {
        self.max_concurrent_streams = n;
        self
    }
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n;
        self
    }
    pub fn log(mut self, path: impl Into<PathBuf>) -> Self {
        self.log = Some(path.into());
        self
    }
    pub fn max_requests_per_connection(mut self, n: u64) -> Self {
        self.max_requests_per_connection = Some(n);
        self
    }
    pub fn abandon_at_limit(mut self, wait: Duration) -> Self {
        self.abandon_at_limit = Some(wait);
        self
    }
}

/// How the server runs, as [`Stats`] reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub addr: String,
    pub protocol: String,
    pub tls: bool,
    pub delay_ms: u64,
    /// The backlog given to `listen(2)`.
    pub backlog: u32,
    /// What the kernel applies: the backlog capped at
    /// `net.core.somaxconn` (Linux; elsewhere the backlog).
    pub backlog_effective: u32,
    pub max_concurrent_streams: u32,
    /// Requests after which a connection is closed (`None`: no limit).
    #[serde(default)]
    pub max_requests_per_connection: Option<u64>,
    /// With a limit: milliseconds until a connection at its limit is closed
    /// with its open requests unanswered (`None`: they are answered).
    #[serde(default)]
    pub abandon_at_limit_ms: Option<u64>,
}

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the log {path}")]
    Log {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the server's runtime")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    Tls(#[from] PkiError),
}

enum Cmd {
    Pause(std::sync::mpsc::Sender<()>),
    Resume,
    Stop,
}

/// What every connection task shares.
struct Shared {
    root: PathBuf,
    protocol: Protocol,
    delay: Duration,
    max_streams: u32,
    tls: Option<tokio_rustls::TlsAcceptor>,
    max_requests: Option<u64>,
    abandon: Option<Duration>,
    counters: Counters,
    log: Option<Mutex<std::fs::File>>,
    start: Instant,
    next_conn: AtomicU64,
}

impl Shared {
    /// Milliseconds since the start, to the microsecond.
    fn ms(&self) -> f64 {
        self.start.elapsed().as_micros() as f64 / 1000.0
    }

    fn log(&self, line: serde_json::Value) {
        if let Some(f) = &self.log {
            let mut text = line.to_string();
            text.push('\n');
            // One write per line, so lines from concurrent tasks do not mix;
            // a failed write loses the line, not the request.
            let _ = f.lock().unwrap().write_all(text.as_bytes());
        }
    }
}

/// A running server; stopped when dropped (or with [`Server::stop`]).
pub struct Server {
    addr: SocketAddr,
    tls: bool,
    shared: Arc<Shared>,
    cmds: mpsc::UnboundedSender<Cmd>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The kernel's cap on a listening socket's backlog.
fn somaxconn() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn listen(addr: SocketAddr, backlog: u32) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

impl Server {
    /// Binds, listens and starts serving on a thread of its own.
    pub fn start(cfg: Config) -> Result<Server, ServerError> {
        let listener = listen(cfg.bind, cfg.backlog).map_err(|source| ServerError::Listen {
            addr: cfg.bind,
            source,
        })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ServerError::Listen {
                addr: cfg.bind,
                source,
            })?;
        let tls = match &cfg.tls {
            Some(pki) => Some(tokio_rustls::TlsAcceptor::from(
                pki.server_config(cfg.protocol.alpn())?,
            )),
            None => None,
        };
        let log = match &cfg.log {
            Some(path) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| ServerError::Log {
                        path: path.clone(),
                        source,
                    })?,
            )),
            None => None,
        };
        let settings = Settings {
            addr: addr.to_string(),
            protocol: cfg.protocol.to_string(),
            tls: tls.is_some(),
            delay_ms: u64::try_from(cfg.delay.as_millis()).unwrap_or(u64::MAX),
            backlog: cfg.backlog,
            backlog_effective: somaxconn().map_or(cfg.backlog, |m| m.min(cfg.backlog)),
            max_concurrent_streams: cfg.max_concurrent_streams,
            max_requests_per_connection: cfg.max_requests_per_connection,
            abandon_at_limit_ms: cfg
                .max_requests_per_connection
                .and(cfg.abandon_at_limit)
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cfg.threads.max(1))
            .thread_name("knap-test-server")
            .enable_all()
            .build()
            .map_err(ServerError::Runtime)?;
        let listener = {
            let _guard = rt.enter();
            tokio::net::TcpListener::from_std(listener).map_err(|source| ServerError::Listen {
                addr: cfg.bind,
                source,
            })?
        };
        let shared = Arc::new(Shared {
            root: cfg.root,
            protocol: cfg.protocol,
            delay: cfg.delay,
            max_streams: cfg.max_concurrent_streams,
            max_requests: cfg.max_requests_per_connection,
            abandon: cfg.abandon_at_limit,
            tls,
            counters: Counters::new(settings),
            log,
            start: Instant::now(),
            next_conn: AtomicU64::new(1),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("knap-test-server".into())
                .spawn(move || {
                    rt.block_on(accept_loop(listener, shared, rx));
                    // Ends the connections still open.
                    rt.shutdown_timeout(Duration::from_secs(1));
                })
                .map_err(ServerError::Runtime)?
        };
        Ok(Server {
            addr,
            tls: cfg.tls.is_some(),
            shared,
            cmds: tx,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:PORT{path}` (or `http://`).
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr)
    }

    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// Counts from zero again (peaks from what is open now).
    pub fn reset_stats(&self) {
        self.shared.counters.reset();
    }

    /// Stops accepting connections; returns once the accept loop has
    /// stopped, so connections made from now on wait in the kernel's accept
    /// queue (or are dropped when it is full). Open connections are still
    /// served.
    pub fn pause_accepting(&self) {
        let (tx, rx) = std::sync::mpsc::channel();
        if self.cmds.send(Cmd::Pause(tx)).is_ok() {
            let _ = rx.recv();
        }
    }

    pub fn resume_accepting(&self) {
        let _ = self.cmds.send(Cmd::Resume);
    }

    /// Stops the server (open connections are cut) and returns the final
    /// counts.
    pub fn stop(mut self) -> Stats {
        self.shutdown();
        self.stats()
    }

    fn shutdown(&mut self) {
        let _ = self.cmds.send(Cmd::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
) {
    let mut paused = false;
    loop {
        let cmd = if paused {
            cmds.recv().await
        } else {
            tokio::select! {
                // Commands first: once a pause is acknowledged, nothing more
                // is accepted.
                biased;
                cmd = cmds.recv() => cmd,
                accepted = listener.accept() => {
                    match accepted {
                        Ok((stream, _)) => {
                            tokio::spawn(connection(stream, shared.clone()));
                        }
                        // Out of file descriptors and the like: wait a little
                        // rather than spin.
                        Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                    continue;
                }
            }
        };
        match cmd {
            Some(Cmd::Pause(ack)) => {
                paused = true;
                let _ = ack.send(());
            }
            Some(Cmd::Resume) => paused = false,
            Some(Cmd::Stop) | None => break,
        }
    }
}

/// One connection: its counters and its request limit.
struct Conn {
    stats: ConnCounters,
    /// Requests that arrived (those to `/__stats` aside).
    arrived: AtomicU64,
    /// The limit was reached: close the connection.
    at_limit: Notify,
    /// The limit was reached and open requests are abandoned.
    abandoning: AtomicBool,
}

impl Conn {
    fn id(&self) -> u64 {
        self.stats.id
    }
}

/// Counts a connection out however its task ends (runtime shutdown
/// included).
struct Open {
    shared: Arc<Shared>,
    conn: Arc<Conn>,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.shared.counters.close(&self.conn.stats);
        self.shared.log(serde_json::json!({
            "t_ms": self.shared.ms(), "conn": self.conn.id(), "event": "close",
        }));
    }
}

async fn connection(stream: TcpStream, shared: Arc<Shared>) {
    let id = shared.next_conn.fetch_add(1, Ordering::SeqCst);
    let conn = Arc::new(Conn {
        stats: shared.counters.open(id),
        arrived: AtomicU64::new(0),
        at_limit: Notify::new(),
        abandoning: AtomicBool::new(false),
    });
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    shared.log(serde_json::json!({
        "t_ms": shared.ms(), "conn": id, "event": "accept", "peer": peer,
    }));
    let _open = Open {
        shared: shared.clone(),
        conn: conn.clone(),
    };
    let _ = stream.set_nodelay(true);
    match &shared.tls {
        Some(acceptor) => match acceptor.accept(stream).await {
            Ok(tls) => {
                let alpn = tls
                    .get_ref()
                    .1
                    .alpn_protocol()
                    .map(|p| String::from_utf8_lossy(p).into_owned());
                shared
                    .counters
                    .alpn(&conn.stats, alpn.as_deref().unwrap_or("none"));
                shared.log(serde_json::json!({
                    "t_ms": shared.ms(), "conn": id, "event": "tls", "alpn": alpn,
                }));
                let h2 = alpn.as_deref() == Some("h2");
                serve(TokioIo::new(tls), shared.clone(), conn, true, h2).await;
            }
            Err(e) => {
                shared.counters.tls_failure();
                shared.log(serde_json::json!({
                    "t_ms": shared.ms(), "conn": id, "event": "tls-failed", "error": e.to_string(),
                }));
            }
        },
        None => serve(TokioIo::new(stream), shared.clone(), conn, false, false).await,
    }
}

async fn serve<I>(io: I, shared: Arc<Shared>, conn: Arc<Conn>, tls: bool, h2: bool)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .keep_alive(shared.protocol != Protocol::Http10);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(shared.max_streams);
    let builder = match shared.protocol {
        _ if h2 => builder.http2_only(),
        Protocol::Http2 => builder.http2_only(),
        Protocol::Http1 | Protocol::Http10 => builder.http1_only(),
        // Over TLS, ALPN chose HTTP/1.1 (or nothing): HTTP/1.1 it is.
        Protocol::Auto if tls => builder.http1_only(),
        Protocol::Auto => builder,
    };
    let svc = {
        let (shared, conn) = (shared.clone(), conn.clone());
        service_fn(move |req| answer(req, shared.clone(), conn.clone()))
    };
    let served = builder.serve_connection(io, svc);
    tokio::pin!(served);
    let result = tokio::select! {
        r = served.as_mut() => r,
        () = conn.at_limit.notified() => {
            shared.log(serde_json::json!({
                "t_ms": shared.ms(), "conn": conn.id(), "event": "limit",
                "requests": conn.arrived.load(Ordering::SeqCst),
            }));
            // HTTP/2: GOAWAY; HTTP/1.1: no keep-alive after this response.
            served.as_mut().graceful_shutdown();
            match shared.abandon {
                None => served.await,
                Some(wait) => match tokio::time::timeout(wait, served).await {
                    Ok(r) => r,
                    // Dropping the connection closes the socket with the
                    // abandoned requests unanswered.
                    Err(_) => Ok(()),
                },
            }
        }
    };
    if let Err(e) = result {
        shared.log(serde_json::json!({
            "t_ms": shared.ms(), "conn": conn.id(), "event": "error", "error": e.to_string(),
        }));
    }
}

fn protocol_name(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/?",
    }
}

async fn answer(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    conn: Arc<Conn>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    if path == "/__stats" {
        shared.counters.control_request(&conn.stats);
        let stats = shared.counters.snapshot();
        if req
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|p| p == "reset"))
        {
            shared.counters.reset();
        }
        let mut resp = Response::new(Full::new(Bytes::from(
            serde_json::to_vec_pretty(&stats).expect("stats serialize"),
        )));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return Ok(resp);
    }
    let protocol = protocol_name(req.version());
    let arrived = shared.ms();
    let in_flight = shared.counters.begin(&conn.stats);
    let n = conn.arrived.fetch_add(1, Ordering::SeqCst) + 1;
    match (shared.max_requests, shared.abandon) {
        // nginx: the last request is answered, then the connection closes.
        (Some(max), None) if n == max => conn.at_limit.notify_one(),
        // hypercorn: the request over the limit closes it, unanswered.
        (Some(max), Some(_)) if n == max + 1 => {
            conn.abandoning.store(true, Ordering::SeqCst);
            conn.at_limit.notify_one();
        }
        _ => {}
    }
    if !shared.delay.is_zero() {
        tokio::time::sleep(shared.delay).await;
    }
    if conn.abandoning.load(Ordering::SeqCst) {
        shared.counters.abandoned();
        shared.log(serde_json::json!({
            "t_ms": arrived, "conn": conn.id(), "proto": protocol,
            "method": req.method().as_str(), "path": path, "abandoned": true,
        }));
        // Never answered: the connection is dropped with this future.
        return std::future::pending().await;
    }
    let a = files::answer(&shared.root, req.method(), &path, req.headers()).await;
    let (status, bytes) = (a.status.as_u16(), a.body.len() as u64);
    let mut resp = Response::new(Full::new(a.body));
    *resp.status_mut() = a.status;
    *resp.headers_mut() = a.headers;
    if shared.protocol == Protocol::Http10 {
        *resp.version_mut() = Version::HTTP_10;
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    shared
        .counters
        .answered(&conn.stats, protocol, status, bytes);
    drop(in_flight);
    shared.log(serde_json::json!({
        "t_ms": arrived, "done_ms": shared.ms(), "conn": conn.id(), "proto": protocol,
        "method": req.method().as_str(), "path": path, "status": status, "bytes": bytes,
    }));
    Ok(resp)
}
