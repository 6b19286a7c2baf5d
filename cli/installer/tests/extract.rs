//! Extraction against real archives built here with the `tar`, `flate2` and
//! `zip` crates: hostile ones are refused with the right error and write
//! nothing outside the staging directory; honest ones land intact.

use std::fs;
use std::io::{self, Cursor, Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use knap_installer::{
    ArchiveFormat, ChecksumError, ExtractError, Limits, detect_format, extract, verify_sha256,
};
use knap_schema::entry_name::NameProblem;
use tar::{EntryType, Header};
use zip::write::SimpleFileOptions;

/// A tar entry with a raw name (bypassing the `tar` crate's own path
/// checks, as an attacker would).
fn raw_entry(
    b: &mut tar::Builder<Vec<u8>>,
    name: &[u8],
    kind: EntryType,
    link: &[u8],
    data: &[u8],
) {
    let mut h = Header::new_ustar();
    {
        let u = h.as_ustar_mut().unwrap();
        u.name[..name.len()].copy_from_slice(name);
        u.linkname[..link.len()].copy_from_slice(link);
    }
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

fn tar_of(f: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    f(&mut b);
    b.into_inner().unwrap()
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn file(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
    raw_entry(b, name.as_bytes(), EntryType::Regular, b"", data);
}

fn zip_of(f: impl FnOnce(&mut zip::ZipWriter<Cursor<Vec<u8>>>)) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    f(&mut w);
    w.finish().unwrap().into_inner()
}

/// Patches every local and central header's uncompressed size to `size`.
fn lie_about_zip_sizes(mut bytes: Vec<u8>, size: u32) -> Vec<u8> {
    let le = size.to_le_bytes();
    let mut i = 0;
    while i + 4 <= bytes.len() {
        match &bytes[i..i + 4] {
            b"PK\x03\x04" => bytes[i + 22..i + 26].copy_from_slice(&le),
            b"PK\x01\x02" => bytes[i + 24..i + 28].copy_from_slice(&le),
            _ => {}
        }
        i += 1;
    }
    bytes
}

/// PAX extended header records (`<len> <key>=<value>\n` each).
fn pax_records(records: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in records {
        let body = format!(" {k}={v}\n");
        let mut len = body.len() + 1;
        while format!("{len}{body}").len() != len {
            len += 1;
        }
        out.extend_from_slice(format!("{len}{body}").as_bytes());
    }
    out
}

/// A GNU long-name entry (`././@LongLink`, type `L`) naming the next entry.
fn gnu_long_name(b: &mut tar::Builder<Vec<u8>>, name: &[u8]) {
    let mut h = Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
    h.set_entry_type(EntryType::GNULongName);
    let mut data = name.to_vec();
    data.push(0);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, data.as_slice()).unwrap();
}

/// Renames every occurrence of `from` to `to` (same length) in raw bytes:
/// local and central headers alike.
fn rename_in(mut bytes: Vec<u8>, from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
        }
        i += 1;
    }
    bytes
}

/// A tar whose first entry's name starts with the zip magic, followed by a
/// whole zip: it sniffs as both formats.
fn tar_zip_polyglot() -> Vec<u8> {
    let mut bytes = tar_of(|b| {
        raw_entry(b, b"PK\x03\x04tar-half", EntryType::Regular, b"", b"tar");
        file(b, "pack.yaml", b"ref: tarhalf\n");
    });
    bytes.extend(zip_of(|w| {
        w.start_file("pack.yaml", SimpleFileOptions::default())
            .unwrap();
        w.write_all(b"ref: ziphalf\n").unwrap();
    }));
    bytes
}

struct Case {
    name: &'static str,
    archive: Vec<u8>,
    limits: Limits,
    expect: fn(&ExtractError) -> bool,
}

fn small(max_total_bytes: u64, max_entries: u64) -> Limits {
    Limits {
        max_total_bytes,
        max_entries,
    }
}

