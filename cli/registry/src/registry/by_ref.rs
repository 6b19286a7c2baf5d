//! The per-ref cache of a whole index (an `https://` `index.json` or a git
//! registry's): `knap update` checks the document once and splits it into
//! one `packs/<ref>.json` per ref (the sparse layout's form, the entries'
//! own bytes) plus a compact search table, so that later commands read
//! only the refs they need instead of parsing the whole document again.
//!
//! ```text
//! refs/packs/<ref>.json   {"ref": REF, "versions": [ENTRY, ...]}
//! refs/search.json        [{"ref", "version", "versions", "label", ...}]
//! refs/stamp.json         which copy of index.json it was split from
//! ```
//!
//! The cache is untrusted input like every file knap reads: each pack file
//! is validated when it is read (`parse_sparse_pack`), the table is parsed
//! into its typed rows and its refs checked; anything that fails is
//! refused, and the registry splits its cached `index.json` again (which
//! validates the whole document again) rather than use it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use knap_schema::PackRef;
use knap_schema::index::Entry;
use serde::{Deserialize, Serialize};

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

/// What the search table keeps of one entry.
#[derive(Debug, Clone)]
pub struct Fields {
    pub pack_ref: PackRef,
    pub version: semver::Version,
    pub label: String,
    pub description: String,
    pub keywords: Vec<String>,
    pub yanked: bool,
}

impl From<Entry> for Fields {
    fn from(e: Entry) -> Self {
        Self {
            pack_ref: e.pack_ref,
            version: e.version,
            label: e.label,
            description: e.description,
            keywords: e.keywords,
            yanked: e.yanked,
        }
    }
}

impl SearchRow {
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
        std::fs::read(self.dir.join("stamp.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Stamp>(&b).ok())
            .is_some_and(|s| s == *stamp)
    }

    /// Checks `bytes` as a whole index (exactly as `check_index` does) and
    /// replaces the directory with its split. The document is parsed once;
    /// what is held besides it is each entry's place in it and its search
    /// fields, so memory stays near the document's size.
    pub fn split(
        &self,
        registry: &str,
        location: &str,
        bytes: &[u8],
        stamp: &Stamp,
    ) -> Result<super::IndexSummary, RegistryError> {
        let (summary, entries) = super::whole::check_and_split(registry, location, bytes)?;
        let io = |e: std::io::Error| RegistryError::Other {
            registry: registry.to_owned(),
            message: format!("cannot write the cache {}: {e}", self.dir.display()),
        };
        self.write(&entries, stamp).map_err(io)?;
        Ok(summary)
    }

    fn write(&self, entries: &[SplitEntry<'_>], stamp: &Stamp) -> std::io::Result<()> {
        let parent = self.dir.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)?;
        let new = tempfile::Builder::new()
            .prefix(".refs-new-")
            .tempdir_in(parent)?;
        let packs = new.path().join("packs");
        std::fs::create_dir_all(&packs)?;
        // Entries of one ref, in index order.
        let mut by_ref: BTreeMap<&str, Vec<&SplitEntry<'_>>> = BTreeMap::new();
        for e in entries {
            by_ref
                .entry(e.fields.pack_ref.as_str())
                .or_default()
                .push(e);
        }
        let groups: Vec<(&str, Vec<&SplitEntry<'_>>)> = by_ref.into_iter().collect();
        // The files are written on every core: creating thousands of small
        // files is most of the cost of a split.
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 8);
        let per = groups.len().div_ceil(workers).max(1);
        std::thread::scope(|s| {
            let handles: Vec<_> = groups
                .chunks(per)
                .map(|chunk| s.spawn(|| write_packs(&packs, chunk)))
                .collect();
            handles
                .into_iter()
                .try_for_each(|h| h.join().expect("a cache writer panicked"))
        })?;
        let rows: Vec<SearchRow> = groups
            .iter()
            .filter_map(|(_, es)| SearchRow::of(es.iter().map(|e| &e.fields)))
            .collect();
        let table = serde_json::to_vec(&rows).expect("rows serialise");
        std::fs::write(new.path().join("search.json"), table)?;
        std::fs::write(
            new.path().join("stamp.json"),
            serde_json::to_vec(stamp).expect("a stamp serialises"),
        )?;
        let new = new.keep();
        let old = parent.join(format!(
            ".refs-old-{}",
            new.file_name().and_then(|n| n.to_str()).unwrap_or("x")
        ));
        if self.dir.exists() {
            std::fs::rename(&self.dir, &old)?;
        }
        std::fs::rename(&new, &self.dir)?;
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

    /// The search table, checked.
    pub fn search_rows(&self, registry: &str) -> Result<Vec<SearchRow>, RegistryError> {
        let path = self.dir.join("search.json");
        let loc = path.display().to_string();
        let bytes = std::fs::read(&path)
            .map_err(|e| invalid(registry, &loc, format!("  $: cannot read it: {e}")))?;
        let rows: Vec<SearchRow> = serde_json::from_slice(&bytes)
            .map_err(|e| invalid(registry, &loc, format!("  $: {e}")))?;
        for (i, r) in rows.iter().enumerate() {
            if !knap_schema::ident::is_valid_ref(&r.pack_ref) {
                return Err(invalid(
                    registry,
                    &loc,
                    format!("  $[{i}].ref: `{}` is not a valid ref", r.pack_ref),
                ));
            }
        }
        Ok(rows)
    }
}

/// Writes `packs/<ref>.json` for each group: `{"ref": REF, "versions": [...]}`
/// with each entry's own bytes. Not synced one by one: the directory is put
/// in place whole, and a torn file is refused when read.
fn write_packs(packs: &Path, groups: &[(&str, Vec<&SplitEntry<'_>>)]) -> std::io::Result<()> {
    let mut buf = Vec::new();
    for (r, es) in groups {
        buf.clear();
        buf.extend_from_slice(b"{\"ref\":");
        serde_json::to_writer(&mut buf, r).expect("a string serialises");
        buf.extend_from_slice(b",\"versions\":[");
        for (i, e) in es.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            buf.extend_from_slice(e.raw.get().as_bytes());
        }
        buf.extend_from_slice(b"]}\n");
        std::fs::File::create(packs.join(format!("{r}.json")))?.write_all(&buf)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: &str, yanked: bool, desc: &str) -> Fields {
        Fields {
            pack_ref: PackRef::parse("p").unwrap(),
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

    #[test]
    fn matching_ignores_case_in_ascii_and_beyond() {
        assert!(contains_lower("Slack Notifier", "slack n"));
        assert!(contains_lower("ÉCLAIR", "éclair"));
        assert!(!contains_lower("ab", "abc"));
        assert!(contains_lower("", ""));
    }
}
