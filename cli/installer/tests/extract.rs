//! Extraction against real archives built here with the `tar`, `flate2` and
//! `zip` crates: hostile ones are refused with the right error and write
//! nothing outside the staging directory; honest ones land intact.

use std::fs;
use std::io::Write;
use std::path::Path;

use knap_installer::{
    ArchiveFormat, ChecksumError, ExtractError, Limits, detect_format, extract, verify_sha256,
};
use knap_schema::entry_name::NameProblem;
use knap_test_support::archive::{file, gz, raw_entry, tar_of, zip_of};
use knap_test_support::dir;
use knap_test_support::hostile::{self, Refusal};
use tar::{EntryType, Header};
use zip::write::SimpleFileOptions;

/// The class and the named entry of an extraction error, as the
/// catalogue of hostile archives names them.
fn refusal_of(e: &ExtractError) -> (Refusal, Option<&str>) {
    use ExtractError as E;
    match e {
        E::AbsolutePath { entry } => (Refusal::AbsolutePath, Some(entry)),
        E::ParentComponent { entry } => (Refusal::ParentComponent, Some(entry)),
        E::BadPath { entry, .. } => (Refusal::BadPath, Some(entry)),
        E::BadName { entry, problem } => (
            match problem {
                NameProblem::DotGit => Refusal::DotGit,
                NameProblem::Control => Refusal::ControlCharacter,
                NameProblem::ComponentTooLong | NameProblem::PathTooLong => Refusal::NameTooLong,
                NameProblem::TooDeep => Refusal::TooDeep,
                _ => Refusal::BadPath,
            },
            Some(entry),
        ),
        E::Polyglot { .. } => (Refusal::Polyglot, None),
        E::Symlink { entry } => (Refusal::Symlink, Some(entry)),
        E::HardLink { entry } => (Refusal::HardLink, Some(entry)),
        E::SpecialFile { entry, .. } => (Refusal::SpecialFile, Some(entry)),
        E::TooManyEntries { entry, .. } => (Refusal::TooManyEntries, Some(entry)),
        E::TooLarge { entry, .. } => (Refusal::TooLarge, Some(entry)),
        E::SizeMismatch { entry, .. } => (Refusal::SizeMismatch, Some(entry)),
        E::Duplicate { entry } => (Refusal::Duplicate, Some(entry)),
        other => panic!("not a refusal of the archive: {other:?}"),
    }
}

/// Every hostile archive of the catalogue (a plain tar also gzipped) is
/// refused with its class of error, naming its entry, as an unsafe archive
/// whose message carries no raw control character; nothing is written
/// outside the extraction directory and no link is made.
#[test]
fn hostile_archives_are_refused_and_nothing_escapes() {
    let cases = hostile::archives(b"ref: victim\nversion: 2.0.0\n");
    let variants = cases.iter().flat_map(|c| {
        let gzipped = c
            .tar
            .then(|| (format!("{} (gzipped)", c.name), gz(&c.bytes)));
        std::iter::once((c.name.clone(), c.bytes.clone()))
            .chain(gzipped)
            .map(move |(name, bytes)| (c, name, bytes))
    });
    for (case, name, bytes) in variants {
        let tmp = tempfile::tempdir().unwrap();
        let archive = tmp.path().join("archives").join("pack.bin");
        fs::create_dir(archive.parent().unwrap()).unwrap();
        fs::write(&archive, &bytes).unwrap();
        let stage = tmp.path().join("stage");
        fs::create_dir(&stage).unwrap();
        let dest = stage.join("dest");
        let limits = case
            .limits
            .map_or_else(Limits::default, |(bytes, entries)| Limits {
                max_total_bytes: bytes,
                max_entries: entries,
            });

        let err = match extract(&archive, &dest, &limits) {
            Ok(x) => panic!("{name}: extracted {x:?}"),
            Err(e) => e,
        };
        let (refusal, entry) = refusal_of(&err);
        assert_eq!(refusal, case.refusal, "{name}: {err:?}");
        if let Some(want) = &case.entry {
            assert_eq!(entry, Some(want.as_str()), "{name}: {err:?}");
        }
        assert!(err.is_safety_violation(), "{name}: {err:?}");
        let message = err.to_string();
        assert!(message.contains("unsafe archive"), "{name}: {message}");
        assert!(message.contains(&case.reason), "{name}: {message}");
        assert!(
            !message.chars().any(char::is_control),
            "{name}: the message carries a raw control character: {message:?}"
        );

        for p in dir::paths_under(tmp.path()) {
            assert!(
                p.starts_with(&dest) || p.starts_with(archive.parent().unwrap()) || p == stage,
                "{name}: {} was written outside the staging directory",
                p.display()
            );
            assert!(
                !fs::symlink_metadata(&p).unwrap().file_type().is_symlink(),
                "{name}: a symlink exists at {}",
                p.display()
            );
        }
        assert!(!Path::new(hostile::OUTSIDE_ABSOLUTE).exists());
        if dest.exists() {
            fs::remove_dir_all(&dest).unwrap_or_else(|e| panic!("{name}: {e}"));
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
    let mut names: Vec<String> = dir::paths_under(dest)
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
