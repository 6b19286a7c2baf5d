//! `knap-index entry/update --git-url URL --git-ref SHA` (issue 12 point 5):
//! the git checksum is the digest of the commit's tree in the local
//! repository (read with gix, no network), never of the work tree. Real
//! repositories made with the git binary; the expected digest is that of a
//! clean `git clone` of the commit.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn entry(dir: &Path, sha: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "entry",
        dir.to_str().unwrap(),
        "--git-url",
        "https://example.org/demo.git",
        "--git-ref",
        sha,
    ];
    args.extend_from_slice(extra);
    knap_index(args)
}

/// The digest of a fresh clone of `repo` at `sha`: what a user of the git
/// source gets.
fn clean_clone_digest(repo: &Path, sha: &str, scratch: &Path) -> String {
    let clone = scratch.join(format!("clone-{sha}"));
    git(
        scratch,
        &[
            "clone",
            "-q",
            repo.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    git(&clone, &["checkout", "-q", sha]);
    knap_schema::digest::tree_digest(&clone).unwrap().checksum
}

fn checksum_of(o: &std::process::Output) -> String {
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v["install_sources"][0]["checksum"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Must show: on a dirty work tree (a changed file, an untracked file, an
/// ignored build artefact), the entry has the digest of SHA's tree, and
/// says the work tree differs.
#[test]
fn entry_on_a_dirty_work_tree_writes_the_digest_of_the_commits_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("demo");
    make_pack(&repo, "demo", "1.0.0");
    // Names whose byte order and Path order disagree.
    write(&repo.join("lib.py"), "import lib\n");
    write(&repo.join("lib/x.py"), "x = 1\n");
    write(&repo.join(".gitignore"), "build/\n");
    let sha = commit_all(&repo);
    let committed = clean_clone_digest(&repo, &sha, tmp.path());

    write(&repo.join("actions/hello.py"), "print('uncommitted')\n");
    write(&repo.join("notes.txt"), "untracked\n");
    write(&repo.join("build/out.bin"), "ignored artefact\n");
    let dirty = knap_schema::digest::tree_digest(&repo).unwrap().checksum;
    assert_ne!(dirty, committed);

    let o = entry(&repo, &sha, &[]);
    assert_exit(&o, 0);
    assert_eq!(
        checksum_of(&o),
        committed,
        "the commit's tree, not the work tree"
    );
    let err = stderr(&o);
    assert!(
        err.contains(&format!("differs from commit {sha}")) && err.contains(&dirty),
        "{err}"
    );

    // The same through update: the index gets the commit's digest.
    let index = tmp.path().join("index.json");
    let o = knap_index([
        "update",
        "--index",
        index.to_str().unwrap(),
        "--create",
        "--name",
        "R",
        "--url",
        "https://r.example/",
        repo.to_str().unwrap(),
        "--git-url",
        "https://example.org/demo.git",
        "--git-ref",
        &sha,
    ]);
    assert_exit(&o, 0);
    assert_eq!(
        read_json(&index)["packs"][0]["install_sources"][0]["checksum"],
        committed.as_str()
    );

    // A clean work tree: no warning.
    git(&repo, &["checkout", "-q", "--", "."]);
    std::fs::remove_file(repo.join("notes.txt")).unwrap();
    std::fs::remove_dir_all(repo.join("build")).unwrap();
    let o = entry(&repo, &sha, &[]);
    assert_exit(&o, 0);
    assert_eq!(checksum_of(&o), committed);
    assert!(!stderr(&o).contains("differs"), "{}", stderr(&o));
}

#[test]
fn a_commit_that_is_not_in_the_repository_is_refused_with_exit_4() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("demo");
    make_pack(&repo, "demo", "1.0.0");
    commit_all(&repo);
    let absent = "0123456789abcdef0123456789abcdef01234567";
    let o = entry(&repo, absent, &[]);
    assert_exit(&o, 4);
    assert!(o.stdout.is_empty(), "no entry is written");
    let err = stderr(&o);
    assert!(
        err.contains(&format!("commit {absent} is not in the repository")),
        "{err}"
    );

    // Not a repository at all: there is no commit to read.
    let plain = tmp.path().join("plain");
    make_pack(&plain, "demo", "1.0.0");
    let o = entry(&plain, absent, &[]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("--repo"), "{}", stderr(&o));
}

/// `--repo DIR` reads the commit from another clone; the pack directory
/// is then only read for `pack.yaml` and the contents.
#[test]
fn repo_names_the_repository_holding_the_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("demo");
    make_pack(&repo, "demo", "1.0.0");
    let sha = commit_all(&repo);
    let committed = clean_clone_digest(&repo, &sha, tmp.path());
    let bare = tmp.path().join("demo.git");
    git(
        tmp.path(),
        &[
            "clone",
            "-q",
            "--bare",
            repo.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    let plain = tmp.path().join("export");
    copy_tree(&repo, &plain);
    std::fs::remove_dir_all(plain.join(".git")).unwrap();
    write(&plain.join("stray.txt"), "not in the commit\n");
    let o = entry(&plain, &sha, &["--repo", bare.to_str().unwrap()]);
    assert_exit(&o, 0);
    assert_eq!(checksum_of(&o), committed);
}

/// A git source installs the repository's root tree: a pack directory
/// below the root is refused rather than given a checksum nobody gets.
#[test]
fn a_pack_below_the_repository_root_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("mono");
    make_pack(&repo.join("packs/demo"), "demo", "1.0.0");
    let sha = commit_all(&repo);
    let o = entry(&repo.join("packs/demo"), &sha, &[]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("not at its root"), "{}", stderr(&o));
}

/// `.gitattributes` rules that make a checkout differ from the blobs (eol
/// conversion, filters, Git LFS) are warned about; the checksum stays the
/// blobs' (what knap installs).
#[test]
fn gitattributes_eol_filters_and_lfs_are_warned_about() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("demo");
    make_pack(&repo, "demo", "1.0.0");
    write(
        &repo.join(".gitattributes"),
        "# comments are fine\n*.md diff=markdown\n*.sh text eol=crlf\n",
    );
    write(
        &repo.join("data/.gitattributes"),
        "*.bin filter=lfs diff=lfs merge=lfs -text\n",
    );
    write(
        &repo.join("data/big.bin"),
        "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 3\n",
    );
    let sha = commit_all(&repo);
    let o = entry(&repo, &sha, &[]);
    assert_exit(&o, 0);
    let err = stderr(&o);
    assert!(
        err.contains(".gitattributes:3: `*.sh text eol=crlf` declares eol conversion"),
        "{err}"
    );
    assert!(
        err.contains("data/.gitattributes:1: `*.bin filter=lfs` declares Git LFS"),
        "{err}"
    );
    assert!(err.contains("data/big.bin is a Git LFS pointer"), "{err}");
    assert!(
        !err.contains(".gitattributes:2"),
        "diff= changes no checkout: {err}"
    );
    assert_eq!(checksum_of(&o), clean_clone_digest(&repo, &sha, tmp.path()));
}
