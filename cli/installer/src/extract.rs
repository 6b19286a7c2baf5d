//! Hardened archive extraction into a fresh staging directory.
//!
//! The format is detected from the bytes, never from the name: gzip magic
//! `1f 8b` is a tar.gz, `ustar` at offset 257 a tar, `PK\x03\x04` a zip.
//! Entries are streamed one by one and written by hand (never with the
//! archive crates' own unpackers), refusing anything a pack may not hold
//! (formats.md §1): absolute paths, `..` components, symlinks, hard links,
//! devices, FIFOs, sparse files (GNU or PAX) and every other non-regular
//! entry type, names that [`knap_schema::entry_name`] refuses (`.git` in any
//! spelling, control characters, over-long names), a name given twice (tar
//! or zip), and a file that sniffs as two formats at once (a tar/zip
//! polyglot installs differently depending on who reads it). Limits bound
//! the total extracted size and the number of entries; a zip entry must hold
//! exactly the size it declares (decompression bombs lie about it). Entry
//! names in errors are escaped ([`knap_schema::entry_name::escape`]): no
//! terminal escape or line break from an archive reaches a message.
//!
//! Nothing is written outside the destination: it must not exist beforehand,
//! each path is checked component by component, directories are created one
//! level at a time after checking that no symlink is in the way, and files
//! are created with `create_new`, which never follows an existing link.
//!
//! An archive whose content is a single top-level directory (GitHub's
//! `repo-<sha>/` style) with no `pack.yaml` beside it is unwrapped.

use std::cell::Cell;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use knap_schema::entry_name::{self, NameProblem};

/// Bounds on what an archive may expand to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total bytes of all extracted files.
    pub max_total_bytes: u64,
    /// Number of entries (files and directories).
    pub max_entries: u64,
}

impl Default for Limits {
    /// 1 GiB and 100,000 entries.
    fn default() -> Self {
        Self {
            max_total_bytes: 1 << 30,
            max_entries: 100_000,
        }
    }
}

/// An archive format, as detected from content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    TarGz,
    Tar,
    Zip,
}

/// What an extraction produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    pub format: ArchiveFormat,
    /// Regular files written.
    pub files: u64,
    /// Their total size in bytes.
    pub bytes: u64,
    /// The single top-level directory that was unwrapped, if any.
    pub stripped: Option<String>,
}

/// Why an archive was refused or could not be extracted. Every variant
/// about an entry names it.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: not a tar.gz, tar or zip archive (its first bytes are none of those formats)", path.display())]
    UnknownFormat { path: PathBuf },
    #[error("{}: the extraction directory already exists; it must be fresh", path.display())]
    DestinationExists { path: PathBuf },
    #[error("unsafe archive: entry `{entry}` has an absolute path")]
    AbsolutePath { entry: String },
    #[error(
        "unsafe archive: entry `{entry}` has a `..` component, which would climb out of the pack"
    )]
    ParentComponent { entry: String },
    #[error("unsafe archive: entry `{entry}` has an unusable path: {reason}")]
    BadPath { entry: String, reason: &'static str },
    /// A name [`knap_schema::entry_name`] refuses (`.git`, control
    /// characters, too long, too deep).
    #[error("unsafe archive: entry `{entry}` is refused: {problem}")]
    BadName { entry: String, problem: NameProblem },
    /// The content sniffs as more than one format.
    #[error(
        "unsafe archive: {} is both {formats} (a polyglot: each reader would install something else)", path.display()
    )]
    Polyglot { path: PathBuf, formats: String },
    #[error(
        "unsafe archive: entry `{entry}` is a symbolic link; a pack holds only regular files and directories"
    )]
    Symlink { entry: String },
    #[error(
        "unsafe archive: entry `{entry}` is a hard link; a pack holds only regular files and directories"
    )]
    HardLink { entry: String },
    #[error(
        "unsafe archive: entry `{entry}` is a {kind}; a pack holds only regular files and directories"
    )]
    SpecialFile { entry: String, kind: String },
    #[error("unsafe archive: more than {limit} entries (refused at `{entry}`)")]
    TooManyEntries { entry: String, limit: u64 },
    #[error(
        "unsafe archive: extracting `{entry}` would exceed the limit of {limit} bytes in total"
    )]
    TooLarge { entry: String, limit: u64 },
    /// More or fewer bytes than declared: a decompression bomb's lie, or
    /// corruption.
    #[error("unsafe archive: entry `{entry}` does not hold the {declared} bytes it declares")]
    SizeMismatch { entry: String, declared: u64 },
    #[error("unsafe archive: entry `{entry}` clashes with an earlier entry of the same path")]
    Duplicate { entry: String },
    /// Data before a zip's first entry, or a central directory the reader
    /// cannot walk.
    #[error("unsafe archive: {detail}")]
    ZipLayout { detail: String },
    #[error("corrupt archive at `{entry}`")]
    Corrupt {
        entry: String,
        #[source]
        source: io::Error,
    },
}

