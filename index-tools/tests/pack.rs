//! Must-show 5: `pack` is byte-for-byte reproducible (same tree, other
//! mtimes and permissions: same bytes) and its archive extracts to exactly
//! the tree.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;

fn pack(dir: &Path, out: &Path) -> String {
    let o = knap_index(["pack", dir.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_exit(&o, 0);
    stdout(&o).trim().to_owned()
}

/// Path -> (content, executable) of every regular file under `dir`.
fn tree(dir: &Path) -> BTreeMap<String, (Vec<u8>, bool)> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .filter(|e| {
            !e.path()
                .strip_prefix(dir)
                .unwrap()
                .components()
                .any(|c| c.as_os_str() == ".git")
        })
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(dir)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            let exec = e.metadata().unwrap().permissions().mode() & 0o111 != 0;
            (rel, (std::fs::read(e.path()).unwrap(), exec))
        })
        .collect()
}

/// Path -> (content, executable) of the archive, refusing anything but
/// plain files and directories.
fn archive_tree(tgz: &Path) -> BTreeMap<String, (Vec<u8>, bool)> {
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(tgz).unwrap());
    let mut ar = tar::Archive::new(gz);
    let mut out = BTreeMap::new();
    let mut order = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        assert_eq!(h.mtime().unwrap(), 0);
        assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
        let path = e.path().unwrap().to_str().unwrap().to_owned();
        order.push(path.clone());
        match h.entry_type() {
            tar::EntryType::Directory => assert_eq!(h.mode().unwrap(), 0o755, "{path}"),
            tar::EntryType::Regular => {
                let mode = h.mode().unwrap();
                assert!(mode == 0o644 || mode == 0o755, "{path}: mode {mode:o}");
                let mut content = Vec::new();
                e.read_to_end(&mut content).unwrap();
                out.insert(path, (content, mode == 0o755));
            }
            other => panic!("{path}: unexpected entry type {other:?}"),
        }
    }
    // Files in digest order (Attune's `Path` order); each directory just
    // before its first file.
    let files: Vec<&String> = order.iter().filter(|p| !p.ends_with('/')).collect();
    let mut sorted = files.clone();
    sorted.sort_by(|a, b| Path::new(a.as_str()).cmp(Path::new(b.as_str())));
    assert_eq!(files, sorted, "files sorted in Path order");
    for (i, p) in order.iter().enumerate() {
        if let Some((parent, _)) = p.trim_end_matches('/').rsplit_once('/') {
            let d = format!("{parent}/");
            assert!(order[..i].contains(&d), "{d} comes before {p}");
        }
    }
    out
}

fn sample(dir: &Path) {
    make_pack(dir, "demo", "1.2.3");
    write(&dir.join("a.b"), "dot");
    write(&dir.join("a/b"), "slash");
    write(&dir.join("lib/deep/er/x.py"), vec![7u8; 100_000]);
    write(
        &dir.join(format!("long/{}/f.txt", "n".repeat(120))),
        "long path",
    );
    write(&dir.join("bin/run.sh"), "#!/bin/sh\necho hi\n");
    std::fs::set_permissions(
        dir.join("bin/run.sh"),
        std::fs::Permissions::from_mode(0o750),
    )
    .unwrap();
    write(&dir.join(".git/HEAD"), "ref: refs/heads/main\n");
    write(&dir.join("lib/vendor/.git/config"), "[core]\n");
    write(
        &dir.join("actions/.git"),
        "gitdir: ../.git/modules/actions\n",
    );
    std::fs::create_dir_all(dir.join("empty")).unwrap();
}

#[test]
fn pack_is_reproducible_across_mtimes_and_permissions() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    sample(&one);
    sample(&two);
    // Other mtimes, other non-executable permission bits, created in another order.
    for e in walkdir::WalkDir::new(&two) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let f = std::fs::File::options().write(true).open(e.path()).unwrap();
            f.set_modified(
                std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_234_567),
            )
            .unwrap();
            let mode = e.metadata().unwrap().permissions().mode();
            let new = if mode & 0o100 != 0 { 0o700 } else { 0o600 };
            std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(new)).unwrap();
        }
    }
    let (a, b) = (tmp.path().join("a.tar.gz"), tmp.path().join("b.tar.gz"));
    let sum_a = pack(&one, &a);
    let sum_b = pack(&two, &b);
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "same tree, same bytes"
    );
    assert_eq!(sum_a, sum_b);
    assert_eq!(
        sum_a,
        knap_schema::digest::sha256_file(&a).unwrap(),
        "prints the archive checksum"
    );
}

#[test]
fn archive_extracts_to_exactly_the_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("src");
    sample(&dir);
    let out = tmp.path().join("demo.tar.gz");
    pack(&dir, &out);
    let got = archive_tree(&out);
    assert_eq!(
        got,
        tree(&dir),
        "the archive holds exactly the pack's files, .git excluded"
    );
    assert!(
        got.get("bin/run.sh").unwrap().1,
        "the executable bit survives"
    );
    // And the tree digest of the extracted files is the digest of the source.
    let entries: Vec<(&str, &[u8])> = got
        .iter()
        .map(|(p, (c, _))| (p.as_str(), c.as_slice()))
        .collect();
    let o = knap_index(["checksum", dir.to_str().unwrap()]);
    assert_eq!(
        knap_schema::digest::digest_entries(entries),
        stdout(&o).trim()
    );
}

#[test]
fn pack_refuses_links_and_invalid_manifests() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("src");
    make_pack(&dir, "demo", "1.0.0");
    std::os::unix::fs::symlink("/etc/passwd", dir.join("actions/evil")).unwrap();
    let out = tmp.path().join("x.tar.gz");
    let o = knap_index(["pack", dir.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_exit(&o, 4);
    assert!(stderr(&o).contains("symbolic link"), "{}", stderr(&o));
    assert!(!out.exists());
    std::fs::remove_file(dir.join("actions/evil")).unwrap();
    write(&dir.join("pack.yaml"), "ref: demo\nversion: 1.0\n");
    let o = knap_index(["pack", dir.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_exit(&o, 4);
    assert!(!out.exists());
}
