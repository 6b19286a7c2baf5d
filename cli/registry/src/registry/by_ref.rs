//! The per-ref cache of a whole index (an `https://` `index.json` or a git
//! registry's): `knap update` checks the document once and splits it into
//! one `packs/<ref>.json` per ref (the sparse layout's form, the entries'
//! own bytes) plus a compact search table, so that later commands read
//! only the refs they need instead of parsing the whole document again.
//!
//! ```text
//! refs/packs/<ref>.json   {"ref": REF, "versions": [ENTRY, ...]}
//! refs/search.jsonl       {"format": "knap-search-2", "rows": N}
//!                         then one row per line, in ref order:
//!                         [REF, VERSION, [VERSIONS], LABEL, DESCRIPTION,
//!                          [KEYWORDS], [OTHER TEXT]]
//! refs/stamp.json         which copy of index.json it was split from
//! ```
//!
//! A row per line lets a search skip the rows that cannot match without
//! parsing them: a row whose line is plain ASCII without escapes holds
//! every text it is matched against verbatim, so when its line does not
//! contain the query (ignoring ASCII case) neither does any of its fields.
//! Only the other rows are parsed and matched (see [`ByRef::search`]).
//!
//! The cache is untrusted input like every file knap reads: each pack file
//! is validated when it is read (`parse_sparse_pack`); every row of the
//! table must start with a valid ref, in strictly increasing order, the
//! rows must be as many as the first line says, and every row a search
//! shows is parsed whole into its typed form. Anything that fails is
//! refused, and the registry splits its cached `index.json` again (which
//! validates the whole document again) rather than use it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use knap_schema::index::Entry;
use serde::{Deserialize, Serialize};

use serde_json::value::RawValue;

use super::whole::SplitEntry;
use super::{RegistryError, invalid};

/// One ref as `knap search` shows it: its newest version (the newest not
/// yanked, else the newest) and what a query is matched against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRow {
    #[serde(rename = "ref")]
    pub pack_ref: String,
    /// The newest version.
    pub version: String,
    /// Every version, in index order.
    pub versions: Vec<String>,
    pub label: String,
    pub description: String,
    pub keywords: Vec<String>,
    /// The labels, descriptions and keywords of the other versions that
    /// differ from the newest's (a query matches any version).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_text: Vec<String>,
}

/// What the search table keeps of one entry (the checker hands it over).
pub use super::whole::Fields;

/// The search table's file in the per-ref cache directory.
pub const TABLE: &str = "search.jsonl";

/// The first line of the search table.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableHead {
    format: String,
    rows: usize,
}

const TABLE_FORMAT: &str = "knap-search-2";

/// A row as the table holds it: a JSON array in [`SearchRow`]'s field order.
type RowLine = (
    String,
    String,
    Vec<String>,
    String,
    String,
    Vec<String>,
    Vec<String>,
);

impl SearchRow {
    /// Appends the row as one line of the table.
    fn write_line(&self, out: &mut Vec<u8>) {
        serde_json::to_writer(
            &mut *out,
            &(
                &self.pack_ref,
                &self.version,
                &self.versions,
                &self.label,
                &self.description,
                &self.keywords,
                &self.other_text,
            ),
        )
        .expect("a row serialises");
        out.push(b'\n');
    }

    fn from_line(line: &[u8]) -> Result<Self, serde_json::Error> {
        let (pack_ref, version, versions, label, description, keywords, other_text): RowLine =
            serde_json::from_slice(line)?;
        Ok(Self {
            pack_ref,
            version,
            versions,
            label,
            description,
            keywords,
            other_text,
        })
    }

