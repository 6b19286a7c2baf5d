//! Crash consistency of real `knap` processes: `knap install` and
//! `knap upgrade` of a large pack (2,000 files, with a dependency that
//! moves with it) are SIGKILLed at many random moments (half anywhere in
//! the run, half within the commit, after its journal appears), and
//! aborted right after every step of the commit
//! (`KNAP_TEST_CRASH_AFTER_STEP`). After
//! each crash the next knap command must leave every pack wholly old or
//! wholly new, `knap.lock` agreeing, no debris in the root, and
//! `knap verify` clean.
//! A root that cannot be written, with an interrupted commit, says what
//! happened and how to recover.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use knap_test_support::prelude::*;

use crate::fixtures::*;

/// `knap --root ROOT ARGS` with the same environment `Knap::run` gives.
fn command(k: &Knap, root: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_knap"));
    c.arg("--root").arg(root).args(args);
    k.isolate(&mut c);
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    c
}

/// `big` 1.0.0 needs `base` ^1 and 2.0.0 needs `base` ^2; both versions of
/// `big` hold 2,000 files, most of them different, some only in one.
struct Fixture {
    site: Site,
    k: Knap,
    root: PathBuf,
    /// (big, base) tree digests of version 1 and version 2.
    trees: [(String, String); 2],
}

fn big_files(version: u32) -> Vec<(String, Vec<u8>)> {
    (0..2000)
        .map(|i| {
            // 100 files exist only in version 1, 100 only in version 2.
            let i = if version == 2 && i < 100 { i + 5000 } else { i };
            let body = format!("version {version} file {i}\n").repeat(i % 40 + 1);
            (
                format!("data/d{:02}/f{i:05}.txt", i % 50),
                body.into_bytes(),
            )
        })
        .collect()
}

fn fixture() -> Fixture {
    let mut site = Site::new();
    let base1 = site.publish("base", "1.0.0", &[], &[]);
    let base2 = site.publish("base", "2.0.0", &[], &[]);
    let big1 = site.publish("big", "1.0.0", &["base@^1"], &big_files(1));
    let big2 = site.publish("big", "2.0.0", &["base@^2"], &big_files(2));
    let k = site.knap();
    let root = k.dir.path().join("root");
    k.at(&root, &["install", "big@=1.0.0"]).ok();
    Fixture {
        trees: [
            (digest(&big1), digest(&base1)),
            (digest(&big2), digest(&base2)),
        ],
        site,
        k,
        root,
    }
}

impl Fixture {
    /// 1 or 2: which version is installed, after checking that the whole
    /// root is one of the two states and agrees with knap.lock.
    fn state(&self) -> usize {
        assert_root_consistent(&self.root);
        let v = versions(&self.root);
        let state = if v == pairs(&[("base", "1.0.0"), ("big", "1.0.0")]) {
            1
        } else if v == pairs(&[("base", "2.0.0"), ("big", "2.0.0")]) {
            2
        } else {
            panic!("neither wholly old nor wholly new: {v:?}")
        };
        let (big, base) = &self.trees[state - 1];
        assert_eq!(&digest(&self.root.join("big")), big);
        assert_eq!(&digest(&self.root.join("base")), base);
        state
    }

    /// The command that moves from `state` to the other version: an
    /// upgrade to 2, an install of 1.
    fn move_args(state: usize) -> &'static [&'static str] {
        if state == 1 {
            &["upgrade", "big@=2.0.0"]
        } else {
            &["install", "big@=1.0.0"]
        }
    }

    /// What a crash left, before any knap command recovers it.
    fn debris(&self) -> &'static str {
        let p = self.root.join(".knap");
        let non_empty =
            |d: &str| std::fs::read_dir(p.join(d)).is_ok_and(|mut i| i.next().is_some());
        if p.join("journal.json").exists() {
            "journal (mid-commit)"
        } else if non_empty("staging") || non_empty("trash") {
            "staging or trash"
        } else {
            "none"
        }
    }

    /// Runs the next knap command (one of several, in turn), then checks
    /// the root and that `knap verify` is clean.
    fn recover_with_next_command(&self, i: usize) -> usize {
        let next: &[&str] = match i % 3 {
            0 => &["verify", "--json"],
            1 => &["list", "--json"],
            _ => &["install", "--json"],
        };
        self.k.at(&self.root, next).ok();
        let state = self.state();
        self.k.at(&self.root, &["verify"]).ok();
        state
    }
}

