//! A small real HTTP/1.1 server on 127.0.0.1 for the tests: a thread per
//! connection, `Connection: close`, optional TLS (rustls), a request log,
//! and replies that misbehave on purpose (reset, stall, truncated body).
//! It also runs `git http-backend` as a CGI for smart-HTTP git.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use sha2::{Digest, Sha256};

/// One request as the server read it.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

/// What the server does with a request.
pub enum Reply {
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Never answer (until the server stops or 30 s pass).
    Stall,
    /// Declare `declared` bytes of body, send `body`, close.
    Truncated { declared: usize, body: Vec<u8> },
    /// A 200 declaring all of `body`, then one byte of it every `every`
    /// (until it is sent, the client goes away or the server stops).
    Drip {
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        every: Duration,
    },
}

impl Reply {
    pub fn status(status: u16, body: &[u8]) -> Self {
        Reply::Full {
            status,
            headers: vec![],
            body: body.to_vec(),
        }
    }
}

/// One line of the request log.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// The status sent (0 for reset, stall or truncated).
    pub status: u16,
    /// Bytes of body sent.
    pub body_len: usize,
    /// Whether the request came over TLS.
    pub tls: bool,
}

impl Logged {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub type Handler = Arc<dyn Fn(&Req) -> Reply + Send + Sync>;

pub struct Server {
    pub addr: SocketAddr,
    pub log: Arc<Mutex<Vec<Logged>>>,
    handler: Arc<RwLock<Handler>>,
    stop: Arc<AtomicBool>,
    reset: Arc<AtomicBool>,
    tls: bool,
}

impl Server {
    pub fn start(handler: Handler) -> Self {
        Self::start_inner(handler, None, false)
    }

    pub fn start_tls(handler: Handler, tls: Arc<rustls::ServerConfig>) -> Self {
        Self::start_inner(handler, Some(tls), false)
    }

    /// TLS and plain HTTP on the same port (a connection whose first byte
    /// is a TLS handshake record gets TLS): a request downgraded to
    /// `http://` on the same host and port reaches the handler and the log
    /// (with `tls: false`). [`Server::url`] gives the `https://` URL.
    pub fn start_dual(handler: Handler, tls: Arc<rustls::ServerConfig>) -> Self {
        Self::start_inner(handler, Some(tls), true)
    }

