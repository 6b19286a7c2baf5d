//! The pack tree digest: the checksum of a git source and of an installed
//! pack, byte-compatible with the Attune standard index.
//!
//! ```text
//! files  = every regular file under the pack root, excluding every file or
//!          directory named `.git`, at any depth (with all it contains)
//! path   = relative, '/'-separated, UTF-8 (anything else is an error)
//! order  = component by component, each component by its bytes (Rust's
//!          `Path` order): `a/b` before `a.b`, `a/c` before `a-b/c`
//! digest = SHA-256 over, per file: b"attune-pack-file-v1" || u64be(len(path)) || path
//!                                  || u64be(len(content)) || content
//! ```
//!
//! Files are streamed through a fixed buffer, so a digest never holds a whole
//! file in memory. Symlinks, hard links, devices, FIFOs and sockets are
//! errors: a pack is only regular files and directories.
//!
//! This is the rule of Attune's own client (`calculate_directory_checksum`
//! walks the tree, skips `.git` below the root and sorts `Path`s). An
//! older knap sorted by the bytes of the whole path and skipped only the
//! top-level `.git`; [`legacy_tree_digest`] still computes that rule, so a
//! root installed by an older knap can be verified (formats.md §2).

use std::cmp::Ordering;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

const FILE_TAG: &[u8] = b"attune-pack-file-v1";
const BUF_SIZE: usize = 256 * 1024;

/// The digest of a pack tree, with what went into it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TreeDigest {
    /// `sha256:<64 hex>`.
    pub checksum: String,
    pub files: u64,
    pub bytes: u64,
}

/// A regular file of a pack, as the digest sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackFile {
    /// Relative, '/'-separated.
    pub path: String,
    pub full: PathBuf,
    pub size: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error("{0}: not a directory")]
    NotADirectory(PathBuf),
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{0}: the file name is not UTF-8; pack paths must be UTF-8")]
    NonUtf8(PathBuf),
    #[error("{0}: a symbolic link; packs may hold only regular files and directories")]
    Symlink(PathBuf),
    #[error(
        "{0}: a hard link (the file has several names); packs may hold only plain regular files"
    )]
    HardLink(PathBuf),
    #[error("{path}: a {kind}; packs may hold only regular files and directories")]
    Special { path: PathBuf, kind: &'static str },
    #[error("{0}: the file changed while it was read")]
    Changed(PathBuf),
    /// A name that installing the pack would refuse (a control character,
    /// a `.git` spelling, an over-long name): refused when the pack is
    /// made, not only when it is installed. `path` is escaped for printing.
    #[error("{path}: refused as a name in a pack: {problem}")]
    BadName {
        path: String,
        problem: crate::entry_name::NameProblem,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> DigestError + '_ {
    move |source| DigestError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The digest's order of two '/'-separated relative paths: component by
/// component, each by its bytes (what Rust's `Path` ordering gives for
/// relative paths of normal components). `a/b` < `a.b`; `a/c` < `a-b/c`.
pub fn path_order(a: &str, b: &str) -> Ordering {
    a.split('/').cmp(b.split('/'))
}

/// The digest skips a file or directory with exactly this name, at any
/// depth (Attune's rule: case-sensitive, no trimming).
pub fn is_skipped_git(name: &OsStr) -> bool {
    name == ".git"
}

/// A name that a filesystem or git may treat as `.git`: `.git` in any
/// case, with any trailing dots and spaces (`.GIT`, `.Git`, `.git.`,
/// `.git  `), and the other spellings [`crate::entry_name::is_dot_git`]
/// lists (the one rule the extractor and git sources refuse by). An
/// installed pack never holds one: the digest cannot see an exact `.git`,
/// and git itself would act on the others on case-insensitive filesystems.
pub fn is_git_like(name: &OsStr) -> bool {
    name.to_str().is_some_and(crate::entry_name::is_dot_git)
}

/// Which digest rule a tree is hashed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// formats.md §2 as of now: Attune's `Path` order, `.git` skipped at
    /// any depth.
    Attune,
    /// An older knap's rule: the bytes of the whole path, only the top-level
    /// `.git` skipped. Read-only: only to verify roots an older knap
    /// installed.
    LegacyBytes,
}

impl Rule {
    fn order(self, a: &str, b: &str) -> Ordering {
        match self {
            Rule::Attune => path_order(a, b),
            Rule::LegacyBytes => a.as_bytes().cmp(b.as_bytes()),
        }
    }

    fn skips(self, e: &walkdir::DirEntry) -> bool {
        match self {
            Rule::Attune => is_skipped_git(e.file_name()),
            Rule::LegacyBytes => e.depth() == 1 && e.file_name() == ".git",
        }
    }
}

/// Lists the regular files of a pack in digest order, refusing anything
/// that is not a regular file or directory.
pub fn pack_files(root: &Path) -> Result<Vec<PackFile>, DigestError> {
    pack_files_with(root, Rule::Attune)
}

fn pack_files_with(root: &Path, rule: Rule) -> Result<Vec<PackFile>, DigestError> {
    let meta = std::fs::metadata(root).map_err(io_err(root))?;
    if !meta.is_dir() {
        return Err(DigestError::NotADirectory(root.to_owned()));
    }
    let mut files = Vec::new();
    for entry in walk(root, move |e| rule.skips(e)) {
        let entry = entry.map_err(|(path, source)| DigestError::Io { path, source })?;
        let ft = entry.file_type();
        let full = entry.path();
        let rel = relative_path(root, full)?;
        if ft.is_dir() {
            continue;
        }
        if ft.is_symlink() {
            return Err(DigestError::Symlink(full.to_owned()));
        }
        if !ft.is_file() {
            return Err(DigestError::Special {
                path: full.to_owned(),
                kind: special_kind(&ft),
            });
        }
        let meta = entry.metadata().map_err(|e| DigestError::Io {
            path: full.to_owned(),
            source: e.into(),
        })?;
        if hard_linked(&meta) {
            return Err(DigestError::HardLink(full.to_owned()));
        }
        files.push(PackFile {
            path: rel,
            full: full.to_owned(),
            size: meta.len(),
        });
    }
    files.sort_unstable_by(|a, b| rule.order(&a.path, &b.path));
    Ok(files)
}

/// [`pack_files`] of a pack being made or installed from a directory
/// (`knap-index checksum`, `entry`, `pack`, `knap install DIR`): also
/// refusing every name that installing its archive would refuse
/// ([`crate::entry_name::check_path`]: control characters, `.git` in any
/// spelling, over-long names), so that an author learns it now. The digest
/// itself hashes any tree, as Attune's does.
pub fn publishable_files(root: &Path) -> Result<Vec<PackFile>, DigestError> {
    let files = pack_files(root)?;
    for f in &files {
        let components: Vec<&str> = f.path.split('/').collect();
        crate::entry_name::check_path(&components).map_err(|problem| DigestError::BadName {
            path: crate::entry_name::escape(f.full.as_os_str().as_encoded_bytes()),
            problem,
        })?;
    }
    Ok(files)
}

/// Every entry below a pack's `root`, in walk order: links not followed
/// (except `root` itself), `root` itself left out, and whatever `skip`
/// names skipped with what it holds (the digest skips every `.git`).
/// `skip` sees every entry below `root` once; an error carries the path it
/// is about.
pub fn walk<'a>(
    root: &'a Path,
    mut skip: impl FnMut(&walkdir::DirEntry) -> bool + 'a,
) -> impl Iterator<Item = Result<walkdir::DirEntry, (PathBuf, io::Error)>> + 'a {
    walkdir::WalkDir::new(root)
        .min_depth(1)
        .follow_links(false)
        .follow_root_links(true)
        .into_iter()
        .filter_entry(move |e| !skip(e))
        .map(move |entry| {
            entry.map_err(|e| {
                let path = e.path().unwrap_or(root).to_owned();
                let source = e
                    .into_io_error()
                    .unwrap_or_else(|| io::Error::other("filesystem loop"));
                (path, source)
            })
        })
}