/// xorshift64*: reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn sigkill_at_random_moments_of_install_and_upgrade_leaves_packs_wholly_old_or_new() {
    let f = fixture();
    assert_eq!(f.state(), 1);
    // How long one uninterrupted move takes (both directions), to spread
    // the kills over the whole run. Not asserted.
    let t = Instant::now();
    f.k.at(&f.root, Fixture::move_args(1)).ok();
    assert_eq!(f.state(), 2);
    f.k.at(&f.root, Fixture::move_args(2)).ok();
    assert_eq!(f.state(), 1);
    let span = (t.elapsed() / 2).as_micros().max(1000) as u64;

    let seed = std::env::var("KNAP_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("crash seed {seed} (set KNAP_CRASH_SEED to repeat), one move takes ~{span} µs");
    let mut rng = Rng(seed);
    let runs = 30;
    let mut seen: Vec<(&str, usize)> = Vec::new();
    let mut state = 1;
    let journal = f.root.join(".knap/journal.json");
    for i in 0..runs {
        let mut child = command(&f.k, &f.root, Fixture::move_args(state))
            .spawn()
            .unwrap();
        if i % 2 == 0 {
            // Anywhere in the run.
            std::thread::sleep(Duration::from_micros(rng.next() % (span + span / 5)));
        } else {
            // Inside the commit: once its journal appears, up to 20 ms on.
            let t = Instant::now();
            while !journal.exists()
                && child.try_wait().unwrap().is_none()
                && t.elapsed() < Duration::from_secs(120)
            {
                std::thread::sleep(Duration::from_micros(50));
            }
            std::thread::sleep(Duration::from_micros(rng.next() % 20_000));
        }
        let _ = child.kill();
        let status = child.wait().unwrap();
        let what = if status.success() {
            "finished before the kill"
        } else {
            f.debris()
        };
        match seen.iter_mut().find(|(w, _)| *w == what) {
            Some((_, n)) => *n += 1,
            None => seen.push((what, 1)),
        }
        let after = f.recover_with_next_command(i);
        if status.success() {
            assert_ne!(after, state, "a finished move took effect");
        }
        state = after;
    }
    println!("what {runs} kills left behind: {seen:?}");
    drop(f.site);
}

#[test]
fn an_abort_right_after_every_commit_step_recovers_wholly_old_or_new() {
    let f = fixture();
    let mut steps = Vec::new();
    for n in 1.. {
        assert_eq!(f.state(), 1);
        let out = command(&f.k, &f.root, Fixture::move_args(1))
            .env("KNAP_TEST_CRASH_AFTER_STEP", n.to_string())
            .output()
            .unwrap();
        if out.status.success() {
            // Fewer steps than n: the commit completed.
            assert_eq!(f.state(), 2);
            break;
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let step = stderr
            .split("aborting after ")
            .nth(1)
            .unwrap_or_else(|| panic!("step {n}: not the failpoint: {stderr}"))
            .trim()
            .to_owned();
        assert!(
            f.root.join(".knap/journal.json").exists() || !step.contains("Moved"),
            "after {step}, the journal is there"
        );
        let state = f.recover_with_next_command(n);
        let committed = ["LockWritten", "JournalRemoved", "Cleaned"]
            .iter()
            .any(|s| step.starts_with(s));
        assert_eq!(state, if committed { 2 } else { 1 }, "after {step}");
        if state == 2 {
            f.k.at(&f.root, Fixture::move_args(2)).ok();
        }
        steps.push(step);
    }
    assert_eq!(
        steps,
        [
            "RecordsWritten",
            "JournalWritten",
            "OldMovedToTrash(\"base\")",
            "NewMovedIntoPlace(\"base\")",
            "OldMovedToTrash(\"big\")",
            "NewMovedIntoPlace(\"big\")",
            "LockWritten",
            "JournalRemoved",
            "Cleaned",
        ]
    );
}

// Finding 11: a read-only root after a crash says what happened and which
// command recovers it.

#[test]
fn a_read_only_root_with_an_interrupted_commit_says_what_happened_and_how_to_recover() {
    let mut site = Site::new();
    site.publish("victim", "1.0.0", &[], &[]);
    site.publish("victim", "2.0.0", &[], &[]);
    let k = site.knap();
    let Some(ns) = mount_namespace() else { return };
    let root = k.dir.path().join("root");
    let out = k.dir.path().join("out");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let script = format!(
        r#"set -e
R='{root}'; O='{out}'
mount -t tmpfs -o size=8m knap-ro "$R"
"$KNAP" --root "$R" install victim@=1.0.0 >/dev/null
KNAP_TEST_CRASH_AFTER_STEP=2 "$KNAP" --root "$R" install victim@=2.0.0 >/dev/null 2>&1 || true
test -f "$R/.knap/journal.json"
mount -o remount,ro "$R"
set +e
"$KNAP" --root "$R" list >"$O/stdout" 2>"$O/stderr"; echo $? >"$O/code"
mount -o remount,rw "$R"
"$KNAP" --root "$R" install >"$O/restore" 2>&1; echo $? >"$O/restore_code"
"$KNAP" --root "$R" list --json >"$O/list" 2>&1
test ! -e "$R/.knap/journal.json"; echo $? >"$O/journal_gone"
"#,
        root = root.display(),
        out = out.display()
    );
    let o = shell(&k, &ns, &script);
    assert!(o.status.success(), "{o:?}");
    let stderr = read(out.join("stderr"));
    assert_eq!(read(out.join("code")).trim(), "1", "{stderr}");
    assert!(
        stderr.contains("a knap commit was interrupted")
            && stderr.contains("not writable")
            && stderr.contains(&format!(
                "run `knap --root {} install` (with no arguments)",
                root.display()
            )),
        "{stderr}"
    );
    assert!(
        !stderr.contains("unreadable") && !stderr.contains("delete it"),
        "{stderr}"
    );
    // With write access, the named command recovers the root.
    assert_eq!(
        read(out.join("restore_code")).trim(),
        "0",
        "{}",
        read(out.join("restore"))
    );
    assert_eq!(read(out.join("journal_gone")).trim(), "0");
    let list: serde_json::Value = serde_json::from_str(&read(out.join("list"))).unwrap();
    assert_eq!(list["packs"][0]["version"], "1.0.0", "{list}");
}
