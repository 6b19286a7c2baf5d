//! Signed (TUF) registries with the real `knap` binary and a real HTTP
//! server: metadata made by knap-trust's signing code (what `knap-index
//! sign` runs), pinned with `knap registry add --root / --root-sha256`.
//! Tampering, freezing and a registry that drops its metadata are exit 4;
//! a warm resolution of a signed sparse registry sends one request.

use std::collections::BTreeMap;
use std::path::Path;

use knap_trust::{Role, SignRequest, SigningKey};
use serde_json::json;

use crate::server::{Server, files};
use crate::{Knap, entry, write_json};

fn site() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    write_json(
        &d.path().join("config.json"),
        &json!({"format": "knap-sparse-1", "registry_name": "Signed", "registry_url": "https://example.org/signed/", "last_updated": "2026-11-21T12:00:00Z"}),
    );
    for (r, deps) in [("app", &["core@^1"][..]), ("core", &[][..])] {
        write_json(
            &d.path().join(format!("packs/{r}.json")),
            &json!({"ref": r, "versions": [entry(r, "1.0.0", deps)]}),
        );
    }
    write_json(
        &d.path().join("index.json"),
        &json!({"registry_name": "Signed", "registry_url": "https://example.org/signed/", "version": "1.0", "last_updated": "2026-11-21T12:00:00Z", "packs": [entry("app", "1.0.0", &["core@^1"]), entry("core", "1.0.0", &[])]}),
    );
    d
}

fn sign(dir: &Path, key: &SigningKey, now: jiff::Timestamp) {
    let request = SignRequest {
        dir: dir.to_path_buf(),
        role_keys: Role::ALL.iter().map(|r| (*r, vec![key.clone()])).collect(),
        old_root_keys: vec![],
        thresholds: BTreeMap::new(),
        expires_days: BTreeMap::new(),
        timestamp_only: false,
        now,
    };
    knap_trust::sign::sign_blocking(&request).unwrap();
}

/// A signed sparse site on a server, and a knap pinned to its root file.
fn pinned() -> (tempfile::TempDir, Server, Knap, SigningKey) {
    let site = site();
    let key = SigningKey::generate().unwrap().0;
    sign(site.path(), &key, jiff::Timestamp::now());
    let server = Server::start(files(site.path().to_path_buf()));
    let k = Knap::new();
    let root = site.path().join("tuf/1.root.json");
    let out = k
        .run(&[
            "registry",
            "add",
            "signed",
            &format!("sparse+{}", server.url("/")),
            "--root",
            root.to_str().unwrap(),
        ])
        .ok();
    assert!(
        out.stdout.contains("signed") || out.stderr.contains("signed"),
        "{out:?}"
    );
    (site, server, k, key)
}

#[test]
fn registry_add_root_copies_the_root_and_pins_it_in_the_config() {
    let (_site, _server, k, _) = pinned();
    let config = std::fs::read_to_string(k.config()).unwrap();
    let copy = k.dir.path().join("roots/signed.root.json");
    assert!(copy.is_file());
    assert!(
        config.contains(&format!("tuf_root = \"{}\"", copy.display())),
        "{config}"
    );
    // Not a root: refused, nothing added.
    let bad = k.dir.path().join("bad.json");
    std::fs::write(&bad, "{}").unwrap();
    let out = k.run(&[
        "registry",
        "add",
        "other",
        "https://example.org/",
        "--root",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 4, "{out:?}");
    assert!(
        !std::fs::read_to_string(k.config())
            .unwrap()
            .contains("other")
    );
}

#[test]
fn a_warm_dry_run_of_a_signed_sparse_registry_sends_exactly_one_request() {
    let (_site, server, k, key) = pinned();
    k.run(&["install", "--dry-run", "app"]).ok();
    let cold: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert!(
        cold.contains(&"/tuf/timestamp.json".to_string()),
        "{cold:?}"
    );
    server.clear_log();
    k.run(&["install", "--dry-run", "app"]).ok();
    let warm: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        warm,
        ["/tuf/timestamp.json"],
        "one request when nothing changed"
    );
    // knap info says the pack comes from a signed registry.
    let info = k.run(&["info", "app", "--json"]).ok().json();
    assert_eq!(info["signed"]["targets_version"], 1, "{info}");
    assert_eq!(info["signed"]["root_key_ids"][0], key.key_id());
    let text = k.run(&["info", "app"]).ok();
    assert!(
        text.stdout.contains("signed (TUF targets version 1"),
        "{}",
        text.stdout
    );
}

