//! The reproducible pack archive (cli.md, `knap-index pack`): a `.tar.gz`
//! of a pack tree that is the same bytes whenever the tree is the same,
//! whoever makes it. `knap-index pack` writes it for authors; a bundle
//! (`knap_client::bundle`) writes it for git sources, so that the archive
//! unpacks to the very tree the git source's checksum names.
//!
//! Entries are in digest order (Attune's `Path` order, directories before
//! their contents), with mtime 0, uid/gid 0, no user or group names, and
//! modes 0755 for directories and executables and 0644 otherwise; every
//! `.git` file or directory is left out, as the digest leaves it out. The
//! gzip header carries no time and no operating system. Files sit at the
//! archive root (no wrapping directory).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use knap_schema::digest::{DigestError, PackFile, open_listed, publishable_files};

/// Why an archive could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PackArchiveError {
    /// The tree holds something a pack may not (a link, a special file, a
    /// name that is not UTF-8), or cannot be read.
    #[error("cannot archive the pack tree")]
    Tree(#[source] DigestError),
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl PackArchiveError {
    /// A tree that is no pack is the digest's kind (exit 4 for what a pack
    /// may not hold); writing files is the machine's (exit 1).
    pub fn kind(&self) -> knap_schema::ErrorKind {
        match self {
            PackArchiveError::Tree(d) => d.kind(),
            PackArchiveError::Write { .. } => knap_schema::ErrorKind::Other,
        }
    }
}

/// Writes the reproducible archive of the pack tree at `dir` to `dest`
/// (a new file; a failure may leave it partly written: write it into a
/// staging directory). Returns how many files it holds.
pub fn pack_dir(dir: &Path, dest: &Path) -> Result<usize, PackArchiveError> {
    let files = publishable_files(dir).map_err(PackArchiveError::Tree)?;
    let write_err = |source| PackArchiveError::Write {
        path: dest.to_owned(),
        source,
    };
    let out = File::create_new(dest).map_err(write_err)?;
    write_archive(&files, &out)?;
    out.sync_all().map_err(write_err)?;
    Ok(files.len())
}

/// Writes the deterministic archive of `files` (in digest order, as
/// `knap_schema::digest::publishable_files` lists them) to `out`.
pub fn write_archive(files: &[PackFile], out: &File) -> Result<(), PackArchiveError> {
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| PackArchiveError::Write { path, source }
    };
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(BufWriter::new(out), Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    let mut dirs_done = BTreeSet::new();
    for f in files {
        // Every parent directory, once, before the first file under it.
        let mut prefix = String::new();
        for part in f
            .path
            .split('/')
            .collect::<Vec<_>>()
            .split_last()
            .map(|(_, d)| d)
            .unwrap_or(&[])
        {
            prefix.push_str(part);
            prefix.push('/');
            if dirs_done.insert(prefix.clone()) {
                let mut h = header(tar::EntryType::Directory, 0o755, 0);
                tar.append_data(&mut h, &prefix, io::empty())
                    .map_err(io_err(&f.full))?;
            }
        }
        let mode = if executable(&f.full).map_err(io_err(&f.full))? {
            0o755
        } else {
            0o644
        };
        let mut h = header(tar::EntryType::Regular, mode, f.size);
        let file = open_listed(&f.full).map_err(PackArchiveError::Tree)?;
        tar.append_data(&mut h, &f.path, file)
            .map_err(io_err(&f.full))?;
    }
    let finish = || -> io::Result<()> {
        let gz = tar.into_inner()?;
        let mut buf = gz.finish()?;
        buf.flush()
    };
    finish().map_err(|source| PackArchiveError::Write {
        path: PathBuf::from("the archive"),
        source,
    })
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    let _ = h.set_username("");
    let _ = h.set_groupname("");
    h
}

/// Writes a plain (uncompressed) tar of the directory `dir`, which holds
/// only directories and regular files (a bundle that knap wrote), to the
/// new file `dest`: entries in name order, with the same deterministic
/// headers as a pack archive, directories 0755 and files 0644. Returns how
/// many files it holds. A link or special file is refused (as a tree that
/// is no pack).
pub fn tar_dir(dir: &Path, dest: &Path) -> Result<usize, PackArchiveError> {
    let write_err = |path: &Path| {
        let path = path.to_owned();
        move |source| PackArchiveError::Write { path, source }
    };
    let out = File::create_new(dest).map_err(write_err(dest))?;
    let mut tar = tar::Builder::new(BufWriter::new(&out));
    tar.mode(tar::HeaderMode::Deterministic);
    let mut files = 0;
    for e in walkdir::WalkDir::new(dir)
        .min_depth(1)
        .sort_by_file_name()
        .follow_links(false)
    {
        let e = e.map_err(|e| {
            let path = e.path().unwrap_or(dir).to_owned();
            PackArchiveError::Write {
                source: e.into(),
                path,
            }
        })?;
        let rel = e
            .path()
            .strip_prefix(dir)
            .expect("walkdir stays under its root")
            .to_str()
            .ok_or_else(|| PackArchiveError::Write {
                path: e.path().to_owned(),
                source: io::Error::new(io::ErrorKind::InvalidData, "not a UTF-8 name"),
            })?
            .replace(std::path::MAIN_SEPARATOR, "/");
        let kind = e.file_type();
        if kind.is_dir() {
            let mut h = header(tar::EntryType::Directory, 0o755, 0);
            tar.append_data(&mut h, format!("{rel}/"), io::empty())
                .map_err(write_err(dest))?;
        } else if kind.is_file() {
            let f = open_listed(e.path()).map_err(PackArchiveError::Tree)?;
            let size = f.metadata().map_err(write_err(e.path()))?.len();
            let mut h = header(tar::EntryType::Regular, 0o644, size);
            tar.append_data(&mut h, &rel, f)
                .map_err(write_err(e.path()))?;
            files += 1;
        } else {
            return Err(PackArchiveError::Write {
                path: e.path().to_owned(),
                source: io::Error::new(
                    io::ErrorKind::InvalidData,
                    "not a directory or a regular file",
                ),
            });
        }
    }
    let mut buf = tar.into_inner().map_err(write_err(dest))?;
    buf.flush().map_err(write_err(dest))?;
    drop(buf);
    out.sync_all().map_err(write_err(dest))?;
    Ok(files)
}

#[cfg(unix)]
fn executable(path: &Path) -> io::Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    Ok(std::fs::metadata(path)?.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn executable(_path: &Path) -> io::Result<bool> {
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packed_tree_unpacks_to_the_same_digest_and_the_same_bytes_twice() {
        let t = tempfile::tempdir().unwrap();
        let pack = t.path().join("p");
        std::fs::create_dir_all(pack.join("actions/sub")).unwrap();
        std::fs::write(pack.join("pack.yaml"), "ref: p\n").unwrap();
        std::fs::write(pack.join("actions/sub/a.py"), "print(1)\n").unwrap();
        let (a, b) = (t.path().join("a.tar.gz"), t.path().join("b.tar.gz"));
        assert_eq!(pack_dir(&pack, &a).unwrap(), 2);
        pack_dir(&pack, &b).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        let out = t.path().join("out");
        crate::extract(&a, &out, &crate::Limits::default()).unwrap();
        assert_eq!(
            knap_schema::tree_digest(&out).unwrap().checksum,
            knap_schema::tree_digest(&pack).unwrap().checksum
        );
    }

    #[test]
    fn a_tar_of_a_directory_extracts_to_the_same_files() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("d");
        std::fs::create_dir_all(dir.join("archives")).unwrap();
        std::fs::write(dir.join("index.json"), "{}").unwrap();
        std::fs::write(dir.join("archives/a.tar.gz"), [1u8, 2, 3]).unwrap();
        let tar = t.path().join("d.tar");
        assert_eq!(tar_dir(&dir, &tar).unwrap(), 2);
        let out = t.path().join("out");
        crate::extract(&tar, &out, &crate::Limits::default()).unwrap();
        assert_eq!(std::fs::read(out.join("index.json")).unwrap(), b"{}");
        assert_eq!(
            std::fs::read(out.join("archives/a.tar.gz")).unwrap(),
            [1u8, 2, 3]
        );
    }
}
