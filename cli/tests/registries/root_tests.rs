//! The install root over its whole life, end to end against a real HTTP
//! registry on 127.0.0.1: install, list, outdated after a new version is
//! published, `--locked`, upgrade, guarded uninstall, reinstall from
//! `knap.lock` after the pack directories are deleted, verify; tampering
//! named file by file; several `knap install` processes at once.
//!
//! The helpers here (a registry site that publishes real tar.gz archives,
//! root inspection) are shared with `crash_tests` and `fault_tests`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

pub(crate) use crate::install_tests::{digest, lock_of};
use crate::install_tests::{entry_with, make_pack, sha, tar_gz};
use crate::server::{Server, files};
use crate::{Knap, Out, index, write_json};

/// A registry served over HTTP from a directory: `publish` builds a pack,
/// archives it with real tar+gzip under `archives/`, and rewrites
/// `index.json` with every entry so far.
pub struct Site {
    pub dir: tempfile::TempDir,
    pub work: tempfile::TempDir,
    pub entries: BTreeMap<(String, semver::Version), Value>,
    pub server: Server,
}

impl Site {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(files(dir.path().to_path_buf()));
        Self {
            dir,
            work: tempfile::tempdir().unwrap(),
            entries: BTreeMap::new(),
            server,
        }
    }

    /// A knap with this site as its only registry (`site`).
    pub fn knap(&self) -> Knap {
        let k = Knap::new();
        k.run(&["registry", "add", "site", &self.server.url("/")])
            .ok();
        k
    }

    /// Publishes `r` `version` depending on `deps`, with `pack.yaml`, a
    /// README, an action and `extra` files; returns the pack directory.
    pub fn publish(
        &mut self,
        r: &str,
        version: &str,
        deps: &[&str],
        extra: &[(String, Vec<u8>)],
    ) -> PathBuf {
        self.publish_with_manifest(r, version, deps, "", extra)
    }

    /// [`publish`](Self::publish) with more `pack.yaml` lines: the pack of
    /// `install_tests::make_pack` plus `manifest_extra` and `extra` files.
    pub fn publish_with_manifest(
        &mut self,
        r: &str,
        version: &str,
        deps: &[&str],
        manifest_extra: &str,
        extra: &[(String, Vec<u8>)],
    ) -> PathBuf {
        let dir = make_pack(self.work.path(), r, version, deps);
        let mut manifest = std::fs::read_to_string(dir.join("pack.yaml")).unwrap();
        manifest.push_str(manifest_extra);
        std::fs::write(dir.join("pack.yaml"), manifest).unwrap();
        for (p, bytes) in extra {
            let f = dir.join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, bytes).unwrap();
        }
        let bytes = tar_gz(&dir);
        let name = format!("archives/{r}-{version}.tar.gz");
        std::fs::create_dir_all(self.dir.path().join("archives")).unwrap();
        std::fs::write(self.dir.path().join(&name), &bytes).unwrap();
        let e = entry_with(
            r,
            version,
            deps,
            json!([{"type": "archive", "url": name, "checksum": sha(&bytes)}]),
        );
        self.entries
            .insert((r.to_owned(), semver::Version::parse(version).unwrap()), e);
        let entries: Vec<Value> = self.entries.values().cloned().collect();
        write_json(&self.dir.path().join("index.json"), &index("Site", entries));
        dir
    }
}

