//! The per-file record of an installed pack, and the parallel scan that
//! makes it at commit time and checks a pack against it later.
//!
//! A record lists every file of a pack tree with its size and SHA-256. It
//! lives at `<root>/.knap/files/<ref>.<hex>.json`, where `<hex>` is the
//! pack tree digest it was computed with, so a record is immutable and
//! names the exact tree it describes: `knap.lock`'s `tree` field picks the
//! live record of each pack, and a record the lock does not name is
//! garbage (see `root.rs`). That is what keeps the two from disagreeing.
//!
//! [`scan`] reads every file once: worker threads read and hash the files
//! (one SHA-256 each) while the calling thread feeds the same bytes, in
//! digest order, into the pack tree digest (formats.md §2; equal to
//! `knap_schema::tree_digest`). [`scan_tree`] is the same without the
//! per-file hashes, for the common case of a check that finds nothing.
//! [`compare`] names what changed, was added or went missing against a
//! record.
//!
//! An installed pack never holds a `.git` entry (any depth, any case, with
//! trailing dots or spaces: [`knap_schema::digest::is_git_like`]): the
//! digest cannot see an exact `.git`, so one would be an unverified file
//! (a planted `core.fsmonitor` runs on the next `git status`). A scan
//! lists each such entry as irregular (kind ".git entry"), without
//! descending, so verify reports it as added and a restore replaces the
//! pack.
//!
//! Record version 2 is written by this knap (files in the digest's `Path`
//! order, `.git` skipped at any depth); version 1 records, written by an
//! older knap whose digest sorted by path bytes, are still read:
//! [`compare`] does not depend on the order of a record's files.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, mpsc};

use knap_schema::digest::{TreeHasher, hard_linked, is_git_like, path_order, special_kind, walk};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The record format version written: 2, the digest in Attune's `Path`
/// order.
pub const RECORD_VERSION: u32 = 2;

/// The record versions read: 1 (an older knap's byte-order digest) and 2.
pub const RECORD_VERSIONS_READ: [u32; 2] = [1, RECORD_VERSION];

/// Files up to this size are read whole by a worker and handed to the tree
/// hasher; larger ones are streamed twice (bounded memory).
const INLINE_MAX: u64 = 128 * 1024;
/// Files a worker reads per hand-off to the tree hasher (one wake-up per
/// chunk, not per file).
const CHUNK: usize = 32;
/// How far workers may run ahead of the tree hasher, in chunks: at most
/// WINDOW * CHUNK * INLINE_MAX bytes are held (32 MiB).
const WINDOW: usize = 8;
const BUF_SIZE: usize = 256 * 1024;

/// Every file of an installed pack as it was committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    pub version: u32,
    #[serde(rename = "ref")]
    pub pack_ref: String,
    /// The pack tree digest of exactly these files.
    pub tree: String,
    /// In digest order (version 2) or by the bytes of `path` (version 1).
    pub files: Vec<RecordedFile>,
}

/// One file of a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedFile {
    /// Relative, '/'-separated.
    pub path: String,
    pub size: u64,
    /// Lowercase hex SHA-256 of the content.
    pub sha256: String,
}

/// What [`scan`] found in a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// The pack tree digest, `None` when the directory holds something a
    /// pack may not (then [`irregular`](Self::irregular) says what).
    pub tree: Option<String>,
    /// Regular files, in digest order.
    pub files: Vec<ScannedFile>,
    /// Symlinks, hard links, devices, FIFOs, sockets, non-UTF-8 names and
    /// `.git` entries.
    pub irregular: Vec<Irregular>,
    /// Whether each file's SHA-256 was computed ([`scan`]) or left zero
    /// ([`scan_tree`]).
    pub per_file: bool,
}

/// One regular file of a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedFile {
    pub path: String,
    pub size: u64,
    pub sha256: [u8; 32],
}

/// An entry a pack may not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Irregular {
    /// Relative path (lossy when not UTF-8).
    pub path: String,
    /// "symbolic link", "hard link", "FIFO", "socket", "device",
    /// "non-UTF-8 name", ...
    pub kind: &'static str,
}

/// Why a scan could not finish.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("{}: not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: the file changed while it was read; run the command again", .0.display())]
    Changed(PathBuf),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ScanError + '_ {
    move |source| ScanError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Opens a file the walk listed as regular: without blocking or following