fn relative_path(root: &Path, full: &Path) -> Result<String, DigestError> {
    let rel = full.strip_prefix(root).unwrap_or(full);
    let mut out = String::new();
    for (i, c) in rel.components().enumerate() {
        let s = c
            .as_os_str()
            .to_str()
            .ok_or_else(|| DigestError::NonUtf8(full.to_owned()))?;
        if i > 0 {
            out.push('/');
        }
        out.push_str(s);
    }
    Ok(out)
}

/// True when a regular file has other names (a hard link), which a pack
/// may not hold.
#[cfg(unix)]
pub fn hard_linked(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    meta.nlink() > 1
}

/// True when a regular file has other names (never known off Unix).
#[cfg(not(unix))]
pub fn hard_linked(_meta: &std::fs::Metadata) -> bool {
    false
}

/// What a file that is neither a regular file, a directory nor a link is,
/// in words for an error message.
#[cfg(unix)]
pub fn special_kind(ft: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_fifo() {
        "FIFO"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_block_device() || ft.is_char_device() {
        "device"
    } else {
        "special file"
    }
}

/// What a special file is, in words (no detail off Unix).
#[cfg(not(unix))]
pub fn special_kind(_ft: &std::fs::FileType) -> &'static str {
    "special file"
}

/// Computes the pack tree digest of the directory `root`.
pub fn tree_digest(root: &Path) -> Result<TreeDigest, DigestError> {
    let files = pack_files(root)?;
    digest_files(&files)
}

/// The digest by an older knap's rule ([`Rule::LegacyBytes`]): what
/// an older knap wrote in `knap.lock` and its per-file records. Only for
/// checking a root it installed; nothing new is published with it.
pub fn legacy_tree_digest(root: &Path) -> Result<TreeDigest, DigestError> {
    let files = pack_files_with(root, Rule::LegacyBytes)?;
    digest_files(&files)
}