    fn start_inner(handler: Handler, tls: Option<Arc<rustls::ServerConfig>>, dual: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let handler = Arc::new(RwLock::new(handler));
        let stop = Arc::new(AtomicBool::new(false));
        let reset = Arc::new(AtomicBool::new(false));
        let is_tls = tls.is_some();
        {
            let (log, handler, stop, reset) =
                (log.clone(), handler.clone(), stop.clone(), reset.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    if reset.load(Ordering::SeqCst) {
                        // Close with unread request bytes: the kernel answers with a RST.
                        let mut b = [0u8; 1];
                        let _ = conn.peek(&mut b);
                        std::thread::sleep(Duration::from_millis(20));
                        log.lock().unwrap().push(Logged {
                            method: "?".into(),
                            path: "(reset)".into(),
                            headers: vec![],
                            status: 0,
                            body_len: 0,
                            tls: false,
                        });
                        drop(conn);
                        continue;
                    }
                    let (log, handler, stop, tls) =
                        (log.clone(), handler.clone(), stop.clone(), tls.clone());
                    std::thread::spawn(move || {
                        let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
                        let mut first = [0u8; 1];
                        let tls = match tls {
                            Some(_) if dual && conn.peek(&mut first).ok() == Some(1) => {
                                // 0x16: a TLS handshake record.
                                tls.filter(|_| first[0] == 0x16)
                            }
                            t => t,
                        };
                        match tls {
                            Some(cfg) => {
                                let Ok(sc) = rustls::ServerConnection::new(cfg) else {
                                    return;
                                };
                                let mut s = rustls::StreamOwned::new(sc, conn);
                                serve(&mut s, &log, &handler, &stop, true);
                                s.conn.send_close_notify();
                                let _ = s.flush();
                            }
                            None => {
                                let mut c = conn;
                                serve(&mut c, &log, &handler, &stop, false);
                            }
                        }
                    });
                }
            });
        }
        Server {
            addr,
            log,
            handler,
            stop,
            reset,
            tls: is_tls,
        }
    }

    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr)
    }

    pub fn set_handler(&self, h: Handler) {
        *self.handler.write().unwrap() = h;
    }

    /// Answer every connection with a TCP reset (or stop doing so).
    pub fn set_reset(&self, on: bool) {
        self.reset.store(on, Ordering::SeqCst);
    }

    pub fn requests(&self) -> Vec<Logged> {
        self.log.lock().unwrap().clone()
    }

    pub fn clear_log(&self) {
        self.log.lock().unwrap().clear();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve<S: Read + Write>(
    s: &mut S,
    log: &Mutex<Vec<Logged>>,
    handler: &RwLock<Handler>,
    stop: &AtomicBool,
    tls: bool,
) {
    let mut reader = BufReader::new(s);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("").to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            return;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let probe = Req {
        method: method.clone(),
        target: target.clone(),
        headers: headers.clone(),
        body: vec![],
    };
    let body = read_body(&mut reader, &probe);
    let req = Req { body, ..probe };
    let h = handler.read().unwrap().clone();
    let reply = h(&req);
    let mut entry = Logged {
        method,
        path: target,
        headers,
        status: 0,
        body_len: 0,
        tls,
    };
    let s = reader.into_inner();
    match reply {
        Reply::Full {
            status,
            headers,
            body,
        } => {
            entry.status = status;
            entry.body_len = body.len();
            log.lock().unwrap().push(entry);
            let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
            for (k, v) in &headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str(&format!(
                "Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            ));
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
            let _ = s.flush();
        }
        Reply::Stall => {
            log.lock().unwrap().push(entry);
            for _ in 0..300 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Reply::Drip {
            headers,
            body,
            every,
        } => {
            entry.status = 200;
            log.lock().unwrap().push(entry);
            let mut head = "HTTP/1.1 200 OK\r\n".to_string();
            for (k, v) in &headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str(&format!(
                "Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            ));
            if s.write_all(head.as_bytes())
                .and_then(|()| s.flush())
                .is_err()
            {
                return;
            }
            for b in body {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                std::thread::sleep(every);
                if s.write_all(&[b]).and_then(|()| s.flush()).is_err() {
                    break;
                }
            }
        }
        Reply::Truncated { declared, body } => {
            entry.body_len = body.len();
            log.lock().unwrap().push(entry);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\nConnection: close\r\n\r\n"
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
            let _ = s.flush();
        }
    }
}

fn read_body<R: BufRead>(r: &mut R, req: &Req) -> Vec<u8> {
    let mut body = Vec::new();
    if req
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            if r.read_line(&mut size).unwrap_or(0) == 0 {
                break;
            }
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            if n == 0 {
                let mut end = String::new();
                let _ = r.read_line(&mut end);
                break;
            }
            let mut chunk = vec![0; n];
            if r.read_exact(&mut chunk).is_err() {
                break;
            }
            body.extend(chunk);
            let mut crlf = String::new();
            let _ = r.read_line(&mut crlf);
        }
    } else if let Some(n) = req.header("content-length").and_then(|v| v.parse().ok()) {
        body.resize(n, 0);
        let _ = r.read_exact(&mut body);
    }
    body
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Whatever",
    }
}

/// The strong ETag the file server gives `bytes`.
pub fn etag_of(bytes: &[u8]) -> String {
    let h = Sha256::digest(bytes);
    format!("\"{}\"", knap_schema::hex::encode(&h[..8]))
}

/// Serves the files under `root` (read at each request, so tests can change
/// them), with ETag / If-None-Match, Last-Modified, and gzip when asked.
pub fn files(root: PathBuf) -> Handler {
    Arc::new(move |req: &Req| {
        let rel = req.path().trim_start_matches('/');
        if rel.contains("..") {
            return Reply::status(400, b"");
        }
        let Ok(bytes) = std::fs::read(root.join(rel)) else {
            return Reply::status(404, b"not found");
        };
        let etag = etag_of(&bytes);
        if req.header("if-none-match") == Some(etag.as_str()) {
            return Reply::Full {
                status: 304,
                headers: vec![("ETag".into(), etag)],
                body: vec![],
            };
        }
        let mut headers = vec![
            ("ETag".into(), etag),
            (
                "Last-Modified".into(),
                "Sat, 21 Nov 2026 10:00:00 GMT".into(),
            ),
            ("Content-Type".into(), "application/json".into()),
        ];
        let body = if req
            .header("accept-encoding")
            .is_some_and(|v| v.contains("gzip"))
        {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(&bytes).unwrap();
            headers.push(("Content-Encoding".into(), "gzip".into()));
            enc.finish().unwrap()
        } else {
            bytes
        };
        Reply::Full {
            status: 200,
            headers,
            body,
        }
    })
}

/// Runs `git http-backend` as a CGI for the repositories under `root`.
pub fn git_cgi(root: PathBuf) -> Handler {
    Arc::new(move |req: &Req| cgi(&root, req))
}

fn cgi(root: &Path, req: &Req) -> Reply {
    let (path, query) = match req.target.split_once('?') {
        Some((p, q)) => (p.to_owned(), q.to_owned()),
        None => (req.target.clone(), String::new()),
    };
    let mut cmd = Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("REQUEST_METHOD", &req.method)
        .env("PATH_INFO", &path)
        .env("QUERY_STRING", &query)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("CONTENT_LENGTH", req.body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(t) = req.header("content-type") {
        cmd.env("CONTENT_TYPE", t);
    }
    if let Some(p) = req.header("git-protocol") {
        cmd.env("GIT_PROTOCOL", p);
    }
    if let Some(e) = req.header("content-encoding") {
        cmd.env("HTTP_CONTENT_ENCODING", e);
    }
    let mut child = cmd.spawn().expect("git http-backend runs");
    {
        let mut stdin = child.stdin.take().unwrap();
        let body = req.body.clone();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&body);
        });
    }
    let out = child.wait_with_output().unwrap();
    let raw = out.stdout;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((i, n)) = split else {
        return Reply::status(500, b"bad CGI output");
    };
    let head = String::from_utf8_lossy(&raw[..i]).to_string();
    let body = raw[i + n..].to_vec();
    let mut status = 200;
    let mut headers = Vec::new();
    for l in head.lines() {
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("status") {
                status = v.trim()[..3].parse().unwrap_or(500);
            } else {
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
    }
    Reply::Full {
        status,
        headers,
        body,
    }
}
