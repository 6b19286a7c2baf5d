//! Shared helpers for the `knap-index` integration tests: the corpus
//! location, and running the binary; files, trees and git come from the
//! test kit (`knap-test-support`).
#![allow(dead_code, unused_imports)]

use std::path::{Path, PathBuf};
pub mod browser;

use std::process::{Command, Output};

pub use knap_test_support::dir::copy_tree;
pub use knap_test_support::write;

/// `../shared/corpus` beside the project, or `None` (the test then says it
/// is skipped).
pub fn corpus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    if p.is_dir() {
        Some(p.canonicalize().unwrap())
    } else {
        eprintln!("skipped: the corpus ../shared/corpus is absent");
        None
    }
}

/// Runs `knap-index` with the given arguments.
pub fn knap_index<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_knap-index"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .env("SOURCE_DATE_EPOCH", "1795000000")
        .output()
        .expect("runs knap-index")
}

/// [`knap_index`], killed when it has not ended within `limit` (a test of
/// something that must not block fails instead of hanging the suite).
/// `umask`, when given, is set for the process (through `sh`).
#[track_caller]
pub fn knap_index_within(limit: std::time::Duration, umask: Option<&str>, args: &[&str]) -> Output {
    use std::io::Read;
    use std::process::Stdio;
    let bin = env!("CARGO_BIN_EXE_knap-index");
    let mut c = match umask {
        Some(m) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("umask {m} && exec \"$0\" \"$@\""))
                .arg(bin)
                .args(args);
            c
        }
        None => {
            let mut c = Command::new(bin);
            c.args(args);
            c
        }
    };
    c.env_remove("RUST_BACKTRACE")
        .env("SOURCE_DATE_EPOCH", "1795000000")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("runs knap-index");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("knap-index {args:?} was still running after {limit:?} (it blocked)");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Makes a FIFO at `path` (replacing a file there).
pub fn mkfifo(path: &Path) {
    if path.exists() {
        std::fs::remove_file(path).unwrap();
    }
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts the exit code, showing the output when it is not the expected one.
#[track_caller]
pub fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A small valid pack.
pub fn make_pack(dir: &Path, pack_ref: &str, version: &str) {
    write(
        &dir.join("pack.yaml"),
        format!(
            "ref: {pack_ref}\nversion: \"{version}\"\nauthor: Test\ndescription: A test pack\nkeywords: [test]\n"
        ),
    );
    write(
        &dir.join("actions/hello.yaml"),
        format!("ref: {pack_ref}.hello\ndescription: Says hello\n"),
    );
    write(&dir.join("actions/hello.py"), "print('hello')\n");
}

/// Runs the git binary in `dir` with the test kit's fixed identity and
/// clock; panics on failure; returns stdout, trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    knap_test_support::git::git(dir, args).trim().to_owned()
}

/// Makes `dir` a git repository on first use and commits everything in it
/// when anything changed; returns the commit SHA of HEAD.
pub fn commit_all(dir: &Path) -> String {
    knap_test_support::git::commit_all(dir, "pack")
}

/// `knap-index entry DIR` with a git source pinned to the commit of DIR's
/// content ([`commit_all`]).
pub fn entry_with_git(dir: impl AsRef<Path>) -> Output {
    let sha = commit_all(dir.as_ref());
    knap_index([
        "entry",
        dir.as_ref().to_str().unwrap(),
        "--git-url",
        "https://example.org/p.git",
        "--git-ref",
        &sha,
    ])
}
