//! `knap.lock` is untrusted input (it is shared like `package-lock.json`):
//! a lock whose refs, versions, checksums, dependencies or paths are not
//! valid is refused (exit 4, naming the entry and the field) by every
//! command that reads it, and nothing outside the root (nor the root's
//! packs and lock) is touched. Each test installs a real pack from a real
//! HTTP registry, plants a hostile `knap.lock`, and checks a sentinel
//! directory beside the root byte for byte afterwards.

use std::path::{Path, PathBuf};

use knap_test_support::prelude::*;
use serde_json::{Value, json};
use sha2::Digest;

/// A victim directory that looks like an installed pack, beside the root.
fn victim(base: &Path) -> PathBuf {
    let v = base.join("victim");
    std::fs::create_dir_all(v.join("actions")).unwrap();
    std::fs::write(v.join("pack.yaml"), "ref: victim\nversion: 1.0.0\n").unwrap();
    std::fs::write(v.join("actions").join("keep.yaml"), "precious").unwrap();
    v
}

/// A site with `core` 1.0.0, installed into `<knap dir>/root`, and a victim
/// directory beside the root.
fn installed() -> (Site, Knap, PathBuf, PathBuf) {
    let mut site = Site::new();
    site.publish("core", "1.0.0", &[], &[]);
    let k = site.knap();
    let root = k.dir.path().join("root");
    k.at(&root, &["install", "core"]).ok();
    let v = victim(k.dir.path());
    (site, k, root, v)
}

/// Rewrites the root's lock with `change` applied to its first pack.
fn plant(root: &Path, change: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut lock: Value =
        serde_json::from_slice(&std::fs::read(root.join("knap.lock")).unwrap()).unwrap();
    change(&mut lock);
    let bytes = serde_json::to_vec_pretty(&lock).unwrap();
    std::fs::write(root.join("knap.lock"), &bytes).unwrap();
    bytes
}

/// Runs every command that reads the lock and checks each is refused
/// with exit 4 naming `field`, leaving the victim, the lock and the root's
/// pack as they were.
#[track_caller]
fn refused_by_every_reader(k: &Knap, root: &Path, victim: &Path, field: &str, why: &str) {
    let before_victim = Tree::of(victim);
    let before_lock = std::fs::read(root.join("knap.lock")).unwrap();
    let before_pack = Tree::of(&root.join("core"));
    for args in [
        &["install"][..],
        &["install", "--force"],
        &["install", "core"],
        &["verify"],
        &["list"],
        &["list", "--json"],
        &["outdated", "--offline"],
        &["uninstall", "core"],
    ] {
        let out = k.at(root, args);
        assert_eq!(out.code, 4, "{args:?} must refuse the lock: {out:#?}");
        let said = format!("{}{}", out.stderr, out.stdout);
        assert!(
            said.contains(field),
            "{args:?} must name the field {field}: {out:#?}"
        );
        assert!(said.contains(why), "{args:?} must say {why:?}: {out:#?}");
        assert_eq!(
            Tree::of(victim),
            before_victim,
            "{args:?} touched the victim"
        );
        assert_eq!(
            std::fs::read(root.join("knap.lock")).unwrap(),
            before_lock,
            "{args:?} changed knap.lock"
        );
        assert_eq!(
            Tree::of(&root.join("core")),
            before_pack,
            "{args:?} changed the installed pack"
        );
    }
}

#[test]
fn a_relative_ref_that_climbs_out_of_the_root_is_refused_and_nothing_is_touched() {
    let (_site, k, root, v) = installed();
    // The locked pack's directory is gone and its source fails, so a
    // restore would clean up `<root>/<ref>`: here `../victim`.
    std::fs::remove_dir_all(root.join("core")).unwrap();
    std::fs::create_dir_all(root.join("core")).unwrap();
    plant(&root, |l| {
        l["packs"][0]["ref"] = json!("../victim");
        l["packs"][0]["source"]["url"] = json!("http://127.0.0.1:9/gone.tar.gz");
    });
    refused_by_every_reader(&k, &root, &v, "$.packs[0].ref", "../victim");
}

#[test]
fn an_absolute_ref_is_refused_and_nothing_is_touched() {
    let (_site, k, root, v) = installed();
    let abs = v.to_str().unwrap().to_owned();
    plant(&root, |l| {
        l["packs"][0]["ref"] = json!(abs);
        l["requested"] = json!({});
    });
    refused_by_every_reader(&k, &root, &v, "$.packs[0].ref", "invalid pack ref");
}