/// a link, so one swapped for a FIFO or a link meanwhile is an error, not
/// a hang or a read elsewhere.
fn open_scanned(path: &Path) -> Result<File, ScanError> {
    knap_schema::fs::open(path, knap_schema::fs::Links::Refuse)
        .map(|(file, _)| file)
        .map_err(|e| io_err(path)(e.into()))
}

/// The files of a scan compared with a record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// In both, with other content (or now not a regular file).
    pub changed: Vec<String>,
    /// Present now, not in the record.
    pub added: Vec<String>,
    /// In the record, gone now.
    pub missing: Vec<String>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.added.is_empty() && self.missing.is_empty()
    }
}

impl Scan {
    /// The record of this scan, for `pack_ref`; `None` when the tree holds
    /// something a pack may not.
    pub fn to_record(&self, pack_ref: &str) -> Option<FileRecord> {
        assert!(self.per_file, "a record needs the per-file hashes");
        let tree = self.tree.clone()?;
        Some(FileRecord {
            version: RECORD_VERSION,
            pack_ref: pack_ref.to_owned(),
            tree,
            files: self
                .files
                .iter()
                .map(|f| RecordedFile {
                    path: f.path.clone(),
                    size: f.size,
                    sha256: knap_schema::hex::encode(&f.sha256),
                })
                .collect(),
        })
    }
}

/// Names every file that differs between `record` and `scan`, each list
/// sorted by path. An irregular entry is `changed` when the record has a
/// file at its path, else `added`. The record's files may be in any order
/// (version 1 records are in byte order).
pub fn compare(record: &FileRecord, scan: &Scan) -> Diff {
    assert!(scan.per_file, "compare needs the per-file hashes of `scan`");
    let mut diff = Diff::default();
    let mut rec: Vec<&RecordedFile> = record.files.iter().collect();
    rec.sort_unstable_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    let mut now: Vec<&ScannedFile> = scan.files.iter().collect();
    now.sort_unstable_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    let (rec, now) = (&rec, &now);
    let (mut i, mut j) = (0, 0);
    while i < rec.len() || j < now.len() {
        let order = match (rec.get(i), now.get(j)) {
            (Some(a), Some(b)) => a.path.as_bytes().cmp(b.path.as_bytes()),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, _) => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Less => {
                diff.missing.push(rec[i].path.clone());
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                diff.added.push(now[j].path.clone());
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                let (a, b) = (&rec[i], &now[j]);
                if a.size != b.size
                    || !a
                        .sha256
                        .eq_ignore_ascii_case(&knap_schema::hex::encode(&b.sha256))
                {
                    diff.changed.push(a.path.clone());
                }
                i += 1;
                j += 1;
            }
        }
    }
    for irr in &scan.irregular {
        if let Some(k) = diff.missing.iter().position(|m| *m == irr.path) {
            diff.missing.remove(k);
            diff.changed.push(irr.path.clone());
        } else {
            diff.added.push(irr.path.clone());
        }
    }
    diff.changed.sort();
    diff.added.sort();
    diff
}

/// A listed regular file.
struct Listed {
    path: String,
    full: PathBuf,
}

/// Lists, reads and hashes every regular file under `dir` (every `.git`
/// entry listed as irregular instead), on every core: the tree digest and
/// each file's SHA-256.
pub fn scan(dir: &Path) -> Result<Scan, ScanError> {
    scan_with(dir, true)
}

/// [`scan`] without the per-file hashes (left zero): the tree digest alone,
/// which is all a check against `knap.lock` needs until it differs.
pub fn scan_tree(dir: &Path) -> Result<Scan, ScanError> {
    scan_with(dir, false)
}

fn scan_with(dir: &Path, per_file: bool) -> Result<Scan, ScanError> {
    let meta = std::fs::metadata(dir).map_err(io_err(dir))?;
    if !meta.is_dir() {
        return Err(ScanError::NotADirectory(dir.to_owned()));
    }
    let (listed, mut irregular) = list(dir)?;
    let (tree, hashed) = hash_all(&listed, per_file)?;
    let mut files = Vec::with_capacity(listed.len());
    for (l, h) in listed.into_iter().zip(hashed) {
        if h.hard_link {
            irregular.push(Irregular {
                path: l.path,
                kind: "hard link",
            });
        } else {
            files.push(ScannedFile {
                path: l.path,
                size: h.size,
                sha256: h.sha256,
            });
        }
    }
    irregular.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Scan {
        tree: irregular.is_empty().then_some(tree),
        files,
        irregular,
        per_file,
    })
}

