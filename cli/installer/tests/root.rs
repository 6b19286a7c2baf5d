//! Install root transactions on real directories: commits replace packs,
//! a crash after any step is recovered to wholly old or wholly new with
//! knap.lock agreeing, and the root lock serialises concurrent users.

use std::fs;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use knap_installer::{FileRecord, InstallRoot, Recovery, RootError, Step};
use knap_schema::lock::{LockedPack, LockedSource, Lockfile};
use knap_schema::{PackRef, tree_digest};
use knap_test_support::dir::Tree;

/// Writes a pack tree for `r` at `version` into `dir` and returns its
/// lock entry (tree = the pack tree digest of what was written).
fn stage_pack(dir: &Path, r: &str, version: &str) -> LockedPack {
    fs::create_dir_all(dir.join("actions")).unwrap();
    fs::write(
        dir.join("pack.yaml"),
        format!("ref: {r}\nversion: {version}\n"),
    )
    .unwrap();
    fs::write(
        dir.join("actions").join(format!("{r}.yaml")),
        format!("name: {r}\ndescription: version {version}\n"),
    )
    .unwrap();
    LockedPack {
        pack_ref: pr(r),
        version: version.parse().unwrap(),
        registry: Some("test".into()),
        source: LockedSource::Path {
            path: dir.display().to_string(),
        },
        tree: tree_digest(dir).unwrap().checksum.parse().unwrap(),
        dependencies: vec![],
        installed_at: "2026-01-01T00:00:00Z".into(),
        yanked: false,
        signed: None,
    }
}

/// Stages `packs` and commits them with `removed`, stopping after the
/// step for which `stop` returns true.
fn transact(
    root: &InstallRoot,
    packs: &[(&str, &str)],
    removed: &[&str],
    previous: &Lockfile,
    mut stop: impl FnMut(&Step) -> bool,
) -> Result<Lockfile, RootError> {
    let staging = root.new_staging_dir().unwrap();
    let mut lock = previous.clone();
    lock.packs.retain(|p| {
        !removed.contains(&p.pack_ref.as_str()) && !packs.iter().any(|(r, _)| *r == p.pack_ref)
    });
    let mut new_packs = Vec::new();
    for (r, v) in packs {
        let dir = staging.join(r);
        lock.packs.push(stage_pack(&dir, r, v));
        lock.requested.insert(pr(r), "*".into());
        new_packs.push((pr(r), dir));
    }
    for r in removed {
        lock.requested.remove(*r);
    }
    lock.packs.sort_by(|a, b| a.pack_ref.cmp(&b.pack_ref));
    root.commit_with(
        new_packs,
        removed.iter().map(|s| pr(s)).collect(),
        &lock,
        |s| !stop(s),
    )?;
    Ok(lock)
}