fn hostile_cases() -> Vec<Case> {
    let d = Limits::default();
    vec![
        Case {
            name: "tar absolute path",
            archive: tar_of(|b| file(b, "/tmp/knap-evil", b"x")),
            limits: d,
            expect: |e| matches!(e, ExtractError::AbsolutePath { entry } if entry == "/tmp/knap-evil"),
        },
        Case {
            name: "tar ../x",
            archive: tar_of(|b| file(b, "../x", b"x")),
            limits: d,
            expect: |e| matches!(e, ExtractError::ParentComponent { entry } if entry == "../x"),
        },
        Case {
            name: "tar nested a/../../x",
            archive: tar_of(|b| {
                file(b, "a/ok", b"fine");
                file(b, "a/../../x", b"x");
            }),
            limits: d,
            expect: |e| matches!(e, ExtractError::ParentComponent { entry } if entry == "a/../../x"),
        },
        Case {
            name: "tar symlink",
            archive: tar_of(|b| {
                raw_entry(b, b"link", EntryType::Symlink, b"..", b"");
                file(b, "link/x", b"x");
            }),
            limits: d,
            expect: |e| matches!(e, ExtractError::Symlink { entry } if entry == "link"),
        },
        Case {
            name: "tar hard link",
            archive: tar_of(|b| raw_entry(b, b"hl", EntryType::Link, b"/etc/passwd", b"")),
            limits: d,
            expect: |e| matches!(e, ExtractError::HardLink { entry } if entry == "hl"),
        },
        Case {
            name: "tar character device",
            archive: tar_of(|b| raw_entry(b, b"null", EntryType::Char, b"", b"")),
            limits: d,
            expect: |e| matches!(e, ExtractError::SpecialFile { entry, kind } if entry == "null" && kind.contains("character device")),
        },
        Case {
            name: "tar FIFO",
            archive: tar_of(|b| raw_entry(b, b"pipe", EntryType::Fifo, b"", b"")),
            limits: d,
            expect: |e| matches!(e, ExtractError::SpecialFile { entry, kind } if entry == "pipe" && kind.contains("FIFO")),
        },
        Case {
            name: "tar too many entries",
            archive: tar_of(|b| {
                for i in 0..20 {
                    file(b, &format!("f{i:02}"), b"x");
                }
            }),
            limits: small(1 << 20, 10),
            expect: |e| matches!(e, ExtractError::TooManyEntries { entry, limit: 10 } if entry == "f10"),
        },
        Case {
            name: "tar too large in total",
            archive: tar_of(|b| {
                for i in 0..3 {
                    file(b, &format!("f{i}"), &[7u8; 400]);
                }
            }),
            limits: small(1000, 100),
            expect: |e| matches!(e, ExtractError::TooLarge { entry, limit: 1000 } if entry == "f2"),
        },
        Case {
            name: "tar.gz bomb: 64 MiB of zeros in a tiny file",
            archive: gz(&tar_of(|b| {
                let mut h = Header::new_ustar();
                h.set_path("zeros").unwrap();
                h.set_size(64 << 20);
                h.set_mode(0o644);
                h.set_cksum();
                b.append(&h, io::repeat(0).take(64 << 20)).unwrap();
            })),
            limits: small(1 << 20, 100),
            expect: |e| matches!(e, ExtractError::TooLarge { entry, .. } if entry == "zeros"),
        },
        Case {
            name: "tar.gz claiming 2 GiB",
            archive: gz(&tar_of(|b| {
                let mut h = Header::new_ustar();
                h.set_path("huge").unwrap();
                h.set_size(2 << 30);
                h.set_mode(0o644);
                h.set_cksum();
                // The header claims 2 GiB; the stream holds a little.
                b.get_mut().extend_from_slice(h.as_bytes());
                b.get_mut().extend_from_slice(&[0u8; 4096]);
            })),
            limits: small(1 << 20, 100),
            expect: |e| matches!(e, ExtractError::TooLarge { entry, .. } if entry == "huge"),
        },
        Case {
            name: "tar duplicate path",
            archive: tar_of(|b| {
                file(b, "a", b"1");
                file(b, "a", b"2");
            }),
            limits: d,
            expect: |e| matches!(e, ExtractError::Duplicate { entry } if entry == "a"),
        },
        Case {
            name: "tar file under a file",
            archive: tar_of(|b| {
                file(b, "a", b"1");
                file(b, "a/b", b"2");
            }),
            limits: d,
            expect: |e| matches!(e, ExtractError::Duplicate { entry } if entry == "a/b"),
        },
        Case {
            name: "tar non-UTF-8 name",
            archive: tar_of(|b| raw_entry(b, b"bad\xff", EntryType::Regular, b"", b"x")),
            limits: d,
            expect: |e| matches!(e, ExtractError::BadPath { reason, .. } if reason.contains("UTF-8")),
        },
        Case {
            name: "tar .git/config at the top",
            archive: tar_of(|b| {
                file(b, "pack.yaml", b"ref: x\n");
                file(
                    b,
                    ".git/config",
                    b"[core]\n\tfsmonitor = touch /tmp/knap-evil\n",
                );
            }),
            limits: d,
            expect: |e| matches!(e, ExtractError::BadName { entry, problem: NameProblem::DotGit } if entry == ".git/config"),
        },
        Case {
            name: "tar .GIT deep down",
            archive: tar_of(|b| file(b, "top/actions/.GIT/config", b"x")),
            limits: d,
            expect: |e| matches!(e, ExtractError::BadName { entry, problem: NameProblem::DotGit } if entry == "top/actions/.GIT/config"),
        },
        Case {
            name: "tar `.git ` with a trailing space",
            archive: tar_of(|b| file(b, "a/.git /config", b"x")),
            limits: d,
            expect: |e| {
                matches!(
                    e,
                    ExtractError::BadName {
                        problem: NameProblem::DotGit,
                        ..
                    }
                )
            },
        },
        Case {
            name: "tar `.Git.` directory entry with a trailing dot",
            archive: tar_of(|b| raw_entry(b, b".Git./", EntryType::Directory, b"", b"")),
            limits: d,
            expect: |e| {
                matches!(
                    e,
                    ExtractError::BadName {
                        problem: NameProblem::DotGit,
                        ..
                    }
                )
            },
        },
        Case {
            name: "zip .git/hooks/post-checkout",
            archive: zip_of(|w| {
                w.start_file("pack.yaml", SimpleFileOptions::default())
                    .unwrap();
                w.start_file(".git/hooks/post-checkout", SimpleFileOptions::default())
                    .unwrap();
                w.write_all(b"#!/bin/sh\n").unwrap();
            }),
            limits: d,
            expect: |e| {
                matches!(
                    e,
                    ExtractError::BadName {
                        problem: NameProblem::DotGit,
                        ..
                    }
                )
            },
        },
        Case {
            name: "zip entry named as a directory but holding data",
            archive: zip_of(|w| {
                w.start_file("pack.yaml", SimpleFileOptions::default())
                    .unwrap();
                w.start_file("actions/", SimpleFileOptions::default())
                    .unwrap();
                w.write_all(b"hidden bytes").unwrap();
            }),
            limits: d,
            expect: |e| matches!(e, ExtractError::BadPath { .. }),
        },
        Case {
            name: "zip duplicate name (the last one would win)",
            archive: rename_in(
                zip_of(|w| {
                    w.start_file("pack.yaml", SimpleFileOptions::default())
                        .unwrap();
                    w.write_all(b"ref: honest\n").unwrap();
                    w.start_file("pack.yamX", SimpleFileOptions::default())
                        .unwrap();
                    w.write_all(b"ref: evil\n").unwrap();
                }),
                b"pack.yamX",
                b"pack.yaml",
            ),
            limits: d,
            expect: |e| matches!(e, ExtractError::Duplicate { entry } if entry == "pack.yaml"),
        },
        Case {
            name: "tar name with a terminal escape and a newline",
            archive: tar_of(|b| file(b, "evil\u{1b}[2J\nname", b"x")),
            limits: d,
            expect: |e| matches!(e, ExtractError::BadName { entry, problem: NameProblem::Control } if entry == "evil\\u{1b}[2J\\nname"),
        },
        Case {
            name: "zip name with a C1 control (CSI)",
            archive: zip_of(|w| {
                w.start_file("a\u{9b}31m", SimpleFileOptions::default())
                    .unwrap();
            }),
            limits: d,
            expect: |e| {
                matches!(
                    e,
                    ExtractError::BadName {
                        problem: NameProblem::Control,
                        ..
                    }
                )
            },
        },
        Case {
            name: "GNU long name with a 300-byte component",
            archive: tar_of(|b| {
                gnu_long_name(b, "n".repeat(300).as_bytes());
                file(b, "placeholder", b"x");
            }),
            limits: d,
            expect: |e| {
                matches!(
                    e,
                    ExtractError::BadName {
                        problem: NameProblem::ComponentTooLong,
                        ..
                    }
                )
            },
        },
        Case {
            name: "PAX path 200 directories deep",
            archive: tar_of(|b| {
                let deep = format!("{}f", "d/".repeat(200));
                let pax = pax_records(&[("path", &deep)]);
                raw_entry(b, b"PaxHeader", EntryType::XHeader, b"", &pax);
                file(b, "placeholder", b"x");
            }),
            limits: d,
            expect: |e| {
                matches!(
                    e,
                    ExtractError::BadName {
                        problem: NameProblem::TooDeep,
                        ..
                    }
                )
            },
        },
        Case {
            name: "tar/zip polyglot",
            archive: tar_zip_polyglot(),
            limits: d,
            expect: |e| matches!(e, ExtractError::Polyglot { .. }),
        },
        Case {
            name: "PAX sparse file (GNU.sparse 1.0)",
            archive: tar_of(|b| {
                let pax = pax_records(&[
                    ("GNU.sparse.major", "1"),
                    ("GNU.sparse.minor", "0"),
                    ("GNU.sparse.name", "big"),
                    ("GNU.sparse.realsize", "1048576"),
                ]);
                raw_entry(b, b"PaxHeader", EntryType::XHeader, b"", &pax);
                file(b, "GNUSparseFile.0/big", b"1\n0\n512\n");
            }),
            limits: d,
            expect: |e| matches!(e, ExtractError::SpecialFile { kind, .. } if kind.contains("sparse")),
        },
        Case {
            name: "PAX path ../x overriding an innocent name",
            archive: tar_of(|b| {
                let pax = pax_records(&[("path", "../x")]);
                raw_entry(b, b"PaxHeader", EntryType::XHeader, b"", &pax);
                file(b, "innocent", b"x");
            }),
            limits: d,
            expect: |e| matches!(e, ExtractError::ParentComponent { entry } if entry == "../x"),
        },
        Case {
            name: "PAX linkpath on a symlink",
            archive: tar_of(|b| {
                let pax = pax_records(&[("linkpath", "/etc/passwd")]);
                raw_entry(b, b"PaxHeader", EntryType::XHeader, b"", &pax);
                raw_entry(b, b"l", EntryType::Symlink, b"x", b"");
            }),
            limits: d,
            expect: |e| matches!(e, ExtractError::Symlink { entry } if entry == "l"),
        },
        Case {
            name: "GNU long name ../../x",
            archive: tar_of(|b| {
                gnu_long_name(b, b"a/../../x");
                file(b, "innocent", b"x");
            }),
            limits: d,
            expect: |e| matches!(e, ExtractError::ParentComponent { entry } if entry == "a/../../x"),
        },
        Case {
            name: "ustar prefix `..`",
            archive: tar_of(|b| {
                let mut h = Header::new_ustar();
                {
                    let u = h.as_ustar_mut().unwrap();
                    u.prefix[..2].copy_from_slice(b"..");
                    u.name[..1].copy_from_slice(b"x");
                }
                h.set_entry_type(EntryType::Regular);
                h.set_size(1);
                h.set_mode(0o644);
                h.set_cksum();
                b.append(&h, b"x".as_slice()).unwrap();
            }),
            limits: d,
            expect: |e| matches!(e, ExtractError::ParentComponent { entry } if entry == "../x"),
        },
        Case {
            name: "zip ../evil",
            archive: zip_of(|w| {
                w.start_file("../evil", SimpleFileOptions::default())
                    .unwrap();
                w.write_all(b"x").unwrap();
            }),
            limits: d,
            expect: |e| matches!(e, ExtractError::ParentComponent { entry } if entry == "../evil"),
        },
        Case {
            name: "zip absolute path",
            archive: zip_of(|w| {
                w.start_file("/abs", SimpleFileOptions::default()).unwrap();
                w.write_all(b"x").unwrap();
            }),
            limits: d,
            expect: |e| matches!(e, ExtractError::AbsolutePath { entry } if entry == "/abs"),
        },
        Case {
            name: "zip symlink",
            archive: zip_of(|w| {
                w.add_symlink("link", "/etc", SimpleFileOptions::default())
                    .unwrap();
            }),
            limits: d,
            expect: |e| matches!(e, ExtractError::Symlink { entry } if entry == "link"),
        },
        Case {
            name: "zip whose declared size lies (deflated)",
            archive: lie_about_zip_sizes(
                zip_of(|w| {
                    w.start_file("bomb", SimpleFileOptions::default()).unwrap();
                    w.write_all(&[0u8; 100_000]).unwrap();
                }),
                100,
            ),
            limits: d,
            expect: |e| matches!(e, ExtractError::SizeMismatch { entry, declared: 100 } if entry == "bomb"),
        },
        Case {
            name: "zip declaring more than the limit",
            archive: zip_of(|w| {
                w.start_file("big", SimpleFileOptions::default()).unwrap();
                w.write_all(&[1u8; 5000]).unwrap();
            }),
            limits: small(1000, 100),
            expect: |e| matches!(e, ExtractError::TooLarge { entry, limit: 1000 } if entry == "big"),
        },
        Case {
            name: "zip too many entries",
            archive: zip_of(|w| {
                for i in 0..5 {
                    w.start_file(format!("f{i}"), SimpleFileOptions::default())
                        .unwrap();
                }
            }),
            limits: small(1000, 3),
            expect: |e| matches!(e, ExtractError::TooManyEntries { limit: 3, .. }),
        },
    ]
}