/// (ref, version) of every pack in the root's knap.lock.
pub fn versions(root: &Path) -> Vec<(String, String)> {
    lock_of(root)["packs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["ref"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

pub fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// The root's invariant: no journal, staging, trash or temp files; every
/// locked pack's directory has the locked tree digest; no other pack
/// directory; exactly one per-file record per locked pack.
pub fn assert_root_consistent(root: &Path) {
    let private = root.join(".knap");
    assert!(
        !private.join("journal.json").exists(),
        "journal.json left behind"
    );
    for dir in [root, private.as_path()] {
        let temps: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| knap_schema::atomic::is_temp_name(n))
            .collect();
        assert!(
            temps.is_empty(),
            "temporary files left in {dir:?}: {temps:?}"
        );
    }
    for debris in ["staging", "trash"] {
        if let Ok(d) = std::fs::read_dir(private.join(debris)) {
            let left: Vec<_> = d.map(|e| e.unwrap().file_name()).collect();
            assert!(left.is_empty(), "{debris} holds {left:?}");
        }
    }
    let lock = lock_of(root);
    let packs = lock["packs"].as_array().unwrap();
    let mut expected_records = Vec::new();
    for p in packs {
        let r = p["ref"].as_str().unwrap();
        let tree = p["tree"].as_str().unwrap();
        assert_eq!(
            digest(&root.join(r)),
            tree,
            "{r} is not what knap.lock says"
        );
        expected_records.push(format!("{r}.{}.json", &tree["sha256:".len()..]));
    }
    expected_records.sort();
    let mut records: Vec<String> = std::fs::read_dir(private.join("files"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    records.sort();
    assert_eq!(records, expected_records, "per-file records");
    for item in std::fs::read_dir(root).unwrap() {
        let name = item.unwrap().file_name().to_string_lossy().into_owned();
        if name == ".knap" || name == "knap.lock" {
            continue;
        }
        assert!(
            packs.iter().any(|p| p["ref"] == name.as_str()),
            "{name} is not in knap.lock"
        );
    }
}

/// Runs knap with `--root ROOT` first.
pub fn at(k: &Knap, root: &Path, args: &[&str]) -> Out {
    let mut all = vec!["--root", root.to_str().unwrap()];
    all.extend_from_slice(args);
    k.run(&all)
}

#[test]
fn round_trip_install_list_outdated_locked_upgrade_uninstall_reinstall_verify() {
    let mut site = Site::new();
    let core1 = site.publish("core", "1.0.0", &[], &[]);
    let slack2 = site.publish("slack", "2.1.0", &["core@^1"], &[]);
    let jira1 = site.publish("jira", "1.0.0", &[], &[]);
    site.publish("extra", "1.0.0", &[], &[]);
    let k = site.knap();
    let root = k.dir.path().join("root");

    // Install.
    let out = at(&k, &root, &["install", "slack", "jira"]).ok();
    assert!(out.stdout.contains("installed slack 2.1.0"), "{out:?}");
    assert_eq!(
        versions(&root),
        pairs(&[("core", "1.0.0"), ("jira", "1.0.0"), ("slack", "2.1.0")])
    );
    assert_eq!(digest(&root.join("core")), digest(&core1));
    assert_eq!(digest(&root.join("slack")), digest(&slack2));
    assert_eq!(digest(&root.join("jira")), digest(&jira1));
    assert_root_consistent(&root);

    // List.
    let list = at(&k, &root, &["list", "--json"]).ok().json();
    let packs = list["packs"].as_array().unwrap();
    assert_eq!(packs.len(), 3);
    assert_eq!(packs[0]["ref"], "core");
    assert_eq!(packs[0]["requested"], Value::Null);
    assert_eq!(
        packs[0]["required_by"],
        json!([{"ref": "slack", "requirement": "^1"}])
    );
    assert_eq!(packs[0]["present"], true);
    assert_eq!(packs[2]["ref"], "slack");
    assert_eq!(packs[2]["requested"], "*");
    assert_eq!(packs[2]["registry"], "site");
    let text = at(&k, &root, &["list"]).ok().stdout;
    assert!(
        text.lines()
            .any(|l| l.starts_with("core") && l.contains("1.0.0") && l.contains("needed by slack")),
        "{text}"
    );
    let tree = at(&k, &root, &["list", "--tree"]).ok().stdout;
    assert_eq!(
        tree.lines().collect::<Vec<_>>(),
        [
            "jira 1.0.0 (requested *)",
            "slack 2.1.0 (requested *)",
            "└── core 1.0.0 (^1)"
        ],
        "{tree}"
    );
    let tree_json = at(&k, &root, &["list", "--tree", "--json"]).ok().json();
    assert_eq!(tree_json["tree"][1]["ref"], "slack");
    assert_eq!(tree_json["tree"][1]["dependencies"][0]["ref"], "core");
    assert_eq!(tree_json["tree"][1]["dependencies"][0]["requirement"], "^1");

    // Nothing is outdated yet.
    let o = at(&k, &root, &["outdated"]).ok();
    assert!(
        o.stdout.contains("all 3 installed packs are up to date"),
        "{o:?}"
    );

    // New versions are published: within core's requirement (1.1.0) and
    // beyond it (2.0.0), and a new jira.
    site.publish("core", "1.1.0", &[], &[]);
    site.publish("core", "2.0.0", &[], &[]);
    site.publish("jira", "1.1.0", &[], &[]);
    let lock_before = std::fs::read(root.join("knap.lock")).unwrap();
    let o = at(&k, &root, &["outdated", "--json"]).ok().json();
    let row = |r: &str| {
        o["packs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["ref"] == r)
            .unwrap()
            .clone()
    };
    assert_eq!(
        row("core"),
        json!({"ref": "core", "current": "1.0.0", "wanted": "1.1.0", "latest": "2.0.0", "registry": "site", "outdated": true, "yanked": false})
    );
    assert_eq!(row("jira")["wanted"], "1.1.0");
    assert_eq!(row("slack")["outdated"], false);
    let text = at(&k, &root, &["outdated"]).ok().stdout;
    let core_line = text.lines().find(|l| l.starts_with("core")).unwrap();
    assert_eq!(
        core_line.split_whitespace().collect::<Vec<_>>(),
        ["core", "1.0.0", "1.1.0", "2.0.0", "site"]
    );
    assert!(!text.lines().any(|l| l.starts_with("slack")), "{text}");
    assert_eq!(
        std::fs::read(root.join("knap.lock")).unwrap(),
        lock_before,
        "outdated changes nothing"
    );

    // --locked: the lock as it is passes; anything that would change it
    // exits 3 and changes nothing.
    at(&k, &root, &["install", "--locked"]).ok();
    at(&k, &root, &["install", "slack", "--locked"]).ok();
    let o = at(&k, &root, &["install", "extra", "--locked"]);
    assert_eq!(o.code, 3, "{o:?}");
    assert!(o.stderr.contains("--locked"), "{}", o.stderr);
    let o = at(&k, &root, &["install", "jira@^1", "--locked"]);
    assert_eq!(o.code, 3, "a new requirement changes the lock: {o:?}");
    assert_eq!(std::fs::read(root.join("knap.lock")).unwrap(), lock_before);
    assert!(!root.join("extra").exists());

    // Upgrade one pack within its requirement, then everything.
    let o = at(&k, &root, &["upgrade", "core"]).ok();
    assert!(o.stdout.contains("upgraded core 1.0.0 -> 1.1.0"), "{o:?}");
    assert_eq!(
        versions(&root),
        pairs(&[("core", "1.1.0"), ("jira", "1.0.0"), ("slack", "2.1.0")])
    );
    let o = at(&k, &root, &["upgrade", "--json"]).ok().json();
    assert_eq!(o["installed"], json!([{"ref": "jira", "version": "1.1.0"}]));
    assert_eq!(
        versions(&root),
        pairs(&[("core", "1.1.0"), ("jira", "1.1.0"), ("slack", "2.1.0")])
    );
    assert_eq!(
        lock_of(&root)["requested"],
        json!({"jira": "*", "slack": "*"})
    );
    // A new requirement that the installed packs forbid: exit 3, unchanged.
    let before = std::fs::read(root.join("knap.lock")).unwrap();
    let o = at(&k, &root, &["upgrade", "core@^2"]);
    assert_eq!(o.code, 3, "{o:?}");
    assert!(o.stderr.contains("slack"), "{}", o.stderr);
    assert_eq!(std::fs::read(root.join("knap.lock")).unwrap(), before);
    // A new major version of slack needs core 2: both move together.
    site.publish("slack", "3.0.0", &["core@^2"], &[]);
    let o = at(&k, &root, &["upgrade", "slack@^3"]).ok();
    assert!(o.stdout.contains("upgraded slack 2.1.0 -> 3.0.0"), "{o:?}");
    assert_eq!(
        versions(&root),
        pairs(&[("core", "2.0.0"), ("jira", "1.1.0"), ("slack", "3.0.0")])
    );
    assert_eq!(
        lock_of(&root)["requested"],
        json!({"jira": "*", "slack": "^3"})
    );
    let o = at(&k, &root, &["upgrade", "nosuch"]);
    assert_eq!(o.code, 3, "{o:?}");
    assert_root_consistent(&root);
    at(&k, &root, &["verify"]).ok();

    // Guarded uninstall: core is needed by slack.
    let before = std::fs::read(root.join("knap.lock")).unwrap();
    let o = at(&k, &root, &["uninstall", "core"]);
    assert_eq!(o.code, 3, "{o:?}");
    assert!(
        o.stderr
            .contains("`core` is needed by slack 3.0.0 (core@^2)"),
        "{}",
        o.stderr
    );
    assert!(root.join("core").is_dir());
    assert_eq!(std::fs::read(root.join("knap.lock")).unwrap(), before);
    let o = at(&k, &root, &["uninstall", "nosuch"]);
    assert_eq!(o.code, 3, "{o:?}");
    // Removing slack removes core, which nothing needs any more.
    let plan = at(&k, &root, &["uninstall", "slack", "--dry-run", "--json"])
        .ok()
        .json();
    assert_eq!(plan["remove"], json!(["core", "slack"]));
    assert_eq!(std::fs::read(root.join("knap.lock")).unwrap(), before);
    let o = at(&k, &root, &["uninstall", "slack"]).ok();
    assert!(
        o.stdout.contains("removed core (no longer needed)"),
        "{o:?}"
    );
    assert!(o.stdout.contains("removed slack"), "{o:?}");
    assert_eq!(versions(&root), pairs(&[("jira", "1.1.0")]));
    assert_eq!(lock_of(&root)["requested"], json!({"jira": "*"}));
    assert!(!root.join("core").exists() && !root.join("slack").exists());
    assert_root_consistent(&root);
    // --force removes a needed pack and leaves its dependent installed.
    at(&k, &root, &["install", "slack"]).ok();
    assert_eq!(
        versions(&root),
        pairs(&[("core", "2.0.0"), ("jira", "1.1.0"), ("slack", "3.0.0")])
    );
    let o = at(&k, &root, &["uninstall", "core", "--force", "--json"])
        .ok()
        .json();
    assert_eq!(o["removed"], json!(["core"]));
    assert_eq!(
        o["left_without_dependency"],
        json!([{"ref": "slack", "needs": "core@^2"}])
    );
    assert_eq!(
        versions(&root),
        pairs(&[("jira", "1.1.0"), ("slack", "3.0.0")])
    );
    let tree = at(&k, &root, &["list", "--tree"]).ok().stdout;
    assert!(tree.contains("└── core (^2) [not installed]"), "{tree}");
    // Installing slack again brings core back.
    at(&k, &root, &["install", "slack"]).ok();
    assert_eq!(
        versions(&root),
        pairs(&[("core", "2.0.0"), ("jira", "1.1.0"), ("slack", "3.0.0")])
    );

    // Delete every pack directory and reinstall exactly what knap.lock says.
    let lock = lock_of(&root);
    for (r, _) in versions(&root) {
        std::fs::remove_dir_all(root.join(&r)).unwrap();
    }
    let o = at(&k, &root, &["verify", "--json"]);
    assert_eq!(o.code, 4, "{o:?}");
    assert!(
        o.json()["packs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["status"] == "missing")
    );
    let o = at(&k, &root, &["install", "--locked"]).ok();
    assert_eq!(o.stdout.matches("installed ").count(), 3, "{o:?}");
    let relock = lock_of(&root);
    assert_eq!(relock["requested"], lock["requested"]);
    for (a, b) in relock["packs"]
        .as_array()
        .unwrap()
        .iter()
        .zip(lock["packs"].as_array().unwrap())
    {
        for field in [
            "ref",
            "version",
            "registry",
            "source",
            "tree",
            "dependencies",
        ] {
            assert_eq!(a[field], b[field], "{field} of {}", a["ref"]);
        }
    }
    assert_root_consistent(&root);
    let v = at(&k, &root, &["verify", "--json"]).ok().json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["packs"].as_array().unwrap().len(), 3);
    let text = at(&k, &root, &["verify"]).ok().stdout;
    assert_eq!(text.matches(" ok").count(), 3, "{text}");
}

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
    let k = site.knap();
    let root = k.dir.path().join("root");
    at(&k, &root, &["install", "tampered", "other"]).ok();
    at(&k, &root, &["verify"]).ok();

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

    let o = at(&k, &root, &["verify"]);
    assert_eq!(o.code, 4, "{o:?}");
    let lines: Vec<&str> = o.stdout.lines().map(str::trim).collect();
    for want in [
        "changed  actions/a.yaml",
        "changed  lib/big.bin",
        "changed  lib/util.py (now a symbolic link)",
        "added    sensors/evil.py",
        "missing  actions/b.yaml",
    ] {
        assert!(lines.contains(&want), "{want:?} not in:\n{}", o.stdout);
    }
    assert!(
        o.stdout
            .lines()
            .any(|l| l.starts_with("other") && l.trim_end().ends_with("ok"))
    );
    assert!(
        o.stderr.contains("1 of 2 installed packs") && o.stderr.contains("tampered (modified)"),
        "{}",
        o.stderr
    );

    let o = at(&k, &root, &["verify", "--json", "tampered"]);
    assert_eq!(o.code, 4);
    let v = o.json();
    let p = &v["packs"][0];
    assert_eq!(v["packs"].as_array().unwrap().len(), 1);
    assert_eq!(p["status"], "modified");
    assert_eq!(
        p["changed"],
        json!(["actions/a.yaml", "lib/big.bin", "lib/util.py"])
    );
    assert_eq!(p["added"], json!(["sensors/evil.py"]));
    assert_eq!(p["missing"], json!(["actions/b.yaml"]));
    assert_eq!(
        p["irregular"],
        json!([{"path": "lib/util.py", "kind": "symbolic link"}])
    );
    let err: Value = serde_json::from_str(o.stderr.trim()).unwrap();
    assert_eq!(err["error"]["kind"], "integrity");

    // Only the named pack is checked.
    at(&k, &root, &["verify", "other"]).ok();
    assert_eq!(at(&k, &root, &["verify", "nosuch"]).code, 3);

    // A pack directory that is gone: every file is missing.
    std::fs::remove_dir_all(root.join("other")).unwrap();
    let o = at(&k, &root, &["verify", "--json", "other"]);
    assert_eq!(o.code, 4);
    assert_eq!(o.json()["packs"][0]["status"], "missing");
    assert_eq!(
        o.json()["packs"][0]["missing"],
        json!(["README.md", "actions/run.sh", "pack.yaml"])
    );

    // `knap install` without SPEC restores both from knap.lock.
    let o = at(&k, &root, &["install"]).ok();
    assert!(o.stdout.contains("installed other 1.0.0"), "{o:?}");
    assert!(o.stdout.contains("installed tampered 1.0.0"), "{o:?}");
    at(&k, &root, &["verify"]).ok();
    assert_root_consistent(&root);
}

#[test]
fn concurrent_installs_into_one_root_all_succeed_and_the_lock_lists_every_pack() {
    let mut site = Site::new();
    let n = 5;
    let big: Vec<(String, Vec<u8>)> = (0..200)
        .map(|i| {
            (
                format!("data/f{i}.txt"),
                format!("{i}\n").repeat(50).into_bytes(),
            )
        })
        .collect();
    for i in 0..n {
        site.publish(&format!("p{i}"), "1.0.0", &[], &big);
    }
    let k = site.knap();
    let root = k.dir.path().join("root");
    let outs: Vec<Out> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (k, root) = (&k, &root);
                s.spawn(move || at(k, root, &["install", &format!("p{i}")]))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for o in &outs {
        assert_eq!(o.code, 0, "{o:?}");
    }
    let want: Vec<(String, String)> = (0..n).map(|i| (format!("p{i}"), "1.0.0".into())).collect();
    assert_eq!(versions(&root), want);
    let requested = lock_of(&root)["requested"].clone();
    assert_eq!(requested.as_object().unwrap().len(), n);
    assert_root_consistent(&root);
    at(&k, &root, &["verify"]).ok();
}

#[test]
fn verify_of_a_missing_pack_with_an_unusable_record_says_it_has_none() {
    let mut site = Site::new();
    site.publish("gone", "1.0.0", &[], &[]);
    let k = site.knap();
    let root = k.dir.path().join("root");
    at(&k, &root, &["install", "gone"]).ok();
    let tree = lock_of(&root)["packs"][0]["tree"]
        .as_str()
        .unwrap()
        .to_owned();
    let record = root
        .join(".knap/files")
        .join(format!("gone.{}.json", &tree["sha256:".len()..]));
    std::fs::write(&record, b"not a record").unwrap();
    std::fs::remove_dir_all(root.join("gone")).unwrap();
    let o = at(&k, &root, &["verify", "--json"]);
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
    at(&k, &root, &["install", "hello"]).ok();
    let p = root.join("hello");
    let planted = [".git/config", "actions/.GIT/config", "lib/.git. /HEAD"];
    for f in planted {
        let full = p.join(f);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, b"[core]\n\tfsmonitor = touch /tmp/knap-pwned\n").unwrap();
    }

    let o = at(&k, &root, &["verify", "--json"]);
    assert_eq!(o.code, 4, "{o:?}");
    let v = o.json();
    assert_eq!(v["packs"][0]["status"], "modified");
    assert_eq!(
        v["packs"][0]["added"],
        json!([".git", "actions/.GIT", "lib/.git. "])
    );
    let o = at(&k, &root, &["verify"]);
    assert_eq!(o.code, 4);
    assert!(
        o.stdout.contains("added    .git (now a .git entry)"),
        "{}",
        o.stdout
    );

    let o = at(&k, &root, &["install"]).ok();
    assert!(o.stdout.contains("installed hello 1.0.0"), "{o:?}");
    for gone in [".git", "actions/.GIT", "lib/.git. "] {
        assert!(!p.join(gone).exists(), "{gone} survived the restore");
    }
    at(&k, &root, &["verify"]).ok();
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
    at(&k, &root, &["install", "old"]).ok();

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

    let o = at(&k, &root, &["verify", "--json"]);
    assert_eq!(o.code, 0, "{o:?}");
    let p = &o.json()["packs"][0];
    assert_eq!(p["status"], "ok");
    assert_eq!(p["digest_rule"], "older-knap-byte-order");
    let o = at(&k, &root, &["verify"]).ok();
    assert!(o.stdout.contains("older knap"), "{}", o.stdout);
    // Intact: restore leaves it alone.
    let o = at(&k, &root, &["install"]).ok();
    assert!(!o.stdout.contains("installed old"), "{o:?}");

    std::fs::write(root.join("old/lib/x.py"), b"x = 2\n").unwrap();
    let o = at(&k, &root, &["verify", "--json"]);
    assert_eq!(o.code, 4, "{o:?}");
    let p = &o.json()["packs"][0];
    assert_eq!(p["changed"], json!(["lib/x.py"]));
    assert_eq!(p["per_file_record"], true);
    // Restored by this knap: the current rule from now on.
    at(&k, &root, &["install"]).ok();
    assert_eq!(lock_of(&root)["packs"][0]["tree"], json!(new_tree));
    let o = at(&k, &root, &["verify", "--json"]).ok();
    assert_eq!(o.json()["packs"][0]["digest_rule"], "attune-path-order");
    assert_root_consistent(&root);
}
