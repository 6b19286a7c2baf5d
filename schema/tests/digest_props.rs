//! Properties of the pack tree digest: order is by path bytes (`a.b` before
//! `a/b`), creation order and metadata do not matter, and non-UTF-8 names,
//! symlinks, hard links and FIFOs are errors.

use std::collections::BTreeMap;
use std::path::Path;

use knap_schema::digest::{DigestError, tree_digest};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

/// The digest written straight from formats.md section 2, independent of
/// the library: files sorted by the bytes of their '/'-separated path.
fn reference(files: &BTreeMap<Vec<u8>, Vec<u8>>) -> String {
    let mut h = Sha256::new();
    for (path, content) in files {
        h.update(b"attune-pack-file-v1");
        h.update((path.len() as u64).to_be_bytes());
        h.update(path);
        h.update((content.len() as u64).to_be_bytes());
        h.update(content);
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn write_tree(root: &Path, files: &[(String, Vec<u8>)]) {
    for (p, c) in files {
        let full = root.join(p);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, c).unwrap();
    }
}

/// Relative paths over an alphabet chosen to make byte order and directory
/// order disagree ('.' 0x2E and '-' 0x2D sort before '/' 0x2F).
fn paths() -> impl Strategy<Value = Vec<String>> {
    let seg = prop::string::string_regex("[ab][ab.\\-_]{0,3}").unwrap();
    prop::collection::vec(
        prop::collection::vec(seg, 1..4).prop_map(|s| s.join("/")),
        1..12,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn digest_orders_by_path_bytes_whatever_the_creation_order(
        raw in paths(), seed in any::<u64>(), contents in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 12)
    ) {
        // Drop paths that would be both a file and a directory.
        let mut files: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for (i, p) in raw.iter().enumerate() {
            let clash = files.keys().any(|k| {
                let k = std::str::from_utf8(k).unwrap();
                k.starts_with(&format!("{p}/")) || p.starts_with(&format!("{k}/"))
            });
            if !clash {
                files.insert(p.as_bytes().to_vec(), contents[i % contents.len()].clone());
            }
        }
        let mut list: Vec<(String, Vec<u8>)> = files.iter().map(|(p, c)| (String::from_utf8(p.clone()).unwrap(), c.clone())).collect();
        // Another creation order.
        let n = list.len();
        list.rotate_left((seed as usize) % n);
        if seed % 2 == 0 { list.reverse(); }
        let tmp = tempfile::tempdir().unwrap();
        write_tree(tmp.path(), &list);
        let d = tree_digest(tmp.path()).unwrap();
        prop_assert_eq!(d.checksum, reference(&files));
        prop_assert_eq!(d.files as usize, files.len());
    }
}

#[test]
fn a_dot_b_comes_before_a_slash_b() {
    let tmp = tempfile::tempdir().unwrap();
    write_tree(
        tmp.path(),
        &[("a/b".into(), b"1".to_vec()), ("a.b".into(), b"2".to_vec())],
    );
    let mut files = BTreeMap::new();
    files.insert(b"a.b".to_vec(), b"2".to_vec());
    files.insert(b"a/b".to_vec(), b"1".to_vec());
    assert_eq!(tree_digest(tmp.path()).unwrap().checksum, reference(&files));
    // The order a directory walk would give (a/ first) is a different digest.
    let mut h = Sha256::new();
    for (p, c) in [("a/b", b"1"), ("a.b", b"2")] {
        h.update(b"attune-pack-file-v1");
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
        h.update(1u64.to_be_bytes());
        h.update(c);
    }
    let walk_order: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    assert_ne!(
        tree_digest(tmp.path()).unwrap().checksum,
        format!("sha256:{walk_order}")
    );
}

#[test]
fn top_level_git_is_excluded_but_nested_git_is_not() {
    let tmp = tempfile::tempdir().unwrap();
    write_tree(tmp.path(), &[("pack.yaml".into(), b"x".to_vec())]);
    let base = tree_digest(tmp.path()).unwrap();
    write_tree(tmp.path(), &[(".git/HEAD".into(), b"ref".to_vec())]);
    assert_eq!(tree_digest(tmp.path()).unwrap(), base);
    write_tree(tmp.path(), &[("sub/.git/HEAD".into(), b"ref".to_vec())]);
    assert_ne!(tree_digest(tmp.path()).unwrap(), base);
}

#[cfg(unix)]
#[test]
fn non_utf8_names_are_errors() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let name = std::ffi::OsStr::from_bytes(b"bad\xffname");
    std::fs::write(tmp.path().join(name), b"x").unwrap();
    match tree_digest(tmp.path()) {
        Err(DigestError::NonUtf8(p)) => assert!(p.ends_with(name)),
        other => panic!("expected a non-UTF-8 error, got {other:?}"),
    }
}

#[cfg(unix)]
#[test]
fn links_and_fifos_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("pack");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("real"), b"x").unwrap();

    std::os::unix::fs::symlink("real", root.join("link")).unwrap();
    assert!(matches!(tree_digest(&root), Err(DigestError::Symlink(p)) if p.ends_with("link")));
    std::fs::remove_file(root.join("link")).unwrap();

    std::os::unix::fs::symlink(tmp.path(), root.join("dirlink")).unwrap();
    assert!(matches!(tree_digest(&root), Err(DigestError::Symlink(p)) if p.ends_with("dirlink")));
    std::fs::remove_file(root.join("dirlink")).unwrap();

    std::fs::hard_link(root.join("real"), root.join("hard")).unwrap();
    assert!(matches!(tree_digest(&root), Err(DigestError::HardLink(_))));
    std::fs::remove_file(root.join("hard")).unwrap();

    let status = std::process::Command::new("mkfifo")
        .arg(root.join("fifo"))
        .status()
        .unwrap();
    assert!(status.success());
    assert!(matches!(
        tree_digest(&root),
        Err(DigestError::Special { kind: "FIFO", .. })
    ));
    std::fs::remove_file(root.join("fifo")).unwrap();

    assert!(tree_digest(&root).is_ok());
}
