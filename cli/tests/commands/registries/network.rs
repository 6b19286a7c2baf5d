//! A sparse registry on the servers knap meets on real networks, played by
//! `knap-test-server` on 127.0.0.1 (issue 25): an HTTPS host offering
//! HTTP/2, whose one connection carries every request, more of them in
//! flight than the old fixed 16, and a second connection (never a third)
//! only when more requests are ready than one connection takes; a small connection-per-request server
//! (python's `http.server`: HTTP/1.0, an accept queue of 5) and an
//! HTTP/1.1 keep-alive one, which get a bounded number of connections at
//! once; and a server that stops answering the streams open on a
//! connection it closes (hypercorn's GOAWAY at its request limit), whose
//! unanswered requests are sent again on a new connection. What is
//! checked is what the server counted, never how long it took.

use std::time::Duration;

use knap_test_server::{Config, Protocol, Server, Stats, TestPki};
use knap_test_support::prelude::{Knap, entry, write_json};
use serde_json::json;

/// How many dependencies `app` has: all known from one file, so a client
/// can have them all in flight at once.
const DEPS: usize = 60;

/// The pack files a resolution of `app` needs: its own and its dependencies'.
const PACK_FILES: u64 = DEPS as u64 + 1;

/// A sparse site: `app` depends on `p00` .. `p59`, which depend on nothing.
fn site() -> tempfile::TempDir {
    site_with(DEPS)
}

/// A sparse site: `app` depends on `deps` packs (`p00`, `p01`, ...), which
/// depend on nothing.
fn site_with(deps: usize) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    write_json(
        &d.path().join("config.json"),
        &json!({"format": "knap-sparse-1", "registry_name": "Net", "registry_url": "https://example.org/net/", "last_updated": "2026-12-06T00:00:00Z"}),
    );
    let deps: Vec<String> = (0..deps).map(|i| format!("p{i:02}")).collect();
    let specs: Vec<&str> = deps.iter().map(String::as_str).collect();
    write_json(
        &d.path().join("packs/app.json"),
        &json!({"ref": "app", "versions": [entry("app", "1.0.0", &specs)]}),
    );
    for r in &deps {
        write_json(
            &d.path().join(format!("packs/{r}.json")),
            &json!({"ref": r, "versions": [entry(r, "1.0.0", &[])]}),
        );
    }
    d
}

/// A knap home with the server as its sparse registry `net` (its CA
/// trusted for HTTPS).
fn knap_for(server: &Server, ca: Option<&std::path::Path>) -> Knap {
    let k = Knap::new();
    let url = format!("sparse+{}", server.url("/"));
    let mut args = vec!["registry", "add", "net", url.as_str()];
    if let Some(ca) = ca {
        args.extend(["--ca-file", ca.to_str().unwrap()]);
    }
    k.run(&args).ok();
    k
}

/// Resolves `app` (a dry run: nothing is downloaded) and checks every pack
/// was resolved.
fn resolve_app(k: &Knap) {
    resolve_app_with(k, DEPS);
}

/// [`resolve_app`] for a site of [`site_with`]`(deps)`.
fn resolve_app_with(k: &Knap, deps: usize) {
    let plan = k
        .run(&["install", "app", "--dry-run", "--json"])
        .ok()
        .json();
    let text = plan.to_string();
    for i in 0..deps {
        assert!(text.contains(&format!("\"p{i:02}\"")), "p{i:02} in {text}");
    }
}

/// The requests answered (the registry was added before the counters
/// were reset: config.json and the pack files of the resolution).
fn answered(stats: &Stats) -> u64 {
    stats.by_status.get(&200).copied().unwrap_or(0)
}

fn https(
    site: &std::path::Path,
    pki: &tempfile::TempDir,
    cfg: impl FnOnce(Config) -> Config,
) -> (Server, std::path::PathBuf) {
    let tls = TestPki::generate().unwrap();
    let files = tls.write_to(pki.path()).unwrap();
    let server = Server::start(cfg(Config::new(site).tls(std::sync::Arc::new(tls)))).unwrap();
    (server, files.ca)
}

