//! A registry on the local disk: a path or `file://` URL naming an
//! `index.json`, or a directory holding `index.json` or the sparse layout
//! (`config.json` + `packs/<ref>.json`).
//!
//! A sparse directory is read in place. A whole `index.json` goes through
//! the per-ref split cache ([`SplitCache`]), as a whole index fetched over
//! HTTPS or from git does: checked and split once per content, then
//! lookups read one ref's file and search reads the search table, instead
//! of parsing the whole document on every command.
//!
//! Which content the split is of is decided by the content, not by the
//! file's modification time alone: the split's stamp is the document's
//! SHA-256, and `local.json` in the registry's cache keeps the file's
//! identity when it was hashed (path, length, modification and change
//! times in nanoseconds, device and inode). A file whose identity is the
//! one recorded is not read at all; any difference (an edit that kept the
//! length and put the modification time back still changes the change
//! time, which no program can set) reads and hashes it again, and only a
//! different hash splits it again. As git does for its index, a file
//! changed less than [`RACY`] before it was hashed is hashed again on the
//! next command, so that two writes within one tick of the file system's
//! clock cannot hide the second. A signed registry's document is read and
//! checked against its signed hash on every command.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Common, RegistryError, UpdateOutcome};
use crate::index::parse::{count, read_limited, sparse_refs_in, too_large};
use crate::index::split::Stamp;
use crate::index::{Copy, IndexSummary, SplitCache, View, parse_sparse_config};

/// How long before it was hashed a file must have last changed for its
/// recorded identity to vouch for its content (coarser than any file
/// system's timestamps: FAT's are 2 s).
pub const RACY: Duration = Duration::from_secs(3);

/// The record of which content the file had (see the module
/// documentation).
const RECORD: &str = "local.json";

pub struct LocalIndex {
    pub common: Common,
    path: PathBuf,
    /// A sparse directory's view, once its `config.json` is checked.
    loaded: Mutex<Option<View>>,
    split: SplitCache,
}

/// A file's identity as the file system tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Identity {
    path: PathBuf,
    len: u64,
    /// Nanoseconds since the epoch.
    modified: i128,
    changed: i128,
    dev: u64,
    ino: u64,
}

impl Identity {
    fn of(path: &Path, m: &std::fs::Metadata) -> Self {
        let nanos = |t: std::io::Result<SystemTime>| {
            t.ok()
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as i128)
        };
        #[cfg(unix)]
        let (changed, dev, ino) = {
            use std::os::unix::fs::MetadataExt;
            (
                i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
                m.dev(),
                m.ino(),
            )
        };
        #[cfg(not(unix))]
        let (changed, dev, ino) = (nanos(m.created()), 0, 0);
        Self {
            path: path.to_path_buf(),
            len: m.len(),
            modified: nanos(m.modified()),
            changed,
            dev,
            ino,
        }
    }
}

/// `local.json`: the file's identity when its content was hashed, the hash
/// (the split's stamp), when it was hashed, and what it lists.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    file: Identity,
    sha256: String,
    /// Nanoseconds since the epoch, taken before the file was read.
    hashed: i128,
    /// Versions and packs listed, when the content was checked.
    #[serde(default)]
    summary: Option<(usize, usize)>,
}

impl Record {
    /// The stamp of the content, if `file` is still what was hashed and
    /// had not changed for [`RACY`] when it was.
    fn vouches_for(&self, file: &Identity) -> Option<Stamp> {
        let racy = RACY.as_nanos() as i128;
        let settled =
            self.file.modified < self.hashed - racy && self.file.changed < self.hashed - racy;
        (self.file == *file && settled).then(|| Stamp {
            len: self.file.len,
            id: self.sha256.clone(),
        })
    }
}

fn stamp_of(bytes: &[u8]) -> Stamp {
    Stamp {
        len: bytes.len() as u64,
        id: knap_schema::digest::format_sha256(&Sha256::digest(bytes)),
    }
}

impl LocalIndex {
    pub fn new(common: Common, path: PathBuf) -> Self {
        let split = SplitCache::new(common.cache.path("refs"));
        Self {
            common,
            path,
            loaded: Mutex::new(None),
            split,
        }
    }

    fn err(&self, message: String) -> RegistryError {
        RegistryError::Unavailable {
            registry: self.common.name.clone(),
            message,
        }
    }

    /// The whole index file, or `None` for a sparse directory (whose view
    /// is then ready: its `config.json`, and for a signed registry every
    /// pack file, checked).
    fn whole_file(&self) -> Result<Option<PathBuf>, RegistryError> {
        if !self.path.is_dir() {
            return Ok(Some(self.path.clone()));
        }
        let name = &self.common.name;
        let idx = self.path.join("index.json");
        let cfg = self.path.join("config.json");
        if idx.is_file() {
            return Ok(Some(idx));
        }
        if !cfg.is_file() {
            return Err(self.err(format!(
                "{} holds neither index.json nor a sparse config.json; check the registry's path",
                self.path.display()
            )));
        }
        if self.loaded.lock().expect("lock").is_some() {
            return Ok(None);
        }
        let bytes = read_limited(name, &cfg, self.common.max_size)?
            .map_err(|e| self.unreadable(&cfg, e))?;
        if let Some(t) = &self.common.trust {
            t.check("config.json", &bytes)?;
            // Every pack file read later must be the signed one.
            for r in sparse_refs_in(&self.path.join("packs")) {
                let rel = format!("packs/{r}.json");
                let pack = read_limited(name, &self.path.join(&rel), self.common.max_size)?
                    .map_err(|e| {
                        self.err(format!(
                            "cannot read {}: {e}",
                            self.path.join(&rel).display()
                        ))
                    })?;
                t.check(&rel, &pack)?;
            }
        }
        parse_sparse_config(name, &cfg.display().to_string(), &bytes)?;
        *self.loaded.lock().expect("lock") =
            Some(View::SparseDir(self.path.clone(), self.common.max_size));
        Ok(None)
    }

