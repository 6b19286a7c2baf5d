//! Signed (TUF) registries with the real `knap` binary and a real HTTP
//! server: metadata made by knap-trust's signing code (what `knap-index
//! sign` runs), pinned with `knap registry add --root / --root-sha256`.
//! Each attack of TUF's threat list (tampering, rollback, freeze, mix and
//! match, endless data, unknown keys, thresholds, root chain gaps and
//! unsigned rotations, dropped metadata) is exit 4 naming the role, with
//! the install root unchanged; real installs record the signed provenance
//! in knap.lock; a warm resolution of a signed sparse registry sends one
//! request.

use std::collections::BTreeMap;
use std::path::Path;

use knap_test_support::prelude::*;
use knap_trust::{Role, SignRequest, SigningKey};
use serde_json::{Value, json};

fn site() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    write_site(
        d.path(),
        &[
            entry("app", "1.0.0", &["core@^1"]),
            entry("core", "1.0.0", &[]),
        ],
    );
    d
}

/// Writes (or rewrites) the sparse site of `entries` in `dir`: config,
/// one `packs/<ref>.json` per ref and the whole `index.json`.
fn write_site(dir: &Path, entries: &[Value]) {
    write_json(
        &dir.join("config.json"),
        &json!({"format": "knap-sparse-1", "registry_name": "Signed", "registry_url": "https://example.org/signed/", "last_updated": "2026-11-21T12:00:00Z"}),
    );
    let mut by_ref: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for e in entries {
        by_ref
            .entry(e["ref"].as_str().unwrap().to_string())
            .or_default()
            .push(e.clone());
    }
    for (r, versions) in &by_ref {
        write_json(
            &dir.join(format!("packs/{r}.json")),
            &json!({"ref": r, "versions": versions}),
        );
    }
    write_json(
        &dir.join("index.json"),
        &json!({"registry_name": "Signed", "registry_url": "https://example.org/signed/", "version": "1.0", "last_updated": "2026-11-21T12:00:00Z", "packs": entries}),
    );
}

/// A signing request for every role with `key`, at `now`.
fn request(dir: &Path, key: &SigningKey, now: jiff::Timestamp) -> SignRequest {
    SignRequest {
        dir: dir.to_path_buf(),
        role_keys: Role::ALL.iter().map(|r| (*r, vec![key.clone()])).collect(),
        old_root_keys: vec![],
        thresholds: BTreeMap::new(),
        expires_days: BTreeMap::new(),
        timestamp_only: false,
        now,
    }
}

fn sign(dir: &Path, key: &SigningKey, now: jiff::Timestamp) {
    knap_trust::sign::sign_blocking(&request(dir, key, now)).unwrap();
}

/// Rotates every role of `dir` to a new key, the new root signed by
/// `old` (the current root key) and the new key; returns the new key.
fn rotate(dir: &Path, old: &SigningKey) -> SigningKey {
    let new = SigningKey::generate().unwrap().0;
    let mut req = request(dir, &new, jiff::Timestamp::now());
    req.old_root_keys = vec![old.clone()];
    knap_trust::sign::sign_blocking(&req).unwrap();
    new
}

/// A knap with the sparse registry `signed` at `server`, pinned to
/// `site`'s `tuf/1.root.json`.
fn pin(site: &Path, server: &Server) -> Knap {
    let k = Knap::new();
    let root = site.join("tuf/1.root.json");
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
    k
}

/// A signed site with real archives of core 1.0.0 and app 1.0.0 (app
/// needs core), served and pinned; the install root is `k.dir/root`.
struct Published {
    site: tempfile::TempDir,
    work: tempfile::TempDir,
    entries: Vec<Value>,
    key: SigningKey,
    server: Server,
    k: Knap,
}

impl Published {
    fn new() -> Self {
        let site = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let entries = vec![
            publish(site.path(), work.path(), "app", "1.0.0", &["core@^1"]).0,
            publish(site.path(), work.path(), "core", "1.0.0", &[]).0,
        ];
        write_site(site.path(), &entries);
        let key = SigningKey::generate().unwrap().0;
        sign(site.path(), &key, jiff::Timestamp::now());
        let server = Server::start(files(site.path().to_path_buf()));
        let k = pin(site.path(), &server);
        Self {
            site,
            work,
            entries,
            key,
            server,
            k,
        }
    }