/// Every path under `dir`, recursively (symlinks not followed).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for item in fs::read_dir(dir).unwrap() {
        let p = item.unwrap().path();
        out.push(p.clone());
        if fs::symlink_metadata(&p).unwrap().is_dir() {
            out.extend(walk(&p));
        }
    }
    out
}

#[test]
fn hostile_archives_are_refused_and_nothing_escapes() {
    for case in hostile_cases() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = tmp.path().join("archives").join("pack.bin");
        fs::create_dir(archive.parent().unwrap()).unwrap();
        fs::write(&archive, &case.archive).unwrap();
        let stage = tmp.path().join("stage");
        fs::create_dir(&stage).unwrap();
        let dest = stage.join("dest");

        let err = match extract(&archive, &dest, &case.limits) {
            Ok(x) => panic!("{}: extracted {x:?}", case.name),
            Err(e) => e,
        };
        assert!((case.expect)(&err), "{}: wrong error {err:?}", case.name);
        assert!(err.is_safety_violation(), "{}: {err:?}", case.name);
        let message = err.to_string();
        assert!(
            message.contains("unsafe archive"),
            "{}: {message}",
            case.name
        );
        assert!(
            !message.chars().any(char::is_control),
            "{}: the message carries a raw control character: {message:?}",
            case.name
        );

        for p in walk(tmp.path()) {
            assert!(
                p.starts_with(&dest)
                    || p.starts_with(archive.parent().unwrap())
                    || p == dest
                    || p == stage,
                "{}: {} was written outside the staging directory",
                case.name,
                p.display()
            );
            assert!(
                !fs::symlink_metadata(&p).unwrap().file_type().is_symlink(),
                "{}: a symlink exists at {}",
                case.name,
                p.display()
            );
        }
        assert!(!Path::new("/tmp/knap-evil").exists());
        if dest.exists() {
            fs::remove_dir_all(&dest).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        }
        assert!(!dest.exists());
    }
}