fn list(dir: &Path) -> Result<(Vec<Listed>, Vec<Irregular>), ScanError> {
    let mut files = Vec::new();
    let mut irregular = Vec::new();
    let git = std::cell::RefCell::new(Vec::new());
    for entry in walk(dir, |e| {
        let found = is_git_like(e.file_name());
        if found {
            git.borrow_mut().push(e.path().to_owned());
        }
        found
    }) {
        let entry = entry.map_err(|(path, source)| ScanError::Io { path, source })?;
        let ft = entry.file_type();
        let full = entry.path();
        let rel = full.strip_prefix(dir).unwrap_or(full);
        let path = match rel.to_str() {
            Some(s) => s.replace(std::path::MAIN_SEPARATOR, "/"),
            None => {
                irregular.push(Irregular {
                    path: rel.to_string_lossy().into_owned(),
                    kind: "non-UTF-8 name",
                });
                continue;
            }
        };
        if ft.is_dir() {
            continue;
        }
        // Hard links are found by the readers (one fstat per file).
        let kind = if ft.is_symlink() {
            Some("symbolic link")
        } else if !ft.is_file() {
            Some(special_kind(&ft))
        } else {
            None
        };
        match kind {
            Some(kind) => irregular.push(Irregular { path, kind }),
            None => files.push(Listed {
                path,
                full: full.to_owned(),
            }),
        }
    }
    for full in git.into_inner() {
        let rel = full.strip_prefix(dir).unwrap_or(&full);
        irregular.push(Irregular {
            path: rel
                .to_string_lossy()
                .replace(std::path::MAIN_SEPARATOR, "/"),
            kind: ".git entry",
        });
    }
    files.sort_unstable_by(|a, b| path_order(&a.path, &b.path));
    irregular.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((files, irregular))
}

/// What a worker produced for one file.
struct Hashed {
    size: u64,
    sha256: [u8; 32],
    /// The file has other names (a hard link).
    hard_link: bool,
    /// Where the content is in its chunk's buffer when small; `None`: the
    /// tree hasher streams it itself.
    inline: Option<std::ops::Range<usize>>,
}

/// What a worker hands over for a chunk of files: one buffer holding the
/// contents of its small files (recycled, so its pages are not faulted in
/// again for every chunk), and what was found for each file.
struct Chunk {
    data: Vec<u8>,
    files: Vec<Hashed>,
}

