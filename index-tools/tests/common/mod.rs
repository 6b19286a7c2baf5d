//! Shared helpers for the `knap-index` integration tests: the corpus
//! location, and running the binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
pub mod browser;

use std::process::{Command, Output};

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

/// Copies a directory tree (regular files and directories only).
pub fn copy_tree(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(from).unwrap();
        let dest = to.join(rel);
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// Writes a file, creating its parent directories.
pub fn write(path: &Path, content: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
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

/// Runs the git binary in `dir` with a fixed identity and time; panics on
/// failure; returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.org")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.org")
        .env("GIT_AUTHOR_DATE", "2026-11-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-11-01T00:00:00Z")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("runs git");
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

/// Makes `dir` a git repository on first use and commits everything in it
/// when anything changed; returns the commit SHA of HEAD.
pub fn commit_all(dir: &Path) -> String {
    if !dir.join(".git").exists() {
        git(dir, &["init", "-q", "-b", "main"]);
    }
    git(dir, &["add", "-A"]);
    if !git(dir, &["status", "--porcelain"]).is_empty() {
        git(dir, &["commit", "-q", "-m", "pack"]);
    }
    git(dir, &["rev-parse", "HEAD"])
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
