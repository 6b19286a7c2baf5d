//! Tar and tar.gz: every entry (GNU long names and PAX records resolved by
//! the `tar` crate) checked and written through the sink; links, devices,
//! FIFOs and sparse files refused; the decompressed stream capped.

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

use super::sink::{Sink, safe_parts};
use super::{ExtractError, special};

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

pub(super) fn extract<R: Read>(reader: R, sink: &mut Sink<'_>) -> Result<(), ExtractError> {
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
    let mut archive = ::tar::Archive::new(capped);
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
        use ::tar::EntryType as T;
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