    /// The row of one ref from its entries, in index order; `None` if
    /// there are none.
    pub fn of<'a>(entries: impl IntoIterator<Item = &'a Fields>) -> Option<Self> {
        let es: Vec<&Fields> = entries.into_iter().collect();
        let e = es[newest(es.iter().map(|e| (&e.version, e.yanked)))?];
        let mut other_text: Vec<String> = Vec::new();
        for o in &es {
            for t in std::iter::once(&o.label)
                .chain(std::iter::once(&o.description))
                .chain(o.keywords.iter())
            {
                if *t != e.label
                    && *t != e.description
                    && !e.keywords.contains(t)
                    && !other_text.contains(t)
                {
                    other_text.push(t.clone());
                }
            }
        }
        Some(Self {
            pack_ref: e.pack_ref.to_string(),
            version: e.version.to_string(),
            versions: es.iter().map(|e| e.version.to_string()).collect(),
            label: e.label.clone(),
            description: e.description.clone(),
            keywords: e.keywords.clone(),
            other_text,
        })
    }

    /// True when `q` (lowercase) is empty or in the ref, label,
    /// description or keywords of any version.
    pub fn matches(&self, q: &str) -> bool {
        q.is_empty()
            || contains_lower(&self.pack_ref, q)
            || contains_lower(&self.label, q)
            || contains_lower(&self.description, q)
            || self.keywords.iter().any(|k| contains_lower(k, q))
            || self.other_text.iter().any(|k| contains_lower(k, q))
    }
}

/// True when `text`, lowercased, contains `q` (lowercase); without an
/// allocation when both are ASCII, as they nearly always are.
fn contains_lower(text: &str, q: &str) -> bool {
    if q.is_empty() {
        return true;
    }
    if text.is_ascii() && q.is_ascii() {
        let (t, q) = (text.as_bytes(), q.as_bytes());
        q.len() <= t.len() && t.windows(q.len()).any(|w| w.eq_ignore_ascii_case(q))
    } else {
        text.to_lowercase().contains(q)
    }
}

