//! Which URLs an index may name: backslashes and whitespace never reach
//! another host, and install sources obey the URL policy (no plain http
//! to a remote host, no `file://` from a remote index, no
//! scheme-relative or foreign-scheme URL, no query string).

use knap_test_support::prelude::*;

use crate::fixtures::*;

#[test]
fn backslash_and_whitespace_urls_in_an_index_never_reach_another_host() {
    let mut s = Scene::new();
    let other = Server::start(std::sync::Arc::new(|_| {
        Reply::status(200, b"not an archive")
    }));
    let port = other
        .url("/")
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches('/')
        .to_owned();
    for (url, reason) in [
        (format!("\\\\127.0.0.1:{port}\\victim.tar.gz"), "backslash"),
        (format!("/\\127.0.0.1:{port}/victim.tar.gz"), "backslash"),
        (format!("\\/127.0.0.1:{port}/victim.tar.gz"), "backslash"),
        (format!("/\t/127.0.0.1:{port}/victim.tar.gz"), "whitespace"),
        (format!(" //127.0.0.1:{port}/victim.tar.gz"), "whitespace"),
    ] {
        s.assert_source_url_refused(&url, reason);
        assert!(other.requests().is_empty(), "{url:?} reached another host");
    }
}

#[test]
fn url_policy_holds_for_install_sources() {
    let mut s = Scene::new();
    let other = Server::start(std::sync::Arc::new(|_| {
        Reply::status(200, b"not an archive")
    }));
    for (url, reason) in [
        ("http://example.invalid/victim.tar.gz".to_owned(), "http"),
        ("file:///etc/passwd".to_owned(), "file://"),
        (
            format!("//{}", other.url("/v.tar.gz").trim_start_matches("http://")),
            "scheme-relative",
        ),
        ("ftp://127.0.0.1/v.tar.gz".to_owned(), "ftp"),
        (format!("{}?x=1", other.url("/v.tar.gz")), "query"),
    ] {
        s.assert_source_url_refused(&url, reason);
    }
    assert!(other.requests().is_empty(), "{:?}", other.requests());
}