#[test]
fn a_modified_pack_file_is_exit_4_naming_it_and_the_verified_copy_stays() {
    let (site, server, k, _) = pinned();
    k.run(&["install", "--dry-run", "app"]).ok();
    // The host swaps core's file (and its hashed copy) for another one.
    let evil = json!({"ref": "core", "versions": [entry("core", "1.0.0", &[]), entry("core", "9.0.0", &[])]});
    for f in std::fs::read_dir(site.path().join("packs")).unwrap() {
        let p = f.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("core.json")
        {
            write_json(&p, &evil);
        }
    }
    // A fresh client (no cached copy) is refused.
    let fresh = Knap::new();
    let root = site.path().join("tuf/1.root.json");
    let url = format!("sparse+{}", server.url("/"));
    fresh
        .run(&[
            "registry",
            "add",
            "signed",
            &url,
            "--root",
            root.to_str().unwrap(),
        ])
        .ok();
    let out = fresh.run(&["install", "--dry-run", "app"]);
    assert_eq!(out.code, 4, "{out:?}");
    assert!(
        out.stderr
            .contains("packs/core.json differs from its signed targets entry"),
        "{}",
        out.stderr
    );
    // The warm client keeps using its verified copy: no 9.0.0.
    let info = k.run(&["info", "core", "--json"]).ok().json();
    assert_eq!(info["versions"].as_array().unwrap().len(), 1, "{info}");
}

