//! `knap verify`: every changed, added or missing file named; planted
//! `.git` entries; a missing pack with an unusable record; a root an older
//! knap installed (its digest rule); text and JSON.

use std::path::Path;

use knap_test_support::prelude::*;
use serde_json::{Value, json};

#[test]
fn verify_names_every_changed_added_and_missing_file_and_exits_4() {
    let mut site = Site::new();
    let extra: Vec<(String, Vec<u8>)> = vec![
        ("actions/a.yaml".into(), b"name: a\n".to_vec()),
        ("actions/b.yaml".into(), b"name: b\n".to_vec()),
        ("lib/util.py".into(), b"def f():\n    return 1\n".to_vec()),
        ("lib/big.bin".into(), vec![7u8; 600_000]),
    ];
    site.publish("tampered", "1.0.0", &[], &extra);
    site.publish("other", "1.0.0", &[], &[]);
    let mut k = site.knap();
    site.name_in(&mut k);
    let root = k.dir.path().join("root");
    k.at(&root, &["install", "tampered", "other"]).ok();
    assert_out!("clean_text", k.at(&root, &["--color", "never", "verify"]));
    assert_out!("clean_json", k.at(&root, &["--json", "verify"]));

    let t = root.join("tampered");
    // Changed: same size, other bytes; a byte in the middle of a large
    // file; a file replaced by a symlink. Added: a new file in a new dir.
    // Missing: a deleted file.
    std::fs::write(t.join("actions/a.yaml"), b"name: A\n").unwrap();
    let mut big = std::fs::read(t.join("lib/big.bin")).unwrap();
    big[300_000] = 8;
    std::fs::write(t.join("lib/big.bin"), big).unwrap();
    std::fs::remove_file(t.join("lib/util.py")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", t.join("lib/util.py")).unwrap();
    std::fs::create_dir_all(t.join("sensors")).unwrap();
    std::fs::write(t.join("sensors/evil.py"), b"import os\n").unwrap();
    std::fs::remove_file(t.join("actions/b.yaml")).unwrap();

    assert_out!(
        "tampered_text",
        k.at(&root, &["--color", "never", "verify"])
    );
    let o = k.at(&root, &["verify", "--json", "tampered"]);
    let p = &o.json()["packs"][0];
    assert_eq!(
        p["irregular"],
        json!([{"path": "lib/util.py", "kind": "symbolic link"}])
    );
    assert_out!("tampered_json", o);

    // Only the named pack is checked.
    assert_out!("one_pack_text", k.at(&root, &["verify", "other"]));
    assert_out!("unknown_pack", k.at(&root, &["verify", "nosuch"]));

    // A pack directory that is gone: every file is missing.
    std::fs::remove_dir_all(root.join("other")).unwrap();
    assert_out!("missing_json", k.at(&root, &["verify", "--json", "other"]));
    assert_out!("missing_text", k.at(&root, &["verify", "other"]));

    // `knap install` without SPEC restores both from knap.lock.
    assert_out!("restore", k.at(&root, &["--color", "never", "install"]));
    k.at(&root, &["verify"]).ok();
    assert_root_consistent(&root);
}

#[test]
fn verify_of_a_missing_pack_with_an_unusable_record_says_it_has_none() {
    let mut site = Site::new();
    site.publish("gone", "1.0.0", &[], &[]);
    let k = site.knap();
    let root = k.dir.path().join("root");
    k.at(&root, &["install", "gone"]).ok();
    let tree = lock_of(&root)["packs"][0]["tree"]
        .as_str()
        .unwrap()
        .to_owned();
    let record = root
        .join(".knap/files")
        .join(format!("gone.{}.json", &tree["sha256:".len()..]));
    std::fs::write(&record, b"not a record").unwrap();
    std::fs::remove_dir_all(root.join("gone")).unwrap();
    let o = k.at(&root, &["verify", "--json"]);
    assert_eq!(o.code, 4, "{o:?}");
    let p = &o.json()["packs"][0];
    assert_eq!(p["status"], "missing");
    assert_eq!(p["per_file_record"], false, "{p}");
    assert_eq!(p["missing"], json!([]));
}

/// Issue 11 finding 4: a `.git` entry planted in an installed pack (any
/// depth, any case, trailing dots or spaces) is reported as added (exit 4),
/// and `knap install` without SPEC restores the pack without it.
#[test]
fn verify_reports_planted_git_entries_as_added_and_restore_removes_them() {
    let mut site = Site::new();
    site.publish("hello", "1.0.0", &[], &[]);
    let k = site.knap();
    let root = k.dir.path().join("root");
    k.at(&root, &["install", "hello"]).ok();
    let p = root.join("hello");
    let planted = [".git/config", "actions/.GIT/config", "lib/.git. /HEAD"];
    for f in planted {
        let full = p.join(f);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, b"[core]\n\tfsmonitor = touch /tmp/knap-pwned\n").unwrap();
    }

    let o = k.at(&root, &["verify", "--json"]);
    assert_eq!(
        o.json()["packs"][0]["added"],
        json!([".git", "actions/.GIT", "lib/.git. "])
    );
    assert_out!("planted_git_json", o);
    assert_out!("planted_git_text", k.at(&root, &["verify"]));

    let o = k.at(&root, &["install"]).ok();
    assert!(o.stdout.contains("installed hello 1.0.0"), "{o:?}");
    for gone in [".git", "actions/.GIT", "lib/.git. "] {
        assert!(!p.join(gone).exists(), "{gone} survived the restore");
    }
    k.at(&root, &["verify"]).ok();
    assert_root_consistent(&root);
}