/// The same small pack in all three formats.
fn pack_files() -> Vec<(&'static str, &'static [u8])> {
    vec![
        ("pack.yaml", b"ref: demo\nversion: 1.0.0\n".as_slice()),
        ("actions/hello.yaml", b"name: hello\n".as_slice()),
        ("actions/hello.sh", b"#!/bin/sh\necho hi\n".as_slice()),
    ]
}

fn pack_tar(prefix: &str) -> Vec<u8> {
    tar_of(|b| {
        if !prefix.is_empty() {
            // GitHub puts the commit id in a pax global header first.
            let mut g = Header::new_ustar();
            let data = b"52 comment=0123456789abcdef0123456789abcdef01234567\n";
            g.set_path("pax_global_header").unwrap();
            g.set_entry_type(EntryType::XGlobalHeader);
            g.set_size(data.len() as u64);
            g.set_cksum();
            b.append(&g, data.as_slice()).unwrap();
            raw_entry(
                b,
                format!("{prefix}/").as_bytes(),
                EntryType::Directory,
                b"",
                b"",
            );
        }
        for (name, data) in pack_files() {
            let mut h = Header::new_ustar();
            h.set_path(format!(
                "{prefix}{}{name}",
                if prefix.is_empty() { "" } else { "/" }
            ))
            .unwrap();
            h.set_size(data.len() as u64);
            h.set_mode(if name.ends_with(".sh") { 0o755 } else { 0o644 });
            h.set_cksum();
            b.append(&h, data).unwrap();
        }
    })
}

