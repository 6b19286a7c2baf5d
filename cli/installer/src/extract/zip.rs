//! Zip: the central directory checked first (nothing before the first
//! entry, no name twice, the declared sizes within the limits), then each
//! entry by its Unix mode, checked and written through the sink.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};

use knap_schema::entry_name;

use super::sink::{Sink, safe_parts};
use super::{ExtractError, special};

pub(super) fn extract(mut file: File, sink: &mut Sink<'_>) -> Result<(), ExtractError> {
    file.seek(SeekFrom::Start(0))
        .map_err(|e| zip_corrupt("<archive>", e))?;
    let mut scan = file.try_clone().map_err(|e| zip_corrupt("<archive>", e))?;
    let mut archive = ::zip::ZipArchive::new(BufReader::new(file))
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
    archive: &mut ::zip::ZipArchive<R>,
    i: usize,
    compression: ::zip::CompressionMethod,
    declared: u64,
) -> bool {
    let Ok(raw) = archive.by_index_raw(i) else {
        return false;
    };
    let limit = declared.saturating_add(1);
    let counted = match compression {
        ::zip::CompressionMethod::Stored => io::copy(&mut raw.take(limit), &mut io::sink()),
        ::zip::CompressionMethod::Deflated => io::copy(
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
