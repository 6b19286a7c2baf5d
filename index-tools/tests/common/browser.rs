//! Headless Chromium for the site tests, driven over the DevTools protocol,
//! and a static HTTP server on 127.0.0.1 to serve a built site to it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use super::{stderr, stdout};

/// The Chromium binary for the browser tests, or `None` when they are to be
/// skipped: with `KNAP_SKIP_BROWSER=1`, or when no Chromium is found
/// (`KNAP_CHROMIUM`, else `chromium`, `chromium-browser` or `google-chrome`
/// on `PATH`). A skipped test passes and says so on stderr (`cargo test --
/// --nocapture` shows it), except that with `CI` set a missing browser fails
/// it: CI installs Chromium (`.ci/run`), so there a missing one is a broken
/// machine, not a reason to test less.
pub fn chromium() -> Option<PathBuf> {
    if std::env::var("KNAP_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!("skipped: KNAP_SKIP_BROWSER=1");
        return None;
    }
    let candidates = ["chromium", "chromium-browser", "google-chrome"];
    let found = std::env::var_os("KNAP_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| {
            let path = std::env::var_os("PATH").unwrap_or_default();
            std::env::split_paths(&path)
                .flat_map(|d| candidates.iter().map(move |c| d.join(c)))
                .find(|p| p.is_file())
        });
    if found.is_none() {
        if std::env::var_os("CI").is_some() {
            panic!(
                "the browser tests need Chromium, and CI is set: `apt-get install chromium` (.ci/run installs it) or set KNAP_CHROMIUM=/path/to/chrome"
            );
        }
        eprintln!(
            "skipped: no Chromium found (chromium, chromium-browser or google-chrome on PATH, or KNAP_CHROMIUM); the browser tests pass as skipped (with CI set they fail)"
        );
    }
    found
}

