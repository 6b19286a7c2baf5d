//! Hostile input against the client's transport and root handling, end to
//! end: the `knap` binary against real servers on 127.0.0.1 (a registry,
//! and other servers an attacker controls), real archives and a real
//! install root. Every test starts from a root with `victim` 1.0.0
//! installed and a sentinel directory beside it, and checks the exit code,
//! the reason in the message, that nothing outside the root's private area
//! and the cache changed (the sentinel included), and that 1.0.0 is still
//! installed, intact.
//!
//! Issue 11's findings 2 (the token goes only to the registry's origin),
//! 3 (deadlines on every transfer; no lock held across network I/O),
//! 5 (a symlinked private area; read-only commands write nothing),
//! 8 (identity encoding for archives), 9 (archive retries),
//! 10 (`--locked` and provenance) and the client parts of 11.

use std::path::{Path, PathBuf};

use crate::install_tests::digest;
use crate::root_tests::{Site, assert_root_consistent, at};
use crate::{Knap, Out};

/// Every path under `dir` with its bytes, skipping `skip` (relative
/// paths) and the root's flock file.
pub(crate) fn snapshot(dir: &Path, skip: &[&str]) -> Vec<(String, Option<Vec<u8>>)> {
    fn walk(base: &Path, dir: &Path, skip: &[&str], out: &mut Vec<(String, Option<Vec<u8>>)>) {
        let mut items: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        items.sort();
        for p in items {
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            if skip.contains(&rel.as_str()) {
                continue;
            }
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.file_type().is_symlink() {
                let to = std::fs::read_link(&p).unwrap();
                out.push((rel, Some(to.display().to_string().into_bytes())));
            } else if meta.is_dir() {
                out.push((rel, None));
                walk(base, &p, skip, out);
            } else {
                out.push((rel, Some(std::fs::read(&p).unwrap())));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, skip, &mut out);
    out
}

/// A root with `victim` 1.0.0 from an HTTP registry, and a sentinel
/// directory beside the root.
pub(crate) struct Scene {
    pub site: Site,
    pub k: Knap,
    pub root: PathBuf,
    pub sentinel: PathBuf,
    pub good_tree: String,
    pub before: Vec<(String, Option<Vec<u8>>)>,
}

const SKIP: &[&str] = &["cache", "root/.knap"];

impl Scene {
    pub fn new() -> Self {
        let mut site = Site::new();
        site.publish("victim", "1.0.0", &[], &[]);
        let k = site.knap();
        Self::with(site, k)
    }

    /// The scene with `site` and a knap `k` already set up for it.
    pub fn with(site: Site, k: Knap) -> Self {
        let root = k.dir.path().join("root");
        at(&k, &root, &["install", "victim"]).ok();
        let sentinel = k.dir.path().join("sentinel");
        std::fs::create_dir_all(sentinel.join("sub")).unwrap();
        std::fs::write(sentinel.join("keep.txt"), b"untouched\n").unwrap();
        std::fs::write(sentinel.join("sub/also.txt"), b"untouched too\n").unwrap();
        let good_tree = digest(&root.join("victim"));
        let before = snapshot(k.dir.path(), SKIP);
        Self {
            site,
            k,
            root,
            sentinel,
            good_tree,
            before,
        }
    }

    /// Takes the picture of "before" again (after the test changed the
    /// configuration, say).
    pub fn rebase(&mut self) {
        self.before = snapshot(self.k.dir.path(), SKIP);
    }

    pub fn at(&self, args: &[&str]) -> Out {
        at(&self.k, &self.root, args)
    }

    /// Nothing outside the private area and the cache changed, and
    /// victim 1.0.0 is installed, intact.
    #[track_caller]
    pub fn assert_unharmed(&self) {
        assert_eq!(
            snapshot(self.k.dir.path(), SKIP),
            self.before,
            "something outside the root's private area changed"
        );
        assert_eq!(digest(&self.root.join("victim")), self.good_tree);
        let lock = crate::install_tests::lock_of(&self.root);
        assert_eq!(lock["packs"][0]["version"], "1.0.0");
    }
}

#[track_caller]
fn assert_refused(o: &Out, code: i32, reason: &str) {
    assert_eq!(o.code, code, "{o:#?}");
    assert!(
        o.stderr.contains(reason),
        "expected `{reason}` in:\n{}",
        o.stderr
    );
}

// Finding 5: a symlinked private area is refused and nothing it names is
// emptied or written.

#[cfg(unix)]
#[test]
fn a_symlinked_private_directory_is_refused_by_every_command_and_nothing_outside_is_emptied() {
    for part in [".knap/staging", ".knap/trash", ".knap/files", ".knap"] {
        let mut s = Scene::new();
        s.site.publish("victim", "2.0.0", &[], &[]);
        s.k.run(&["update"]).ok();
        let link = s.root.join(part);
        if part == ".knap" {
            // The whole private area elsewhere: a copy beside the sentinel.
            let moved = s.k.dir.path().join("moved-knap");
            std::fs::rename(&link, &moved).unwrap();
            std::os::unix::fs::symlink(&s.sentinel, &link).unwrap();
        } else {
            let _ = std::fs::remove_dir_all(&link);
            std::os::unix::fs::symlink(&s.sentinel, &link).unwrap();
        }
        // The link itself is part of the "before" picture only through
        // the private area, which the snapshot skips.
        let before = snapshot(&s.sentinel, &[]);
        for args in [
            &["list"][..],
            &["verify"],
            &["outdated"],
            &["doctor"],
            &["install"],
            &["install", "victim@=2.0.0"],
            &["uninstall", "victim"],
        ] {
            let o = s.at(args);
            assert_refused(&o, 4, "is a symbolic link");
            assert!(
                o.stderr.contains(part),
                "{args:?} names the link: {}",
                o.stderr
            );
            assert_eq!(
                snapshot(&s.sentinel, &[]),
                before,
                "{args:?} with {part} linked changed what it names"
            );
        }
        assert_eq!(digest(&s.root.join("victim")), s.good_tree);
        assert_eq!(
            crate::install_tests::lock_of(&s.root)["packs"][0]["version"],
            "1.0.0"
        );
    }
}

#[test]
fn read_only_commands_in_a_directory_that_is_not_a_root_create_nothing() {
    let s = Scene::new();
    let other = tempfile::tempdir().unwrap();
    let plain = other.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    std::fs::write(plain.join("notes.txt"), b"mine\n").unwrap();
    let before = snapshot(&plain, &[]);
    for args in [
        &["list"][..],
        &["list", "--json"],
        &["verify"],
        &["outdated"],
        &["doctor"],
        &["info", "victim"],
    ] {
        let o = at(&s.k, &plain, args);
        assert!(o.code == 0 || o.code == 3, "{args:?}: {o:#?}");
        assert_eq!(
            snapshot(&plain, &[]),
            before,
            "{args:?} wrote into {plain:?}"
        );
    }
    s.assert_unharmed();
}

#[test]
fn read_only_commands_on_a_root_write_nothing_in_it() {
    let s = Scene::new();
    let before = snapshot(&s.root, &[]);
    for args in [
        &["list"][..],
        &["list", "--tree"],
        &["verify"],
        &["outdated"],
        &["doctor"],
        &["info", "victim"],
    ] {
        let o = s.at(args);
        assert_eq!(o.code, 0, "{args:?}: {o:#?}");
        assert_eq!(
            snapshot(&s.root, &[]),
            before,
            "{args:?} wrote into the root"
        );
    }
    s.assert_unharmed();
    assert_root_consistent(&s.root);
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
    let e = crate::install_tests::entry_with(
        "victim",
        "1.0.0",
        &[],
        serde_json::json!([{"type": "archive", "url": "m/victim.tar.gz",
            "checksum": crate::install_tests::sha(&bytes)}]),
    );
    crate::write_json(
        &mirror.path().join("index.json"),
        &crate::index("Mirror", vec![e]),
    );
    let server = crate::server::Server::start(crate::server::files(mirror.path().to_path_buf()));
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
    s.rebase();
    for args in [
        &["install", "--locked", "victim"][..],
        &["install", "--locked"],
    ] {
        let o = s.at(args);
        if args.len() == 2 {
            // Restoring from the lock keeps each pack where it came from.
            assert_eq!(o.code, 0, "{o:#?}");
        } else {
            assert_refused(
                &o,
                3,
                "would come from registry `mirror` instead of registry `site`",
            );
        }
        s.assert_unharmed();
        assert_eq!(
            crate::install_tests::lock_of(&s.root)["packs"][0]["registry"],
            "site"
        );
    }
    // Without --locked the lock follows the registries.
    s.at(&["install", "victim"]).ok();
    assert_eq!(
        crate::install_tests::lock_of(&s.root)["packs"][0]["registry"],
        "mirror"
    );
}
