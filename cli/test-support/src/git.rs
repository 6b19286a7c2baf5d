//! The `git` binary, run as tests need it: a fixed identity and clock (so
//! that the same steps make the same commit ids run after run), no user or
//! system configuration, `main` as the first branch; and commits built
//! from raw trees, which `git add` would refuse (a `.git` entry), as an
//! attacker writes them.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// `git` with the test identity, clock and configuration, in `dir`.
pub fn command(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.args([
        "-c",
        "user.name=Test",
        "-c",
        "user.email=t@example.org",
        "-c",
        "init.defaultBranch=main",
    ])
    .current_dir(dir)
    .env("GIT_CONFIG_GLOBAL", "/dev/null")
    .env("GIT_CONFIG_NOSYSTEM", "1")
    .env("GIT_AUTHOR_DATE", "2026-11-01T00:00:00Z")
    .env("GIT_COMMITTER_DATE", "2026-11-01T00:00:00Z");
    c
}

/// Runs git in `dir`; panics on failure; returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let o = command(dir).args(args).output().expect("git runs");
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs git in `dir` with `input` on stdin; returns stdout, trimmed.
pub fn git_with_input(dir: &Path, args: &[&str], input: &[u8]) -> String {
    let mut c = command(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("git runs");
    c.stdin.take().unwrap().write_all(input).unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(o.status.success(), "git {args:?}");
    String::from_utf8(o.stdout).unwrap().trim().to_owned()
}

/// Makes `dir` a repository on first use and commits everything in it
/// when anything changed; returns the commit id of HEAD.
pub fn commit_all(dir: &Path, message: &str) -> String {
    if !dir.join(".git").exists() {
        git(dir, &["init", "-q"]);
    }
    git(dir, &["add", "-A"]);
    if !git(dir, &["status", "--porcelain"]).is_empty() {
        git(dir, &["commit", "-q", "-m", message]);
    }
    git(dir, &["rev-parse", "HEAD"]).trim().to_owned()
}

/// A bare-bones repository at `dir` whose only commit has `tree` (paths
/// and contents; nested paths become nested trees), written with `git
/// mktree` from blobs: git's own `add` would refuse a `.git` entry.
/// Returns the commit id.
pub fn commit_of_tree(dir: &Path, tree: &[(&str, &[u8])]) -> String {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q"]);
    fn mktree(dir: &Path, entries: &[(String, Vec<u8>)]) -> String {
        let mut lines = String::new();
        let mut subdirs: std::collections::BTreeMap<String, Vec<(String, Vec<u8>)>> =
            Default::default();
        for (path, data) in entries {
            match path.split_once('/') {
                Some((top, rest)) => subdirs
                    .entry(top.to_owned())
                    .or_default()
                    .push((rest.to_owned(), data.clone())),
                None => {
                    let blob = git_with_input(dir, &["hash-object", "-w", "--stdin"], data);
                    lines.push_str(&format!("100644 blob {blob}\t{path}\n"));
                }
            }
        }
        for (name, sub) in &subdirs {
            let t = mktree(dir, sub);
            lines.push_str(&format!("040000 tree {t}\t{name}\n"));
        }
        git_with_input(dir, &["mktree"], lines.as_bytes())
    }
    let entries: Vec<(String, Vec<u8>)> = tree
        .iter()
        .map(|(p, d)| (p.to_string(), d.to_vec()))
        .collect();
    let t = mktree(dir, &entries);
    git(dir, &["commit-tree", &t, "-m", "hostile"])
        .trim()
        .to_owned()
}