    /// The index file `path` could not be read (its hint says what to
    /// check).
    fn unreadable(&self, path: &Path, source: std::io::Error) -> RegistryError {
        RegistryError::LocalUnreadable {
            registry: self.common.name.clone(),
            path: path.to_path_buf(),
            source,
        }
    }

    /// The record in the cache, if it is there and reads as one (the cache
    /// is untrusted input: anything else is as no record).
    fn record(&self) -> Option<Record> {
        let bytes = crate::cache::read_cached(&self.common.cache.path(RECORD)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// The readable index: a sparse directory in place, or the split of
    /// the whole index's current content (split again when the content
    /// changed; see the module documentation).
    pub async fn view(&self) -> Result<View, RegistryError> {
        let Some(file) = self.whole_file()? else {
            return Ok(self.loaded.lock().expect("lock").clone().expect("set"));
        };
        if let Some(v) = self.split.loaded() {
            return Ok(v);
        }
        let meta = std::fs::metadata(&file).map_err(|e| self.unreadable(&file, e))?;
        if meta.len() > self.common.max_size {
            return Err(too_large(
                &self.common.name,
                &file.display().to_string(),
                meta.len(),
                self.common.max_size,
            ));
        }
        if self.common.trust.is_none()
            && let Some(stamp) = self
                .record()
                .and_then(|r| r.vouches_for(&Identity::of(&file, &meta)))
            && let Some(v) = self.split.current(&stamp)
        {
            return Ok(v);
        }
        self.load(&file, false).await.map(|(v, _)| v)
    }

    /// Reads and hashes the file; splits it (checking it as a whole index)
    /// unless the split is of this content already and not `check`; records
    /// its identity. Gives the summary when it is known.
    async fn load(
        &self,
        file: &Path,
        check: bool,
    ) -> Result<(View, Option<IndexSummary>), RegistryError> {
        let name = &self.common.name;
        let hashed = SystemTime::now();
        // Taken before the read: a write during it makes the record stale.
        let meta = std::fs::metadata(file).map_err(|e| self.unreadable(file, e))?;
        let bytes = read_limited(name, file, self.common.max_size)?
            .map_err(|e| self.unreadable(file, e))?;
        if let Some(t) = &self.common.trust {
            t.check("index.json", &bytes)?;
        }
        let stamp = stamp_of(&bytes);
        let before = self
            .record()
            .filter(|r| r.sha256 == stamp.id)
            .and_then(|r| r.summary);
        let (view, summary) = match self.split.current(&stamp) {
            Some(v) if !check => (
                v,
                before.map(|(versions, packs)| IndexSummary { versions, packs }),
            ),
            _ => {
                let copy = Copy {
                    bytes,
                    location: file.display().to_string(),
                    stamp: stamp.clone(),
                };
                let summary = self.split.split_new(name, &copy, || Ok(())).await?;
                (
                    self.split.loaded().expect("kept by the split"),
                    Some(summary),
                )
            }
        };
        let record = Record {
            file: Identity::of(file, &meta),
            sha256: stamp.id,
            hashed: hashed
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i128),
            summary: summary.map(|s| (s.versions, s.packs)),
        };
        let json = serde_json::to_vec_pretty(&record).expect("a record serialises");
        crate::cache::write_atomic(&self.common.cache.path(RECORD), &json)
            .map_err(|e| self.common.cache_error(e))?;
        Ok((view, summary))
    }

    /// The split found damaged: split again from the file.
    pub async fn resplit(&self) -> Result<View, RegistryError> {
        let file = self.whole_file()?.expect("only a whole index is split");
        let name = &self.common.name;
        let max = self.common.max_size;
        self.split
            .resplit(name, true, || {
                let bytes =
                    read_limited(name, &file, max)?.map_err(|e| self.unreadable(&file, e))?;
                Ok(Copy {
                    stamp: stamp_of(&bytes),
                    location: file.display().to_string(),
                    bytes,
                })
            })
            .await
    }

    /// Reads and checks the registry in place: a whole index is checked
    /// (and split) again whatever its record says.
    pub async fn update(&self) -> Result<UpdateOutcome, RegistryError> {
        let detail = match self.whole_file()? {
            Some(file) => {
                self.split.forget();
                let (_, summary) = self.load(&file, true).await?;
                summary
                    .expect("a checked index has its summary")
                    .to_string()
            }
            None => format!(
                "sparse layout, {}",
                count(
                    sparse_refs_in(&self.path.join("packs")).len(),
                    "pack",
                    "packs"
                )
            ),
        };
        Ok(UpdateOutcome::Local { detail })
    }
}