#[test]
fn an_expired_timestamp_is_exit_4_saying_when_it_expired() {
    let site = site();
    let key = SigningKey::generate().unwrap().0;
    sign(
        site.path(),
        &key,
        jiff::Timestamp::now() - jiff::SignedDuration::from_hours(72),
    );
    let server = Server::start(files(site.path().to_path_buf()));
    let k = Knap::new();
    let root = site.path().join("tuf/1.root.json");
    k.run(&[
        "registry",
        "add",
        "signed",
        &format!("sparse+{}", server.url("/")),
        "--root",
        root.to_str().unwrap(),
    ])
    .ok();
    let out = k.run(&["install", "--dry-run", "app"]);
    assert_eq!(out.code, 4, "{out:?}");
    assert!(
        out.stderr.contains("the timestamp metadata expired at"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_pinned_registry_that_stops_serving_metadata_is_exit_4() {
    let (site, _server, k, _) = pinned();
    k.run(&["install", "--dry-run", "app"]).ok();
    std::fs::remove_dir_all(site.path().join("tuf")).unwrap();
    let out = k.run(&["update"]);
    assert_eq!(out.code, 4, "{out:?}");
    assert!(
        out.stderr.contains("serves no TUF metadata"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_root_sha256_pin_is_checked_on_first_fetch() {
    let site = site();
    let key = SigningKey::generate().unwrap().0;
    sign(site.path(), &key, jiff::Timestamp::now());
    let server = Server::start(files(site.path().to_path_buf()));
    use sha2::Digest;
    let root = std::fs::read(site.path().join("tuf/1.root.json")).unwrap();
    let hex: String = sha2::Sha256::digest(&root)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let good = Knap::new();
    good.run(&[
        "registry",
        "add",
        "signed",
        &format!("sparse+{}", server.url("/")),
        "--root-sha256",
        &hex,
    ])
    .ok();
    good.run(&["install", "--dry-run", "app"]).ok();
    let bad = Knap::new();
    bad.run(&[
        "registry",
        "add",
        "signed",
        &format!("sparse+{}", server.url("/")),
        "--root-sha256",
        &"ab".repeat(32),
    ])
    .ok();
    let out = bad.run(&["install", "--dry-run", "app"]);
    assert_eq!(out.code, 4, "{out:?}");
    assert!(
        out.stderr.contains("but the registry is pinned to"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_signed_local_directory_is_verified_whenever_it_is_read() {
    let site = site();
    let key = SigningKey::generate().unwrap().0;
    sign(site.path(), &key, jiff::Timestamp::now());
    let k = Knap::new();
    let root = site.path().join("tuf/1.root.json");
    k.run(&[
        "registry",
        "add",
        "local",
        site.path().to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
    ])
    .ok();
    k.run(&["install", "--dry-run", "app"]).ok();
    // Someone with write access to the directory edits index.json.
    write_json(
        &site.path().join("index.json"),
        &json!({"registry_name": "Signed", "registry_url": "https://example.org/signed/", "version": "1.0", "last_updated": "2026-11-21T12:00:00Z", "packs": [entry("app", "1.0.0", &[]), entry("core", "1.0.0", &[])]}),
    );
    let out = k.run(&["install", "--dry-run", "app"]);
    assert_eq!(out.code, 4, "{out:?}");
    assert!(
        out.stderr
            .contains("index.json differs from its signed targets entry"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_signed_git_registry_is_verified_from_the_commits_tuf_and_a_tampered_commit_refused() {
    let root = tempfile::tempdir().unwrap();
    let work = root.path().join("work");
    write_json(
        &work.join("index.json"),
        &crate::index("Git", vec![entry("core", "1.0.0", &[])]),
    );
    let key = SigningKey::generate().unwrap().0;
    sign(&work, &key, jiff::Timestamp::now());
    crate::git(&work, &["init", "-q", "-b", "main"]);
    crate::git(&work, &["add", "."]);
    crate::git(&work, &["commit", "-q", "-m", "signed index"]);
    crate::git(root.path(), &["clone", "-q", "--bare", "work", "index.git"]);
    let url = format!("git+file://{}", root.path().join("index.git").display());
    let k = Knap::new();
    let pin = work.join("tuf/1.root.json");
    k.run(&[
        "registry",
        "add",
        "g",
        &url,
        "--root",
        pin.to_str().unwrap(),
    ])
    .ok();
    k.run(&["update"]).ok();
    let info = k.run(&["info", "core", "--json"]).ok().json();
    assert_eq!(info["signed"]["targets_version"], 1, "{info}");
    // A commit that changes index.json without re-signing.
    write_json(
        &work.join("index.json"),
        &crate::index(
            "Git",
            vec![entry("core", "1.0.0", &[]), entry("core", "6.6.6", &[])],
        ),
    );
    crate::git(&work, &["commit", "-q", "-am", "unsigned change"]);
    crate::git(&work, &["push", "-q", "../index.git", "main"]);
    let out = k.run(&["update"]);
    assert_eq!(out.code, 4, "{out:?}");
    assert!(
        out.stderr
            .contains("index.json differs from its signed targets entry"),
        "{}",
        out.stderr
    );
    let info = k.run(&["info", "core", "--json"]).ok().json();
    assert_eq!(
        info["versions"].as_array().unwrap().len(),
        1,
        "the verified copy stays: {info}"
    );
}

#[test]
fn a_signed_whole_index_over_http_is_verified_and_a_swapped_index_refused() {
    let site = site();
    let key = SigningKey::generate().unwrap().0;
    sign(site.path(), &key, jiff::Timestamp::now());
    let server = Server::start(files(site.path().to_path_buf()));
    let k = Knap::new();
    let root = site.path().join("tuf/1.root.json");
    k.run(&[
        "registry",
        "add",
        "w",
        &server.url("/index.json"),
        "--root",
        root.to_str().unwrap(),
    ])
    .ok();
    k.run(&["update"]).ok();
    server.clear_log();
    // Nothing changed: the timestamp alone, the cached index matches its hash.
    k.run(&["update"]).ok();
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/tuf/timestamp.json"]);
    // The host swaps index.json and its hashed copy.
    let evil = crate::index("Evil", vec![entry("app", "6.6.6", &[])]);
    for f in std::fs::read_dir(site.path()).unwrap() {
        let p = f.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("index.json")
        {
            write_json(&p, &evil);
        }
    }
    let fresh = Knap::new();
    fresh
        .run(&[
            "registry",
            "add",
            "w",
            &server.url("/index.json"),
            "--root",
            root.to_str().unwrap(),
        ])
        .ok();
    let out = fresh.run(&["update"]);
    assert_eq!(out.code, 4, "{out:?}");
    assert!(
        out.stderr
            .contains("index.json differs from its signed targets entry"),
        "{}",
        out.stderr
    );
}

#[test]
fn offline_uses_the_last_verified_copy_and_says_how_old_it_is() {
    let (site, _server, k, _) = pinned();
    k.run(&["install", "--dry-run", "app"]).ok();
    // Even with the host's metadata gone, --offline reads the verified cache.
    std::fs::remove_dir_all(site.path().join("tuf")).unwrap();
    let out = k.run(&["--offline", "install", "--dry-run", "app"]).ok();
    assert!(
        out.stderr
            .contains("--offline: using the signed metadata verified"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("seconds ago"), "{}", out.stderr);
}
