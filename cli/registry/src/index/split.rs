//! The per-ref cache of a whole index (an `https://` `index.json` or a git
//! registry's): `knap update` checks the document once and splits it into
//! one `packs/<ref>.json` per ref (the sparse layout's form, the entries'
//! own bytes) plus a compact search table ([`super::search`]), so that
//! later commands read only the refs they need instead of parsing the
//! whole document again.
//!
//! ```text
//! refs/packs/<ref>.json   {"ref": REF, "versions": [ENTRY, ...]}
//! refs/search.jsonl       the search table (see super::search)
//! refs/stamp.json         which copy of index.json it was split from
//! ```
//!
//! The cache is untrusted input like every file knap reads: each pack file
//! is validated when it is read (`parse_sparse_pack`), the search table as
//! [`super::search`] says. Anything that fails is refused, and the
//! registry splits its cached `index.json` again (which validates the
//! whole document again) rather than use it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use knap_schema::index::Entry;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::parse::{invalid, read_sparse_pack_file};
use super::search::{Fields, Found, SearchRow, TABLE, search_table, table_head};
use super::whole::{IndexSummary, SplitEntry};
use crate::error::RegistryError;

/// Which cached `index.json` the split was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// The length of the document.
    pub len: u64,
    /// Its ETag, Last-Modified or commit: whatever identifies the copy.
    pub id: String,
}

/// The per-ref cache directory of a registry.
#[derive(Debug, Clone)]
pub struct ByRef {
    pub dir: PathBuf,
}