fn pack_zip() -> Vec<u8> {
    zip_of(|w| {
        for (name, data) in pack_files() {
            let mode = if name.ends_with(".sh") { 0o755 } else { 0o644 };
            w.start_file(name, SimpleFileOptions::default().unix_permissions(mode))
                .unwrap();
            w.write_all(data).unwrap();
        }
    })
}

fn assert_pack(dest: &Path) {
    for (name, data) in pack_files() {
        assert_eq!(fs::read(dest.join(name)).unwrap(), data, "{name}");
    }
    let mut names: Vec<String> = walk(dest)
        .iter()
        .filter(|p| p.is_file())
        .map(|p| p.strip_prefix(dest).unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["actions/hello.sh", "actions/hello.yaml", "pack.yaml"]
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |n: &str| fs::metadata(dest.join(n)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("actions/hello.sh"), 0o755);
        assert_eq!(mode("pack.yaml"), 0o644);
    }
}

#[test]
fn formats_are_detected_by_content_not_name() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, (bytes, format)) in [
        (gz(&pack_tar("")), ArchiveFormat::TarGz),
        (pack_tar(""), ArchiveFormat::Tar),
        (pack_zip(), ArchiveFormat::Zip),
    ]
    .into_iter()
    .enumerate()
    {
        // A misleading name: detection must ignore it.
        let archive = tmp.path().join(format!("archive{i}.zip.tar.gz"));
        fs::write(&archive, bytes).unwrap();
        assert_eq!(detect_format(&archive).unwrap(), format);
        let dest = tmp.path().join(format!("out{i}"));
        let got = extract(&archive, &dest, &Limits::default()).unwrap();
        assert_eq!(got.format, format);
        assert_eq!(got.files, 3);
        assert_eq!(got.stripped, None);
        assert_pack(&dest);
    }
    let junk = tmp.path().join("junk.tar.gz");
    fs::write(&junk, b"definitely not an archive").unwrap();
    assert!(matches!(
        detect_format(&junk),
        Err(ExtractError::UnknownFormat { .. })
    ));
}

