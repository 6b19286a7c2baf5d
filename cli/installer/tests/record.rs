//! The per-file record scan on real directories: its tree digest is the
//! pack tree digest of `knap_schema`, every file's SHA-256 is right, and
//! `compare` names exactly the files that changed, were added or went
//! missing.

use std::fs;
use std::path::Path;

use knap_installer::{compare, scan, scan_tree};
use knap_schema::tree_digest;
use knap_test_support::write;
use sha2::{Digest, Sha256};

/// A tree with paths whose byte order differs from the digest's `Path`
/// order (`a/b` comes before `a-c`, though `-` is below `/`), empty and large (streamed) files, and
/// enough files for the workers to run ahead of the tree hasher.
fn tree(dir: &Path) {
    write(&dir.join("pack.yaml"), b"ref: t\nversion: 1.0.0\n");
    write(&dir.join("a/b"), b"inside a");
    write(&dir.join("a-c"), b"beside a");
    write(&dir.join("empty"), b"");
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    write(&dir.join("lib/big.bin"), &big);
    for i in 0..700 {
        write(
            &dir.join(format!("actions/d{}/f{i}.txt", i % 13)),
            format!("file {i}\n").repeat(i % 50 + 1).as_bytes(),
        );
    }
}

#[test]
fn the_scan_digest_is_the_pack_tree_digest_and_each_file_hash_is_its_sha256() {
    let tmp = tempfile::tempdir().unwrap();
    tree(tmp.path());
    let s = scan(tmp.path()).unwrap();
    assert_eq!(
        s.tree.as_deref(),
        Some(tree_digest(tmp.path()).unwrap().checksum.as_str())
    );
    assert!(s.irregular.is_empty());
    assert_eq!(s.files.len(), 705);
    let t = scan_tree(tmp.path()).unwrap();
    assert_eq!(t.tree, s.tree, "the tree-only scan gives the same digest");
    assert!(!t.per_file && s.per_file);
    let ia = s.files.iter().position(|f| f.path == "a-c").unwrap();
    let ib = s.files.iter().position(|f| f.path == "a/b").unwrap();
    assert!(ib < ia, "in the digest's Path order");
    for f in &s.files {
        let bytes = fs::read(tmp.path().join(&f.path)).unwrap();
        assert_eq!(f.size, bytes.len() as u64, "{}", f.path);
        assert_eq!(
            f.sha256,
            <[u8; 32]>::from(Sha256::digest(&bytes)),
            "{}",
            f.path
        );
    }
    // An empty pack directory.
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(
        scan(empty.path()).unwrap().tree.unwrap(),
        tree_digest(empty.path()).unwrap().checksum
    );
}