impl ByRef {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// True when the directory holds a complete split of the copy `stamp`
    /// names.
    pub fn is_current(&self, stamp: &Stamp) -> bool {
        crate::cache::read_cached(&self.dir.join("stamp.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Stamp>(&b).ok())
            .is_some_and(|s| s == *stamp)
    }

    /// Checks `bytes` as a whole index (exactly as `check_index` does) and
    /// replaces the directory with its split, written while the document
    /// is checked (into a new directory, put in place only if the index is
    /// valid). The document is parsed once, and besides it only the entries
    /// in flight and the ref being written are held: an index sorted by
    /// ref, as `knap-index` writes it, has each ref's entries together, so
    /// a ref's file and row are written as soon as the next ref starts.
    /// An unsorted index (valid, with a warning) is grouped at the end
    /// instead, from the entries' places in the document.
    ///
    /// `damaged`: the split in place is of this copy but was found damaged,
    /// so it is replaced even though its stamp is current (otherwise a
    /// current split in place is left as it is: another process wrote it).
    pub fn split(
        &self,
        registry: &str,
        location: &str,
        bytes: &[u8],
        stamp: &Stamp,
        damaged: bool,
    ) -> Result<IndexSummary, RegistryError> {
        let io = |e: std::io::Error| RegistryError::Other {
            registry: registry.to_owned(),
            message: format!("cannot write the cache {}: {e}", self.dir.display()),
        };
        let parent = self.dir.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(io)?;
        let new = tempfile::Builder::new()
            .prefix(".refs-new-")
            .tempdir_in(parent)
            .map_err(io)?;
        let mut splitter = Splitter::new(new.path().join("packs")).map_err(io)?;
        let summary =
            super::whole::check_and_split(registry, location, bytes, |e| splitter.push(e))?;
        let table = splitter.finish().map_err(io)?;
        self.put_in_place(new, &table, stamp, damaged).map_err(io)?;
        Ok(summary)
    }

    /// Writes the table and the stamp into `new` and puts it in place of
    /// the directory (unless the directory is already current and not
    /// `damaged`).
    fn put_in_place(
        &self,
        new: tempfile::TempDir,
        table: &[u8],
        stamp: &Stamp,
        damaged: bool,
    ) -> std::io::Result<()> {
        let parent = self.dir.parent().unwrap_or(Path::new("."));
        std::fs::write(new.path().join(TABLE), table)?;
        std::fs::write(
            new.path().join("stamp.json"),
            serde_json::to_vec(stamp).expect("a stamp serialises"),
        )?;
        // `new` stays a TempDir (removed on any early return or error)
        // until it is renamed into place.
        let old = parent.join(format!(
            ".refs-old-{}",
            new.path()
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("x")
        ));
        // Other knap processes may split the same index at the same time
        // (installs resolve without the root's lock): one at a time puts
        // its split in place, and a split of the copy already in place is
        // dropped, so a current directory is never swapped out under a
        // process reading it (except a damaged one, which is no use to
        // that process either).
        let guard = std::fs::File::create(parent.join(".refs.lock"))?;
        guard.lock()?;
        if !damaged && self.is_current(stamp) {
            return Ok(());
        }
        if self.dir.exists() {
            std::fs::rename(&self.dir, &old)?;
        }
        std::fs::rename(new.path(), &self.dir)?;
        let _ = new.keep();
        let _ = std::fs::remove_dir_all(&old);
        Ok(())
    }

    /// Every version of `pack_ref`, validated; `None` when the index does
    /// not list it.
    pub fn versions(
        &self,
        registry: &str,
        pack_ref: &str,
    ) -> Result<Option<Vec<Entry>>, RegistryError> {
        read_sparse_pack_file(registry, &self.dir, pack_ref)
    }

    /// The rows of the search table that match `q` (lowercase; empty
    /// matches every row), and every ref the table lists when `want_refs`.
    /// The table is checked as it is read (see the module documentation).
    pub fn search(&self, registry: &str, q: &str, want_refs: bool) -> Result<Found, RegistryError> {
        let path = self.dir.join(TABLE);
        let loc = path.display().to_string();
        let bytes = crate::cache::read_cached(&path).map_err(|e| {
            invalid(
                registry,
                &loc,
                format!("  $: cannot read it: {}", e.reason()),
            )
        })?;
        search_table(&bytes, q, want_refs).map_err(|m| invalid(registry, &loc, format!("  {m}")))
    }
}

/// Writes the per-ref files and the search table from the checked
/// entries, in index order (see [`ByRef::split`]).
struct Splitter<'a> {
    packs: PathBuf,
    /// Every entry's bytes, for an unsorted index.
    all: Vec<&'a RawValue>,
    /// The ref being read: its entries' bytes and search fields.
    group: Option<(String, Vec<&'a RawValue>, Vec<Fields>)>,
    /// True while every ref has come after the one before.
    sorted: bool,
    /// The table's rows so far, and how many.
    rows: Vec<u8>,
    count: usize,
    buf: Vec<u8>,
    /// The first write that failed.
    failed: Option<std::io::Error>,
}

impl<'a> Splitter<'a> {
    fn new(packs: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&packs)?;
        Ok(Self {
            packs,
            all: Vec::new(),
            group: None,
            sorted: true,
            rows: Vec::new(),
            count: 0,
            buf: Vec::new(),
            failed: None,
        })
    }

    fn push(&mut self, e: SplitEntry<'a>) {
        self.all.push(e.raw);
        if !self.sorted || self.failed.is_some() {
            return;
        }
        let r = e.fields.pack_ref.as_str();
        match &mut self.group {
            Some((g, raws, fields)) if g == r => {
                raws.push(e.raw);
                fields.push(e.fields);
            }
            Some((g, ..)) if r < g.as_str() => {
                // Not sorted: the ref's entries may come apart.
                self.sorted = false;
                self.group = None;
            }
            _ => {
                self.flush();
                self.group = Some((r.to_owned(), vec![e.raw], vec![e.fields]));
            }
        }
    }

    /// Writes the ref being read.
    fn flush(&mut self) {
        if let Some((r, raws, fields)) = self.group.take() {
            self.write(&r, &raws, &fields);
        }
    }

    fn write(&mut self, r: &str, raws: &[&RawValue], fields: &[Fields]) {
        if self.failed.is_some() {
            return;
        }
        if let Err(e) = write_pack(&self.packs, r, raws, &mut self.buf) {
            self.failed = Some(e);
            return;
        }
        if let Some(row) = SearchRow::of(fields) {
            row.write_line(&mut self.rows);
            self.count += 1;
        }
    }

    /// Writes what is left and gives the search table.
    fn finish(mut self) -> std::io::Result<Vec<u8>> {
        if self.sorted {
            self.flush();
        } else {
            // Group every entry by ref, from its bytes (already checked).
            self.rows.clear();
            self.count = 0;
            let mut by_ref: BTreeMap<String, (Vec<&RawValue>, Vec<Fields>)> = BTreeMap::new();
            for raw in std::mem::take(&mut self.all) {
                let e: Entry = serde_json::from_str(raw.get()).map_err(std::io::Error::other)?;
                let g = by_ref.entry(e.pack_ref.to_string()).or_default();
                g.0.push(raw);
                g.1.push(Fields::from(e));
            }
            for (r, (raws, fields)) in by_ref {
                self.write(&r, &raws, &fields);
            }
        }
        if let Some(e) = self.failed {
            return Err(e);
        }
        let mut table = table_head(self.count);
        table.extend_from_slice(&self.rows);
        Ok(table)
    }
}

/// Writes `packs/<ref>.json`: `{"ref": REF, "versions": [...]}` with each
/// entry's own bytes. Not synced one by one: the directory is put in place
/// whole, and a torn file is refused when read.
fn write_pack(packs: &Path, r: &str, raws: &[&RawValue], buf: &mut Vec<u8>) -> std::io::Result<()> {
    buf.clear();
    buf.extend_from_slice(b"{\"ref\":");
    serde_json::to_writer(&mut *buf, r).expect("a string serialises");
    buf.extend_from_slice(b",\"versions\":[");
    for (i, raw) in raws.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.extend_from_slice(raw.get().as_bytes());
    }
    buf.extend_from_slice(b"]}\n");
    std::fs::File::create(packs.join(format!("{r}.json")))?.write_all(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::whole::tests::doc;

    fn entry(r: &str, v: &str, description: &str) -> serde_json::Value {
        let mut e = crate::index::whole::tests::entry(r, v);
        e["description"] = description.into();
        e["keywords"] = serde_json::json!(["k"]);
        e
    }

    /// The files of a split directory, by name.
    fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        for d in [dir.to_path_buf(), dir.join("packs")] {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                if e.path().is_file() {
                    let name = e.path().strip_prefix(dir).unwrap().display().to_string();
                    out.insert(name, std::fs::read(e.path()).unwrap());
                }
            }
        }
        out
    }

    #[test]
    fn an_unsorted_index_is_split_as_its_sorted_form_is_and_an_invalid_one_leaves_the_split() {
        let stamp = Stamp {
            len: 1,
            id: "x".into(),
        };
        // Many refs, so that the entries cross the checker's batches.
        let mut sorted: Vec<serde_json::Value> = Vec::new();
        for i in 0..150 {
            for v in 0..3 {
                sorted.push(entry(
                    &format!("p{i:03}"),
                    &format!("1.{v}.0"),
                    &format!("d{v}"),
                ));
            }
        }
        let tmp = tempfile::tempdir().unwrap();
        let a = ByRef::new(tmp.path().join("a/refs"));
        let summary = a
            .split("r", "here", &doc(sorted.clone()), &stamp, false)
            .unwrap();
        assert_eq!((summary.packs, summary.versions), (150, 450));
        // The same entries, the last versions of two refs moved to the end:
        // those refs come back after others (each ref's versions still in
        // the same order, so the split must be the same).
        let mut unsorted = sorted.clone();
        let p050 = unsorted.remove(50 * 3 + 2);
        let p000 = unsorted.remove(2);
        unsorted.extend([p050, p000]);
        let b = ByRef::new(tmp.path().join("b/refs"));
        b.split("r", "here", &doc(unsorted.clone()), &stamp, false)
            .unwrap();
        let (fa, fb) = (files(&a.dir), files(&b.dir));
        assert_eq!(fa.len(), 150 + 2);
        assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
        assert!(fa == fb, "the same files with the same bytes");
        // Each ref's file lists its versions in index order, from either.
        for (name, bytes) in &fb {
            if let Some(r) = name
                .strip_prefix("packs/")
                .and_then(|n| n.strip_suffix(".json"))
            {
                let p = crate::index::parse::parse_sparse_pack("r", name, bytes, r).unwrap();
                let want: Vec<String> = unsorted
                    .iter()
                    .filter(|e| e["ref"] == r)
                    .map(|e| e["version"].as_str().unwrap().to_owned())
                    .collect();
                let got: Vec<String> = p.versions.iter().map(|e| e.version.to_string()).collect();
                assert_eq!(got, want, "{name}");
            }
        }
        let found = b.search("r", "", true).unwrap();
        assert_eq!(found.rows.len(), 150);
        assert_eq!(found.rows[1].pack_ref, "p001");
        assert_eq!(found.rows[1].version, "1.2.0");
        // An invalid index (a version listed twice, far into it) is refused
        // and leaves the split there was, and no new directory behind.
        let mut twice = sorted.clone();
        twice.push(entry("p149", "1.0.0", "again"));
        assert!(a.split("r", "here", &doc(twice), &stamp, true).is_err());
        assert_eq!(files(&a.dir), fa);
        let left: Vec<_> = std::fs::read_dir(tmp.path().join("a"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .filter(|n| n != ".refs.lock")
            .collect();
        assert_eq!(left, ["refs"]);
    }
}