    fn root(&self) -> std::path::PathBuf {
        self.k.dir.path().join("root")
    }

    /// `knap --root ROOT args...`.
    fn run(&self, args: &[&str]) -> Out {
        let root = self.root();
        let mut all = vec!["--root", root.to_str().unwrap()];
        all.extend_from_slice(args);
        self.k.run(&all)
    }

    /// Runs `args`, which must be refused with exit 4 saying `why` and
    /// leave the root as `before` (nothing installed).
    #[track_caller]
    fn refused(&self, args: &[&str], why: &str, before: &(Vec<u8>, Vec<(String, String)>)) {
        let out = self.run(args);
        assert_eq!(out.code, 4, "{args:?}: {out:?}");
        assert!(out.stderr.contains(why), "{args:?}: {why}: {}", out.stderr);
        assert_eq!(&self.installed(), before, "{args:?}: nothing installed");
    }

    /// Publishes another version of `r` and re-signs: a new publication.
    fn add_version(&mut self, r: &str, version: &str) {
        let e = publish(self.site.path(), self.work.path(), r, version, &[]).0;
        self.entries.push(e);
        write_site(self.site.path(), &self.entries);
        sign(self.site.path(), &self.key, jiff::Timestamp::now());
    }

    /// What is installed: the lock's bytes and each pack directory's digest.
    fn installed(&self) -> (Vec<u8>, Vec<(String, String)>) {
        let root = self.root();
        let lock = std::fs::read(root.join("knap.lock")).unwrap_or_default();
        let mut dirs = vec![];
        if let Ok(rd) = std::fs::read_dir(&root) {
            for d in rd {
                let p = d.unwrap().path();
                let name = p.file_name().unwrap().to_str().unwrap().to_string();
                if p.is_dir() && !name.starts_with('.') {
                    dirs.push((name, digest(&p)));
                }
            }
        }
        dirs.sort();
        (lock, dirs)
    }
}

/// A copy of `site`'s `tuf/` (to serve again later).
fn keep_tuf(site: &Path) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(site.join("tuf")).unwrap() {
        let p = f.unwrap().path();
        std::fs::copy(&p, d.path().join(p.file_name().unwrap())).unwrap();
    }
    d
}

/// Serves `kept` as `site`'s `tuf/` again (and nothing newer).
fn serve_tuf(site: &Path, kept: &Path) {
    std::fs::remove_dir_all(site.join("tuf")).unwrap();
    std::fs::create_dir_all(site.join("tuf")).unwrap();
    for f in std::fs::read_dir(kept).unwrap() {
        let p = f.unwrap().path();
        std::fs::copy(&p, site.join("tuf").join(p.file_name().unwrap())).unwrap();
    }
}

/// The version of `role` the signed metadata in `site` names (through
/// timestamp -> snapshot).
fn version_of(site: &Path, role: &str) -> u64 {
    let read = |name: &str| -> Value {
        serde_json::from_slice(&std::fs::read(site.join("tuf").join(name)).unwrap()).unwrap()
    };
    let ts = read("timestamp.json");
    let snap_v = ts["signed"]["meta"]["snapshot.json"]["version"]
        .as_u64()
        .unwrap();
    if role == "snapshot" {
        return snap_v;
    }
    let snap = read(&format!("{snap_v}.snapshot.json"));
    snap["signed"]["meta"][format!("{role}.json")]["version"]
        .as_u64()
        .unwrap()
}

/// A signed sparse site on a server, and a knap pinned to its root file.
fn pinned() -> (tempfile::TempDir, Server, Knap, SigningKey) {
    let site = site();
    let key = SigningKey::generate().unwrap().0;
    sign(site.path(), &key, jiff::Timestamp::now());
    let server = Server::start(files(site.path().to_path_buf()));
    let k = pin(site.path(), &server);
    (site, server, k, key)
}

