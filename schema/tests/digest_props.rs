//! Properties of the pack tree digest (formats.md §2): Attune's order
//! (component by component: `a/b` before `a.b`, `a/c` before `a-b/c`),
//! `.git` skipped at any depth, creation order and metadata irrelevant, and
//! non-UTF-8 names, symlinks, hard links and FIFOs errors. The digest is
//! checked against an independent recomputation of Attune's algorithm
//! (walk, skip `.git` below the root, sort `PathBuf`s, frame each file) on
//! generated trees and on every corpus pack.

// Tests print what they skip and what they measured.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};

use knap_schema::digest::{
    DigestError, digest_entries, legacy_tree_digest, path_order, tree_digest,
};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

fn frame(h: &mut Sha256, path: &[u8], content: &[u8]) {
    h.update(b"attune-pack-file-v1");
    h.update((path.len() as u64).to_be_bytes());
    h.update(path);
    h.update((content.len() as u64).to_be_bytes());
    h.update(content);
}

fn hex(h: Sha256) -> String {
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Attune's `calculate_directory_checksum` as its code documents it,
/// recomputed here without the library: every regular file found by
/// walking the tree, an entry named `.git` below the root skipped with what
/// it holds, the relative `PathBuf`s sorted by Rust's `Path` order, each
/// file framed with its '/'-joined path.
fn attune_reference(root: &Path) -> String {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            if e.file_name() == ".git" {
                continue;
            }
            let t = e.file_type().unwrap();
            if t.is_dir() {
                walk(&e.path(), out);
            } else if t.is_file() {
                out.push(e.path());
            }
        }
    }
    let mut files = Vec::new();
    walk(root, &mut files);
    let mut rel: Vec<PathBuf> = files
        .iter()
        .map(|f| f.strip_prefix(root).unwrap().to_owned())
        .collect();
    rel.sort();
    let mut h = Sha256::new();
    for r in rel {
        let joined: Vec<&str> = r
            .components()
            .map(|c| c.as_os_str().to_str().unwrap())
            .collect();
        frame(
            &mut h,
            joined.join("/").as_bytes(),
            &std::fs::read(root.join(&r)).unwrap(),
        );
    }
    hex(h)
}

/// The digest over `(path, content)` framed in exactly the order given.
fn in_order(files: &[(&str, &[u8])]) -> String {
    let mut h = Sha256::new();
    for (p, c) in files {
        frame(&mut h, p.as_bytes(), c);
    }
    hex(h)
}

fn write_tree(root: &Path, files: &[(String, Vec<u8>)]) {
    for (p, c) in files {
        let full = root.join(p);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, c).unwrap();
    }
}

fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let owned: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
        .collect();
    write_tree(tmp.path(), &owned);
    tmp
}

/// Relative paths over an alphabet chosen to make byte order and `Path`
/// order disagree (' ' 0x20, '-' 0x2D and '.' 0x2E sort before '/' 0x2F),
/// with `.git` components now and then.
fn paths() -> impl Strategy<Value = Vec<String>> {
    let seg = prop_oneof![
        8 => prop::string::string_regex("[ab][ab. \\-_]{0,3}").unwrap(),
        1 => Just(".git".to_owned()),
    ];
    prop::collection::vec(
        prop::collection::vec(seg, 1..4).prop_map(|s| s.join("/")),
        1..14,
    )
}

/// Drops paths that would be both a file and a directory.
fn no_clashes(raw: &[String]) -> Vec<String> {
    let mut kept: Vec<String> = Vec::new();
    for p in raw {
        let clash = kept
            .iter()
            .any(|k| k == p || k.starts_with(&format!("{p}/")) || p.starts_with(&format!("{k}/")));
        if !clash {
            kept.push(p.clone());
        }
    }
    kept
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The digest of any generated tree equals Attune's algorithm, and the
    /// in-memory digest of the same entries, whatever the creation order.
    #[test]
    fn digest_equals_attunes_algorithm_whatever_the_creation_order(
        raw in paths(), seed in any::<u64>(), contents in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 14)
    ) {
        let kept = no_clashes(&raw);
        let mut list: Vec<(String, Vec<u8>)> = kept
            .iter()
            .enumerate()
            .map(|(i, p)| (p.clone(), contents[i % contents.len()].clone()))
            .collect();
        let n = list.len();
        list.rotate_left((seed as usize) % n);
        if seed % 2 == 0 { list.reverse(); }
        let tmp = tempfile::tempdir().unwrap();
        write_tree(tmp.path(), &list);
        let d = tree_digest(tmp.path()).unwrap();
        prop_assert_eq!(&d.checksum, &attune_reference(tmp.path()));
        let counted = list.iter().filter(|(p, _)| !p.split('/').any(|c| c == ".git")).count();
        prop_assert_eq!(d.files as usize, counted);
        let mem = digest_entries(list.iter().map(|(p, c)| (p.as_str(), c.as_slice())));
        prop_assert_eq!(&d.checksum, &mem);
    }

    /// `path_order` is `Path`'s order on every pair of generated paths.
    #[test]
    fn path_order_is_rusts_path_order(a in paths(), b in paths()) {
        for (x, y) in a.iter().zip(b.iter()) {
            prop_assert_eq!(path_order(x, y), Path::new(x).cmp(Path::new(y)), "{} vs {}", x, y);
        }
    }

    /// Adding `.git` files or directories anywhere never changes the digest.
    #[test]
    fn git_entries_at_any_depth_never_change_the_digest(
        raw in paths(), at in prop::collection::vec(0usize..14, 1..4), as_dir in any::<bool>()
    ) {
        let kept: Vec<String> = no_clashes(&raw)
            .into_iter()
            .filter(|p| !p.split('/').any(|c| c == ".git"))
            .collect();
        prop_assume!(!kept.is_empty());
        let list: Vec<(String, Vec<u8>)> = kept.iter().map(|p| (p.clone(), p.as_bytes().to_vec())).collect();
        let tmp = tempfile::tempdir().unwrap();
        write_tree(tmp.path(), &list);
        let before = tree_digest(tmp.path()).unwrap();
        for i in at {
            // Beside the i-th file, in its directory.
            let parent = Path::new(&kept[i % kept.len()]).parent().unwrap().to_owned();
            let git = tmp.path().join(parent).join(".git");
            if git.exists() { continue; }
            if as_dir {
                std::fs::create_dir_all(git.join("objects")).unwrap();
                std::fs::write(git.join("HEAD"), b"ref: refs/heads/main\n").unwrap();
                std::fs::write(git.join("objects/x"), b"blob").unwrap();
            } else {
                std::fs::write(&git, b"gitdir: ../.git/modules/x\n").unwrap();
            }
        }
        prop_assert_eq!(tree_digest(tmp.path()).unwrap(), before);
    }
}