impl ExtractError {
    /// What to do about it, when there is something: for an I/O failure,
    /// the usual reasons a directory cannot be written.
    pub fn hint(&self) -> Option<String> {
        match self {
            ExtractError::Io { source, .. } => crate::root::io_hint(source).map(str::to_owned),
            _ => None,
        }
    }

    /// The exit-code class: a safety violation is an integrity failure
    /// (exit 4), anything else other.
    pub fn kind(&self) -> knap_schema::ErrorKind {
        if self.is_safety_violation() {
            knap_schema::ErrorKind::Integrity
        } else {
            knap_schema::ErrorKind::Other
        }
    }

    /// True for a refusal on safety grounds (CLI exit code 4), false for
    /// plain I/O trouble.
    pub fn is_safety_violation(&self) -> bool {
        !matches!(
            self,
            ExtractError::Io { .. } | ExtractError::DestinationExists { .. }
        )
    }
}

/// Why a file's checksum did not verify.
#[derive(Debug, thiserror::Error)]
pub enum ChecksumError {
    #[error("checksum mismatch for {}: expected {expected}, got {actual}", path.display())]
    Mismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("`{expected}` is not a checksum; expected `sha256:` and 64 lowercase hex digits")]
    Malformed { expected: String },
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Checks that `file`'s SHA-256 is `expected` (`sha256:<64 lowercase hex>`).
pub fn verify_sha256(file: &Path, expected: &str) -> Result<(), ChecksumError> {
    let hex = expected
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .ok_or_else(|| ChecksumError::Malformed {
            expected: expected.to_owned(),
        })?;
    let actual = knap_schema::digest::sha256_file(file).map_err(|source| ChecksumError::Io {
        path: file.to_owned(),
        source,
    })?;
    if actual.strip_prefix("sha256:") == Some(hex) {
        Ok(())
    } else {
        Err(ChecksumError::Mismatch {
            path: file.to_owned(),
            expected: expected.to_owned(),
            actual,
        })
    }
}

