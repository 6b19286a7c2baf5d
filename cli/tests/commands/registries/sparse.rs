//! The sparse layout over HTTP: a lookup fetches `config.json` and only the
//! pack files it needs (for `info`, the ref and its direct dependencies;
//! for a resolution, the refs the resolver asks about), in parallel, each
//! once, and revalidates them with If-None-Match.

use std::collections::BTreeSet;

use knap_test_support::prelude::*;
use serde_json::json;

use crate::fixtures::knap_with_sparse;

/// A sparse site of six packs (`app`, `web`, `log`, `core`, `unrelated`,
/// `other`), two versions each.
pub(crate) fn sparse_site() -> tempfile::TempDir {
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

/// [`sparse_site`] with the `index.json` a site build writes beside the
/// sparse layout: the Attune form, the newest version of each ref.
fn sparse_site_with_names() -> tempfile::TempDir {
    let site = sparse_site();
    let refs = ["app", "web", "log", "core", "unrelated", "other"];
    write_json(
        &site.path().join("index.json"),
        &index(
            "Sparse",
            refs.iter().map(|r| entry(r, "1.1.0", &[])).collect(),
        ),
    );
    site
}

fn paths(server: &Server) -> BTreeSet<String> {
    server.requests().into_iter().map(|r| r.path).collect()
}

#[test]
fn info_fetches_only_the_ref_and_its_dependencies() {
    let site = sparse_site();
    let server = Server::start(files(site.path().to_path_buf()));
    let k = knap_with_sparse(&server);
    let info = k.run(&["info", "app", "--json"]).ok().json();
    assert_eq!(info["registry"], "sp");
    assert_eq!(info["versions"].as_array().unwrap().len(), 2);
    assert_eq!(
        info["versions"][0]["dependencies"][0],
        json!({"spec": "web@^1", "registry": "sp"})
    );
    // The direct dependencies only: web's own dependency (core) is not
    // fetched, nor anything else.
    let want: BTreeSet<String> = [
        "/config.json",
        "/packs/app.json",
        "/packs/web.json",
        "/packs/log.json",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(paths(&server), want, "nothing else is fetched");
    assert_eq!(server.requests().len(), 4, "each file once");

    // A second lookup revalidates each pack file with its ETag: 304s, no bodies.
    server.clear_log();
    k.run(&["info", "app"]).ok();
    let again = server.requests();
    assert_eq!(
        again.len(),
        3,
        "config.json is cached, the three pack files revalidated"
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
    let k = knap_with_sparse(&server);
    let o = k.run(&["info", "nothing"]);
    assert_eq!(o.code, 3, "{o:#?}");
    // One pack file asked for (404); the did-you-mean suggestion reads
    // the list of names the site publishes (index.json, absent here) and
    // no other pack file.
    assert_eq!(
        paths(&server),
        ["/config.json", "/index.json", "/packs/nothing.json"]
            .into_iter()
            .map(String::from)
            .collect()
    );
    let packs: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/packs/"))
        .collect();
    assert_eq!(packs.len(), 1, "{packs:?}");
    assert_eq!(packs[0].status, 404);
}

#[test]
fn invalid_pack_file_is_exit_4() {
    let site = sparse_site();
    write_json(
        &site.path().join("packs/log.json"),
        &json!({"ref": "other-name", "versions": []}),
    );
    let server = Server::start(files(site.path().to_path_buf()));
    let k = knap_with_sparse(&server);
    let o = k.run(&["info", "app"]);
    assert_eq!(o.code, 4, "{o:#?}");
    assert!(
        o.stderr.contains("packs/log.json") && o.stderr.contains("$.ref"),
        "{}",
        o.stderr
    );
}

#[test]
fn on_a_cold_cache_nothing_is_answered_before_config_json_is_checked() {
    // config.json is requested together with the first pack files on a
    // cold cache; a bad one still fails the command, whatever came with it.
    let site = sparse_site();
    let server = Server::start(files(site.path().to_path_buf()));
    let k = Knap::new();
    let url = format!("sparse+{}", server.url("/"));
    k.run(&["registry", "add", "sp", &url, "--no-fetch"]).ok();
    write_json(
        &site.path().join("config.json"),
        &json!({"format": "knap-sparse-9", "registry_name": "Sparse", "registry_url": "https://example.org/sparse/", "last_updated": "2026-11-21T12:00:00Z"}),
    );
    let o = k.run(&["info", "app"]);
    assert_eq!(o.code, 4, "{o:#?}");
    assert!(o.stderr.contains("config.json"), "{}", o.stderr);
    assert!(o.stdout.is_empty(), "nothing about app: {}", o.stdout);
    let asked = paths(&server);
    assert!(
        asked.contains("/config.json") && asked.contains("/packs/app.json"),
        "both requested at once: {asked:?}"
    );
    // Once config.json is right, the same cache answers.
    write_json(
        &site.path().join("config.json"),
        &json!({"format": "knap-sparse-1", "registry_name": "Sparse", "registry_url": "https://example.org/sparse/", "last_updated": "2026-11-21T12:00:00Z"}),
    );
    let o = k.run(&["info", "app"]);
    assert_eq!(o.code, 0, "{o:#?}");
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

/// A site where only the older version of `app` needs `old`, and `web`
/// needs `core`: what a resolution of `app` asks about is app, web, log
/// and core (the newest app fits), never `old` or `unrelated`.
fn site_with_an_unneeded_branch() -> tempfile::TempDir {
    let d = sparse_site();
    write_json(
        &d.path().join("packs/app.json"),
        &json!({"ref": "app", "versions": [
            entry("app", "1.0.0", &["old@^1"]),
            entry("app", "1.1.0", &["web@^1", "log"]),
        ]}),
    );
    write_json(
        &d.path().join("packs/old.json"),
        &json!({"ref": "old", "versions": [entry("old", "1.0.0", &[])]}),
    );
    d
}

#[test]
fn a_resolution_fetches_only_the_files_it_needs_each_once_then_revalidates_only_those() {
    let site = site_with_an_unneeded_branch();
    let server = Server::start(files(site.path().to_path_buf()));
    let k = knap_with_sparse(&server);
    let root = k.dir.path().join("root");
    let r = root.to_str().unwrap();
    let plan = k
        .run(&["--root", r, "install", "app", "--dry-run", "--json"])
        .ok()
        .json();
    let mut planned = refs_at_versions(&plan["install"]);
    planned.sort();
    assert_eq!(
        planned,
        ["app@1.1.0", "core@1.1.0", "log@1.1.0", "web@1.1.0"]
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
    assert_eq!(
        paths(&server),
        want,
        "old.json (needed by an older app only) and unrelated.json are not fetched"
    );
    assert_eq!(server.requests().len(), 5, "each file once");

    // Warm: the same four pack files, each revalidated once (304), nothing
    // else; config.json is cached.
    server.clear_log();
    k.run(&["--root", r, "install", "app", "--dry-run"]).ok();
    let again = server.requests();
    let again_paths: BTreeSet<String> = again.iter().map(|r| r.path.clone()).collect();
    let mut want_warm = want.clone();
    want_warm.remove("/config.json");
    assert_eq!(again_paths, want_warm);
    assert_eq!(again.len(), 4, "{again:?}");
    for r in &again {
        assert_eq!(r.status, 304, "{r:?}");
    }
}

#[test]
fn a_damaged_cached_pack_file_is_never_used_but_fetched_again() {
    let site = sparse_site();
    let server = Server::start(files(site.path().to_path_buf()));
    let k = knap_with_sparse(&server);
    k.run(&["info", "log"]).ok();
    let cached = std::fs::read_dir(k.cache().join("registries"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path()
        .join("packs/log.json");
    let good = std::fs::read(&cached).unwrap();
    // Valid JSON naming another ref: the server would answer 304, but the
    // copy must not be believed.
    std::fs::write(&cached, br#"{"ref": "evil", "versions": []}"#).unwrap();
    server.clear_log();
    let info = k.run(&["info", "log", "--json"]).ok().json();
    assert_eq!(info["versions"].as_array().unwrap().len(), 2, "{info}");
    let reqs = server.requests();
    assert_eq!(
        reqs.iter().map(|r| r.status).collect::<Vec<_>>(),
        [304, 200],
        "revalidated, then fetched again in full: {reqs:?}"
    );
    assert!(reqs[1].header("if-none-match").is_none(), "{reqs:?}");
    assert_eq!(
        std::fs::read(&cached).unwrap(),
        good,
        "the cache is repaired"
    );
}

#[test]
fn offline_uses_the_cached_pack_files_and_sends_no_request() {
    let site = sparse_site();
    let server = Server::start(files(site.path().to_path_buf()));
    let k = knap_with_sparse(&server);
    k.run(&["info", "app", "--json"]).ok();
    server.clear_log();
    let info = k.run(&["--offline", "info", "app", "--json"]).ok().json();
    assert_eq!(info["registry"], "sp");
    assert_eq!(info["versions"].as_array().unwrap().len(), 2);
    assert_eq!(
        paths(&server),
        BTreeSet::new(),
        "--offline sent requests for cached pack files"
    );
}

#[test]
fn a_down_sparse_server_is_named_once_and_cannot_connect_said_once() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut k = Knap::new();
    k.set("KNAP_HTTP_RETRIES", "0");
    let url = format!("http://127.0.0.1:{port}/");
    k.run(&["registry", "add", "down", &format!("sparse+{url}")])
        .ok();
    let root = k.dir.path().join("root");
    let config = format!("{url}config.json");
    for args in [
        &["install", "diskwatch"][..],
        &["search", "disk"],
        &["update"],
    ] {
        let mut all = vec!["--color", "never"];
        all.extend_from_slice(args);
        let o = k.at(&root, &all);
        assert_eq!(o.code, 5, "{args:?}: {o:?}");
        let err = &o.stderr;
        assert_eq!(err.matches(&config).count(), 1, "{args:?}: {err}");
        assert_eq!(err.matches("cannot connect").count(), 1, "{args:?}: {err}");
        assert_eq!(err.matches("registry `down`").count(), 1, "{args:?}: {err}");
    }
    // registry add of a server that is down: refused, the cause once.
    let o = k.run_exactly(&["registry", "add", "down2", &format!("sparse+{url}")]);
    assert_eq!(o.code, 5, "{o:?}");
    assert_eq!(o.stderr.matches(&config).count(), 1, "{}", o.stderr);
    assert_eq!(
        o.stderr.matches("cannot connect").count(),
        1,
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("was not added"), "{}", o.stderr);
}

/// A misspelt or miscased ref on a sparse registry gets the nearest refs,
/// from the list of names the site publishes (its Attune-form
/// `index.json`, one entry per ref, as `knap-index build` writes it), for
/// `info` and for a `search` that finds nothing; only that one document is
/// fetched for it, and a lookup that succeeds never fetches it.
#[test]
fn a_misspelt_ref_gets_the_nearest_names_the_site_lists() {
    let site = sparse_site_with_names();
    let server = Server::start(files(site.path().to_path_buf()));
    let k = knap_with_sparse(&server);
    k.run(&["info", "core"]).ok();
    assert!(!paths(&server).contains("/index.json"));

    let o = k.run(&["info", "unrelatd"]).code(3);
    assert!(
        o.stderr
            .contains("did you mean `unrelated` (registry `sp`)?"),
        "{}",
        o.stderr
    );
    assert!(paths(&server).contains("/index.json"));
    let o = k.run(&["info", "Core"]).code(2);
    assert!(
        o.stderr
            .contains("hint: did you mean `core` (registry `sp`)?"),
        "{}",
        o.stderr
    );
    let o = k.run(&["search", "unrelatd"]).ok();
    assert_eq!(
        o.stdout,
        "no pack matches `unrelatd` in sp; did you mean `unrelated` (registry `sp`)?\n"
    );
    assert!(o.stderr.is_empty(), "{}", o.stderr);
}

/// A site root added as a plain URL (`https://site/`) whose site has the
/// sparse layout is read as one, and `registry add` says so: its
/// `index.json` is the Attune form (the newest version of each pack), which
/// would hide every older version. Adding it again is the same registry.
#[test]
fn a_site_root_with_the_sparse_layout_is_added_as_sparse() {
    let site = sparse_site_with_names();
    let server = Server::start(files(site.path().to_path_buf()));
    let k = Knap::new();
    let url = server.url("/");
    let o = k.run_exactly(&["registry", "add", "w", &url]).ok();
    assert_eq!(
        o.stdout,
        format!(
            "added registry `w` (sparse+{url}, priority 100)\n{url} is a site with the sparse layout (config.json): added as sparse+{url}, which reads every version (the site's index.json lists only the newest of each pack)\n"
        )
    );
    let list = k.run(&["registry", "list", "--json"]).ok().json();
    assert_eq!(list[0]["url"], format!("sparse+{url}"));
    let info = k.run(&["info", "core", "--json"]).ok().json();
    assert_eq!(info["versions"].as_array().unwrap().len(), 2, "{info}");
    let again = k.run_exactly(&["registry", "add", "w", &url]).ok();
    assert!(again.stdout.contains("nothing changed"), "{again:?}");
    let json = k
        .run_exactly(&["--json", "registry", "add", "v", &url])
        .ok()
        .json();
    assert_eq!(json["sparse_from"], url.as_str());
}