#[test]
fn github_style_top_directory_is_stripped() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a.tar.gz");
    fs::write(&archive, gz(&pack_tar("demo-0123abc"))).unwrap();
    let dest = tmp.path().join("out");
    let got = extract(&archive, &dest, &Limits::default()).unwrap();
    assert_eq!(got.stripped.as_deref(), Some("demo-0123abc"));
    assert_pack(&dest);
    assert!(!dest.join("pax_global_header").exists());
}

#[test]
fn top_directory_named_like_a_child_is_stripped_correctly() {
    // `actions/` holding `actions/` and `pack.yaml`: lifting must not clash.
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a.tar");
    fs::write(&archive, pack_tar("actions")).unwrap();
    let dest = tmp.path().join("out");
    let got = extract(&archive, &dest, &Limits::default()).unwrap();
    assert_eq!(got.stripped.as_deref(), Some("actions"));
    assert_pack(&dest);
}

#[test]
fn a_pack_with_pack_yaml_at_the_root_is_not_stripped() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a.tar");
    fs::write(
        &archive,
        tar_of(|b| {
            file(b, "pack.yaml", b"ref: x\n");
            file(b, "sub/a", b"a");
        }),
    )
    .unwrap();
    let dest = tmp.path().join("out");
    let got = extract(&archive, &dest, &Limits::default()).unwrap();
    assert_eq!(got.stripped, None);
    assert!(dest.join("pack.yaml").is_file());
    assert!(dest.join("sub/a").is_file());
}

