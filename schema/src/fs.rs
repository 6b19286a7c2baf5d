//! The one way knap and knap-index open a file to read it.
//!
//! Every file either tool reads is untrusted, down to what kind of file it
//! is: a FIFO where a `pack.yaml`, a `knap.lock` or a configuration is
//! expected would block a plain `open` forever (a FIFO's open waits for a
//! writer), a character device would never end, and a symbolic link in a
//! path knap manages would make it read a file somewhere else. So a file is
//! opened here, without blocking (`O_NONBLOCK`, and `O_NOCTTY` so that a
//! terminal never becomes the controlling one), without following a link
//! in its last component when the path is knap's own ([`Links::Refuse`]:
//! its cache, an install root's private area, a file inside a pack), is
//! then checked to be a regular file on the open descriptor (so nothing can
//! be swapped in between), and is read up to a limit.
//!
//! A FIFO, socket, device or directory is [`FileError::NotRegular`], a link
//! where none may be is [`FileError::Symlink`], a file over its limit is
//! [`FileError::TooLarge`]: each names the file. Which exit code that is
//! depends on who named the file (cli.md): 4 for a file knap manages or
//! read from a registry ([`FileError::kind`]), 2 for a file named on the
//! command line (the caller says so).

use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::report::ErrorKind;

/// Whether the last component of a path may be a symbolic link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Follow it: a file the user named (on the command line, in the
    /// configuration) or a file of a local registry.
    Follow,
    /// Refuse it: a path knap manages (its cache and trust state, an
    /// install root's private area) or a file inside a pack.
    Refuse,
}

/// A file that cannot be read as a regular file of bounded size.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: io::Error },
    #[error("{}: {}", path.display(), not_regular(kind))]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{}: {SYMLINK}", path.display())]
    Symlink { path: PathBuf },
    #[error("{}: {}", path.display(), too_large(*limit))]
    TooLarge { path: PathBuf, limit: u64 },
}

const SYMLINK: &str = "is a symbolic link, which knap does not follow here";

fn not_regular(kind: &str) -> String {
    format!("is a {kind}, not a regular file (knap reads only regular files)")
}

fn too_large(limit: u64) -> String {
    format!("is larger than the {limit} bytes allowed for it")
}

impl FileError {
    /// The file it is about.
    pub fn path(&self) -> &Path {
        match self {
            FileError::Io { path, .. }
            | FileError::NotRegular { path, .. }
            | FileError::Symlink { path }
            | FileError::TooLarge { path, .. } => path,
        }
    }

    /// What is wrong, without the path (for a message that names the file
    /// its own way).
    pub fn reason(&self) -> String {
        match self {
            FileError::Io { error, .. } => error.to_string(),
            FileError::NotRegular { kind, .. } => not_regular(kind),
            FileError::Symlink { .. } => SYMLINK.to_owned(),
            FileError::TooLarge { limit, .. } => too_large(*limit),
        }
    }

    /// True when the file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, FileError::Io { error, .. } if error.kind() == io::ErrorKind::NotFound)
    }

    /// A file of the wrong kind, a link or an oversized file is invalid
    /// input (exit 4); not being able to read it is not. A caller that
    /// reads a file named on the command line reports it as a usage error
    /// instead.
    pub fn kind(&self) -> ErrorKind {
        match self {
            FileError::Io { .. } => ErrorKind::Other,
            _ => ErrorKind::Integrity,
        }
    }
}

impl From<FileError> for io::Error {
    fn from(e: FileError) -> Self {
        match e {
            FileError::Io { error, .. } => error,
            other => io::Error::new(io::ErrorKind::InvalidInput, other.reason()),
        }
    }
}

/// Opens `path` for reading without blocking, and checks on the open
/// descriptor that it is a regular file. Returns the file and its metadata.
pub fn open(path: &Path, links: Links) -> Result<(File, Metadata), FileError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut flags = libc::O_NONBLOCK | libc::O_NOCTTY;
        if links == Links::Refuse {
            flags |= libc::O_NOFOLLOW;
        }
        options.custom_flags(flags);
    }
    #[cfg(not(unix))]
    if links == Links::Refuse
        && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
    {
        return Err(FileError::Symlink {
            path: path.to_owned(),
        });
    }
    let file = options
        .open(path)
        .map_err(|source| open_error(path, links, source))?;
    let meta = file.metadata().map_err(|error| FileError::Io {
        path: path.to_owned(),
        error,
    })?;
    if !meta.is_file() {
        return Err(FileError::NotRegular {
            path: path.to_owned(),
            kind: kind_of(&meta.file_type()),
        });
    }
    Ok((file, meta))
}