/// The position of the newest version not yanked, else of the newest
/// (SemVer order).
fn newest<'a>(versions: impl Iterator<Item = (&'a semver::Version, bool)>) -> Option<usize> {
    let mut best: Option<(usize, &semver::Version, bool)> = None;
    for (i, (v, yanked)) in versions.enumerate() {
        let better = match &best {
            None => true,
            Some((_, bv, by)) => match (by, yanked) {
                (true, false) => true,
                (false, true) => false,
                _ => v > *bv,
            },
        };
        if better {
            best = Some((i, v, yanked));
        }
    }
    best.map(|b| b.0)
}

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
    ) -> Result<super::IndexSummary, RegistryError> {
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
        super::read_sparse_pack_file(registry, &self.dir, pack_ref)
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

/// What a search of one registry found.
#[derive(Debug, Default)]
pub struct Found {
    /// The rows that match, in ref order.
    pub rows: Vec<SearchRow>,
    /// Every ref the registry lists, when they were asked for.
    pub refs: Option<Vec<String>>,
}

impl Found {
    /// The rows of `rows` that match `q`, and their refs when `want_refs`.
    pub fn of(rows: Vec<SearchRow>, q: &str, want_refs: bool) -> Self {
        let refs = want_refs.then(|| rows.iter().map(|r| r.pack_ref.clone()).collect());
        Self {
            rows: rows.into_iter().filter(|r| r.matches(q)).collect(),
            refs,
        }
    }
}

/// The first line of a search table of `rows` rows.
fn table_head(rows: usize) -> Vec<u8> {
    let mut out = serde_json::to_vec(&TableHead {
        format: TABLE_FORMAT.into(),
        rows,
    })
    .expect("a head serialises");
    out.push(b'\n');
    out
}

/// The query's bytes when a raw line can be searched for it: a non-empty
/// ASCII query without the characters JSON escapes (`"`, `\\`, controls),
/// so that it appears verbatim in the line of a row whose text holds it.
fn raw_query(q: &str) -> Option<&[u8]> {
    let b = q.as_bytes();
    let plain = !b.is_empty()
        && b.iter()
            .all(|&c| c.is_ascii() && c >= 0x20 && c != b'"' && c != b'\\');
    plain.then_some(b)
}

/// True when `line` holds its strings verbatim: ASCII, no escapes.
fn is_plain(line: &[u8]) -> bool {
    line.is_ascii() && memchr::memchr(b'\\', line).is_none()
}

/// The ref a row's line starts with (`["REF",`), if it is a valid ref.
fn line_ref(line: &[u8]) -> Option<&str> {
    let rest = line.strip_prefix(b"[\"")?;
    let end = memchr::memchr(b'"', rest)?;
    let r = std::str::from_utf8(&rest[..end]).ok()?;
    knap_schema::ident::is_valid_ref(r).then_some(r)
}

/// Reads and checks a search table (see the module documentation),
/// parsing only the rows that may match `q`.
fn search_table(bytes: &[u8], q: &str, want_refs: bool) -> Result<Found, String> {
    let (head, body) = match memchr::memchr(b'\n', bytes) {
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => return Err("$: not a search table (no first line)".into()),
    };
    let head: TableHead =
        serde_json::from_slice(head).map_err(|e| format!("line 1: not a search table: {e}"))?;
    if head.format != TABLE_FORMAT {
        return Err(format!(
            "line 1: format `{}`, expected `{TABLE_FORMAT}`",
            head.format
        ));
    }
    if !body.is_empty() && body.last() != Some(&b'\n') {
        return Err("the last row is cut short".into());
    }
    let raw = raw_query(q);
    // The rows are searched in an ASCII-lowercased copy; a line that is
    // not plain is parsed whatever the copy says.
    let lower = raw.map(|_| body.to_ascii_lowercase());
    let finder = raw.map(memchr::memmem::Finder::new);
    let all_plain = raw.is_some() && is_plain(body);
    let mut found = Found {
        rows: Vec::new(),
        refs: want_refs.then(|| Vec::with_capacity(head.rows)),
    };
    let mut prev = "";
    let mut n = 0;
    let mut start = 0;
    while start < body.len() {
        let end = start + memchr::memchr(b'\n', &body[start..]).expect("ends with a newline");
        let line = &body[start..end];
        n += 1;
        let at = n + 1;
        let r = line_ref(line)
            .ok_or_else(|| format!("line {at}: a row does not start with a valid ref"))?;
        if r <= prev {
            return Err(format!(
                "line {at}: `{r}` is not after `{prev}` (rows are in ref order, each ref once)"
            ));
        }
        prev = r;
        if let Some(refs) = &mut found.refs {
            refs.push(r.to_owned());
        }
        let maybe = match (&finder, &lower) {
            (Some(f), Some(lower)) => {
                f.find(&lower[start..end]).is_some() || (!all_plain && !is_plain(line))
            }
            _ => true,
        };
        if maybe {
            let row = SearchRow::from_line(line).map_err(|e| format!("line {at}: {e}"))?;
            if row.pack_ref != r {
                return Err(format!("line {at}: not one row"));
            }
            if row.matches(q) {
                found.rows.push(row);
            }
        }
        start = end + 1;
    }
    if n != head.rows {
        return Err(format!(
            "{n} rows where line 1 says {}: the table is cut short or was changed",
            head.rows
        ));
    }
    Ok(found)
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
    use crate::registry::whole::tests::doc;

    fn f(v: &str, yanked: bool, desc: &str) -> Fields {
        Fields {
            pack_ref: knap_schema::PackRef::parse("p").unwrap(),
            version: semver::Version::parse(v).unwrap(),
            label: "P".into(),
            description: desc.into(),
            keywords: vec!["k".into()],
            yanked,
        }
    }

    #[test]
    fn the_row_shows_the_newest_version_not_yanked_and_matches_any_version() {
        let fs = [
            f("1.2.0", false, "Old words"),
            f("1.10.0", false, "New words"),
            f("2.0.0", true, "Yanked words"),
        ];
        let row = SearchRow::of(&fs).unwrap();
        assert_eq!(
            row.version, "1.10.0",
            "SemVer order, the yanked 2.0.0 skipped"
        );
        assert_eq!(row.description, "New words");
        assert_eq!(row.versions, ["1.2.0", "1.10.0", "2.0.0"]);
        assert!(
            row.matches("old wo"),
            "a query matches an older version's text"
        );
        assert!(row.matches("new"));
        assert!(!row.matches("absent"));
        let all_yanked = [f("1.0.0", true, "a"), f("1.1.0", true, "b")];
        assert_eq!(SearchRow::of(&all_yanked).unwrap().version, "1.1.0");
        assert!(SearchRow::of(&[]).is_none());
    }

    /// The search table of `rows` (in ref order).
    fn table_of(rows: &[SearchRow]) -> Vec<u8> {
        let mut out = table_head(rows.len());
        for r in rows {
            r.write_line(&mut out);
        }
        out
    }

    fn entry(r: &str, v: &str, description: &str) -> serde_json::Value {
        let mut e = crate::registry::whole::tests::entry(r, v);
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
                let p = crate::registry::parse_sparse_pack("r", name, bytes, r).unwrap();
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

    fn row(r: &str, label: &str, description: &str, keywords: &[&str]) -> SearchRow {
        SearchRow {
            pack_ref: r.into(),
            version: "1.0.0".into(),
            versions: vec!["1.0.0".into()],
            label: label.into(),
            description: description.into(),
            keywords: keywords.iter().map(|k| k.to_string()).collect(),
            other_text: vec![],
        }
    }

    #[test]
    fn a_table_search_finds_exactly_the_rows_that_match_whatever_their_escapes() {
        let rows = vec![
            row("a", "Slack", "Posts to \"Slack\"", &["chat"]),
            row("b", "Éclair", "Pâtisserie", &["food"]),
            // The Kelvin sign lowercases to an ASCII `k`.
            row("c", "\u{212A}elvin", "Temperature", &["heat"]),
            row("d", "Back\\slash", "tab\there", &["x"]),
            row("e", "Plain", "Nothing special", &["posts"]),
        ];
        let table = table_of(&rows);
        for q in [
            "",
            "slack",
            "\"slack\"",
            "posts",
            "éclair",
            "pâ",
            "kelvin",
            "k",
            "back\\s",
            "\\",
            "tab\th",
            "\t",
            "special",
            "absent",
            "[\"",
            "\",\"",
            "1.0.0",
            "e",
        ] {
            let found = search_table(&table, q, true).unwrap();
            let got: Vec<&str> = found.rows.iter().map(|r| r.pack_ref.as_str()).collect();
            let want: Vec<&str> = rows
                .iter()
                .filter(|r| r.matches(q))
                .map(|r| r.pack_ref.as_str())
                .collect();
            assert_eq!(got, want, "query `{q}`");
            assert_eq!(
                found.rows,
                rows.iter()
                    .filter(|r| r.matches(q))
                    .cloned()
                    .collect::<Vec<_>>()
            );
            assert_eq!(found.refs.unwrap(), ["a", "b", "c", "d", "e"]);
        }
        assert!(search_table(&table, "slack", false).unwrap().refs.is_none());
    }

    #[test]
    fn a_table_row_that_does_not_parse_is_refused_when_it_may_match() {
        let mut table = table_of(&[row("a", "A", "", &[]), row("b", "B", "", &[])]);
        let good_b = table_of(&[row("b", "B", "", &[])]);
        let b_line = &good_b[good_b.iter().position(|&c| c == b'\n').unwrap() + 1..];
        let at = table.len() - b_line.len();
        table.truncate(at);
        table.extend_from_slice(b"[\"b\",7]\n");
        let e = search_table(&table, "b", false).unwrap_err();
        assert!(e.starts_with("line 3: "), "{e}");
        assert!(search_table(&table, "", false).is_err());
        // A row that cannot match is not parsed: its ref and place are
        // still checked, and it shows nowhere.
        let found = search_table(&table, "a", true).unwrap();
        assert_eq!(found.rows.len(), 1);
        assert_eq!(found.refs.unwrap(), ["a", "b"]);
    }

    #[test]
    fn matching_ignores_case_in_ascii_and_beyond() {
        assert!(contains_lower("Slack Notifier", "slack n"));
        assert!(contains_lower("ÉCLAIR", "éclair"));
        assert!(!contains_lower("ab", "abc"));
        assert!(contains_lower("", ""));
    }
}
