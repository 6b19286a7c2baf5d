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
//!
//! The modules: `detect` (the format from the bytes, polyglots refused),
//! `sink` (each entry's path checked and its file written, within the
//! limits), `tar` and `zip` (walking each format's entries into the sink);
//! this module holds the entry point, its types and the unwrapping of a
//! single top-level directory.

mod detect;
mod sink;
mod tar;
mod zip;

use std::fs::{self, File};
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

use knap_schema::entry_name::NameProblem;

pub use detect::detect_format;
use sink::Sink;

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
    let mut sink = Sink::new(dest, *limits);
    tracing::debug!(
        "extracting {} ({format:?}) into {}",
        archive.display(),
        dest.display()
    );
    match format {
        ArchiveFormat::TarGz => {
            let gz = flate2::read::GzDecoder::new(BufReader::new(file));
            tar::extract(gz, &mut sink)?;
        }
        ArchiveFormat::Tar => tar::extract(BufReader::new(file), &mut sink)?,
        ArchiveFormat::Zip => zip::extract(file, &mut sink)?,
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

/// A refusal of an entry that is neither a regular file nor a directory.
fn special(entry: String, kind: &str) -> ExtractError {
    ExtractError::SpecialFile {
        entry,
        kind: kind.to_owned(),
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