#[test]
fn destination_must_be_fresh() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a.tar");
    fs::write(&archive, pack_tar("")).unwrap();
    let dest = tmp.path().join("out");
    fs::create_dir(&dest).unwrap();
    assert!(matches!(
        extract(&archive, &dest, &Limits::default()),
        Err(ExtractError::DestinationExists { .. })
    ));
}

#[test]
fn sha256_is_verified() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("a.bin");
    fs::write(&f, b"abc").unwrap();
    let good = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    verify_sha256(&f, good).unwrap();
    let bad = format!("sha256:{}", "0".repeat(64));
    assert!(matches!(
        verify_sha256(&f, &bad),
        Err(ChecksumError::Mismatch { actual, .. }) if actual == good
    ));
    for malformed in [
        "ba7816bf",
        "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
        "md5:abc",
    ] {
        assert!(
            matches!(
                verify_sha256(&f, malformed),
                Err(ChecksumError::Malformed { .. })
            ),
            "{malformed}"
        );
    }
}

#[test]
fn a_pack_shipping_a_zip_file_is_not_a_polyglot() {
    // A tar (and its .tar.gz) whose last member is itself a zip: the zip's
    // end record sits before the tar's end blocks, so only tar is sniffed.
    let tmp = tempfile::tempdir().unwrap();
    let inner = pack_zip();
    let tar = tar_of(|b| {
        file(b, "pack.yaml", b"ref: demo\nversion: 1.0.0\n");
        file(b, "files/bundle.zip", &inner);
    });
    for (name, bytes, format) in [
        ("a.tar", tar.clone(), ArchiveFormat::Tar),
        ("a.tar.gz", gz(&tar), ArchiveFormat::TarGz),
    ] {
        let archive = tmp.path().join(name);
        fs::write(&archive, bytes).unwrap();
        assert_eq!(detect_format(&archive).unwrap(), format, "{name}");
        let dest = tmp.path().join(format!("out-{name}"));
        extract(&archive, &dest, &Limits::default()).unwrap();
        assert_eq!(fs::read(dest.join("files/bundle.zip")).unwrap(), inner);
    }
}