/// Detects the format of an archive from its content: its first bytes (gzip
/// magic, zip local header magic, `ustar` at 257) and its last (a zip's
/// end of central directory record that ends the file exactly, which is
/// where zip readers look). Content that sniffs as two formats is refused
/// as a polyglot.
pub fn detect_format(archive: &Path) -> Result<ArchiveFormat, ExtractError> {
    let mut file = File::open(archive).map_err(io_err("open", archive))?;
    let head = read_up_to(&mut file, 262).map_err(io_err("read", archive))?;
    let len = file
        .seek(SeekFrom::End(0))
        .map_err(io_err("read", archive))?;
    // The EOCD record is 22 bytes plus a comment of at most 65535.
    let tail_len = len.min(22 + 65_535);
    file.seek(SeekFrom::Start(len - tail_len))
        .map_err(io_err("read", archive))?;
    let tail = read_up_to(&mut file, tail_len as usize).map_err(io_err("read", archive))?;

    let gz = head.starts_with(&[0x1f, 0x8b]);
    let zip_head = head.starts_with(b"PK\x03\x04");
    let tar = head.len() >= 262 && &head[257..262] == b"ustar";
    let zip_tail = ends_with_zip_directory(&tail);
    let mut found = Vec::new();
    if gz {
        found.push("gzip");
    }
    if tar {
        found.push("tar");
    }
    if zip_head || zip_tail {
        found.push("zip");
    }
    if found.len() > 1 {
        return Err(ExtractError::Polyglot {
            path: archive.to_owned(),
            formats: found.join(" and "),
        });
    }
    if gz {
        Ok(ArchiveFormat::TarGz)
    } else if zip_head {
        Ok(ArchiveFormat::Zip)
    } else if tar {
        Ok(ArchiveFormat::Tar)
    } else {
        Err(ExtractError::UnknownFormat {
            path: archive.to_owned(),
        })
    }
}

fn read_up_to(file: &mut File, max: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(max);
    file.take(max as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// True when `tail` (the file's last bytes) ends with a zip end of central
/// directory record: its signature, then 18 bytes whose comment length
/// reaches exactly the end of the file.
fn ends_with_zip_directory(tail: &[u8]) -> bool {
    (0..tail.len().saturating_sub(21)).rev().any(|i| {
        tail[i..].starts_with(b"PK\x05\x06") && {
            let comment = u16::from_le_bytes([tail[i + 20], tail[i + 21]]) as usize;
            i + 22 + comment == tail.len()
        }
    })
}

/// Extracts `archive` into `dest`, which must not exist yet (its parent
/// must). On error, `dest` may hold a partial extraction: remove it.
pub fn extract(archive: &Path, dest: &Path, limits: &Limits) -> Result<Extracted, ExtractError> {
    let format = detect_format(archive)?;
    match fs::symlink_metadata(dest) {
        Ok(_) => {
            return Err(ExtractError::DestinationExists {
                path: dest.to_owned(),
            });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("inspect", dest)(e)),
    }
    fs::create_dir(dest).map_err(io_err("create", dest))?;
    let file = File::open(archive).map_err(io_err("open", archive))?;
    let mut sink = Sink {
        dest,
        limits: *limits,
        entries: 0,
        files: 0,
        bytes: 0,
    };
    tracing::debug!(
        "extracting {} ({format:?}) into {}",
        archive.display(),
        dest.display()
    );
    match format {
        ArchiveFormat::TarGz => {
            let gz = flate2::read::GzDecoder::new(BufReader::new(file));
            extract_tar(gz, &mut sink)?;
        }
        ArchiveFormat::Tar => extract_tar(BufReader::new(file), &mut sink)?,
        ArchiveFormat::Zip => extract_zip(file, &mut sink)?,
    }
    let stripped = strip_single_top_dir(dest)?;
    Ok(Extracted {
        format,
        files: sink.files,
        bytes: sink.bytes,
        stripped,
    })
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ExtractError + 'a {
    move |source| ExtractError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Writes checked entries under `dest`, enforcing the limits.
struct Sink<'a> {
    dest: &'a Path,
    limits: Limits,
    entries: u64,
    files: u64,
    bytes: u64,
}

impl Sink<'_> {
    fn count_entry(&mut self, entry: &str) -> Result<(), ExtractError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(ExtractError::TooManyEntries {
                entry: entry.to_owned(),
                limit: self.limits.max_entries,
            });
        }
        Ok(())
    }

    fn remaining(&self) -> u64 {
        self.limits.max_total_bytes.saturating_sub(self.bytes)
    }

    /// Creates every directory of `parts` under `dest`, one level at a time,
    /// refusing anything but a real directory in the way.
    fn make_dirs(&self, entry: &str, parts: &[String]) -> Result<PathBuf, ExtractError> {
        let mut path = self.dest.to_path_buf();
        for part in parts {
            path.push(part);
            match fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_dir() => {}
                Ok(_) => {
                    return Err(ExtractError::Duplicate {
                        entry: entry.to_owned(),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir(&path).map_err(io_err("create", &path))?;
                }
                Err(e) => return Err(io_err("inspect", &path)(e)),
            }
        }
        Ok(path)
    }

    fn dir(&mut self, entry: &str, parts: &[String]) -> Result<(), ExtractError> {
        self.count_entry(entry)?;
        self.make_dirs(entry, parts)?;
        Ok(())
    }

    /// Writes one regular file of `declared` bytes from `reader`; the reader
    /// must hold exactly that many.
    fn file(
        &mut self,
        entry: &str,
        parts: &[String],
        declared: u64,
        executable: bool,
        reader: &mut dyn Read,
    ) -> Result<(), ExtractError> {
        self.count_entry(entry)?;
        if declared > self.remaining() {
            return Err(ExtractError::TooLarge {
                entry: entry.to_owned(),
                limit: self.limits.max_total_bytes,
            });
        }
        let (name, dirs) = parts.split_last().expect("a file path has a name");
        let mut path = self.make_dirs(entry, dirs)?;
        path.push(name);
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(if executable { 0o755 } else { 0o644 });
        }
        #[cfg(not(unix))]
        let _ = executable;
        let mut out = match options.open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(ExtractError::Duplicate {
                    entry: entry.to_owned(),
                });
            }
            Err(e) => return Err(io_err("create", &path)(e)),
        };
        // Read at most one byte more than declared, to catch a liar.
        let mut limited = reader.take(declared.saturating_add(1));
        let mut buf = vec![0u8; 64 * 1024];
        let mut actual: u64 = 0;
        loop {
            let n = match limited.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A reader that refuses to go on (the zip crate fails a read
                // past the declared size, see `extract_zip`) is corrupt; our
                // own count below catches a lie from any other reader.
                Err(source) => {
                    return Err(ExtractError::Corrupt {
                        entry: entry.to_owned(),
                        source,
                    });
                }
            };
            actual += n as u64;
            if actual > declared {
                return Err(ExtractError::SizeMismatch {
                    entry: entry.to_owned(),
                    declared,
                });
            }
            out.write_all(&buf[..n]).map_err(io_err("write", &path))?;
        }
        if actual != declared {
            return Err(ExtractError::SizeMismatch {
                entry: entry.to_owned(),
                declared,
            });
        }
        // Not fsynced one by one (thousands of fsyncs made a large pack's
        // install take seconds): `InstallRoot::commit` makes every staged
        // tree durable at once before its journal.
        self.files += 1;
        self.bytes += actual;
        Ok(())
    }
}

