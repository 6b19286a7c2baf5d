//! Index handling, apart from the transports that load the bytes (as in
//! cargo's `sources/registry`): parsing and validating the documents
//! ([`parse`], and the whole-index checker [`whole`]), the readable forms
//! of an index ([`View`]: a sparse directory, the per-ref split of a whole
//! index), the per-ref split cache ([`split`]) with its search table
//! ([`search`]), and [`SplitCache`], the one state every registry with a
//! whole index keeps (an `https://`, a git and a local one alike): the
//! split it reads in this run, and one split at a time.

pub mod parse;
pub mod search;
pub mod split;
pub mod whole;

pub use parse::{parse_sparse_config, parse_sparse_pack, parse_trusted_index};
pub use whole::{IndexSummary, check_index, parse_index};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use knap_schema::PackRef;
use knap_schema::index::Entry;

use crate::error::RegistryError;
use parse::{read_sparse_pack_file_limited, sparse_refs_in};
use search::{Fields, Found, SearchRow};
use split::{ByRef, Stamp};

/// The search rows of a list of entries.
pub fn rows_of(entries: Vec<Entry>) -> Vec<SearchRow> {
    let mut by: BTreeMap<PackRef, Vec<Fields>> = BTreeMap::new();
    for e in entries {
        by.entry(e.pack_ref.clone()).or_default().push(e.into());
    }
    by.values().filter_map(SearchRow::of).collect()
}

/// A readable index: a sparse directory on disk, or the per-ref cache of
/// a whole index.
#[derive(Debug, Clone)]
pub enum View {
    /// A sparse layout read in place, its pack files bounded by the size
    /// limit (`KNAP_MAX_INDEX_SIZE`).
    SparseDir(PathBuf, u64),
    ByRef(ByRef),
}

impl View {
    pub fn versions(
        &self,
        registry: &str,
        refs: &[String],
    ) -> Result<BTreeMap<String, Vec<Entry>>, RegistryError> {
        let mut out = BTreeMap::new();
        match self {
            View::ByRef(b) => {
                for r in refs {
                    if let Some(v) = b.versions(registry, r)? {
                        out.insert(r.clone(), v);
                    }
                }
            }
            View::SparseDir(dir, limit) => {
                for r in refs {
                    if let Some(v) = read_sparse_pack_file_limited(registry, dir, r, *limit)? {
                        out.insert(r.clone(), v);
                    }
                }
            }
        }
        Ok(out)
    }

    pub fn search(&self, registry: &str, q: &str, want_refs: bool) -> Result<Found, RegistryError> {
        let rows = match self {
            View::SparseDir(dir, limit) => {
                let mut out = Vec::new();
                for r in sparse_refs_in(&dir.join("packs")) {
                    out.extend(
                        read_sparse_pack_file_limited(registry, dir, &r, *limit)?
                            .unwrap_or_default(),
                    );
                }
                rows_of(out)
            }
            View::ByRef(b) => return b.search(registry, q, want_refs),
        };
        Ok(Found::of(rows, q, want_refs))
    }
}

/// A copy of a whole index to split: its bytes, where it was read, and
/// which copy it is.
pub struct Copy {
    pub bytes: Vec<u8>,
    pub location: String,
    pub stamp: Stamp,
}

/// The per-ref cache of one registry's whole index, and what this run has
/// read of it: the view in use, and one split at a time.
#[derive(Debug)]
pub struct SplitCache {
    by_ref: ByRef,
    loaded: Mutex<Option<View>>,
    splitting: tokio::sync::Mutex<()>,
}

impl SplitCache {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            by_ref: ByRef::new(dir),
            loaded: Mutex::new(None),
            splitting: tokio::sync::Mutex::new(()),
        }
    }

    /// The view this run reads, once there is one.
    pub fn loaded(&self) -> Option<View> {
        self.loaded.lock().expect("lock").clone()
    }

    /// Makes `view` the one this run reads.
    pub fn keep(&self, view: View) -> View {
        *self.loaded.lock().expect("lock") = Some(view.clone());
        view
    }

    /// The split as the view this run reads, if it is of the copy `stamp`
    /// names.
    pub fn current(&self, stamp: &Stamp) -> Option<View> {
        self.by_ref
            .is_current(stamp)
            .then(|| self.keep(View::ByRef(self.by_ref.clone())))
    }

    /// Forgets the view in use (a new copy was cached).
    pub fn forget(&self) {
        *self.loaded.lock().expect("lock") = None;
    }

    /// Checks a newly fetched copy as a whole index and splits it (checked
    /// and split in one pass); on success it is what this run reads. `store`
    /// then caches the copy itself, still within the one split at a time.
    pub async fn split_new(
        &self,
        registry: &str,
        copy: &Copy,
        store: impl FnOnce() -> Result<(), RegistryError>,
    ) -> Result<IndexSummary, RegistryError> {
        let _one = self.splitting.lock().await;
        let summary =
            self.by_ref
                .split(registry, &copy.location, &copy.bytes, &copy.stamp, false)?;
        store()?;
        self.keep(View::ByRef(self.by_ref.clone()));
        Ok(summary)
    }

    /// The view of the cached copy that `current` names: the split when it
    /// is of that copy, else a split again of the copy `read` gives.
    pub async fn view(
        &self,
        registry: &str,
        current: Option<Stamp>,
        read: impl FnOnce() -> Result<Copy, RegistryError>,
    ) -> Result<View, RegistryError> {
        if let Some(v) = self.loaded() {
            return Ok(v);
        }
        if current.is_some_and(|s| self.by_ref.is_current(&s)) {
            return Ok(self.keep(View::ByRef(self.by_ref.clone())));
        }
        self.resplit(registry, false, read).await
    }

    /// Splits the copy `read` gives again (checking it again): for a cache
    /// written before the split existed, or (`damaged`) a split found
    /// damaged.
    pub async fn resplit(
        &self,
        registry: &str,
        damaged: bool,
        read: impl FnOnce() -> Result<Copy, RegistryError>,
    ) -> Result<View, RegistryError> {
        let _one = self.splitting.lock().await;
        let copy = read()?;
        self.by_ref
            .split(registry, &copy.location, &copy.bytes, &copy.stamp, damaged)?;
        Ok(self.keep(View::ByRef(self.by_ref.clone())))
    }
}