/// Why `open` failed, in the terms of this module: a link refused by
/// `O_NOFOLLOW` (ELOOP) and a socket (ENXIO) are told as what they are.
fn open_error(path: &Path, links: Links, source: io::Error) -> FileError {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        let ft = meta.file_type();
        if ft.is_symlink() && links == Links::Refuse {
            return FileError::Symlink {
                path: path.to_owned(),
            };
        }
        let target = if ft.is_symlink() {
            std::fs::metadata(path).ok().map(|m| m.file_type())
        } else {
            Some(ft)
        };
        if let Some(t) = target
            && !t.is_file()
            && source.kind() != io::ErrorKind::PermissionDenied
        {
            return FileError::NotRegular {
                path: path.to_owned(),
                kind: kind_of(&t),
            };
        }
    }
    FileError::Io {
        path: path.to_owned(),
        error: source,
    }
}

/// What a file that is not a regular file is, in words.
fn kind_of(ft: &std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        "directory"
    } else {
        crate::digest::special_kind(ft)
    }
}

/// Reads the whole of `path`, a regular file of at most `limit` bytes.
pub fn read(path: &Path, links: Links, limit: u64) -> Result<Vec<u8>, FileError> {
    let (file, meta) = open(path, links)?;
    let too_large = || FileError::TooLarge {
        path: path.to_owned(),
        limit,
    };
    if meta.len() > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // A file that grows while it is read still stops at the limit.
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|error| FileError::Io {
            path: path.to_owned(),
            error,
        })?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// [`read`], as UTF-8 text (anything else is an I/O error of kind
/// `InvalidData`).
pub fn read_to_string(path: &Path, links: Links, limit: u64) -> Result<String, FileError> {
    let bytes = read(path, links, limit)?;
    String::from_utf8(bytes).map_err(|_| FileError::Io {
        path: path.to_owned(),
        error: io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"),
    })
}

/// [`read`], with a missing file as `None`.
pub fn read_if_exists(path: &Path, links: Links, limit: u64) -> Result<Option<Vec<u8>>, FileError> {
    match read(path, links, limit) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn mkfifo(path: &Path) {
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
    }

    #[test]
    fn a_fifo_is_refused_at_once_naming_what_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pack.yaml");
        mkfifo(&fifo);
        let start = Instant::now();
        for links in [Links::Follow, Links::Refuse] {
            let err = read(&fifo, links, 1024).unwrap_err();
            assert!(
                matches!(&err, FileError::NotRegular { kind: "FIFO", .. }),
                "{err}"
            );
            assert_eq!(err.kind(), ErrorKind::Integrity);
            assert!(err.to_string().contains("is a FIFO, not a regular file"));
        }
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_socket_a_device_and_a_directory_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("s");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let err = read(&sock, Links::Follow, 10).unwrap_err();
        assert!(
            matches!(&err, FileError::NotRegular { kind: "socket", .. }),
            "{err}"
        );
        let err = read(Path::new("/dev/zero"), Links::Follow, 10).unwrap_err();
        assert!(
            matches!(&err, FileError::NotRegular { kind: "device", .. }),
            "{err}"
        );
        let err = read(dir.path(), Links::Follow, 10).unwrap_err();
        assert!(
            matches!(
                &err,
                FileError::NotRegular {
                    kind: "directory",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_link_is_followed_or_refused_as_asked() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, b"hello").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(read(&link, Links::Follow, 10).unwrap(), b"hello");
        let err = read(&link, Links::Refuse, 10).unwrap_err();
        assert!(matches!(err, FileError::Symlink { .. }), "{err}");
        // A link to a FIFO is told as the FIFO it leads to.
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let to_fifo = dir.path().join("to-fifo");
        std::os::unix::fs::symlink(&fifo, &to_fifo).unwrap();
        let err = read(&to_fifo, Links::Follow, 10).unwrap_err();
        assert!(matches!(err, FileError::NotRegular { .. }), "{err}");
    }

    #[test]
    fn the_read_is_bounded_and_a_missing_file_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"0123456789").unwrap();
        assert_eq!(read(&f, Links::Refuse, 10).unwrap().len(), 10);
        let err = read(&f, Links::Refuse, 9).unwrap_err();
        assert!(matches!(err, FileError::TooLarge { limit: 9, .. }), "{err}");
        let missing = dir.path().join("missing");
        assert!(read(&missing, Links::Refuse, 9).unwrap_err().is_not_found());
        assert_eq!(read_if_exists(&missing, Links::Refuse, 9).unwrap(), None);
        std::fs::write(&f, b"\xff").unwrap();
        let err = read_to_string(&f, Links::Refuse, 9).unwrap_err();
        assert!(err.to_string().contains("not UTF-8"), "{err}");
    }
}