/// Resolves `app` with `deps` dependencies from an HTTPS server offering
/// HTTP/2 with a stream limit of 100 and 300 ms per response (so that
/// requests sent together are in flight together), checking every request
/// went over HTTP/2 and every file was answered; gives what it counted.
fn resolve_over_http2(deps: usize) -> Stats {
    let site = site_with(deps);
    let pki = tempfile::tempdir().unwrap();
    let (server, ca) = https(site.path(), &pki, |c| {
        c.delay(Duration::from_millis(300))
            .max_concurrent_streams(100)
    });
    let k = knap_for(&server, Some(&ca));
    server.reset_stats();
    resolve_app_with(&k, deps);
    let stats = server.stats();
    assert_eq!(
        stats.by_protocol.get("HTTP/2").copied(),
        Some(stats.requests),
        "every request over HTTP/2: {stats:#?}"
    );
    assert!(
        answered(&stats) > deps as u64,
        "app and its dependencies: {stats:#?}"
    );
    stats
}

#[test]
fn one_http2_connection_carries_every_request_with_more_than_16_in_flight() {
    // A client that keeps only 16 in flight never shows more.
    let stats = resolve_over_http2(DEPS);
    assert_eq!(stats.connections, 1, "one connection: {stats:#?}");
    assert!(
        stats.peak_streams > 16,
        "more than 16 streams in flight on the connection: {stats:#?}"
    );
    assert!(
        stats.peak_streams <= 100,
        "never more than the server's stream limit: {stats:#?}"
    );
}

#[test]
fn more_requests_than_one_http2_connection_takes_get_a_second_one_and_never_a_third() {
    // 240 requests ready at once, on a server that takes 100 streams per
    // connection: the first connection carries 100, then a second one
    // opens and takes its share.
    let stats = resolve_over_http2(240);
    assert_eq!(stats.connections, 2, "two connections: {stats:#?}");
    assert!(
        stats.peak_streams > 50 && stats.peak_streams <= 100,
        "each connection filled up to the server's stream limit, never past it: {stats:#?}"
    );
}

/// Resolves `app` from a plain-HTTP server made by `cfg` (with 50 ms per
/// response), checking every file was answered; gives what it counted.
fn resolve_over_plain_http(cfg: impl FnOnce(Config) -> Config) -> Stats {
    let site = site();
    let server = Server::start(cfg(
        Config::new(site.path()).delay(Duration::from_millis(50))
    ))
    .unwrap();
    let k = knap_for(&server, None);
    server.reset_stats();
    resolve_app(&k);
    let stats = server.stats();
    assert!(answered(&stats) >= PACK_FILES, "{stats:#?}");
    stats
}

#[test]
fn a_connection_per_request_server_with_a_short_accept_queue_gets_a_bounded_count() {
    let stats = resolve_over_plain_http(|c| c.protocol(Protocol::Http10).backlog(5));
    assert_eq!(
        stats.connections, stats.requests,
        "HTTP/1.0: a connection per request: {stats:#?}"
    );
    assert!(
        stats.peak_connections <= 6,
        "at most 6 connections at once (16 overflowed the queue): {stats:#?}"
    );
}

#[test]
fn an_http11_keep_alive_server_gets_its_connections_reused() {
    let stats = resolve_over_plain_http(|c| c.protocol(Protocol::Http1));
    assert_eq!(
        stats.by_protocol.get("HTTP/1.1").copied(),
        Some(stats.requests),
        "{stats:#?}"
    );
    assert!(
        stats.peak_connections <= 6,
        "at most 6 connections at once: {stats:#?}"
    );
    assert!(
        stats.connections * 3 <= stats.requests,
        "connections are kept alive and reused: {stats:#?}"
    );
}

#[test]
fn requests_a_closing_http2_connection_leaves_unanswered_are_sent_again() {
    let site = site();
    let pki = tempfile::tempdir().unwrap();
    // As hypercorn 0.18: at 20 requests a connection gets GOAWAY, and the
    // streams open on it (at most 10) are never answered; it would close
    // only after ten minutes, far beyond the run's deadline of 30 s a
    // request.
    let (server, ca) = https(site.path(), &pki, |c| {
        c.delay(Duration::from_millis(100))
            .max_concurrent_streams(10)
            .max_requests_per_connection(20)
            .abandon_at_limit(Duration::from_secs(600))
    });
    let mut k = knap_for(&server, Some(&ca));
    k.set("KNAP_HTTP_TIMEOUT", "30");
    server.reset_stats();
    resolve_app(&k);
    let stats = server.stats();
    assert!(
        stats.abandoned > 0,
        "the server left requests unanswered: {stats:#?}"
    );
    assert!(
        stats.connections >= 2,
        "they were sent again on a new connection: {stats:#?}"
    );
    assert!(answered(&stats) >= PACK_FILES, "{stats:#?}");
}
