//! Priority: the first registry that lists a ref provides all its versions;
//! `--registry` pins; an unreadable registry ahead fails closed (exit 5);
//! `--offline` answers from caches.

use crate::server::{Server, files};
use crate::{Knap, entry, index, write_json};

fn two_registries() -> (Knap, tempfile::TempDir) {
    let d = tempfile::tempdir().unwrap();
    write_json(
        &d.path().join("private/index.json"),
        &index("Private", vec![entry("slack", "9.0.0", &[])]),
    );
    write_json(
        &d.path().join("public/index.json"),
        &index(
            "Public",
            vec![
                entry("jira", "1.0.0", &[]),
                entry("slack", "0.1.0", &[]),
                entry("slack", "0.2.0", &[]),
            ],
        ),
    );
    let k = Knap::new();
    k.run(&[
        "registry",
        "add",
        "public",
        d.path().join("public").to_str().unwrap(),
        "--priority",
        "50",
    ])
    .ok();
    k.run(&[
        "registry",
        "add",
        "private",
        d.path().join("private").to_str().unwrap(),
        "--priority",
        "10",
    ])
    .ok();
    (k, d)
}

#[test]
fn the_first_registry_listing_a_ref_shadows_the_others() {
    let (k, _d) = two_registries();
    let info = k.run(&["info", "slack", "--json"]).ok().json();
    assert_eq!(info["registry"], "private");
    assert_eq!(info["shadows"], serde_json::json!(["public"]));
    let versions: Vec<_> = info["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].clone())
        .collect();
    assert_eq!(
        versions,
        vec!["9.0.0"],
        "no candidate comes from the shadowed registry"
    );
    let text = k.run(&["info", "slack"]).ok().stdout;
    assert!(
        text.contains("provided by registry `private`") && text.contains("shadows public"),
        "{text}"
    );
    let jira = k.run(&["info", "jira", "--json"]).ok().json();
    assert_eq!(jira["registry"], "public");
    let hits = k.run(&["search", "--json"]).ok().json();
    let slack = hits
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["ref"] == "slack")
        .unwrap();
    assert_eq!(slack["registry"], "private");
    assert_eq!(slack["version"], "9.0.0");
    assert_eq!(slack["shadows"], serde_json::json!(["public"]));
    // With a query, too: only the rows that match are read, and the
    // shadows still come from every registry's refs.
    let hits = k.run(&["search", "SLA", "--json"]).ok().json();
    assert_eq!(hits.as_array().unwrap().len(), 1, "{hits}");
    assert_eq!(hits[0]["registry"], "private");
    assert_eq!(hits[0]["shadows"], serde_json::json!(["public"]));
}

#[test]
fn registry_flag_pins_lookups_to_one_registry() {
    let (k, _d) = two_registries();
    let info = k
        .run(&["info", "slack", "--registry", "public", "--json"])
        .ok()
        .json();
    assert_eq!(info["registry"], "public");
    assert_eq!(info["versions"][1]["version"], "0.2.0");
    let hits = k
        .run(&["search", "--registry", "private", "--json"])
        .ok()
        .json();
    assert_eq!(hits.as_array().unwrap().len(), 1);
    let o = k.run(&["info", "jira", "--registry", "private"]);
    assert_eq!(o.code, 3, "{o:?}");
    let o = k.run(&["info", "slack", "--registry", "nope"]);
    assert_eq!(o.code, 3, "{o:?}");
    let o = k.run(&["info", "slack@^3"]);
    assert_eq!(o.code, 3, "no version matches: {o:?}");
}

#[test]
fn an_unreachable_registry_ahead_fails_closed_with_exit_5() {
    let (k, _d) = two_registries();
    // A port with nothing listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    k.run(&[
        "registry",
        "add",
        "down",
        &format!("http://127.0.0.1:{port}/index.json"),
        "--priority",
        "1",
    ])
    .ok();
    for r in ["slack", "jira"] {
        let o = k.run(&["info", r]);
        assert_eq!(o.code, 5, "{o:#?}");
        assert!(
            o.stderr.contains("registry `down`") && o.stderr.contains("cannot connect"),
            "{}",
            o.stderr
        );
    }
    let o = k.run(&["search", "slack"]);
    assert_eq!(o.code, 5, "{o:#?}");
    // Behind the answering registries it only costs a warning.
    k.run(&["registry", "set-priority", "down", "99"]).ok();
    let info = k.run(&["info", "jira", "--json"]).ok().json();
    assert_eq!(info["registry"], "public");
}

#[test]
fn offline_uses_the_cache_and_fails_without_one() {
    let site = tempfile::tempdir().unwrap();
    write_json(
        &site.path().join("index.json"),
        &index("Web", vec![entry("core", "1.2.0", &[])]),
    );
    let server = Server::start(files(site.path().to_path_buf()));
    let k = Knap::new();
    k.run(&["registry", "add", "web", &server.url("/")]).ok();
    let o = k.run(&["--offline", "info", "core"]);
    assert_eq!(o.code, 5, "no cache yet: {o:#?}");
    assert!(o.stderr.contains("no cached copy"), "{}", o.stderr);
    k.run(&["update"]).ok();
    drop(server);
    let info = k.run(&["--offline", "info", "core", "--json"]).ok().json();
    assert_eq!(info["versions"][0]["version"], "1.2.0");
    let hits = k
        .run(&["--offline", "search", "core", "--json"])
        .ok()
        .json();
    assert_eq!(hits[0]["ref"], "core");
    let o = k.run(&["--offline", "update"]);
    assert_eq!(o.code, 2, "{o:#?}");
}