/// [`legacy_tree_digest`] when it can differ from [`tree_digest`]: `None`
/// when both rules list the same files in the same order (most packs),
/// which costs a listing of the tree, not a second read of every file. For
/// callers that already found the current digest wrong.
pub fn legacy_tree_digest_if_other(root: &Path) -> Result<Option<TreeDigest>, DigestError> {
    let legacy = pack_files_with(root, Rule::LegacyBytes)?;
    let current = pack_files_with(root, Rule::Attune)?;
    if legacy.len() == current.len() && legacy.iter().zip(&current).all(|(a, b)| a.path == b.path) {
        return Ok(None);
    }
    digest_files(&legacy).map(Some)
}

/// The pack tree digest as it is fed, file by file in digest order:
/// [`file`](Self::file) writes a file's framing (the tag, the length of its
/// path, the path, the length of its content), then its content goes
/// through [`update`](Self::update). The one place the framing is written:
/// [`digest_files`], [`digest_entries`] and the installer's parallel scan
/// all feed one.
#[derive(Clone, Default)]
pub struct TreeHasher(Sha256);

impl TreeHasher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts the next file: `path` (relative, '/'-separated) holding
    /// `size` bytes, which must follow through [`update`](Self::update).
    pub fn file(&mut self, path: &str, size: u64) {
        self.0.update(FILE_TAG);
        self.0.update((path.len() as u64).to_be_bytes());
        self.0.update(path.as_bytes());
        self.0.update(size.to_be_bytes());
    }

    /// Content of the current file.
    pub fn update(&mut self, content: &[u8]) {
        self.0.update(content);
    }

    /// The digest, `sha256:<64 hex>`.
    pub fn finish(self) -> String {
        format!("sha256:{:x}", self.0.finalize())
    }
}

/// Which digest rule gives the tree in `dir` the digest `lock` records,
/// knowing its digest by the current rule is `current`: [`Rule::Attune`]
/// when `current` is it; [`Rule::LegacyBytes`] when an older knap's rule
/// gives it (a root that knap installed: computed only then, and only when
/// the two rules list the files differently); `None` when neither does.
/// The one answer to "is this pack the tree `knap.lock` names" for every
/// caller that allows a root an older knap installed.
pub fn rule_matching(dir: &Path, current: &str, lock: &crate::Checksum) -> Option<Rule> {
    if *lock == *current {
        return Some(Rule::Attune);
    }
    legacy_tree_digest_if_other(dir)
        .is_ok_and(|d| d.is_some_and(|d| *lock == d.checksum))
        .then_some(Rule::LegacyBytes)
}

/// Computes the digest of files already listed in digest order.
pub fn digest_files(files: &[PackFile]) -> Result<TreeDigest, DigestError> {
    let mut hasher = TreeHasher::new();
    let mut buf = vec![0u8; BUF_SIZE];
    let mut bytes = 0u64;
    for f in files {
        hasher.file(&f.path, f.size);
        let mut file = open_listed(&f.full)?;
        let mut left = f.size;
        loop {
            let n = file.read(&mut buf).map_err(io_err(&f.full))?;
            if n == 0 {
                break;
            }
            if n as u64 > left {
                return Err(DigestError::Changed(f.full.clone()));
            }
            left -= n as u64;
            hasher.update(&buf[..n]);
        }
        if left != 0 {
            return Err(DigestError::Changed(f.full.clone()));
        }
        bytes += f.size;
    }
    Ok(TreeDigest {
        checksum: hasher.finish(),
        files: files.len() as u64,
        bytes,
    })
}

/// Opens a file [`pack_files`] listed: without blocking or following a
/// link, so a file swapped for a FIFO or a link since it was listed is
/// refused rather than read.
pub fn open_listed(path: &Path) -> Result<File, DigestError> {
    use crate::fs::{FileError, Links, open};
    match open(path, Links::Refuse) {
        Ok((file, _)) => Ok(file),
        Err(FileError::Symlink { path }) => Err(DigestError::Symlink(path)),
        Err(FileError::NotRegular { path, kind }) => Err(DigestError::Special { path, kind }),
        Err(e) => Err(DigestError::Io {
            path: path.to_owned(),
            source: e.into(),
        }),
    }
}

/// The digest of an in-memory tree given as `(path, content)` pairs, in any
/// order: the same function over bytes (used by tests and by archive
/// checks). A path with a `.git` component is skipped, as on disk.
pub fn digest_entries<'a>(entries: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut entries: Vec<_> = entries
        .into_iter()
        .filter(|(p, _)| !p.split('/').any(|c| c == ".git"))
        .collect();
    entries.sort_unstable_by(|a, b| path_order(a.0, b.0));
    let mut hasher = TreeHasher::new();
    for (path, content) in entries {
        hasher.file(path, content.len() as u64);
        hasher.update(content);
    }
    hasher.finish()
}

/// The SHA-256 of a file's bytes, as `sha256:<hex>` (an archive's
/// checksum). A FIFO, socket or device is refused without blocking
/// ([`crate::fs`]); a link is followed (the file is one a user named).
/// Such a file is an error of kind `InvalidInput` that says what it is.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let (mut file, _) = crate::fs::open(path, crate::fs::Links::Follow)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; BUF_SIZE];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("sha256:{:x}", hasher.finalize()))
}

/// `sha256:` + lowercase hex.
pub fn format_sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", crate::hex::encode(bytes))
}