#[test]
fn compare_names_every_changed_added_and_missing_file() {
    let tmp = tempfile::tempdir().unwrap();
    tree(tmp.path());
    let record = scan(tmp.path()).unwrap().to_record("t").unwrap();
    assert!(compare(&record, &scan(tmp.path()).unwrap()).is_empty());

    // Same size, other content; a changed large file; a new file; a
    // deleted one; a file replaced by a symlink; a new symlink.
    write(&tmp.path().join("a/b"), b"INSIDE A");
    let mut big = fs::read(tmp.path().join("lib/big.bin")).unwrap();
    big[2_999_999] ^= 1;
    write(&tmp.path().join("lib/big.bin"), &big);
    write(&tmp.path().join("actions/new.yaml"), b"x");
    fs::remove_file(tmp.path().join("actions/d0/f0.txt")).unwrap();
    fs::remove_file(tmp.path().join("empty")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", tmp.path().join("empty")).unwrap();
    std::os::unix::fs::symlink("pack.yaml", tmp.path().join("link")).unwrap();

    let now = scan(tmp.path()).unwrap();
    assert_eq!(now.tree, None, "a symlink has no pack tree digest");
    let d = compare(&record, &now);
    assert_eq!(d.changed, ["a/b", "empty", "lib/big.bin"]);
    assert_eq!(d.added, ["actions/new.yaml", "link"]);
    assert_eq!(d.missing, ["actions/d0/f0.txt"]);
}

#[test]
fn a_hard_link_is_irregular() {
    let tmp = tempfile::tempdir().unwrap();
    write(&tmp.path().join("pack.yaml"), b"ref: t\nversion: 1.0.0\n");
    let outside = tempfile::tempdir().unwrap();
    fs::hard_link(tmp.path().join("pack.yaml"), outside.path().join("x")).unwrap();
    let s = scan(tmp.path()).unwrap();
    assert_eq!(s.tree, None);
    assert_eq!(s.irregular.len(), 1);
    assert_eq!(s.irregular[0].kind, "hard link");
}

/// A `.git` entry in an installed pack (any depth, any case, trailing dots
/// or spaces) is irregular, so the scan has no digest and `compare` names
/// it as added; nothing inside it is read.
#[test]
fn git_entries_are_irregular_and_compare_as_added() {
    let tmp = tempfile::tempdir().unwrap();
    write(&tmp.path().join("pack.yaml"), b"ref: t\nversion: 1.0.0\n");
    write(&tmp.path().join("actions/run.sh"), b"echo\n");
    let record = scan(tmp.path()).unwrap().to_record("t").unwrap();
    for name in [
        ".git/config",
        "actions/.git",
        "lib/.GIT/HEAD",
        "x/.Git./HEAD",
        "y/.git  /HEAD",
    ] {
        write(
            &tmp.path().join(name),
            b"[core]\n\tfsmonitor = touch /tmp/pwned\n",
        );
    }
    // Names that only look alike are ordinary files.
    write(&tmp.path().join("actions/.gitignore"), b"*.pyc\n");
    write(&tmp.path().join("actions/git"), b"x");
    let s = scan(tmp.path()).unwrap();
    assert_eq!(s.tree, None);
    let mut git: Vec<(&str, &str)> = s
        .irregular
        .iter()
        .map(|i| (i.path.as_str(), i.kind))
        .collect();
    git.sort();
    assert_eq!(
        git,
        [
            (".git", ".git entry"),
            ("actions/.git", ".git entry"),
            ("lib/.GIT", ".git entry"),
            ("x/.Git.", ".git entry"),
            ("y/.git  ", ".git entry"),
        ]
    );
    assert!(s.files.iter().all(|f| !f.path.contains("HEAD")));
    let d = compare(&record, &s);
    assert_eq!(
        d.added,
        [
            ".git",
            "actions/.git",
            "actions/.gitignore",
            "actions/git",
            "lib/.GIT",
            "x/.Git.",
            "y/.git  "
        ]
    );
    assert!(d.changed.is_empty() && d.missing.is_empty());
}

/// A record written by an older knap (version 1, files in byte order) is
/// compared file by file as well as a current one.
#[test]
fn a_version_1_record_in_byte_order_still_compares() {
    let tmp = tempfile::tempdir().unwrap();
    write(&tmp.path().join("lib.py"), b"x");
    write(&tmp.path().join("lib/x.py"), b"y");
    write(&tmp.path().join("a-b/c"), b"1");
    write(&tmp.path().join("a/c"), b"2");
    let mut old = scan(tmp.path()).unwrap().to_record("t").unwrap();
    old.version = 1;
    old.files
        .sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    assert_eq!(old.files[0].path, "a-b/c", "byte order");
    assert!(compare(&old, &scan(tmp.path()).unwrap()).is_empty());
    write(&tmp.path().join("lib/x.py"), b"Y");
    write(&tmp.path().join("lib/new.py"), b"n");
    fs::remove_file(tmp.path().join("a-b/c")).unwrap();
    let d = compare(&old, &scan(tmp.path()).unwrap());
    assert_eq!(d.changed, ["lib/x.py"]);
    assert_eq!(d.added, ["lib/new.py"]);
    assert_eq!(d.missing, ["a-b/c"]);
}