#[test]
fn every_field_of_a_locked_pack_is_validated() {
    type Case = (&'static str, fn(&mut Value), &'static str);
    let cases: [Case; 10] = [
        (
            "$.packs[0].registry",
            |l| l["packs"][0]["registry"] = json!("\u{1b}[2J../x"),
            "not a registry name",
        ),
        (
            "$.packs[0].installed_at",
            |l| l["packs"][0]["installed_at"] = json!("\u{1b}]0;pwned\u{7}"),
            "RFC 3339",
        ),
        (
            "$.packs[0].signed.root_key_ids",
            |l| {
                l["packs"][0]["signed"] =
                    json!({"root_key_ids": ["\u{1b}[31mred"], "targets_version": 1})
            },
            "not a key id",
        ),
        (
            "$.packs[0].version",
            |l| l["packs"][0]["version"] = json!("../1"),
            "",
        ),
        (
            "$.packs[0].tree",
            |l| l["packs"][0]["tree"] = json!("sha256:../../x"),
            "sha256",
        ),
        (
            "$.packs[0].dependencies[0]",
            |l| l["packs"][0]["dependencies"] = json!(["../victim"]),
            "invalid dependency",
        ),
        (
            "$.packs[0].source",
            |l| l["packs"][0]["source"] = json!({"type": "path", "path": "../victim"}),
            "absolute",
        ),
        (
            "$.packs[0].source",
            |l| l["packs"][0]["source"]["checksum"] = json!("md5:0"),
            "checksum",
        ),
        (
            "$.requested",
            |l| l["requested"] = json!({"../victim": "*"}),
            "invalid pack ref",
        ),
        (
            "$.requested",
            |l| l["requested"] = json!({"core": "not a requirement"}),
            "not a requirement",
        ),
    ];
    let (_site, k, root, v) = installed();
    let good = std::fs::read(root.join("knap.lock")).unwrap();
    for (field, change, why) in cases {
        std::fs::write(root.join("knap.lock"), &good).unwrap();
        plant(&root, change);
        let before = Tree::of(&v);
        for args in [&["install"][..], &["verify"], &["list"]] {
            let out = k.at(&root, args);
            assert_eq!(out.code, 4, "{field}: {args:?}: {out:#?}");
            assert!(out.stderr.contains(field), "{field}: {args:?}: {out:#?}");
            assert!(out.stderr.contains(why), "{field}: {why}: {out:#?}");
        }
        assert_eq!(Tree::of(&v), before);
    }
}

#[test]
fn a_lock_of_an_unknown_format_version_is_refused_with_what_to_do() {
    let (_site, k, root, v) = installed();
    plant(&root, |l| l["version"] = json!(99));
    let before = std::fs::read(root.join("knap.lock")).unwrap();
    for args in [
        &["install"][..],
        &["install", "core"],
        &["list"],
        &["verify"],
    ] {
        let out = k.at(&root, args);
        assert_eq!(out.code, 4, "{args:?}: {out:#?}");
        assert!(out.stderr.contains("$.version"), "{out:#?}");
        assert!(out.stderr.contains("version 99"), "{out:#?}");
        assert!(out.stderr.contains("upgrade knap"), "{out:#?}");
    }
    assert_eq!(std::fs::read(root.join("knap.lock")).unwrap(), before);
    assert!(v.join("actions").join("keep.yaml").is_file());
}

#[test]
fn a_per_file_record_naming_impossible_paths_is_not_used() {
    let (_site, k, root, _v) = installed();
    // Tamper with the pack, then with its record: verify must not report
    // (or print) the record's planted names, and still say it is modified.
    std::fs::write(root.join("core").join("added.txt"), "x").unwrap();
    let files = root.join(".knap").join("files");
    let record = std::fs::read_dir(&files)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut r: Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    r["files"][0]["path"] = json!("../../victim/actions/keep.yaml");
    std::fs::write(&record, serde_json::to_vec(&r).unwrap()).unwrap();
    let out = k.at(&root, &["verify", "--json"]);
    assert_eq!(out.code, 4, "{out:#?}");
    assert!(!out.stdout.contains("victim"), "{out:#?}");
    assert!(out.stdout.contains("modified"), "{out:#?}");
}

#[test]
fn a_planted_journal_of_another_version_or_naming_a_path_outside_staging_is_not_replayed() {
    let (_site, k, root, v) = installed();
    let lock = std::fs::read(root.join("knap.lock")).unwrap();
    let sha = format!("sha256:{:x}", sha2::Sha256::digest(&lock));
    let cases = [
        (
            json!({"version": 7, "new_lock_sha256": sha, "swaps": [], "removed": ["core"]}),
            "journal format version 7",
        ),
        (
            json!({"version": 1, "new_lock_sha256": sha,
                   "swaps": [{"ref": "core", "staged": ".knap/staging/../../../victim"}],
                   "removed": []}),
            "must be under .knap/staging/",
        ),
    ];
    for (journal, why) in cases {
        std::fs::write(
            root.join(".knap/journal.json"),
            serde_json::to_vec(&journal).unwrap(),
        )
        .unwrap();
        let before_victim = Tree::of(&v);
        let before_pack = Tree::of(&root.join("core"));
        let out = k.at(&root, &["install"]);
        assert_eq!(out.code, 4, "{journal}: {out:#?}");
        assert!(out.stderr.contains(why), "{why}: {out:#?}");
        assert_eq!(Tree::of(&v), before_victim, "the victim is untouched");
        assert_eq!(
            Tree::of(&root.join("core")),
            before_pack,
            "the installed pack is untouched"
        );
        assert_eq!(std::fs::read(root.join("knap.lock")).unwrap(), lock);
    }
}
