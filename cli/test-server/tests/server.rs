//! The test server against real clients on 127.0.0.1: reqwest over HTTPS
//! with HTTP/2 and over plain HTTP/1.1 and h2c, raw sockets for HTTP/1.0
//! and for the accept queue, and the binary as a benchmark script runs it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use knap_test_server::{Config, Protocol, Server, Stats, TestPki};
use tempfile::TempDir;

/// A served directory: `packs/p<i>.json` for i in 0..n, and `index.html`.
fn site(n: usize) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("packs")).unwrap();
    for i in 0..n {
        std::fs::write(
            dir.path().join(format!("packs/p{i}.json")),
            format!("{{\"ref\":\"p{i}\"}}"),
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("index.html"), "<p>hello</p>").unwrap();
    dir
}

/// A reqwest client builder (reqwest is built without a default TLS
/// provider: ring is installed first).
fn new_client() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(Duration::from_secs(30))
}

/// A reqwest client that trusts only the test CA, read from the file the
/// server wrote (as a client under test would).
fn https_client(ca: &Path) -> reqwest::ClientBuilder {
    let pem = std::fs::read(ca).unwrap();
    new_client().tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
}

/// Fetches `packs/p<i>.json` for every i in `range` at once, checking
/// each body.
async fn get_all(client: &reqwest::Client, server: &Server, range: std::ops::Range<usize>) {
    let mut set = tokio::task::JoinSet::new();
    for i in range {
        let (client, url) = (client.clone(), server.url(&format!("/packs/p{i}.json")));
        set.spawn(async move {
            let r = client.get(&url).send().await.unwrap();
            assert_eq!(r.status(), 200, "{url}");
            assert_eq!(r.text().await.unwrap(), format!("{{\"ref\":\"p{i}\"}}"));
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
}

fn tls_server(site: &Path, pki_dir: &Path, cfg: impl FnOnce(Config) -> Config) -> Server {
    let pki = TestPki::generate().unwrap();
    pki.write_to(pki_dir).unwrap();
    Server::start(cfg(Config::new(site).tls(Arc::new(pki)))).unwrap()
}

#[tokio::test]
async fn https_http2_carries_many_requests_on_one_connection_with_streams_in_flight_at_once() {
    let site = site(40);
    let pki = tempfile::tempdir().unwrap();
    // The delay keeps every request in flight long enough for the others
    // to join it.
    let server = tls_server(site.path(), pki.path(), |c| {
        c.delay(Duration::from_millis(500))
    });
    let client = https_client(&pki.path().join("ca.pem")).build().unwrap();
    // One request first: the connection (and ALPN's answer) exists before
    // the others start, so the client has one connection to put them on.
    get_all(&client, &server, 0..1).await;
    get_all(&client, &server, 1..40).await;

    let s = server.stats();
    assert_eq!(s.connections, 1, "{s:#?}");
    assert_eq!(s.alpn.get("h2"), Some(&1), "{s:#?}");
    assert_eq!(s.requests, 40, "{s:#?}");
    assert_eq!(s.by_protocol.get("HTTP/2"), Some(&40), "{s:#?}");
    assert_eq!(s.by_status.get(&200), Some(&40), "{s:#?}");
    assert_eq!(s.max_requests_per_connection, 40, "{s:#?}");
    assert!(s.peak_streams > 1, "streams never overlapped: {s:#?}");
    assert_eq!(s.peak_connections, 1, "{s:#?}");
    assert!(s.settings.tls);
}

#[tokio::test]
async fn the_http2_stream_limit_caps_the_streams_in_flight_on_a_connection() {
    let site = site(24);
    let pki = tempfile::tempdir().unwrap();
    let server = tls_server(site.path(), pki.path(), |c| {
        c.delay(Duration::from_millis(300))
            .max_concurrent_streams(4)
    });
    let client = https_client(&pki.path().join("ca.pem")).build().unwrap();
    get_all(&client, &server, 0..1).await;
    get_all(&client, &server, 1..24).await;

    let s = server.stats();
    assert_eq!(s.settings.max_concurrent_streams, 4);
    assert_eq!(s.connections, 1, "{s:#?}");
    assert_eq!(s.requests, 24, "{s:#?}");
    assert!(s.peak_streams <= 4, "over the limit: {s:#?}");
    assert!(s.peak_streams > 1, "streams never overlapped: {s:#?}");
}

#[tokio::test]
async fn https_offers_http1_to_a_client_without_http2_and_refuses_an_untrusting_one() {
    let site = site(3);
    let pki = tempfile::tempdir().unwrap();
    let server = tls_server(site.path(), pki.path(), |c| c);
    let h1 = https_client(&pki.path().join("ca.pem"))
        .http1_only()
        .build()
        .unwrap();
    for _ in 0..3 {
        get_all(&h1, &server, 0..1).await;
    }
    // A client that trusts only another CA.
    let other = tempfile::tempdir().unwrap();
    TestPki::generate().unwrap().write_to(other.path()).unwrap();
    let untrusting = https_client(&other.path().join("ca.pem")).build().unwrap();
    let err = untrusting
        .get(server.url("/packs/p0.json"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");

    let s = wait_for(&server, |s| s.tls_failures == 1);
    assert_eq!(s.alpn.get("http/1.1"), Some(&1), "{s:#?}");
    assert_eq!(s.connections, 2, "{s:#?}");
    assert_eq!(s.by_protocol.get("HTTP/1.1"), Some(&3), "{s:#?}");
    assert_eq!(s.max_requests_per_connection, 3, "keep-alive: {s:#?}");
}

#[tokio::test]
async fn plain_http_keeps_http1_connections_alive_and_speaks_h2c_with_prior_knowledge() {
    let site = site(10);
    let server = Server::start(Config::new(site.path())).unwrap();
    let h1 = new_client().http1_only().build().unwrap();
    for i in 0..10 {
        get_all(&h1, &server, i..i + 1).await;
    }
    let s = server.stats();
    assert_eq!(s.connections, 1, "{s:#?}");
    assert_eq!(s.by_protocol.get("HTTP/1.1"), Some(&10), "{s:#?}");

    let h2c = new_client().http2_prior_knowledge().build().unwrap();
    get_all(&h2c, &server, 0..10).await;
    let s = server.stats();
    assert_eq!(s.connections, 2, "{s:#?}");
    assert_eq!(s.by_protocol.get("HTTP/2"), Some(&10), "{s:#?}");
    assert!(!s.settings.tls);
}

/// Reads one response head and body from `conn` as far as the server
/// sends, until it closes the connection.
fn read_until_closed(conn: &mut TcpStream) -> String {
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut text = Vec::new();
    // read_to_end returns only at the server's end of stream (a timeout is
    // an error): the server closed the connection.
    conn.read_to_end(&mut text).unwrap();
    String::from_utf8(text).unwrap()
}

#[tokio::test]
async fn the_http10_mode_answers_in_http_1_0_and_closes_after_each_request() {
    let site = site(5);
    let server = Server::start(Config::new(site.path()).protocol(Protocol::Http10)).unwrap();
    // Two requests on one connection, as a keep-alive client would send
    // them: the server answers the first and closes.
    let mut conn = TcpStream::connect(server.addr()).unwrap();
    let req = "GET /packs/p0.json HTTP/1.1\r\nHost: x\r\n\r\n";
    conn.write_all(format!("{req}{}", req.replace("p0", "p1")).as_bytes())
        .unwrap();
    let text = tokio::task::spawn_blocking(move || read_until_closed(&mut conn))
        .await
        .unwrap();
    assert!(text.starts_with("HTTP/1.0 200 OK\r\n"), "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("\r\nconnection: close\r\n"),
        "{text}"
    );
    assert!(text.ends_with("{\"ref\":\"p0\"}"), "{text}");
    assert_eq!(text.matches("HTTP/1.").count(), 1, "{text}");

    // A keep-alive client gets a connection per request.
    let client = new_client().http1_only().build().unwrap();
    for i in 0..5 {
        get_all(&client, &server, i..i + 1).await;
    }
    let s = wait_for(&server, |s| s.open_connections == 0);
    assert_eq!(s.connections, 6, "{s:#?}");
    assert_eq!(s.requests, 6, "{s:#?}");
    assert_eq!(s.max_requests_per_connection, 1, "{s:#?}");
    assert_eq!(s.settings.protocol, "http10");
}

/// Waits (a bounded while) until the stats satisfy `done`, and returns
/// them either way: the caller's assertions say what was expected.
fn wait_for(server: &Server, done: impl Fn(&Stats) -> bool) -> Stats {
    for _ in 0..500 {
        let s = server.stats();
        if done(&s) {
            return s;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    server.stats()
}

/// `TcpExt: ListenOverflows` of /proc/net/netstat: SYNs (and handshake
/// ends) the kernel dropped because an accept queue was full, in this
/// network namespace.
fn listen_overflows() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (lines.next()?, lines.next()?);
    let i = names
        .split_whitespace()
        .position(|n| n == "ListenOverflows")?;
    values.split_whitespace().nth(i)?.parse().ok()
}

#[test]
fn the_backlog_bounds_the_accept_queue_while_the_server_does_not_accept() {
    let site = site(1);
    let server = Server::start(Config::new(site.path()).backlog(3)).unwrap();
    assert_eq!(server.stats().settings.backlog, 3);
    server.pause_accepting();
    let overflows_before = listen_overflows();

    // Connect one at a time until a connect does not complete: the kernel
    // completes handshakes for the queue's length (Linux: backlog + 1) and
    // then drops the SYNs, so the next connect waits for retransmits that
    // are dropped too, until its timeout (a bound for the test, not a
    // measurement).
    let addr: SocketAddr = server.addr();
    let mut queued = Vec::new();
    let refused = loop {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(1500)) {
            Ok(c) => queued.push(c),
            Err(e) => break e,
        }
        assert!(queued.len() <= 20, "the accept queue never filled");
    };
    assert_eq!(refused.kind(), std::io::ErrorKind::TimedOut, "{refused}");
    assert_eq!(queued.len(), 3 + 1);
    if let (Some(before), Some(after)) = (overflows_before, listen_overflows()) {
        assert!(after > before, "no SYN dropped for a full accept queue");
    }
    assert_eq!(server.stats().connections, 0, "accepted while paused");

    // Accepting again, the server takes the queued connections and new
    // ones.
    server.resume_accepting();
    let s = wait_for(&server, |s| s.connections == 4);
    assert_eq!(s.connections, 4, "{s:#?}");
    let mut c = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
    c.write_all(b"GET /packs/p0.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert!(read_until_closed(&mut c).starts_with("HTTP/1.1 200 OK"));
}

/// The counters as `GET /__stats` gives them.
async fn stats_over_http(client: &reqwest::Client, url: &str) -> Stats {
    let body = client.get(url).send().await.unwrap().bytes().await.unwrap();
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test]
async fn files_are_served_with_validators_and_nothing_outside_the_directory() {
    // The served directory is `www/`, beside a file it must not show.
    let top = tempfile::tempdir().unwrap();
    let www = top.path().join("www");
    std::fs::create_dir_all(www.join("packs")).unwrap();
    std::fs::write(www.join("packs/p0.json"), "{\"ref\":\"p0\"}").unwrap();
    std::fs::write(www.join("index.html"), "<p>hello</p>").unwrap();
    std::fs::write(top.path().join("outside.json"), "secret").unwrap();
    let server = Server::start(Config::new(&www)).unwrap();
    let client = new_client().build().unwrap();
    let r = client
        .get(server.url("/packs/p0.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let etag = r.headers()["etag"].clone();
    let modified = r.headers()["last-modified"].clone();

    let status = |req: reqwest::RequestBuilder| async move { req.send().await.unwrap().status() };
    let url = server.url("/packs/p0.json");
    assert_eq!(
        status(client.get(&url).header("if-none-match", etag.clone())).await,
        304
    );
    assert_eq!(
        status(client.get(&url).header("if-modified-since", modified)).await,
        304
    );
    assert_eq!(
        status(client.get(&url).header("if-none-match", "\"other\"")).await,
        200
    );
    let head = client.head(&url).send().await.unwrap();
    assert_eq!(head.headers()["content-length"], "12");
    assert_eq!(status(client.get(server.url("/"))).await, 200);
    assert_eq!(
        status(client.get(server.url("/packs/none.json"))).await,
        404
    );
    assert_eq!(
        status(client.get(server.url("/packs/..%2f..%2foutside.json"))).await,
        404
    );
    assert_eq!(
        status(client.get(server.url("/%2e%2e/outside.json"))).await,
        404
    );
    assert_eq!(status(client.post(&url)).await, 405);

    // Reading the counters does not count.
    let before = server.stats();
    let fresh = new_client().build().unwrap();
    let read = stats_over_http(&fresh, &server.url("/__stats")).await;
    assert_eq!(read.requests, before.requests);
    assert_eq!(read.connections, before.connections);
    let after = server.stats();
    assert_eq!(after.requests, before.requests);
    assert_eq!(after.connections, before.connections);
    // `?reset` answers with the counts, then starts again from zero.
    let read = stats_over_http(&fresh, &server.url("/__stats?reset")).await;
    assert_eq!(read.requests, before.requests);
    assert_eq!(server.stats().requests, 0);
}

#[tokio::test]
async fn every_response_waits_the_delay_and_the_log_shows_each_request() {
    let site = site(3);
    let logdir = tempfile::tempdir().unwrap();
    let log = logdir.path().join("log.jsonl");
    let server = Server::start(
        Config::new(site.path())
            .delay(Duration::from_millis(100))
            .log(&log),
    )
    .unwrap();
    let client = new_client().http1_only().build().unwrap();
    for i in 0..3 {
        get_all(&client, &server, i..i + 1).await;
    }
    drop(server.stop());
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let requests: Vec<_> = lines.iter().filter(|l| l.get("path").is_some()).collect();
    assert_eq!(requests.len(), 3, "{lines:#?}");
    for r in &requests {
        // The server's own clock: the answer came no sooner than the delay.
        let waited = r["done_ms"].as_f64().unwrap() - r["t_ms"].as_f64().unwrap();
        assert!(waited >= 100.0, "{r}");
        assert_eq!(r["proto"], "HTTP/1.1");
        assert_eq!(r["conn"], 1);
    }
    let events: Vec<_> = lines.iter().filter_map(|l| l["event"].as_str()).collect();
    assert_eq!(events, ["accept", "close"], "{lines:#?}");
}

#[test]
fn the_binary_prints_its_url_serves_and_writes_its_counters_on_sigterm() {
    let site = site(2);
    let work = tempfile::tempdir().unwrap();
    let stats = work.path().join("stats.json");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_knap-test-server"))
        .arg(site.path())
        .args(["--tls", work.path().join("pki").to_str().unwrap()])
        .args(["--protocol", "auto", "--delay-ms", "5", "--backlog", "5"])
        .args(["--max-streams", "7", "--stats", stats.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let hello: serde_json::Value = serde_json::from_str(&line).unwrap();
    let url = hello["url"].as_str().unwrap().to_string();
    assert!(url.starts_with("https://127.0.0.1:"), "{hello}");
    let ca = std::path::PathBuf::from(hello["ca"].as_str().unwrap());

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = https_client(&ca).build().unwrap();
        let body = client
            .get(format!("{url}packs/p1.json"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, "{\"ref\":\"p1\"}");
    });
    // SAFETY: kill(2) on our own child's pid, which it has not reaped.
    let killed = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(killed, 0);
    assert!(child.wait().unwrap().success());
    let s: Stats = serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
    assert_eq!(s.requests, 1, "{s:#?}");
    assert_eq!(s.by_protocol.get("HTTP/2"), Some(&1), "{s:#?}");
    assert_eq!(s.settings.backlog, 5);
    assert_eq!(s.settings.delay_ms, 5);
    assert_eq!(s.settings.max_concurrent_streams, 7);
}

/// The log file's lines.
fn log_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn at_its_request_limit_a_connection_is_closed_after_answering_what_it_carries() {
    let site = site(30);
    let pki = tempfile::tempdir().unwrap();
    let log = pki.path().join("log.jsonl");
    let server = tls_server(site.path(), pki.path(), |c| {
        c.max_requests_per_connection(10).log(&log)
    });
    let client = https_client(&pki.path().join("ca.pem")).build().unwrap();
    // One at a time: every request is answered, however the connections
    // come and go.
    for i in 0..30 {
        get_all(&client, &server, i..i + 1).await;
    }
    let s = server.stop();
    assert_eq!(s.requests, 30, "{s:#?}");
    assert_eq!(s.by_status.get(&200), Some(&30), "{s:#?}");
    assert_eq!(s.abandoned, 0, "{s:#?}");
    assert!(s.connections >= 2, "the limit closed no connection: {s:#?}");
    let lines = log_lines(&log);
    let limits: Vec<_> = lines.iter().filter(|l| l["event"] == "limit").collect();
    assert!(!limits.is_empty(), "{lines:#?}");
    for l in limits {
        assert_eq!(l["requests"], 10, "{l}");
    }
}

#[tokio::test]
async fn abandoning_at_the_limit_leaves_open_requests_unanswered_until_the_connection_closes() {
    let site = site(8);
    let pki = tempfile::tempdir().unwrap();
    let log = pki.path().join("log.jsonl");
    let server = tls_server(site.path(), pki.path(), |c| {
        c.max_requests_per_connection(5)
            .abandon_at_limit(Duration::from_millis(500))
            .log(&log)
    });
    let client = https_client(&pki.path().join("ca.pem")).build().unwrap();
    for i in 0..5 {
        get_all(&client, &server, i..i + 1).await;
    }
    // The sixth request on the connection is over the limit: never
    // answered, it fails when the server closes the connection.
    let err = client
        .get(server.url("/packs/p5.json"))
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_timeout(), "{err:?}");
    // A new connection serves the next one.
    get_all(&client, &server, 6..7).await;
    let s = server.stop();
    assert_eq!(s.abandoned, 1, "{s:#?}");
    assert_eq!(s.requests, 6, "{s:#?}");
    assert_eq!(s.connections, 2, "{s:#?}");
    assert_eq!(s.settings.abandon_at_limit_ms, Some(500));
    let lines = log_lines(&log);
    let abandoned: Vec<_> = lines.iter().filter(|l| l["abandoned"] == true).collect();
    assert_eq!(abandoned.len(), 1, "{lines:#?}");
    assert_eq!(abandoned[0]["path"], "/packs/p5.json");
    assert_eq!(abandoned[0]["conn"], 1);
}
