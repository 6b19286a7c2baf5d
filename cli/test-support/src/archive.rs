//! Archives built in tests: honest ones (a pack directory as a
//! reproducible `.tar.gz`: fixed order, times, owners and modes, so its
//! checksum is the same run after run) and raw ones, down to the header
//! bytes, past the `tar` and `zip` crates' own checks, as an attacker
//! writes them ([`crate::hostile`] uses these).

use std::io::{Cursor, Write};
use std::path::Path;

use tar::{EntryType, Header};

pub use tar::EntryType as Kind;

/// gzip of `bytes` (the gzip header carries no time: reproducible).
pub fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A tar of whatever `f` appends.
pub fn tar_of(f: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    f(&mut b);
    b.into_inner().unwrap()
}

/// A reproducible `.tar.gz` of the directory `dir`, under a single top
/// directory named as `dir` is (GitHub's `repo-<sha>/` style): entries in
/// name order, time 0, owner 0, mode 0755 for directories and executables
/// and 0644 for other files.
pub fn tar_gz_dir(dir: &Path) -> Vec<u8> {
    let top = dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a UTF-8 directory name")
        .to_owned();
    let mut b = tar::Builder::new(Vec::new());
    fn add(b: &mut tar::Builder<Vec<u8>>, dir: &Path, name: &str) {
        let mut h = Header::new_gnu();
        h.set_entry_type(EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_mtime(0);
        b.append_data(&mut h, format!("{name}/"), std::io::empty())
            .unwrap();
        let mut items: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        items.sort();
        for p in items {
            let child = format!(
                "{name}/{}",
                p.file_name().unwrap().to_str().expect("UTF-8 names")
            );
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                add(b, &p, &child);
            } else {
                let data = std::fs::read(&p).unwrap();
                let mut h = Header::new_gnu();
                h.set_entry_type(EntryType::Regular);
                h.set_mode(if executable(&meta) { 0o755 } else { 0o644 });
                h.set_size(data.len() as u64);
                h.set_mtime(0);
                b.append_data(&mut h, child, data.as_slice()).unwrap();
            }
        }
    }
    add(&mut b, dir, &top);
    gz(&b.into_inner().unwrap())
}

#[cfg(unix)]
fn executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn executable(_: &std::fs::Metadata) -> bool {
    false
}

/// A ustar entry with a raw name and link name (bypassing the `tar`
/// crate's own path checks, as an attacker would write it).
pub fn raw_entry(
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

/// [`raw_entry`] in the GNU header format.
pub fn gnu_entry(
    b: &mut tar::Builder<Vec<u8>>,
    name: &[u8],
    kind: EntryType,
    link: &[u8],
    data: &[u8],
) {
    let mut h = Header::new_gnu();
    {
        let g = h.as_gnu_mut().unwrap();
        g.name[..name.len()].copy_from_slice(name);
        g.linkname[..link.len()].copy_from_slice(link);
    }
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

/// A regular file with a raw name.
pub fn file(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
    raw_entry(b, name.as_bytes(), EntryType::Regular, b"", data);
}

/// PAX extended header records (`<len> <key>=<value>\n` each).
pub fn pax_records(records: &[(&str, &str)]) -> Vec<u8> {
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

/// A PAX extended header entry (type `x`) applying `records` to the next
/// entry.
pub fn pax(b: &mut tar::Builder<Vec<u8>>, records: &[(&str, &str)]) {
    raw_entry(
        b,
        b"PaxHeader",
        EntryType::XHeader,
        b"",
        &pax_records(records),
    );
}

/// A GNU long-name entry (`././@LongLink`, type `L`) naming the next entry.
pub fn gnu_long_name(b: &mut tar::Builder<Vec<u8>>, name: &[u8]) {
    let mut data = name.to_vec();
    data.push(0);
    gnu_entry(b, b"././@LongLink", EntryType::GNULongName, b"", &data);
}

/// A zip of whatever `f` writes.
pub fn zip_of(f: impl FnOnce(&mut zip::ZipWriter<Cursor<Vec<u8>>>)) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    f(&mut w);
    w.finish().unwrap().into_inner()
}

/// A zip holding `files` (name, content), deflated.
pub fn zip_files(files: &[(&str, &[u8])]) -> Vec<u8> {
    zip_of(|w| {
        for (name, data) in files {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(data).unwrap();
        }
    })
}

/// Replaces every occurrence of `from` by `to` (same length) in raw bytes:
/// a zip's local and central headers alike.
pub fn rename_in(mut bytes: Vec<u8>, from: &[u8], to: &[u8]) -> Vec<u8> {
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

/// Patches the uncompressed size of the zip entry `name`, in its local
/// and its central header, to `size` (a decompression bomb's lie).
pub fn lie_about_zip_size(mut bytes: Vec<u8>, name: &str, size: u32) -> Vec<u8> {
    let le = size.to_le_bytes();
    let field = |b: &[u8], at: usize| u16::from_le_bytes([b[at], b[at + 1]]) as usize;
    let mut i = 0;
    while i + 46 <= bytes.len() {
        // (signature, offset of the size, offset of the name's length,
        // offset of the name)
        let layout = match &bytes[i..i + 4] {
            b"PK\x03\x04" => Some((22, 26, 30)),
            b"PK\x01\x02" => Some((24, 28, 46)),
            _ => None,
        };
        if let Some((size_at, len_at, name_at)) = layout {
            let len = field(&bytes, i + len_at);
            if bytes.get(i + name_at..i + name_at + len) == Some(name.as_bytes()) {
                bytes[i + size_at..i + size_at + 4].copy_from_slice(&le);
            }
        }
        i += 1;
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_archives_the_same_bytes_whatever_its_times() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("demo-1.0.0");
        crate::write(&dir.join("pack.yaml"), "ref: demo\n");
        crate::write(&dir.join("actions/a.sh"), "echo\n");
        let first = tar_gz_dir(&dir);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        crate::write(&dir.join("actions/a.sh"), "echo\n");
        assert_eq!(tar_gz_dir(&dir), first);
        let tar = flate2::read::GzDecoder::new(first.as_slice());
        let names: Vec<String> = tar::Archive::new(tar)
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "demo-1.0.0/",
                "demo-1.0.0/actions/",
                "demo-1.0.0/actions/a.sh",
                "demo-1.0.0/pack.yaml"
            ]
        );
    }
}
