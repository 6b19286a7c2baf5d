//! Reading and writing index files: validation on the way in, atomic
//! replacement (temporary file, fsync, rename) on the way out, and the
//! file's own indentation kept so diffs stay small.

use std::path::Path;

use knap_schema::Index;
use knap_schema::problem::Problems;
use knap_schema::validate::{Compat, check_index_text};
use serde::Serialize;

use crate::failure::{Kind, fail};

/// An index read from disk, with how it was indented.
pub struct IndexFile {
    pub index: Index,
    pub indent: Vec<u8>,
    pub warnings: Problems,
}

/// The largest index or entry file read (a hundred times a real index).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024 * 1024;

/// Reads a file named on the command line as text, through
/// [`knap_schema::fs`]: a FIFO or device is refused at once (exit 2)
/// rather than waited on.
pub fn read_named(path: &Path) -> anyhow::Result<String> {
    use knap_schema::fs::{FileError, Links, read_to_string};
    read_to_string(path, Links::Follow, MAX_FILE_BYTES).map_err(|e| match e {
        FileError::Io { error, .. } => {
            anyhow::Error::new(error).context(format!("cannot read {}", path.display()))
        }
        FileError::TooLarge { .. } => fail(Kind::Integrity, e.to_string()),
        other => fail(Kind::Usage, other.to_string()),
    })
}

/// Reads a file that a registry or a site holds (not one named on the
/// command line) through [`knap_schema::fs`], following a link: a FIFO, a
/// device or a file over `limit` is invalid input (exit 4) rather than
/// waited on; `None` when there is no such file.
pub fn read_held(path: &Path, limit: u64) -> anyhow::Result<Option<Vec<u8>>> {
    use knap_schema::fs::{FileError, Links, read_if_exists};
    read_if_exists(path, Links::Follow, limit).map_err(|e| match e {
        FileError::Io { error, .. } => {
            anyhow::Error::new(error).context(format!("cannot read {}", path.display()))
        }
        other => fail(Kind::Integrity, other.to_string()),
    })
}

/// Reads and validates an index; any error makes it unusable (exit 4).
pub fn read_index(path: &Path) -> anyhow::Result<IndexFile> {
    let text = read_named(path)?;
    let (index, problems) = check_index_text(&text, Compat::Knap);
    match index {
        Some(index) if !problems.has_errors() => Ok(IndexFile {
            index,
            indent: detect_indent(&text),
            warnings: problems,
        }),
        _ => Err(fail(
            Kind::Integrity,
            format!(
                "{} is not a valid index:\n{}",
                path.display(),
                indent_lines(&problems)
            ),
        )),
    }
}

/// Formats problems one per line, indented.
pub fn indent_lines(problems: &Problems) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The indentation of the first indented line (two spaces if none).
pub fn detect_indent(text: &str) -> Vec<u8> {
    text.lines()
        .map(|l| {
            l.bytes()
                .take_while(|b| *b == b' ' || *b == b'\t')
                .collect::<Vec<u8>>()
        })
        .find(|i| !i.is_empty())
        .unwrap_or_else(|| b"  ".to_vec())
}

/// Pretty JSON with the given indentation and a final newline.
pub fn to_json(value: &impl Serialize, indent: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(indent);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    value.serialize(&mut ser).expect("JSON serialises");
    out.push(b'\n');
    out
}

/// Replaces `path` with `bytes` atomically: a temporary file in the same
/// directory, fsync, rename, fsync of the directory. A crash leaves either
/// the old file or the new one, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    Ok(knap_schema::atomic::write_atomic(path, bytes)?)
}

/// Now (or `SOURCE_DATE_EPOCH`), as RFC 3339 UTC with seconds.
pub fn now_rfc3339() -> String {
    let t = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .unwrap_or_else(jiff::Timestamp::now);
    knap_schema::datetime::format_utc_seconds(t)
}

/// Parses an RFC 3339 timestamp, for comparing `last_updated` values.
pub fn parse_time(s: &str) -> Option<jiff::Timestamp> {
    knap_schema::datetime::parse_rfc3339(s).ok()
}

/// Prints warnings to stderr, prefixed with the file they are about.
pub fn print_warnings(file: &Path, problems: &Problems) {
    for w in problems.warnings() {
        tell!("warning: {}: {}: {}", file.display(), w.path, w.message);
    }
}
