//! The sparse layout over HTTP: a lookup fetches `config.json` and only the
//! pack files it needs (the ref and, transitively, its dependencies), in
//! parallel, and revalidates them with If-None-Match.

use std::collections::BTreeSet;

use serde_json::json;

use crate::server::{Server, files};
use crate::{Knap, entry, write_json};

fn sparse_site() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    write_json(
        &d.path().join("config.json"),
        &json!({"format": "knap-sparse-1", "registry_name": "Sparse", "registry_url": "https://example.org/sparse/", "last_updated": "2026-11-21T12:00:00Z"}),
    );
    let packs: [(&str, &[&str]); 6] = [
        ("app", &["web@^1", "log"]),
        ("web", &["core@^1"]),
        ("log", &[]),
        ("core", &[]),
        ("unrelated", &[]),
        ("other", &["core"]),
    ];
    for (r, deps) in packs {
        write_json(
            &d.path().join(format!("packs/{r}.json")),
            &json!({"ref": r, "versions": [entry(r, "1.0.0", deps), entry(r, "1.1.0", deps)]}),
        );
    }
    d
}

fn paths(server: &Server) -> BTreeSet<String> {
    server.requests().into_iter().map(|r| r.path).collect()
}

#[test]
fn info_fetches_only_the_ref_and_its_dependencies() {
    let site = sparse_site();
    let server = Server::start(files(site.path().to_path_buf()));
    let k = Knap::new();
    k.run(&[
        "registry",
        "add",
        "sp",
        &format!("sparse+{}", server.url("/")),
    ])
    .ok();
    let info = k.run(&["info", "app", "--json"]).ok().json();
    assert_eq!(info["registry"], "sp");
    assert_eq!(info["versions"].as_array().unwrap().len(), 2);
    assert_eq!(
        info["versions"][0]["dependencies"][0],
        json!({"spec": "web@^1", "registry": "sp"})
    );
    let want: BTreeSet<String> = [
        "/config.json",
        "/packs/app.json",
        "/packs/web.json",
        "/packs/log.json",
        "/packs/core.json",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(paths(&server), want, "nothing else is fetched");
    assert_eq!(server.requests().len(), 5, "each file once");

    // A second lookup revalidates each pack file with its ETag: 304s, no bodies.
    server.clear_log();
    k.run(&["info", "app"]).ok();
    let again = server.requests();
    assert_eq!(
        again.len(),
        4,
        "config.json is cached, the four pack files revalidated"
    );
    for r in &again {
        assert!(r.header("if-none-match").is_some(), "{r:?}");
        assert_eq!(r.status, 304);
        assert_eq!(r.body_len, 0);
    }
}

#[test]
fn unknown_ref_on_a_sparse_registry_is_exit_3_after_one_404() {
    let site = sparse_site();
    let server = Server::start(files(site.path().to_path_buf()));
    let k = Knap::new();
    k.run(&[
        "registry",
        "add",
        "sp",
        &format!("sparse+{}", server.url("/")),
    ])
    .ok();
    let o = k.run(&["info", "nothing"]);
    assert_eq!(o.code, 3, "{o:#?}");
    assert_eq!(
        paths(&server),
        ["/config.json", "/packs/nothing.json"]
            .into_iter()
            .map(String::from)
            .collect()
    );
}

#[test]
fn invalid_pack_file_is_exit_4() {
    let site = sparse_site();
    write_json(
        &site.path().join("packs/log.json"),
        &json!({"ref": "other-name", "versions": []}),
    );
    let server = Server::start(files(site.path().to_path_buf()));
    let k = Knap::new();
    k.run(&[
        "registry",
        "add",
        "sp",
        &format!("sparse+{}", server.url("/")),
    ])
    .ok();
    let o = k.run(&["info", "app"]);
    assert_eq!(o.code, 4, "{o:#?}");
    assert!(
        o.stderr.contains("packs/log.json") && o.stderr.contains("$.ref"),
        "{}",
        o.stderr
    );
}

#[test]
fn local_sparse_directory_works_the_same() {
    let site = sparse_site();
    let k = Knap::new();
    k.run(&["registry", "add", "dir", site.path().to_str().unwrap()])
        .ok();
    let info = k.run(&["info", "web", "--json"]).ok().json();
    assert_eq!(info["registry"], "dir");
    assert_eq!(info["versions"][1]["version"], "1.1.0");
}
