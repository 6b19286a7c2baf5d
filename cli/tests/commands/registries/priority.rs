//! Priority: the first registry that lists a ref provides all its versions;
//! `--registry` pins; an unreadable registry ahead fails closed (exit 5);
//! `--offline` answers from caches.
//! A higher-priority registry shadows the same ref elsewhere, and
//! `install --locked` notices when one now lists the locked bytes.

use knap_test_support::prelude::*;

use crate::fixtures::*;

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

#[test]
fn a_higher_priority_registry_shadows_the_same_ref_elsewhere() {
    let k = Knap::new();
    let high = tempfile::tempdir().unwrap();
    let low = tempfile::tempdir().unwrap();
    let (h, h_dir) = publish(high.path(), high.path(), "core", "1.0.0", &[]);
    let (l, _) = publish(low.path(), low.path(), "core", "9.0.0", &[]);
    write_json(&high.path().join("index.json"), &index("High", vec![h]));
    write_json(&low.path().join("index.json"), &index("Low", vec![l]));
    let hp = high.path().to_str().unwrap();
    let lp = low.path().to_str().unwrap();
    k.run(&["registry", "add", "high", hp, "--priority", "10"])
        .ok();
    k.run(&["registry", "add", "low", lp, "--priority", "100"])
        .ok();
    let root = k.dir.path().join("root");
    k.run(&["--root", root.to_str().unwrap(), "install", "core"])
        .ok();
    let lock = lock_of(&root);
    assert_eq!(lock["packs"][0]["version"], "1.0.0");
    assert_eq!(lock["packs"][0]["registry"], "high");
    assert!(
        lock["packs"][0]["source"]["url"]
            .as_str()
            .unwrap()
            .starts_with("file://"),
        "{lock}"
    );
    assert_eq!(digest(&root.join("core")), digest(&h_dir));
}

// Finding 10: `--locked` fails when anything in the lock would change,
// provenance included.

#[test]
fn install_locked_fails_when_a_higher_priority_registry_now_lists_the_same_bytes() {
    let mut s = Scene::new();
    // A mirror, first in priority, that lists the very same archive bytes
    // at its own URL.
    let mirror = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(s.site.dir.path().join("archives/victim-1.0.0.tar.gz")).unwrap();
    std::fs::create_dir_all(mirror.path().join("m")).unwrap();
    std::fs::write(mirror.path().join("m/victim.tar.gz"), &bytes).unwrap();
    let e = entry_with(
        "victim",
        "1.0.0",
        &[],
        serde_json::json!([{"type": "archive", "url": "m/victim.tar.gz",
            "checksum": sha(&bytes)}]),
    );
    write_json(&mirror.path().join("index.json"), &index("Mirror", vec![e]));
    let server = Server::start(files(mirror.path().to_path_buf()));
    s.k.run(&[
        "registry",
        "add",
        "mirror",
        &server.url("/"),
        "--priority",
        "10",
    ])
    .ok();
    s.k.run(&["update"]).ok();
    s.before = Tree::skipping(s.k.dir.path(), SKIP);
    for args in [
        &["install", "--locked", "victim"][..],
        &["install", "--locked"],
    ] {
        let o = s.k.at(&s.root, args);
        if args.len() == 2 {
            // Restoring from the lock keeps each pack where it came from.
            assert_eq!(o.code, 0, "{o:#?}");
        } else {
            assert_exit(
                &o,
                3,
                "would come from registry `mirror` instead of registry `site`",
            );
        }
        s.assert_unharmed("");
        assert_eq!(lock_of(&s.root)["packs"][0]["registry"], "site");
    }
    // Without --locked the lock follows the registries.
    s.k.at(&s.root, &["install", "victim"]).ok();
    assert_eq!(lock_of(&s.root)["packs"][0]["registry"], "mirror");
}