/// Checks an entry's raw path; returns its name escaped for messages and
/// its normal components (possibly none, for `./`).
fn safe_parts(raw: &[u8]) -> Result<(String, Vec<String>), ExtractError> {
    let entry = entry_name::escape(raw);
    let Ok(text) = std::str::from_utf8(raw) else {
        return Err(ExtractError::BadPath {
            entry,
            reason: "it is not valid UTF-8",
        });
    };
    let bad = |reason| ExtractError::BadPath {
        entry: entry.clone(),
        reason,
    };
    if text.contains('\0') {
        return Err(bad("it contains a NUL byte"));
    }
    if text.starts_with('/') || text.starts_with('\\') {
        return Err(ExtractError::AbsolutePath { entry });
    }
    let b = text.as_bytes();
    if b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic() {
        return Err(ExtractError::AbsolutePath { entry });
    }
    let mut parts = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(ExtractError::ParentComponent { entry }),
            p if p.contains('\\') => {
                return Err(bad("it contains a backslash (a Windows separator)"));
            }
            p => parts.push(p),
        }
    }
    if let Err(problem) = entry_name::check_path(&parts) {
        return Err(ExtractError::BadName { entry, problem });
    }
    let parts = parts.into_iter().map(str::to_owned).collect();
    Ok((entry, parts))
}