#[test]
fn registry_add_root_copies_the_root_and_pins_it_in_the_config() {
    let (site, _server, k, _) = pinned();
    let config = std::fs::read_to_string(k.config()).unwrap();
    // Named by the registry and its content, beside the configuration.
    let copies: Vec<_> = std::fs::read_dir(k.dir.path().join("roots"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    let copy = &copies[0];
    let name = copy.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("signed-") && name.ends_with(".root.json"),
        "{name}"
    );
    assert_eq!(
        std::fs::read(copy).unwrap(),
        std::fs::read(site.path().join("tuf/1.root.json")).unwrap()
    );
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
    tamper_core(site.path());
    // A fresh client (no cached copy) is refused.
    let fresh = pin(site.path(), &server);
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
    let k = pin(site.path(), &server);
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
        &index("Git", vec![entry("core", "1.0.0", &[])]),
    );
    let key = SigningKey::generate().unwrap().0;
    sign(&work, &key, jiff::Timestamp::now());
    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "signed index"]);
    git(root.path(), &["clone", "-q", "--bare", "work", "index.git"]);
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
        &index(
            "Git",
            vec![entry("core", "1.0.0", &[]), entry("core", "6.6.6", &[])],
        ),
    );
    git(&work, &["commit", "-q", "-am", "unsigned change"]);
    git(&work, &["push", "-q", "../index.git", "main"]);
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
    let evil = index("Evil", vec![entry("app", "6.6.6", &[])]);
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

