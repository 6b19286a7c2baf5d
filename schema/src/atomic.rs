//! Replacing a file atomically: the one way every knap tool writes a file
//! that another process (or the next run after a crash) may read.
//!
//! The bytes go to a temporary file in the target's own directory (so the
//! rename cannot cross file systems), which is fsynced, renamed over the
//! target, and then the directory is fsynced so the rename itself is
//! durable. A crash leaves the old file or the new one, never a mix; what
//! it can leave is a temporary file whose name starts with [`TEMP_PREFIX`],
//! which [`is_temp_name`] recognises for clean-up. Every error names the
//! path it is about.

use std::ffi::OsStr;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// How the name of every temporary file written here starts.
pub const TEMP_PREFIX: &str = ".knap-tmp-";

/// True for the name of a temporary file [`write_atomic`] may leave behind
/// after a crash.
pub fn is_temp_name(name: &OsStr) -> bool {
    name.to_str().is_some_and(|n| n.starts_with(TEMP_PREFIX))
}

/// An I/O error that says which path and what was being done.
fn at(action: &str, path: &Path) -> impl FnOnce(io::Error) -> io::Error {
    let what = format!("cannot {action} {}", path.display());
    move |e| io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// The directory `path` is in (`.` for a bare file name).
fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Replaces `path` with `bytes` atomically (see the module documentation).
/// The directory must exist.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    Staged::write(path, bytes)?.commit()
}

/// Replaces `path` with `bytes` atomically but not durably: no fsync of
/// the file or of its directory. For caches, whose every read is checked
/// (a copy a crash damaged is fetched again) and which a run writes by the
/// thousand: four fsyncs per cached file cost more than the network on a
/// real disk. A reader still sees the old file or the new one, never a
/// mix. The directory must exist.
pub fn replace_unsynced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temp_beside(path)?;
    write_to(tmp, bytes, false)?
        .persist(path)
        .map_err(|e| at("replace", path)(e.error))?;
    Ok(())
}

/// A new temporary file beside `path` (see [`Staged::write`]).
fn temp_beside(path: &Path) -> io::Result<tempfile::NamedTempFile> {
    let dir = dir_of(path);
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX);
    // tempfile makes owner-only files; the files knap replaces (the lock,
    // records, caches) are as readable as a plain create would make
    // them (0644 before the umask).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    builder
        .tempfile_in(dir)
        .map_err(at("create a temporary file in", dir))
}

/// `bytes` written to `tmp`, and synced when `sync`.
fn write_to(
    mut tmp: tempfile::NamedTempFile,
    bytes: &[u8],
    sync: bool,
) -> io::Result<tempfile::NamedTempFile> {
    tmp.write_all(bytes)
        .and_then(|()| {
            if sync {
                tmp.as_file().sync_all()
            } else {
                Ok(())
            }
        })
        .map_err(at("write", tmp.path()))?;
    Ok(tmp)
}

/// Makes renames and removals in `dir` durable (an fsync of the directory
/// on Unix), the error saying which directory.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    fsync_dir(dir).map_err(at("sync", dir))
}

/// [`sync_dir`] with the bare I/O error, for callers that add the path to
/// their own error type.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir).and_then(|f| f.sync_all())?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// The first half of [`write_atomic`]: the bytes written and synced to a
/// temporary file beside `path`. [`Staged::commit`] puts it in place;
/// dropping it instead removes it. Lets a caller write while it is still
/// validating what it writes.
pub struct Staged {
    tmp: tempfile::NamedTempFile,
    path: PathBuf,
}

impl Staged {
    pub fn write(path: &Path, bytes: &[u8]) -> io::Result<Self> {
        let tmp = write_to(temp_beside(path)?, bytes, true)?;
        Ok(Self {
            tmp,
            path: path.to_owned(),
        })
    }

    /// Renames the file to its path and syncs the directory.
    pub fn commit(self) -> io::Result<()> {
        let Staged { tmp, path } = self;
        tmp.persist(&path)
            .map_err(|e| at("replace", &path)(e.error))?;
        sync_dir(dir_of(&path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_writers_replace_the_file_readable_and_leave_no_temporary_file() {
        type Write = fn(&Path, &[u8]) -> io::Result<()>;
        let writers: [(&str, Write); 2] = [
            ("write_atomic", write_atomic),
            ("replace_unsynced", replace_unsynced),
        ];
        for (name, write) in writers {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("f.json");
            std::fs::write(&p, b"old").unwrap();
            write(&p, b"new").unwrap();
            assert_eq!(std::fs::read(&p).unwrap(), b"new", "{name}");
            let names: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(names, ["f.json"], "{name}");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
                let plain = dir.path().join("plain");
                std::fs::write(&plain, b"").unwrap();
                assert_eq!(mode(&p), mode(&plain), "{name}: as a plain create makes it");
            }
        }
    }

    #[test]
    fn a_staged_write_dropped_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"old").unwrap();
        let s = Staged::write(&p, b"new").unwrap();
        let tmp_names = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| is_temp_name(&e.as_ref().unwrap().file_name()))
            .count();
        assert_eq!(tmp_names, 1);
        drop(s);
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("missing-dir").join("f");
        let e = write_atomic(&p, b"x").unwrap_err().to_string();
        assert!(e.contains("missing-dir"), "{e}");
    }
}
