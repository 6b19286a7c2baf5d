//! A registry knap cannot reach, and what it says about it: a refused
//! connection (a typo in the port) says that nothing listens there, and one
//! to this machine is not tried again (`KNAP_HTTP_RETRIES` is for servers
//! that fail, not for addresses where nothing runs); a registry that is not
//! at its URL (404) at `registry add` says so without pointing at
//! `knap registry list` (nothing was added); and `knap search` with a
//! registry down names the failure, not only the registry.

use knap_test_support::prelude::*;

/// A loopback URL where nothing listens.
fn nothing_listens() -> (String, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    (format!("http://127.0.0.1:{port}/"), port)
}

#[test]
fn a_refused_loopback_connection_says_nothing_listens_and_is_not_retried() {
    let (url, port) = nothing_listens();
    let mut k = Knap::new();
    k.set("KNAP_HTTP_RETRIES", "3");
    k.run(&["registry", "add", "typo", &url]).ok();
    let o = k.run(&["--color", "never", "update"]);
    assert_eq!(o.code, 5, "{o:#?}");
    assert!(
        o.stderr.contains(&format!(
            "the connection was refused, nothing listens at 127.0.0.1:{port}"
        )),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("hint: check the URL's host and port"),
        "{}",
        o.stderr
    );
    // Tried once: no count of attempts, no advice to retry harder.
    assert!(!o.stderr.contains("attempts"), "{}", o.stderr);
    assert!(!o.stderr.contains("KNAP_HTTP_RETRIES"), "{}", o.stderr);
    assert!(!o.stderr.contains("kept failing"), "{}", o.stderr);
    assert_out!("refused_update", o);

    // The same at `registry add`, which then adds nothing.
    let o = k.run_exactly(&["--color", "never", "registry", "add", "typo2", &url]);
    assert_eq!(o.code, 5, "{o:#?}");
    assert!(o.stderr.contains("nothing listens at"), "{}", o.stderr);
    assert!(o.stderr.contains("was not added"), "{}", o.stderr);
    assert!(!o.stderr.contains("attempts"), "{}", o.stderr);
    assert_out!("refused_registry_add", o);
}

#[test]
fn a_404_at_registry_add_says_not_found_and_does_not_point_at_registry_list() {
    let empty = tempfile::tempdir().unwrap();
    let server = Server::start(files(empty.path().to_path_buf()));
    let k = Knap::new();
    for (name, url) in [
        ("whole", server.url("/")),
        ("sparse", format!("sparse+{}", server.url("/"))),
    ] {
        let o = k.run_exactly(&["--color", "never", "registry", "add", name, &url]);
        assert_eq!(o.code, 5, "{name}: {o:#?}");
        assert!(o.stderr.contains("not found (404)"), "{name}: {}", o.stderr);
        assert!(o.stderr.contains("was not added"), "{name}: {}", o.stderr);
        assert!(o.stderr.contains("hint: "), "{name}: {}", o.stderr);
        assert!(
            !o.stderr.contains("registry list"),
            "nothing was added, so there is nothing to list: {}",
            o.stderr
        );
        assert_out!(format!("not_found_at_add_{name}"), o);
    }
    let list = k.run(&["registry", "list", "--json"]).ok().json();
    assert_eq!(list, serde_json::json!([]));
}

#[test]
fn search_with_a_registry_down_names_the_failure() {
    let (url, port) = nothing_listens();
    let k = Knap::new();
    k.run(&["registry", "add", "down", &url]).ok();
    let o = k.run(&["--color", "never", "search", "disk"]);
    assert_eq!(o.code, 5, "{o:#?}");
    let first = o.stderr.lines().next().unwrap_or_default();
    assert_eq!(first, "error: cannot read registry `down`", "{}", o.stderr);
    assert!(
        o.stderr.contains(&format!(
            "caused by: {url}index.json: cannot connect: the connection was refused, nothing listens at 127.0.0.1:{port}"
        )),
        "{}",
        o.stderr
    );
    assert_out!("search_registry_down", o);
}
