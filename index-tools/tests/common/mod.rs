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