#[test]
fn a_slash_b_comes_before_a_dot_b() {
    assert!(path_order("a/b", "a.b").is_lt());
    assert!(path_order("a/c", "a-b/c").is_lt());
    assert!(path_order("a/b", "a b").is_lt());
    let t = tree(&[("a.b", "2"), ("a/b", "1")]);
    let want = in_order(&[("a/b", b"1"), ("a.b", b"2")]);
    assert_eq!(tree_digest(t.path()).unwrap().checksum, want);
    // The order of the older byte rule is another digest.
    let bytes = in_order(&[("a.b", b"2"), ("a/b", b"1")]);
    assert_ne!(want, bytes);
    assert_eq!(legacy_tree_digest(t.path()).unwrap().checksum, bytes);
}

/// The trees of issue 12: every one equals Attune's algorithm, and each
/// differs from the byte order of an older knap.
#[test]
fn trees_where_byte_order_and_path_order_disagree_equal_attunes_algorithm() {
    let cases: &[&[(&str, &str)]] = &[
        &[("lib.py", "x"), ("lib/x.py", "y"), ("pack.yaml", "p")],
        &[("actions.yaml", "x"), ("actions/run.yaml", "y")],
        &[("a-b/c", "1"), ("a/c", "2")],
        &[("a b/c", "1"), ("a/c", "2")],
        &[("x.y/z", "1"), ("x/y.z", "2")],
    ];
    for files in cases {
        let t = tree(files);
        let d = tree_digest(t.path()).unwrap().checksum;
        assert_eq!(d, attune_reference(t.path()), "{files:?}");
        assert_ne!(
            d,
            legacy_tree_digest(t.path()).unwrap().checksum,
            "{files:?}: the two orders agree, so this case tests nothing"
        );
    }
}

#[test]
fn git_files_and_directories_are_skipped_at_any_depth() {
    let t = tree(&[("pack.yaml", "x"), ("actions/run.sh", "y")]);
    let base = tree_digest(t.path()).unwrap();
    for (p, c) in [
        (".git/HEAD", "ref"),
        ("actions/.git", "gitdir: ../../.git/modules/a\n"),
        ("lib/vendor/.git/config", "[core]\n\tfsmonitor = evil\n"),
    ] {
        let full = t.path().join(p);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, c).unwrap();
    }
    // `lib/vendor/` holds only `.git`: no file, so no change.
    assert_eq!(tree_digest(t.path()).unwrap(), base);
    assert_eq!(
        tree_digest(t.path()).unwrap().checksum,
        attune_reference(t.path())
    );
    // Only the exact name: `.GIT` and `.git.` are ordinary files to Attune.
    std::fs::write(t.path().join("actions/.GIT"), "x").unwrap();
    let upper = tree_digest(t.path()).unwrap();
    assert_ne!(upper, base);
    assert_eq!(upper.checksum, attune_reference(t.path()));
    // The older rule hashed nested `.git` entries.
    std::fs::remove_file(t.path().join("actions/.GIT")).unwrap();
    assert_ne!(
        legacy_tree_digest(t.path()).unwrap().checksum,
        base.checksum
    );
}

/// Every corpus pack: the digest equals Attune's algorithm recomputed here.
#[test]
fn every_corpus_pack_digest_equals_attunes_algorithm() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/packs");
    if !corpus.is_dir() {
        eprintln!("skipped: the corpus ../shared/corpus is absent");
        return;
    }
    let mut n = 0;
    for e in std::fs::read_dir(&corpus).unwrap() {
        let e = e.unwrap();
        if !e.file_type().unwrap().is_dir() {
            continue;
        }
        let d = tree_digest(&e.path()).unwrap();
        assert_eq!(
            d.checksum,
            attune_reference(&e.path()),
            "{}",
            e.path().display()
        );
        n += 1;
    }
    assert!(n >= 10, "only {n} corpus packs");
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