/// Counts bytes read from the decompressed stream and fails past a cap, so
/// that even metadata (long names, PAX records) cannot expand without bound.
struct CappedReader<R> {
    inner: R,
    left: u64,
    tripped: Rc<Cell<bool>>,
}

impl<R: Read> Read for CappedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            self.tripped.set(true);
            return Err(io::Error::other("archive stream exceeds the size limit"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn extract_tar<R: Read>(reader: R, sink: &mut Sink<'_>) -> Result<(), ExtractError> {
    // File data plus generous room for headers and padding.
    let cap = sink
        .limits
        .max_total_bytes
        .saturating_add(sink.limits.max_entries.saturating_mul(8 * 1024))
        .saturating_add(1 << 20);
    let tripped = Rc::new(Cell::new(false));
    let limits = sink.limits;
    let capped = CappedReader {
        inner: reader,
        left: cap,
        tripped: tripped.clone(),
    };
    let mut archive = tar::Archive::new(capped);
    let mut last = String::from("<start of archive>");
    let corrupt = |last: &str, source: io::Error| {
        if tripped.get() {
            ExtractError::TooLarge {
                entry: last.to_owned(),
                limit: limits.max_total_bytes,
            }
        } else {
            ExtractError::Corrupt {
                entry: last.to_owned(),
                source,
            }
        }
    };
    let entries = archive.entries().map_err(|e| corrupt(&last, e))?;
    for item in entries {
        let mut item = item.map_err(|e| corrupt(&format!("after {last}"), e))?;
        let raw = item.path_bytes().into_owned();
        let kind = item.header().entry_type();
        if kind.is_pax_global_extensions() {
            // GitHub's `pax_global_header` (the commit id): metadata only.
            continue;
        }
        let (entry, parts) = safe_parts(&raw)?;
        last.clone_from(&entry);
        // PAX sparse files (GNU.sparse.* records) look like regular files
        // whose data is a sparse map: refuse them like GNU sparse entries.
        let sparse = item
            .pax_extensions()
            .map_err(|e| corrupt(&entry, e))?
            .is_some_and(|records| {
                records
                    .flatten()
                    .any(|r| r.key_bytes().starts_with(b"GNU.sparse."))
            });
        if sparse {
            return Err(special(entry, "PAX sparse file"));
        }
        use tar::EntryType as T;
        match kind {
            T::Regular | T::Continuous => {
                if parts.is_empty() {
                    return Err(ExtractError::BadPath {
                        entry,
                        reason: "a file entry has no name",
                    });
                }
                let mode = item.header().mode().unwrap_or(0o644);
                let declared = item.size();
                if declared > limits.max_total_bytes {
                    return Err(ExtractError::TooLarge {
                        entry,
                        limit: limits.max_total_bytes,
                    });
                }
                sink.file(&entry, &parts, declared, mode & 0o111 != 0, &mut item)
                    .map_err(|e| match e {
                        ExtractError::Corrupt { .. } if tripped.get() => ExtractError::TooLarge {
                            entry: entry.clone(),
                            limit: limits.max_total_bytes,
                        },
                        e => e,
                    })?;
            }
            T::Directory => sink.dir(&entry, &parts)?,
            T::Symlink => return Err(ExtractError::Symlink { entry }),
            T::Link => return Err(ExtractError::HardLink { entry }),
            T::Char => return Err(special(entry, "character device")),
            T::Block => return Err(special(entry, "block device")),
            T::Fifo => return Err(special(entry, "FIFO (named pipe)")),
            T::GNUSparse => return Err(special(entry, "sparse file")),
            other => {
                return Err(special(
                    entry,
                    &format!("tar entry of type `{}`", other.as_byte() as char),
                ));
            }
        }
    }
    Ok(())
}

fn special(entry: String, kind: &str) -> ExtractError {
    ExtractError::SpecialFile {
        entry,
        kind: kind.to_owned(),
    }
}

fn extract_zip(mut file: File, sink: &mut Sink<'_>) -> Result<(), ExtractError> {
    file.seek(SeekFrom::Start(0))
        .map_err(|e| zip_corrupt("<archive>", e))?;
    let mut scan = file.try_clone().map_err(|e| zip_corrupt("<archive>", e))?;
    let mut archive = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| zip_corrupt("<central directory>", io::Error::other(e)))?;
    let limits = sink.limits;
    if archive.offset() != 0 {
        return Err(ExtractError::ZipLayout {
            detail: format!(
                "{} bytes of something else precede the zip",
                archive.offset()
            ),
        });
    }
    if archive.has_duplicate_names() {
        // The reader keeps only one entry per name; name the one given twice.
        let start = archive.central_directory_start();
        let entry = duplicate_zip_name(&mut scan, start, limits.max_entries).map_or_else(
            || "<a name listed twice>".to_owned(),
            |n| entry_name::escape(&n),
        );
        return Err(ExtractError::Duplicate { entry });
    }
    if archive.len() as u64 > limits.max_entries {
        let name = archive
            .name_for_index(limits.max_entries as usize)
            .and_then(Result::ok)
            .map_or_else(|| "<entry>".to_owned(), |n| entry_name::escape_str(&n));
        return Err(ExtractError::TooManyEntries {
            entry: name,
            limit: limits.max_entries,
        });
    }
    // The central directory's declared sizes, before writing anything.
    let mut declared_total: u64 = 0;
    for i in 0..archive.len() {
        let f = archive
            .by_index_raw(i)
            .map_err(|e| zip_corrupt(&format!("entry #{i}"), io::Error::other(e)))?;
        declared_total = declared_total.saturating_add(f.size());
        if declared_total > limits.max_total_bytes {
            return Err(ExtractError::TooLarge {
                entry: entry_name::escape(f.name_raw()),
                limit: limits.max_total_bytes,
            });
        }
    }
    for i in 0..archive.len() {
        let mut f = archive
            .by_index(i)
            .map_err(|e| zip_corrupt(&format!("entry #{i}"), io::Error::other(e)))?;
        let raw = f.name_raw().to_owned();
        let (entry, parts) = safe_parts(&raw)?;
        const S_IFMT: u32 = 0o170_000;
        let mode = f.unix_mode();
        let file_type = mode.map(|m| m & S_IFMT).filter(|t| *t != 0);
        match file_type {
            Some(0o120_000) => return Err(ExtractError::Symlink { entry }),
            Some(0o020_000) => return Err(special(entry, "character device")),
            Some(0o060_000) => return Err(special(entry, "block device")),
            Some(0o010_000) => return Err(special(entry, "FIFO (named pipe)")),
            Some(0o140_000) => return Err(special(entry, "socket")),
            Some(0o040_000) | Some(0o100_000) | None => {}
            Some(other) => return Err(special(entry, &format!("file of mode {other:o}"))),
        }
        let named_dir = raw.ends_with(b"/");
        if named_dir && (file_type == Some(0o100_000) || f.size() > 0) {
            // A name that says directory over a mode or content that says
            // file: two readers could take it for two different things.
            return Err(ExtractError::BadPath {
                entry,
                reason: "its name says directory but it is marked a file or holds data",
            });
        }
        let is_dir = named_dir || file_type == Some(0o040_000);
        if is_dir {
            sink.dir(&entry, &parts)?;
            continue;
        }
        if parts.is_empty() {
            return Err(ExtractError::BadPath {
                entry,
                reason: "a file entry has no name",
            });
        }
        let declared = f.size();
        let compression = f.compression();
        let executable = mode.is_some_and(|m| m & 0o111 != 0);
        let written = sink.file(&entry, &parts, declared, executable, &mut f);
        drop(f);
        match written {
            // The zip crate fails a read that goes past an entry's declared
            // size (as it fails one whose CRC does not match): an entry
            // that holds more than it declares is told apart by counting
            // what its raw data inflates to.
            Err(ExtractError::Corrupt { .. })
                if zip_entry_exceeds(&mut archive, i, compression, declared) =>
            {
                return Err(ExtractError::SizeMismatch { entry, declared });
            }
            other => other?,
        }
    }
    Ok(())
}

/// True when zip entry `i`, stored or deflated, holds more than `declared`
/// bytes (read from its raw data, at most one byte past `declared`).
fn zip_entry_exceeds<R: Read + Seek>(
    archive: &mut zip::ZipArchive<R>,
    i: usize,
    compression: zip::CompressionMethod,
    declared: u64,
) -> bool {
    let Ok(raw) = archive.by_index_raw(i) else {
        return false;
    };
    let limit = declared.saturating_add(1);
    let counted = match compression {
        zip::CompressionMethod::Stored => io::copy(&mut raw.take(limit), &mut io::sink()),
        zip::CompressionMethod::Deflated => io::copy(
            &mut flate2::read::DeflateDecoder::new(raw).take(limit),
            &mut io::sink(),
        ),
        _ => return false,
    };
    counted.is_ok_and(|n| n > declared)
}

/// Walks the central directory's headers from `start` (at most `max`
/// plus one) and returns the first name listed twice.
fn duplicate_zip_name<R: Read + Seek>(reader: &mut R, start: u64, max: u64) -> Option<Vec<u8>> {
    reader.seek(SeekFrom::Start(start)).ok()?;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..=max {
        let mut fixed = [0u8; 46];
        reader.read_exact(&mut fixed).ok()?;
        if !fixed.starts_with(b"PK\x01\x02") {
            return None;
        }
        let field = |at: usize| u16::from_le_bytes([fixed[at], fixed[at + 1]]) as usize;
        let mut name = vec![0u8; field(28)];
        reader.read_exact(&mut name).ok()?;
        let skip = (field(30) + field(32)) as i64;
        reader.seek(SeekFrom::Current(skip)).ok()?;
        if !seen.insert(name.clone()) {
            return Some(name);
        }
    }
    None
}

fn zip_corrupt(entry: &str, source: io::Error) -> ExtractError {
    ExtractError::Corrupt {
        entry: entry.to_owned(),
        source,
    }
}

/// Unwraps a single top-level directory when nothing else (in particular no
/// `pack.yaml`) sits beside it. Returns its name.
fn strip_single_top_dir(dest: &Path) -> Result<Option<String>, ExtractError> {
    let mut names = Vec::new();
    for item in fs::read_dir(dest).map_err(io_err("list", dest))? {
        let item = item.map_err(io_err("list", dest))?;
        names.push(item.file_name());
        if names.len() > 1 {
            return Ok(None);
        }
    }
    let [top] = names.as_slice() else {
        return Ok(None);
    };
    let top_path = dest.join(top);
    let meta = fs::symlink_metadata(&top_path).map_err(io_err("inspect", &top_path))?;
    if !meta.file_type().is_dir() {
        return Ok(None);
    }
    // Move it aside under a name none of its children has, then lift them.
    let children: Vec<_> = fs::read_dir(&top_path)
        .map_err(io_err("list", &top_path))?
        .map(|c| c.map(|c| c.file_name()))
        .collect::<Result<_, _>>()
        .map_err(io_err("list", &top_path))?;
    let mut aside_name = String::from(".knap-unwrap");
    while children.iter().any(|c| *c == *aside_name) {
        aside_name.push('_');
    }
    let aside = dest.join(&aside_name);
    fs::rename(&top_path, &aside).map_err(io_err("rename", &top_path))?;
    for child in &children {
        let from = aside.join(child);
        fs::rename(&from, dest.join(child)).map_err(io_err("move", &from))?;
    }
    fs::remove_dir(&aside).map_err(io_err("remove", &aside))?;
    let name = top.to_string_lossy().into_owned();
    tracing::debug!("unwrapped the archive's top-level directory `{name}`");
    Ok(Some(name))
}