/// Flags for a headless Chromium that touches nothing outside `profile`.
pub fn headless_flags(profile: &Path) -> Vec<String> {
    [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--hide-scrollbars",
        "--mute-audio",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect()
}

pub fn file_url(path: &Path) -> String {
    format!("file://{}", path.canonicalize().unwrap().display())
}

/// `chromium --dump-dom`: the DOM after the page's scripts ran.
pub fn dump_dom(chrome: &Path, url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let o = Command::new(chrome)
        .args(headless_flags(profile.path()))
        .args(["--dump-dom", url])
        .output()
        .expect("runs chromium");
    assert!(
        o.status.success(),
        "chromium --dump-dom failed: {}",
        stderr(&o)
    );
    stdout(&o)
}

/// A headless Chromium driven over the DevTools protocol on a pipe
/// (`--remote-debugging-pipe`: commands on fd 3, replies on fd 4, each a
/// JSON message ended by a NUL byte), so no websocket client is needed.
pub struct Browser {
    child: Child,
    input: ChildStdin,
    replies: mpsc::Receiver<Value>,
    next_id: u64,
    session: Option<String>,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub fn launch(chrome: &Path) -> Self {
        let profile = tempfile::tempdir().unwrap();
        // The shell hands our stdin to Chromium as fd 3 and our stdout as fd 4.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 </dev/null >/dev/null"#)
            .arg(chrome)
            .args(headless_flags(profile.path()))
            .arg("--remote-debugging-pipe")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starts chromium");
        let input = child.stdin.take().unwrap();
        let mut output = BufReader::new(child.stdout.take().unwrap());
        let (tx, replies) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            while output.read_until(0, &mut buf).is_ok_and(|n| n > 0) {
                buf.pop();
                if let Ok(v) = serde_json::from_slice::<Value>(&buf)
                    && tx.send(v).is_err()
                {
                    break;
                }
                buf.clear();
            }
        });
        Self {
            child,
            input,
            replies,
            next_id: 1,
            session: None,
            _profile: profile,
        }
    }

    /// Sends a command and waits for its reply's `result`.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let reply = self.send(method, params);
        assert!(reply.get("error").is_none(), "{method}: {reply}");
        reply["result"].clone()
    }

    /// Sends a command and waits for its whole reply (`result` or `error`).
    pub fn send(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.input.write_all(&bytes).unwrap();
        self.input.flush().unwrap();
        loop {
            let reply = self
                .replies
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|e| panic!("no reply from chromium to {method}: {e}"));
            if reply["id"] == id {
                return reply;
            }
        }
    }

    /// Opens a page in a new tab and waits for it to load.
    pub fn open(&mut self, url: &str, width: u32, height: u32) {
        self.session = None;
        let target = self.call("Target.createTarget", json!({"url": "about:blank"}));
        let attached = self.call(
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        self.session = Some(attached["sessionId"].as_str().unwrap().to_owned());
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}),
        );
        self.call("Page.navigate", json!({"url": url}));
        // While the page is being replaced an evaluation may fail; it is
        // retried until the new page has loaded.
        let loaded = json!({
            "expression": "document.readyState === 'complete' && location.href !== 'about:blank'",
            "returnByValue": true,
        });
        for _ in 0..200 {
            if self.send("Runtime.evaluate", loaded.clone())["result"]["result"]["value"] == true {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{url} did not load");
    }

    /// Evaluates a JavaScript expression in the page; its JSON value.
    pub fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        assert!(r.get("exceptionDetails").is_none(), "{expression}: {r}");
        r["result"]["value"].clone()
    }

    /// Waits (up to 10 s) until a JavaScript expression is true.
    pub fn wait_for(&mut self, expression: &str) {
        for _ in 0..400 {
            if self.eval(expression) == json!(true) {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("still not true after 10 s: {expression}");
    }

    /// Waits until the front page's search has shown the results of
    /// `query` (site.js marks the list with the query it shows).
    pub fn wait_for_search(&mut self, query: &str) {
        self.wait_for(&format!(
            "document.getElementById('packs').getAttribute('data-query') === {}",
            json!(query)
        ));
    }

    /// Presses and releases one key; `text` is what it types, if anything.
    pub fn key(&mut self, key: &str, code: &str, vk: u32, text: Option<&str>) {
        let mut down =
            json!({"type": "keyDown", "key": key, "code": code, "windowsVirtualKeyCode": vk});
        if let Some(t) = text {
            down["text"] = json!(t);
            down["unmodifiedText"] = json!(t);
        }
        self.call("Input.dispatchKeyEvent", down);
        self.call(
            "Input.dispatchKeyEvent",
            json!({"type": "keyUp", "key": key, "code": code, "windowsVirtualKeyCode": vk}),
        );
    }

    /// Types text, one key at a time.
    pub fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            let s = c.to_string();
            let vk = c.to_ascii_uppercase() as u32;
            self.key(&s, "", vk, Some(&s));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `target/test-artifacts/`, created.
pub fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Takes a screenshot of the page open in `browser` into
/// `target/test-artifacts/NAME.png` and checks that it is a PNG.
pub fn screenshot(browser: &mut Browser, name: &str) {
    let shot = browser.call(
        "Page.captureScreenshot",
        json!({"format": "png", "captureBeyondViewport": true}),
    );
    let png = decode_base64(shot["data"].as_str().unwrap());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name}");
    let path = artifacts().join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

pub fn decode_base64(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c).expect("base64") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// A static file server for a directory, on 127.0.0.1 (HTTP/1.1, one
/// request per connection); stopped when dropped. It serves what a web host
/// serves: the files, `index.html` for a directory, 404 otherwise, and
/// counts the requests.
pub struct Server {
    /// `http://127.0.0.1:PORT/`
    pub url: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    addr: std::net::SocketAddr,
}

impl Server {
    pub fn start(dir: &Path) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let dir = dir.canonicalize().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (stop2, requests2) = (stop.clone(), requests.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (dir, requests) = (dir.clone(), requests2.clone());
                std::thread::spawn(move || {
                    let _ = serve_one(conn, &dir, &requests);
                });
            }
        });
        Self {
            url: format!("http://{addr}/"),
            requests,
            stop,
            addr,
        }
    }

    /// The paths requested so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve_one(
    mut conn: TcpStream,
    dir: &Path,
    requests: &std::sync::Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte)? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let target = head.split_whitespace().nth(1).unwrap_or("/");
    let path = target.split(['?', '#']).next().unwrap_or("/");
    requests.lock().unwrap().push(path.to_owned());
    let mut file = dir.to_path_buf();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if part == ".." || part.contains('%') {
            file = dir.join("\0");
            break;
        }
        file.push(part);
    }
    if file.is_dir() {
        file.push("index.html");
    }
    let (status, body, kind) = match std::fs::read(&file) {
        Ok(b) => {
            let kind = match file.extension().and_then(|e| e.to_str()) {
                Some("html") => "text/html; charset=utf-8",
                Some("css") => "text/css",
                Some("js") => "text/javascript",
                Some("json") => "application/json",
                _ => "application/octet-stream",
            };
            ("200 OK", b, kind)
        }
        Err(_) => ("404 Not Found", b"not found".to_vec(), "text/plain"),
    };
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    conn.write_all(&body)?;
    conn.flush()
}

/// `GET url` (plain `http://` on 127.0.0.1): the status code and the body.
pub fn http_get(url: &str) -> (u16, Vec<u8>) {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut conn = TcpStream::connect(host).unwrap();
    write!(
        conn,
        "GET {} HTTP/1.0\r\nHost: {host}\r\n\r\n",
        if path.is_empty() { "/" } else { path }
    )
    .unwrap();
    let mut response = Vec::new();
    conn.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header");
    let status = String::from_utf8_lossy(&response[..split])
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    (status, response[split + 4..].to_vec())
}