#[test]
fn a_signed_install_records_root_key_ids_and_targets_version_in_the_lock() {
    let p = Published::new();
    p.run(&["install", "app"]).ok();
    let lock = lock_of(&p.root());
    let packs = lock["packs"].as_array().expect("packs in the lock");
    assert_eq!(packs.len(), 2, "{lock}");
    let targets_version = version_of(p.site.path(), "targets");
    let root: Value =
        serde_json::from_slice(&std::fs::read(p.site.path().join("tuf/1.root.json")).unwrap())
            .unwrap();
    let root_ids = &root["signed"]["roles"]["root"]["keyids"];
    assert_eq!(root_ids[0], p.key.key_id(), "{root}");
    for pack in packs {
        assert_eq!(pack["signed"]["targets_version"], targets_version, "{pack}");
        assert_eq!(pack["signed"]["root_key_ids"], *root_ids, "{pack}");
    }
    // A new publication: the upgraded pack records the new targets version.
    let mut p = p;
    p.add_version("core", "1.1.0");
    p.run(&["upgrade"]).ok();
    let lock = lock_of(&p.root());
    let core = lock["packs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["ref"] == "core")
        .unwrap()
        .clone();
    assert_eq!(core["version"], "1.1.0", "{lock}");
    assert_eq!(core["signed"]["targets_version"], 2, "{core}");
    assert_eq!(version_of(p.site.path(), "targets"), 2);
    // knap list -v says where each pack came from and that it was signed.
    let list = p.run(&["list", "-v"]).ok();
    let short_id = &p.key.key_id()[..12];
    for r in ["app", "core"] {
        let line = list
            .stdout
            .lines()
            .find(|l| l.contains(r))
            .unwrap_or_else(|| panic!("{r} in {}", list.stdout));
        assert!(line.contains("[signed: targets v"), "{line}");
        assert!(line.contains(short_id), "{line}");
    }
}

#[test]
fn rollback_to_older_signed_metadata_is_exit_4_and_the_installed_version_stays() {
    let mut p = Published::new();
    p.run(&["install", "app"]).ok();
    let v1 = keep_tuf(p.site.path());
    p.add_version("core", "1.1.0");
    // The client sees the new publication (timestamp, snapshot, targets v2).
    p.run(&["update"]).ok();
    let before = p.installed();
    // The host serves the older publication again: validly signed, unexpired.
    serve_tuf(p.site.path(), v1.path());
    for args in [
        &["update"][..],
        &["upgrade"][..],
        &["install", "core@1.1.0"][..],
    ] {
        let out = p.run(args);
        assert_eq!(out.code, 4, "{args:?}: {out:?}");
        assert!(
            out.stderr.contains(
                "the timestamp metadata offered is version 1, older than version 2 already trusted (rollback)"
            ),
            "{args:?}: {}",
            out.stderr
        );
    }
    assert_eq!(p.installed(), before, "nothing installed");
    assert_eq!(lock_of(&p.root())["packs"][1]["version"], "1.0.0");
    // The last verified copy (with 1.1.0) stays.
    let info = p.run(&["--offline", "info", "core", "--json"]).ok().json();
    assert_eq!(info["versions"].as_array().unwrap().len(), 2, "{info}");
}

#[test]
fn targets_of_one_publication_with_the_snapshot_of_another_are_exit_4() {
    let mut p = Published::new();
    p.run(&["install", "app"]).ok();
    let v1 = keep_tuf(p.site.path());
    p.add_version("core", "1.1.0");
    let before = p.installed();
    // The new timestamp and snapshot, the old targets under the new name.
    std::fs::copy(
        v1.path().join("1.targets.json"),
        p.site.path().join("tuf/2.targets.json"),
    )
    .unwrap();
    p.refused(
        &["install", "core@1.1.0"],
        "tuf/2.targets.json does not match what the signed metadata says",
        &before,
    );
}

#[test]
fn a_huge_timestamp_is_exit_4_after_a_bounded_read() {
    let p = Published::new();
    p.run(&["install", "app"]).ok();
    let before = p.installed();
    // 50 MB of spaces on the host (served gzipped: a bounded decompression too).
    let path = p.site.path().join("tuf/timestamp.json");
    std::fs::write(&path, vec![b' '; 50 * 1024 * 1024]).unwrap();
    let limit = knap_trust::verify::SizeLimits::default().timestamp;
    let message = format!("tuf/timestamp.json is larger than the {limit} bytes allowed");
    let out = p.run(&["install", "core@1.0.0"]);
    assert_eq!(out.code, 4, "{out:?}");
    assert!(out.stderr.contains(&message), "{}", out.stderr);
    // A server that declares 50 MB and sends only 100 KB before closing:
    // a client reading it all would fail on the short body, not the size.
    let files = files(p.site.path().to_path_buf());
    p.server.set_handler(std::sync::Arc::new(move |req| {
        if req.path() == "/tuf/timestamp.json" {
            Reply::Truncated {
                declared: 50 * 1024 * 1024,
                body: vec![b' '; 100 * 1024],
            }
        } else {
            files(req)
        }
    }));
    p.refused(&["update"], &message, &before);
}

#[test]
fn metadata_signed_by_an_unknown_key_or_below_its_threshold_is_exit_4() {
    let p = Published::new();
    p.run(&["install", "app"]).ok();
    let before = p.installed();
    let good = std::fs::read(p.site.path().join("tuf/timestamp.json")).unwrap();
    // An intruder's own signed site: its timestamp on this host.
    let (evil, _, _, _) = pinned();
    std::fs::copy(
        evil.path().join("tuf/timestamp.json"),
        p.site.path().join("tuf/timestamp.json"),
    )
    .unwrap();
    let refused = "the timestamp metadata is not signed by a threshold of its trusted keys";
    p.refused(&["install", "core@1.0.0"], refused, &before);
    std::fs::write(p.site.path().join("tuf/timestamp.json"), &good).unwrap();
    p.run(&["update"]).ok();
    // Threshold 2 for the timestamp (two keys), served with one signature.
    let second = SigningKey::generate().unwrap().0;
    let mut req = request(p.site.path(), &p.key, jiff::Timestamp::now());
    req.role_keys
        .insert(Role::Timestamp, vec![p.key.clone(), second]);
    req.thresholds.insert(Role::Timestamp, 2);
    knap_trust::sign::sign_blocking(&req).unwrap();
    let path = p.site.path().join("tuf/timestamp.json");
    let both = std::fs::read(&path).unwrap();
    let mut ts: Value = serde_json::from_slice(&both).unwrap();
    assert_eq!(ts["signatures"].as_array().unwrap().len(), 2);
    ts["signatures"].as_array_mut().unwrap().pop();
    std::fs::write(&path, serde_json::to_vec(&ts).unwrap()).unwrap();
    p.refused(&["update"], refused, &before);
    // With both signatures the same metadata is accepted.
    std::fs::write(&path, &both).unwrap();
    p.run(&["update"]).ok();
}

#[test]
fn a_client_pinned_to_root_v1_follows_v2_and_v3_signed_correctly() {
    let mut p = Published::new();
    p.run(&["install", "app"]).ok();
    let b = rotate(p.site.path(), &p.key);
    let c = rotate(p.site.path(), &b);
    for n in 1..=3 {
        assert!(p.site.path().join(format!("tuf/{n}.root.json")).is_file());
    }
    p.key = c.clone();
    p.add_version("core", "1.1.0");
    p.run(&["install", "core@1.1.0"]).ok();
    let lock = lock_of(&p.root());
    let core = lock["packs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["ref"] == "core")
        .unwrap()
        .clone();
    assert_eq!(core["version"], "1.1.0", "{lock}");
    assert_eq!(
        core["signed"]["root_key_ids"],
        json!([c.key_id()]),
        "{core}"
    );
}

#[test]
fn a_root_chain_with_a_gap_is_exit_4() {
    let p = Published::new();
    p.run(&["install", "app"]).ok();
    let before = p.installed();
    let b = rotate(p.site.path(), &p.key);
    rotate(p.site.path(), &b);
    std::fs::remove_file(p.site.path().join("tuf/2.root.json")).unwrap();
    assert!(p.site.path().join("tuf/3.root.json").is_file());
    // Without v2 the client stays at v1, whose keys did not sign the rest.
    p.refused(
        &["install", "core@1.0.0"],
        "the timestamp metadata is not signed by a threshold of its trusted keys",
        &before,
    );
}

#[test]
fn a_root_v2_not_signed_by_v1_keys_is_exit_4() {
    let p = Published::new();
    p.run(&["install", "app"]).ok();
    let before = p.installed();
    // Another chain whose v1 and v2 are key B's alone.
    let other = site();
    let b = SigningKey::generate().unwrap().0;
    let mut req = request(other.path(), &b, jiff::Timestamp::now());
    knap_trust::sign::sign_blocking(&req).unwrap();
    req.expires_days.insert(Role::Root, 300);
    assert_eq!(
        knap_trust::sign::sign_blocking(&req).unwrap().root_version,
        2
    );
    // The attacker puts B's v2 (and B's other metadata) on the host.
    for f in std::fs::read_dir(other.path().join("tuf")).unwrap() {
        let f = f.unwrap().path();
        if f.file_name().unwrap() != "1.root.json" {
            std::fs::copy(&f, p.site.path().join("tuf").join(f.file_name().unwrap())).unwrap();
        }
    }
    p.refused(
        &["update"],
        "the root metadata is not signed by a threshold of its trusted keys",
        &before,
    );
}

/// Swaps `core`'s pack file on the site (and its hashed copy) for one with
/// another version: what a compromised host serves.
fn tamper_core(site: &Path) {
    let evil = json!({"ref": "core", "versions": [entry("core", "1.0.0", &[]), entry("core", "9.0.0", &[])]});
    for f in std::fs::read_dir(site.join("packs")).unwrap() {
        let p = f.unwrap().path();
        if p.to_str().unwrap().ends_with("core.json") {
            write_json(&p, &evil);
        }
    }
}

#[test]
fn registry_add_with_a_root_pins_a_registry_added_before_without_one() {
    let site = site();
    let key = SigningKey::generate().unwrap().0;
    sign(site.path(), &key, jiff::Timestamp::now());
    let server = Server::start(files(site.path().to_path_buf()));
    let url = format!("sparse+{}", server.url("/"));
    let k = Knap::new();
    k.run(&["registry", "add", "signed", &url]).ok();
    let root = site.path().join("tuf/1.root.json");
    let out = k
        .run_exactly(&[
            "registry",
            "add",
            "signed",
            &url,
            "--root",
            root.to_str().unwrap(),
        ])
        .ok();
    assert!(
        out.stdout.contains("updated registry `signed`")
            && out.stdout.contains("pinned")
            && !out.stdout.contains("nothing changed"),
        "{}",
        out.stdout
    );
    let config = std::fs::read_to_string(k.config()).unwrap();
    assert!(config.contains("tuf_root = "), "{config}");
    // The same again changes nothing, and says so.
    let again = k
        .run_exactly(&[
            "registry",
            "add",
            "signed",
            &url,
            "--root",
            root.to_str().unwrap(),
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(again["unchanged"], true, "{again}");
    assert_eq!(std::fs::read_to_string(k.config()).unwrap(), config);
    // The pin binds: a tampered pack file is refused.
    tamper_core(site.path());
    let out = k.run(&["install", "--dry-run", "app"]);
    assert_eq!(out.code, 4, "{out:?}");
    assert!(
        out.stderr
            .contains("packs/core.json differs from its signed targets entry"),
        "{}",
        out.stderr
    );
}

#[test]
fn registry_add_with_another_root_verifies_from_the_new_pin_or_changes_nothing() {
    let (site, server, k, _) = pinned();
    let url = format!("sparse+{}", server.url("/"));
    k.run(&["install", "--dry-run", "app"]).ok();
    let before = std::fs::read(k.config()).unwrap();
    // A root of another chain: the registry does not verify from it, so
    // nothing is changed.
    let other = site_with_new_keys();
    let other_root = other.0.path().join("tuf/1.root.json");
    let out = k.run_exactly(&[
        "registry",
        "add",
        "signed",
        &url,
        "--root",
        other_root.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 4, "{out:?}");
    assert!(out.stderr.contains("was not changed"), "{}", out.stderr);
    assert_eq!(std::fs::read(k.config()).unwrap(), before);
    k.run(&["install", "--dry-run", "app"]).ok();
    // The operator re-creates the registry's keys (a new chain from
    // version 1) and the user pins the new root: verified from that pin,
    // whatever the cache trusted under the old one.
    std::fs::remove_dir_all(site.path().join("tuf")).unwrap();
    let new_key = SigningKey::generate().unwrap().0;
    sign(site.path(), &new_key, jiff::Timestamp::now());
    let new_root = site.path().join("tuf/1.root.json");
    let out = k
        .run_exactly(&[
            "registry",
            "add",
            "signed",
            &url,
            "--root",
            new_root.to_str().unwrap(),
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(out["changed"][0]["field"], "tuf_root", "{out}");
    let info = k.run(&["info", "app", "--json"]).ok().json();
    assert_eq!(info["signed"]["root_key_ids"][0], new_key.key_id());
}

/// A second signed site with its own key.
fn site_with_new_keys() -> (tempfile::TempDir, SigningKey) {
    let other = site();
    let key = SigningKey::generate().unwrap().0;
    sign(other.path(), &key, jiff::Timestamp::now());
    (other, key)
}

/// Issue 23 point 9: adding a registry with a root it does not verify from
/// says that the given root does not match the registry's metadata and
/// that nothing was added; not that "the last verified copy is kept"
/// (there is none) nor to "fix the URL" (it is right).
#[test]
fn registry_add_with_a_root_of_another_chain_says_it_does_not_match_and_nothing_was_added() {
    let (_site, server, _k, _) = pinned();
    let url = format!("sparse+{}", server.url("/"));
    let other = site_with_new_keys();
    let other_root = other.0.path().join("tuf/1.root.json");
    let k = Knap::new();
    for json in [false, true] {
        let mut args = vec![
            "registry",
            "add",
            "fresh",
            &url,
            "--root",
            other_root.to_str().unwrap(),
        ];
        if json {
            args.push("--json");
        }
        let out = k.run_exactly(&args);
        assert_eq!(out.code, 4, "{out:#?}");
        for needle in [
            "was not added",
            "does not match the registry's signed metadata",
            "--root",
        ] {
            assert!(out.stderr.contains(needle), "{needle}: {out:#?}");
        }
        for wrong in ["last verified copy", "fix the URL"] {
            assert!(!out.stderr.contains(wrong), "{wrong}: {out:#?}");
        }
    }
    let list = k.run(&["registry", "list", "--json"]).ok().json();
    assert!(!list.to_string().contains("fresh"), "{list}");
}
