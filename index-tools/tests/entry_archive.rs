//! `entry --archive FILE` and `update PACK_DIR --archive FILE` look inside
//! the archive (with the client's hardened extractor): it must hold the
//! same ref, version and tree as the pack directory, or the command exits 4
//! naming the difference and the index is left as it was.

mod common;

use std::path::Path;

use common::*;

fn pack(dir: &Path, out: &Path) {
    assert_exit(
        &knap_index(["pack", dir.to_str().unwrap(), "-o", out.to_str().unwrap()]),
        0,
    );
}

fn entry(dir: &Path, archive: &Path) -> std::process::Output {
    knap_index([
        "entry",
        dir.to_str().unwrap(),
        "--archive-url",
        "archives/pingcheck.tar.gz",
        "--archive",
        archive.to_str().unwrap(),
    ])
}

#[test]
fn an_archive_of_another_version_is_refused_by_entry_and_update() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pingcheck");
    make_pack(&dir, "pingcheck", "1.0.0");
    let old = tmp.path().join("pingcheck-1.0.0.tar.gz");
    pack(&dir, &old);
    assert_exit(&entry(&dir, &old), 0);

    // Version 2.1.0, published with the 1.0.0 archive by mistake.
    make_pack(&dir, "pingcheck", "2.1.0");
    let o = entry(&dir, &old);
    assert_exit(&o, 4);
    let err = stderr(&o);
    assert!(
        err.contains("holds pingcheck 1.0.0") && err.contains("is pingcheck 2.1.0"),
        "{err}"
    );
    assert!(stdout(&o).is_empty(), "no entry printed");

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
        dir.to_str().unwrap(),
        "--archive-url",
        "archives/pingcheck-2.1.0.tar.gz",
        "--archive",
        old.to_str().unwrap(),
    ]);
    assert_exit(&o, 4);
    assert!(
        stderr(&o).contains("holds pingcheck 1.0.0"),
        "{}",
        stderr(&o)
    );
    assert!(!index.exists(), "nothing written");

    // The right archive passes.
    let new = tmp.path().join("pingcheck-2.1.0.tar.gz");
    pack(&dir, &new);
    assert_exit(&entry(&dir, &new), 0);
}

#[test]
fn an_archive_of_another_pack_is_refused_naming_both_refs() {
    let tmp = tempfile::tempdir().unwrap();
    let other = tmp.path().join("netcheck");
    make_pack(&other, "netcheck", "1.0.0");
    let archive = tmp.path().join("netcheck-1.0.0.tar.gz");
    pack(&other, &archive);
    let dir = tmp.path().join("pingcheck");
    make_pack(&dir, "pingcheck", "1.0.0");
    let o = entry(&dir, &archive);
    assert_exit(&o, 4);
    let err = stderr(&o);
    assert!(
        err.contains("holds netcheck 1.0.0") && err.contains("is pingcheck 1.0.0"),
        "{err}"
    );
    assert!(stdout(&o).is_empty(), "no entry printed");
}

#[test]
fn an_archive_with_other_files_is_refused_naming_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    make_pack(&dir, "p", "1.0.0");
    let archive = tmp.path().join("p.tar.gz");
    pack(&dir, &archive);
    // The same ref and version, but the directory changed since.
    write(&dir.join("actions/hello.py"), "print('changed')\n");
    write(&dir.join("actions/extra.py"), "pass\n");
    let o = entry(&dir, &archive);
    assert_exit(&o, 4);
    let err = stderr(&o);
    assert!(err.contains("other files"), "{err}");
    assert!(err.contains("changed: actions/hello.py"), "{err}");
    assert!(
        err.contains("only in the directory: actions/extra.py"),
        "{err}"
    );
}

#[test]
fn an_unsafe_archive_is_refused_by_the_clients_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    make_pack(&dir, "p", "1.0.0");
    // A tar.gz holding the pack's files and a symbolic link.
    let archive = tmp.path().join("p.tar.gz");
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&archive).unwrap(),
        flate2::Compression::default(),
    );
    let mut tar = tar::Builder::new(gz);
    for rel in ["pack.yaml", "actions/hello.yaml", "actions/hello.py"] {
        tar.append_path_with_name(dir.join(rel), rel).unwrap();
    }
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    tar.append_link(&mut h, "actions/link", "/etc/passwd")
        .unwrap();
    tar.into_inner().unwrap().finish().unwrap();
    let o = entry(&dir, &archive);
    assert_exit(&o, 4);
    assert!(stderr(&o).contains("symbolic link"), "{}", stderr(&o));
}

/// An archive that breaks off is refused (exit 4) saying what could not be
/// read, with the extractor's error and its reason each on a `caused by:`
/// line: the reason is not lost behind a message that leaves it to its
/// cause.
#[test]
fn a_truncated_archive_is_refused_with_the_reason_as_a_cause() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    make_pack(&dir, "p", "1.0.0");
    let whole = tmp.path().join("whole.tar.gz");
    pack(&dir, &whole);
    let bytes = std::fs::read(&whole).unwrap();
    let archive = tmp.path().join("p.tar.gz");
    std::fs::write(&archive, &bytes[..bytes.len() / 2]).unwrap();
    let o = entry(&dir, &archive);
    assert_exit(&o, 4);
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "error: --archive {}: cannot read it as a pack",
            archive.display()
        ),
        "{err}"
    );
    assert!(
        lines.len() >= 3 && lines[1..].iter().all(|l| l.starts_with("  caused by: ")),
        "{err}"
    );
    assert!(lines[1].contains("corrupt archive"), "{err}");
}
