//! Properties of the extractor over tar, tar.gz and zip archives built from
//! random entry lists with hostile names (`..`, absolute paths, `.git` in
//! every spelling, control characters, backslashes, over-long names) and
//! hostile kinds (symlinks, hard links, FIFOs, duplicates). What must never
//! happen: a panic, a write outside the destination, a symlink anywhere,
//! an accepted archive holding a refused name or kind, or a message
//! carrying a raw control character. Bounded (128 cases per format).

use std::fs;
use std::io::{Cursor, Write};

use knap_installer::{Limits, extract};
use knap_schema::entry_name;
use knap_test_support::archive::gz;
use knap_test_support::dir;
use proptest::prelude::*;
use tar::{EntryType, Header};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    File,
    Dir,
    Symlink,
    HardLink,
    Fifo,
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    kind: Kind,
    data: Vec<u8>,
}

fn component() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[a-z]{1,6}(\\.[a-z]{1,3})?",
        1 => Just("..".to_owned()),
        1 => Just(".".to_owned()),
        1 => Just(String::new()),
        1 => prop::sample::select(vec![".git", ".GIT", ".Git", ".git.", ".git ", "git~1", ".git::$DATA"]).prop_map(str::to_owned),
        1 => "[a-z]{0,2}[\\x01-\\x1f\\x7f\\u{9b}][a-z]{0,2}",
        1 => Just("a\\b".to_owned()),
        1 => Just("C:".to_owned()),
        1 => Just("x".repeat(256)),
    ]
}

fn entry() -> impl Strategy<Value = Entry> {
    let name = (any::<bool>(), prop::collection::vec(component(), 1..5))
        .prop_map(|(abs, parts)| format!("{}{}", if abs { "/" } else { "" }, parts.join("/")));
    let kind = prop_oneof![
        8 => Just(Kind::File),
        3 => Just(Kind::Dir),
        1 => Just(Kind::Symlink),
        1 => Just(Kind::HardLink),
        1 => Just(Kind::Fifo),
    ];
    (name, kind, prop::collection::vec(any::<u8>(), 0..64)).prop_map(|(name, kind, data)| Entry {
        name,
        kind,
        data,
    })
}

/// Entries from a small pool of names, so that duplicates happen.
fn entries() -> impl Strategy<Value = Vec<Entry>> {
    prop::collection::vec(entry(), 1..12).prop_flat_map(|pool| {
        let n = pool.len();
        prop::collection::vec(0..n, 1..16)
            .prop_map(move |picks| picks.into_iter().map(|i| pool[i].clone()).collect())
    })
}

/// True when the extractor must refuse an archive holding `e`.
fn must_refuse(e: &Entry) -> bool {
    if matches!(e.kind, Kind::Symlink | Kind::HardLink | Kind::Fifo) {
        return true;
    }
    if e.name.starts_with('/') || e.name.contains('\0') {
        return true;
    }
    let parts: Vec<&str> = e
        .name
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if e.kind == Kind::File && parts.is_empty() {
        return true;
    }
    let b = e.name.as_bytes();
    let drive = b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':';
    drive
        || parts
            .iter()
            .any(|p| entry_name::check_component(p).is_err())
}

fn tar_bytes(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut name = e.name.clone().into_bytes();
        if e.kind == Kind::Dir && !name.ends_with(b"/") {
            name.push(b'/');
        }
        if name.len() > 99 {
            let mut h = Header::new_gnu();
            h.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
            h.set_entry_type(EntryType::GNULongName);
            h.set_size(name.len() as u64 + 1);
            h.set_mode(0o644);
            h.set_cksum();
            let mut data = name.clone();
            data.push(0);
            b.append(&h, data.as_slice()).unwrap();
        }
        let mut h = Header::new_gnu();
        let short = &name[..name.len().min(99)];
        h.as_gnu_mut().unwrap().name[..short.len()].copy_from_slice(short);
        let (kind, data): (EntryType, &[u8]) = match e.kind {
            Kind::File => (EntryType::Regular, &e.data),
            Kind::Dir => (EntryType::Directory, b""),
            Kind::Symlink => (EntryType::Symlink, b""),
            Kind::HardLink => (EntryType::Link, b""),
            Kind::Fifo => (EntryType::Fifo, b""),
        };
        if matches!(e.kind, Kind::Symlink | Kind::HardLink) {
            h.as_gnu_mut().unwrap().linkname[..5].copy_from_slice(b"../..");
        }
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

/// A zip of the entries the writer takes (it refuses some names itself,
/// such as a second copy of one, and hard links and FIFOs do not exist in
/// zip): returns the bytes and the entries written.
fn zip_bytes(entries: &[Entry]) -> (Vec<u8>, Vec<Entry>) {
    use zip::write::SimpleFileOptions;
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let mut written = Vec::new();
    for e in entries {
        let o = SimpleFileOptions::default();
        let ok = match e.kind {
            Kind::File => w.start_file(e.name.as_str(), o).is_ok() && w.write_all(&e.data).is_ok(),
            Kind::Dir => w.add_directory(e.name.as_str(), o).is_ok(),
            Kind::Symlink => w.add_symlink(e.name.as_str(), "../..", o).is_ok(),
            Kind::HardLink | Kind::Fifo => false,
        };
        if ok {
            written.push(e.clone());
        }
    }
    (w.finish().unwrap().into_inner(), written)
}

/// Extracts `bytes` into a fresh staging directory and checks what must
/// never happen.
fn check(bytes: &[u8], entries: &[Entry]) -> Result<(), TestCaseError> {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive.bin");
    fs::write(&archive, bytes).unwrap();
    let stage = tmp.path().join("stage");
    fs::create_dir(&stage).unwrap();
    let dest = stage.join("dest");
    let limits = Limits {
        max_total_bytes: 4096,
        max_entries: 64,
    };
    let result = extract(&archive, &dest, &limits);
    let paths = dir::paths_under(tmp.path());
    for p in &paths {
        prop_assert!(
            *p == archive || *p == stage || p.starts_with(&dest),
            "{} was written outside the destination",
            p.display()
        );
        prop_assert!(
            !fs::symlink_metadata(p).unwrap().file_type().is_symlink(),
            "a symlink at {}",
            p.display()
        );
    }
    match result {
        Ok(_) => {
            let bad: Vec<&Entry> = entries.iter().filter(|e| must_refuse(e)).collect();
            prop_assert!(bad.is_empty(), "accepted an archive holding {bad:?}");
            for p in paths.iter().filter(|p| p.starts_with(&dest) && **p != dest) {
                let rel = p.strip_prefix(&dest).unwrap();
                for c in rel.components() {
                    let c = c.as_os_str().to_str().unwrap();
                    prop_assert!(entry_name::check_component(c).is_ok(), "wrote {c:?}");
                }
            }
        }
        Err(e) => {
            let message = e.to_string();
            prop_assert!(
                !message.chars().any(char::is_control),
                "a raw control character in {message:?}"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn tar_archives_of_hostile_entries(entries in entries()) {
        let bytes = tar_bytes(&entries);
        check(&bytes, &entries)?;
        check(&gz(&bytes), &entries)?;
    }

    #[test]
    fn zip_archives_of_hostile_entries(entries in entries()) {
        let (bytes, written) = zip_bytes(&entries);
        check(&bytes, &written)?;
    }
}