/// The invariant: no journal or debris; every locked pack's dir has the
/// locked tree digest; no other pack dir exists. Returns (ref, version).
fn assert_consistent(root: &Path) -> Vec<(String, String)> {
    let private = root.join(".knap");
    assert!(!private.join("journal.json").exists());
    for debris in ["trash", "staging"] {
        if let Ok(items) = fs::read_dir(private.join(debris)) {
            assert_eq!(items.count(), 0, "{debris} is not empty");
        }
    }
    let lock: Lockfile =
        serde_json::from_str(&fs::read_to_string(root.join("knap.lock")).unwrap()).unwrap();
    for p in &lock.packs {
        let got = tree_digest(&p.pack_ref.dir_in(root)).unwrap().checksum;
        assert_eq!(
            got,
            p.tree.to_string(),
            "{} does not match knap.lock",
            p.pack_ref
        );
    }
    // Exactly one per-file record per locked pack, and it describes the
    // pack as it is.
    let mut records: Vec<String> = fs::read_dir(private.join("files"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    records.sort();
    let expected: Vec<String> = lock
        .packs
        .iter()
        .map(|p| format!("{}.{}.json", p.pack_ref, p.tree.hex()))
        .collect();
    assert_eq!(records, expected, "the records are those of knap.lock");
    for (p, name) in lock.packs.iter().zip(&expected) {
        let rec: FileRecord =
            serde_json::from_slice(&fs::read(private.join("files").join(name)).unwrap()).unwrap();
        assert_eq!(
            (rec.pack_ref.as_str(), rec.tree.as_str()),
            (p.pack_ref.as_str(), p.tree.to_string().as_str())
        );
        let scan = knap_installer::scan(&p.pack_ref.dir_in(root)).unwrap();
        assert!(knap_installer::compare(&rec, &scan).is_empty(), "{name}");
    }
    for item in fs::read_dir(root).unwrap() {
        let name = item.unwrap().file_name().to_string_lossy().into_owned();
        if name == ".knap" || name == "knap.lock" {
            continue;
        }
        assert!(lock.get(&name).is_some(), "{name} is not in knap.lock");
    }
    lock.packs
        .iter()
        .map(|p| (p.pack_ref.to_string(), p.version.to_string()))
        .collect()
}

/// A pack ref known to be valid.
fn pr(r: &str) -> PackRef {
    PackRef::parse(r).unwrap()
}

fn state(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn commit_replaces_an_old_version() {
    let tmp = tempfile::tempdir().unwrap();
    let root = InstallRoot::open(tmp.path()).unwrap();
    assert_eq!(root.recovery(), Recovery::Clean);
    assert_eq!(root.read_lock().unwrap(), None);

    let lock1 = transact(
        &root,
        &[("a", "1.0.0"), ("b", "1.0.0")],
        &[],
        &Lockfile::default(),
        |_| false,
    )
    .unwrap();
    assert_eq!(
        assert_consistent(tmp.path()),
        state(&[("a", "1.0.0"), ("b", "1.0.0")])
    );
    assert_eq!(root.read_lock().unwrap().as_ref(), Some(&lock1));

    transact(
        &root,
        &[("a", "2.0.0"), ("c", "1.0.0")],
        &["b"],
        &lock1,
        |_| false,
    )
    .unwrap();
    assert_eq!(
        assert_consistent(tmp.path()),
        state(&[("a", "2.0.0"), ("c", "1.0.0")])
    );
    let yaml = fs::read_to_string(tmp.path().join("a/pack.yaml")).unwrap();
    assert!(yaml.contains("2.0.0"), "{yaml}");
    assert!(!tmp.path().join("b").exists());
    // The lock is the pretty, stable form.
    let text = fs::read_to_string(tmp.path().join("knap.lock")).unwrap();
    assert_eq!(text, root.read_lock().unwrap().unwrap().to_pretty_json());
}

#[test]
fn a_crash_after_any_step_recovers_wholly_old_or_wholly_new() {
    let old = state(&[("a", "1.0.0"), ("b", "1.0.0")]);
    let new = state(&[("a", "2.0.0"), ("c", "1.0.0")]);

    // Learn the steps of this transaction from a run to completion.
    let mut steps = Vec::new();
    {
        let tmp = tempfile::tempdir().unwrap();
        let root = InstallRoot::open(tmp.path()).unwrap();
        let lock1 = transact(
            &root,
            &[("a", "1.0.0"), ("b", "1.0.0")],
            &[],
            &Lockfile::default(),
            |_| false,
        )
        .unwrap();
        transact(
            &root,
            &[("a", "2.0.0"), ("c", "1.0.0")],
            &["b"],
            &lock1,
            |s| {
                steps.push(s.clone());
                false
            },
        )
        .unwrap();
    }
    assert_eq!(
        steps,
        [
            Step::RecordsWritten,
            Step::JournalWritten,
            Step::OldMovedToTrash(pr("a")),
            Step::NewMovedIntoPlace(pr("a")),
            Step::NewMovedIntoPlace(pr("c")),
            Step::OldMovedToTrash(pr("b")),
            Step::LockWritten,
            Step::JournalRemoved,
            Step::Cleaned,
        ]
    );

    for crash_after in &steps {
        let tmp = tempfile::tempdir().unwrap();
        {
            let root = InstallRoot::open(tmp.path()).unwrap();
            let lock1 = transact(
                &root,
                &[("a", "1.0.0"), ("b", "1.0.0")],
                &[],
                &Lockfile::default(),
                |_| false,
            )
            .unwrap();
            let err = transact(
                &root,
                &[("a", "2.0.0"), ("c", "1.0.0")],
                &["b"],
                &lock1,
                |s| s == crash_after,
            )
            .unwrap_err();
            assert!(
                matches!(&err, RootError::Interrupted(s) if s == crash_after),
                "{err:?}"
            );
            // The process "dies": the root is dropped without any cleanup.
        }
        let root = InstallRoot::open(tmp.path()).unwrap();
        let got = assert_consistent(tmp.path());
        let lock_written = steps.iter().position(|s| s == crash_after).unwrap()
            >= steps.iter().position(|s| *s == Step::LockWritten).unwrap();
        if lock_written {
            assert_eq!(got, new, "after {crash_after:?}");
        } else {
            assert_eq!(got, old, "after {crash_after:?}");
        }
        let expected = match crash_after {
            Step::LockWritten => Recovery::RolledForward,
            // Before the journal there is nothing to roll back: the new
            // records are garbage the lock does not name.
            Step::RecordsWritten | Step::JournalRemoved | Step::Cleaned => Recovery::Clean,
            _ => Recovery::RolledBack,
        };
        assert_eq!(root.recovery(), expected, "after {crash_after:?}");
        // And the root is usable again.
        let lock = root.read_lock().unwrap().unwrap();
        transact(&root, &[("d", "1.0.0")], &[], &lock, |_| false).unwrap();
        let after = assert_consistent(tmp.path());
        assert!(after.contains(&("d".to_string(), "1.0.0".to_string())));
    }
}

#[test]
fn recovery_survives_a_second_crash_during_roll_back() {
    // Crash after the new dir is in place, then pretend recovery itself
    // died half-way: the old dir is back but nothing else was cleaned up.
    let tmp = tempfile::tempdir().unwrap();
    let old = state(&[("a", "1.0.0")]);
    {
        let root = InstallRoot::open(tmp.path()).unwrap();
        let lock1 = transact(&root, &[("a", "1.0.0")], &[], &Lockfile::default(), |_| {
            false
        })
        .unwrap();
        let _ = transact(&root, &[("a", "2.0.0")], &[], &lock1, |s| {
            *s == Step::NewMovedIntoPlace(pr("a"))
        });
    }
    // Do by hand what roll back does first (new dir back to staging, old
    // dir back), leaving the journal as a crash would.
    let staging = fs::read_dir(tmp.path().join(".knap/staging"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    fs::rename(tmp.path().join("a"), staging.join("a")).unwrap();
    fs::rename(tmp.path().join(".knap/trash/a"), tmp.path().join("a")).unwrap();
    assert!(tmp.path().join(".knap/journal.json").exists());

    let root = InstallRoot::open(tmp.path()).unwrap();
    assert_eq!(root.recovery(), Recovery::RolledBack);
    assert_eq!(assert_consistent(tmp.path()), old);
}

#[test]
fn staged_dirs_must_come_from_the_roots_staging_area() {
    let tmp = tempfile::tempdir().unwrap();
    let root = InstallRoot::open(&tmp.path().join("root")).unwrap();
    let elsewhere = tmp.path().join("elsewhere");
    stage_pack(&elsewhere, "a", "1.0.0");
    let err = root
        .commit(vec![(pr("a"), elsewhere)], vec![], &Lockfile::default())
        .unwrap_err();
    assert!(matches!(err, RootError::InvalidCommit(_)), "{err:?}");
    // A ref that is not valid cannot even be named: commit takes `PackRef`s.
    assert!(PackRef::parse("Bad").is_err());
    assert!(PackRef::parse("../x").is_err());
}

#[test]
fn the_root_lock_serialises_two_users() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().to_owned();
    let first = InstallRoot::open(&path).unwrap();
    let events = Arc::new(Mutex::new(Vec::<(&str, Instant)>::new()));

    let (started_tx, started_rx) = mpsc::channel();
    let waiter = {
        let path = path.clone();
        let events = events.clone();
        thread::spawn(move || {
            started_tx.send(()).unwrap();
            let mut waited = 0;
            let second = InstallRoot::open_with(&path, |p| {
                assert_eq!(p, path.as_path());
                waited += 1;
                events.lock().unwrap().push(("waiting", Instant::now()));
            })
            .unwrap();
            events
                .lock()
                .unwrap()
                .push(("second acquired", Instant::now()));
            drop(second);
            waited
        })
    };
    started_rx.recv().unwrap();
    thread::sleep(Duration::from_millis(300));
    events
        .lock()
        .unwrap()
        .push(("first released", Instant::now()));
    drop(first);
    let waited = waiter.join().unwrap();

    assert_eq!(waited, 1, "on_wait is called exactly once");
    let events = events.lock().unwrap();
    let names: Vec<&str> = events.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["waiting", "first released", "second acquired"]);
}

/// Everything under `dir` but the lock file, for before/after checks.
fn snapshot(dir: &Path) -> Tree {
    Tree::skipping(dir, &[".knap/lock"])
}

#[test]
fn a_commit_that_fails_half_way_is_undone_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let root = InstallRoot::open(tmp.path()).unwrap();
    let lock1 = transact(
        &root,
        &[("a", "1.0.0"), ("b", "1.0.0")],
        &[],
        &Lockfile::default(),
        |_| false,
    )
    .unwrap();
    // Something in the trash where `b` must go: its move fails after `a`
    // was already swapped, a real I/O error in the middle of the commit.
    let in_the_way = tmp.path().join(".knap/trash/b/x");
    fs::create_dir_all(&in_the_way).unwrap();
    let before = snapshot(tmp.path());
    let err = transact(
        &root,
        &[("a", "2.0.0"), ("b", "2.0.0")],
        &[],
        &lock1,
        |_| false,
    )
    .unwrap_err();
    assert!(
        matches!(&err, RootError::Io { action: "move", .. }),
        "{err:?}"
    );
    assert!(!tmp.path().join(".knap/journal.json").exists());
    // The old packs and lock are back, the staged trees and new records
    // are gone; only the obstacle (removed with the trash) differs.
    fs::remove_dir_all(tmp.path().join(".knap/trash")).unwrap();
    let mut expect = before;
    expect.0.retain(|p, _| !p.starts_with(".knap/trash"));
    let mut after = snapshot(tmp.path());
    after
        .0
        .retain(|p, _| !p.starts_with(".knap/staging") || p == ".knap/staging");
    assert_eq!(after, expect);
    assert_eq!(
        assert_consistent(tmp.path()),
        state(&[("a", "1.0.0"), ("b", "1.0.0")])
    );
}

#[test]
fn a_staged_tree_that_is_not_the_locked_one_is_refused_before_any_change() {
    let tmp = tempfile::tempdir().unwrap();
    let root = InstallRoot::open(tmp.path()).unwrap();
    let lock1 = transact(&root, &[("a", "1.0.0")], &[], &Lockfile::default(), |_| {
        false
    })
    .unwrap();
    let before = snapshot(tmp.path());
    let staging = root.new_staging_dir().unwrap();
    let mut lock2 = lock1.clone();
    lock2.packs[0] = stage_pack(&staging.join("a"), "a", "2.0.0");
    fs::write(staging.join("a/extra"), "not in the locked tree").unwrap();
    let err = root
        .commit(vec![(pr("a"), staging.join("a"))], vec![], &lock2)
        .unwrap_err();
    assert!(matches!(&err, RootError::TreeMismatch { .. }), "{err:?}");
    assert!(err.is_integrity());
    let mut after = snapshot(tmp.path());
    after.0.retain(|p, _| !p.starts_with(".knap/staging/"));
    let mut expect = before;
    expect.0.retain(|p, _| !p.starts_with(".knap/staging/"));
    assert_eq!(after, expect);
    assert_eq!(assert_consistent(tmp.path()), state(&[("a", "1.0.0")]));
}

#[test]
fn opening_a_missing_root_for_reading_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    assert!(
        InstallRoot::open_for_reading(&missing, |_| {})
            .unwrap()
            .is_none()
    );
    assert!(!missing.exists());
}

#[test]
fn removing_a_pack_the_new_lock_still_lists_is_refused_before_any_change() {
    let tmp = tempfile::tempdir().unwrap();
    let root = InstallRoot::open(tmp.path()).unwrap();
    let lock1 = transact(&root, &[("a", "1.0.0")], &[], &Lockfile::default(), |_| {
        false
    })
    .unwrap();
    // The directory would go while knap.lock kept listing it.
    let err = root.commit(vec![], vec![pr("a")], &lock1).unwrap_err();
    assert!(
        matches!(&err, RootError::InvalidCommit(m) if m.contains("`a`")),
        "{err:?}"
    );
    assert_eq!(assert_consistent(tmp.path()), state(&[("a", "1.0.0")]));
}