/// The digest an older knap wrote: whole paths sorted by their bytes, only
/// the top-level `.git` skipped (recomputed here, not with the library).
fn older_knap_digest(dir: &Path) -> (String, Vec<Value>) {
    use sha2::{Digest, Sha256};
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                walk(base, &e.path(), out);
            } else {
                let rel = e
                    .path()
                    .strip_prefix(base)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                out.push((rel, std::fs::read(e.path()).unwrap()));
            }
        }
    }
    walk(dir, dir, &mut files);
    files.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut h = Sha256::new();
    let mut record = Vec::new();
    for (p, c) in &files {
        h.update(b"attune-pack-file-v1");
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
        h.update((c.len() as u64).to_be_bytes());
        h.update(c);
        let hex: String = Sha256::digest(c)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        record.push(json!({"path": p, "size": c.len(), "sha256": hex}));
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    (format!("sha256:{hex}"), record)
}

/// A root installed by an older knap (lock and record made with the byte
/// order) still verifies, said to be made by an older knap; a change is
/// still named file by file from its version 1 record; restore does not
/// reinstall an intact pack.
#[test]
fn verify_of_a_root_installed_by_an_older_knap_still_works() {
    let mut site = Site::new();
    let extra: Vec<(String, Vec<u8>)> = vec![
        ("lib.py".into(), b"import lib\n".to_vec()),
        ("lib/x.py".into(), b"x = 1\n".to_vec()),
        ("a-b/c".into(), b"1\n".to_vec()),
        ("a/c".into(), b"2\n".to_vec()),
    ];
    site.publish("old", "1.0.0", &[], &extra);
    let k = site.knap();
    let root = k.dir.path().join("root");
    k.at(&root, &["install", "old"]).ok();

    // Make the root what an older knap left: its digest in knap.lock, its
    // version 1 record under that digest's name.
    let mut lock = lock_of(&root);
    let new_tree = lock["packs"][0]["tree"].as_str().unwrap().to_owned();
    let (old_tree, files) = older_knap_digest(&root.join("old"));
    assert_ne!(old_tree, new_tree, "the two rules must differ on this tree");
    lock["packs"][0]["tree"] = json!(old_tree);
    write_json(&root.join("knap.lock"), &lock);
    let records = root.join(".knap/files");
    std::fs::remove_file(records.join(format!("old.{}.json", &new_tree[7..]))).unwrap();
    write_json(
        &records.join(format!("old.{}.json", &old_tree[7..])),
        &json!({"version": 1, "ref": "old", "tree": old_tree, "files": files}),
    );

    let o = k.at(&root, &["verify", "--json"]);
    assert_eq!(o.code, 0, "{o:?}");
    let p = &o.json()["packs"][0];
    assert_eq!(p["status"], "ok");
    assert_eq!(p["digest_rule"], "older-knap-byte-order");
    let o = k.at(&root, &["verify"]).ok();
    assert!(o.stdout.contains("older knap"), "{}", o.stdout);
    assert_out!("older_knap_text", o);
    // Intact: restore leaves it alone.
    let o = k.at(&root, &["install"]).ok();
    assert!(!o.stdout.contains("installed old"), "{o:?}");

    std::fs::write(root.join("old/lib/x.py"), b"x = 2\n").unwrap();
    let o = k.at(&root, &["verify", "--json"]);
    assert_eq!(o.code, 4, "{o:?}");
    let p = &o.json()["packs"][0];
    assert_eq!(p["changed"], json!(["lib/x.py"]));
    assert_eq!(p["per_file_record"], true);
    // Restored by this knap: the current rule from now on.
    k.at(&root, &["install"]).ok();
    assert_eq!(lock_of(&root)["packs"][0]["tree"], json!(new_tree));
    let o = k.at(&root, &["verify", "--json"]).ok();
    assert_eq!(o.json()["packs"][0]["digest_rule"], "attune-path-order");
    assert_root_consistent(&root);
}

/// The commands a hint suggests repeat the `--root` and `--config` the
/// command was given (a plain `knap install` would act on another root);
/// a root from `KNAP_ROOT` needs no repeating.
#[test]
fn hints_repeat_the_root_and_config_given_on_the_command_line() {
    let mut site = Site::new();
    site.publish("core", "1.0.0", &[], &[]);
    let mut k = site.knap();
    site.name_in(&mut k);
    k.run(&["--root", "r1", "install", "core"]).ok();
    std::fs::write(k.cwd().join("r1/core/added.txt"), b"x").unwrap();
    let o = k.run(&["--root", "r1", "verify"]).code(4);
    assert!(
        o.stderr
            .contains("run `knap --root r1 install` to restore them from knap.lock"),
        "{}",
        o.stderr
    );
    let o = k.run(&["--json", "verify", "--root", "r1"]).code(4);
    let message = o.error_json()["error"]["message"].clone();
    assert!(
        message
            .as_str()
            .unwrap()
            .contains("`knap --root r1 install`"),
        "{message}"
    );
    k.set("KNAP_ROOT", "r1");
    let o = k.run(&["verify"]).code(4);
    assert!(
        o.stderr.contains("run `knap install` to restore"),
        "{}",
        o.stderr
    );

    let config = k.cwd().join("other config.toml");
    std::fs::write(&config, "").unwrap();
    let o = k
        .run(&["--config", config.to_str().unwrap(), "update", "nosuch"])
        .code(3);
    assert!(
        o.stderr.contains(&format!(
            "see `knap --config '{}' registry list`",
            config.display()
        )),
        "{}",
        o.stderr
    );
}