/// Hashes every file (workers, a chunk of files at a time) and the tree
/// digest (this thread, in order). Returns the tree digest and what was
/// found for each file, in list order (contents dropped).
fn hash_all(files: &[Listed], per_file: bool) -> Result<(String, Vec<Hashed>), ScanError> {
    let n = files.len();
    let chunks = n.div_ceil(CHUNK);
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8)
        .min(chunks.max(1));
    let next = AtomicUsize::new(0);
    let consumed = Mutex::new(0usize);
    let advanced = Condvar::new();
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<(usize, Result<Chunk, ScanError>)>();
    let pool: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

    std::thread::scope(|s| {
        for _ in 0..workers {
            let tx = tx.clone();
            let (next, consumed, advanced, stop, pool) =
                (&next, &consumed, &advanced, &stop, &pool);
            s.spawn(move || {
                let mut buf = vec![0u8; BUF_SIZE];
                loop {
                    let c = next.fetch_add(1, Ordering::Relaxed);
                    if c >= chunks {
                        break;
                    }
                    {
                        let mut done = consumed.lock().expect("scan gate");
                        while c >= *done + WINDOW && !stop.load(Ordering::Relaxed) {
                            done = advanced.wait(done).expect("scan gate");
                        }
                    }
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let range = c * CHUNK..((c + 1) * CHUNK).min(n);
                    let mut data = pool.lock().expect("buffer pool").pop().unwrap_or_default();
                    data.clear();
                    let r = files[range]
                        .iter()
                        .map(|f| read_and_hash(&f.full, per_file, &mut data, &mut buf))
                        .collect::<Result<Vec<_>, _>>()
                        .map(|files| Chunk { data, files });
                    if tx.send((c, r)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);

        let mut tree = TreeHasher::new();
        let mut out: Vec<Hashed> = Vec::with_capacity(n);
        let mut pending: VecDeque<Option<Chunk>> = VecDeque::new();
        let mut buf = vec![0u8; BUF_SIZE];
        let mut failure = None;
        let mut done_chunks = 0;
        'receive: for (c, r) in &rx {
            let chunk = match r {
                Ok(h) => h,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            let slot = c - done_chunks;
            if pending.len() <= slot {
                pending.resize_with(slot + 1, || None);
            }
            pending[slot] = Some(chunk);
            let before = done_chunks;
            while let Some(Some(_)) = pending.front() {
                let chunk = pending.pop_front().flatten().expect("checked above");
                for h in chunk.files {
                    let f = &files[out.len()];
                    tree.file(&f.path, h.size);
                    match &h.inline {
                        Some(range) => tree.update(&chunk.data[range.clone()]),
                        None => {
                            if let Err(e) = stream_into(&mut tree, &f.full, h.size, &mut buf) {
                                failure = Some(e);
                                break 'receive;
                            }
                        }
                    }
                    out.push(h);
                }
                pool.lock().expect("buffer pool").push(chunk.data);
                done_chunks += 1;
            }
            if done_chunks != before {
                *consumed.lock().expect("scan gate") = done_chunks;
                advanced.notify_all();
            }
        }
        if let Some(e) = failure {
            stop.store(true, Ordering::Relaxed);
            drop(consumed.lock().expect("scan gate"));
            advanced.notify_all();
            drop(rx);
            return Err(e);
        }
        assert_eq!(out.len(), n, "every file was hashed");
        Ok((tree.finish(), out))
    })
}

/// Reads one file: one open, one fstat, one read (none when empty) for a
/// small file; its size, link count and (when `per_file`) SHA-256, and its
/// bytes (appended to `data`) when small.
fn read_and_hash(
    path: &Path,
    per_file: bool,
    data: &mut Vec<u8>,
    buf: &mut [u8],
) -> Result<Hashed, ScanError> {
    let mut file = open_scanned(path)?;
    let meta = file.metadata().map_err(io_err(path))?;
    let hard_link = hard_linked(&meta);
    let len = meta.len();
    if len <= INLINE_MAX {
        // Exactly the size fstat gave (a file that shrank ends early; one
        // that grows while it is read is not a state worth reading more of).
        let start = data.len();
        data.resize(start + len as usize, 0);
        let mut end = start;
        while end < data.len() {
            let k = file.read(&mut data[end..]).map_err(io_err(path))?;
            if k == 0 {
                break;
            }
            end += k;
        }
        data.truncate(end);
        return Ok(Hashed {
            size: (end - start) as u64,
            sha256: if per_file {
                Sha256::digest(&data[start..end]).into()
            } else {
                [0; 32]
            },
            hard_link,
            inline: Some(start..end),
        });
    }
    if !per_file {
        // The tree hasher streams it; only the size is needed here.
        return Ok(Hashed {
            size: len,
            sha256: [0; 32],
            hard_link,
            inline: None,
        });
    }
    let mut h = Sha256::new();
    let mut size = 0u64;
    loop {
        let k = file.read(buf).map_err(io_err(path))?;
        if k == 0 {
            break;
        }
        size += k as u64;
        h.update(&buf[..k]);
    }
    Ok(Hashed {
        size,
        sha256: h.finalize().into(),
        hard_link,
        inline: None,
    })
}

/// Feeds exactly `size` bytes of `path` into `tree`.
fn stream_into(
    tree: &mut TreeHasher,
    path: &Path,
    size: u64,
    buf: &mut [u8],
) -> Result<(), ScanError> {
    let mut file = open_scanned(path)?;
    let mut left = size;
    loop {
        let k = file.read(buf).map_err(io_err(path))?;
        if k == 0 {
            break;
        }
        if k as u64 > left {
            return Err(ScanError::Changed(path.to_owned()));
        }
        left -= k as u64;
        tree.update(&buf[..k]);
    }
    if left != 0 {
        return Err(ScanError::Changed(path.to_owned()));
    }
    Ok(())
}
