//! Where checked entries are written: each raw entry path is checked
//! ([`safe_parts`]) and each file created under the destination, one
//! directory level at a time, within the [`Limits`].

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use knap_schema::entry_name;

use super::{ExtractError, Limits, io_err};

/// Writes checked entries under `dest`, enforcing the limits.
pub(super) struct Sink<'a> {
    dest: &'a Path,
    pub(super) limits: Limits,
    entries: u64,
    pub(super) files: u64,
    pub(super) bytes: u64,
}

impl<'a> Sink<'a> {
    pub(super) fn new(dest: &'a Path, limits: Limits) -> Self {
        Self {
            dest,
            limits,
            entries: 0,
            files: 0,
            bytes: 0,
        }
    }

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

    pub(super) fn dir(&mut self, entry: &str, parts: &[String]) -> Result<(), ExtractError> {
        self.count_entry(entry)?;
        self.make_dirs(entry, parts)?;
        Ok(())
    }

    /// Writes one regular file of `declared` bytes from `reader`; the reader
    /// must hold exactly that many.
    pub(super) fn file(
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
                // past the declared size, see `zip::extract`) is corrupt;
                // our own count below catches a lie from any other reader.
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
pub(super) fn safe_parts(raw: &[u8]) -> Result<(String, Vec<String>), ExtractError> {
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
