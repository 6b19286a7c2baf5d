//! Reading and validating a whole `index.json` on every core.
//!
//! The rules are exactly `knap_schema::validate::validate_index` (the same
//! as `knap-index validate`), split so that they run in parallel: one thread
//! scans the document and hands the raw entries, in batches, to workers that
//! parse and check each entry on its own (`validate_entry`); then
//! the checks across entries (`EntryListCheck`: duplicates, order) run in
//! index order on the calling thread as the checked batches come back, so
//! the problems come in the same order as from `validate_index`. The scan,
//! the parsing and the checks across entries overlap, and each entry is
//! handed to the caller as soon as it is checked: [`check_index`] drops it,
//! the per-ref cache writes it out ([`check_and_split`]), so the allocator
//! reuses its memory for the next one instead of growing the heap (in a
//! fresh process, growing the heap costs about as much as the parse), and
//! a large index never lives in memory twice. A document that does not
//! even parse is parsed again by `check_index_text`, which names the JSON
//! path of the error.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use knap_schema::index::Entry;
use knap_schema::validate::{
    Compat, EntryListCheck, check_index_text, validate_entry, validate_index,
};
use knap_schema::{Index, PackRef, Problems};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::parse::{count, format_problems, invalid, utf8_text};
use crate::error::RegistryError;

/// Parses and validates a whole index, keeping it.
pub fn parse_index(registry: &str, location: &str, bytes: &[u8]) -> Result<Index, RegistryError> {
    let mut held = Vec::new();
    let (index, problems) = match check_whole::<Entry>(location, bytes, |e| held.push(e)) {
        Some(mut c) => {
            c.index.packs = held;
            (Some(c.index), c.problems)
        }
        None => located_parse_error(registry, location, bytes)?,
    };
    refuse_invalid(registry, location, &problems)?;
    index.ok_or_else(|| invalid(registry, location, format_problems(&problems)))
}

/// Validates a whole index without keeping it (for a registry that only
/// stores the document): each entry is freed once checked, so a large
/// index never lives in memory as a whole.
pub fn check_index(
    registry: &str,
    location: &str,
    bytes: &[u8],
) -> Result<IndexSummary, RegistryError> {
    let (summary, problems) = match check_whole::<EntryKey>(location, bytes, drop) {
        Some(c) => (c.summary, c.problems),
        None => {
            let (index, problems) = located_parse_error(registry, location, bytes)?;
            (
                index.as_ref().map(IndexSummary::of).unwrap_or_default(),
                problems,
            )
        }
    };
    refuse_invalid(registry, location, &problems)?;
    Ok(summary)
}

/// Validates a whole index as [`check_index`] does, and counts the versions
/// that name an install source by a relative URL, which a git registry
/// cannot serve (nothing serves the files of its repository).
pub fn check_git_index(
    registry: &str,
    location: &str,
    bytes: &[u8],
) -> Result<(IndexSummary, usize), RegistryError> {
    let mut relative = 0;
    let checked =
        check_whole::<RelativeKey>(location, bytes, |k| relative += usize::from(k.relative));
    let (summary, problems) = match checked {
        Some(c) => (c.summary, c.problems),
        None => {
            let (index, problems) = located_parse_error(registry, location, bytes)?;
            if let Some(index) = &index {
                relative = index.packs.iter().filter(|e| names_relative(e)).count();
            }
            (
                index.as_ref().map(IndexSummary::of).unwrap_or_default(),
                problems,
            )
        }
    };
    refuse_invalid(registry, location, &problems)?;
    Ok((summary, relative))
}

/// True when an entry of a git-hosted index names an install source that
/// cannot be fetched (by a relative URL: [`knap_schema::urls::git_cannot_fetch`]).
pub fn names_relative(e: &Entry) -> bool {
    e.install_sources
        .iter()
        .any(|s| knap_schema::urls::git_cannot_fetch(s.url()))
}

/// How many versions of how many packs an index lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexSummary {
    pub versions: usize,
    pub packs: usize,
}

impl IndexSummary {
    pub fn of(index: &Index) -> Self {
        Self::count(index.packs.iter().map(|e| e.pack_ref.as_str()))
    }

    fn count<'a>(refs: impl ExactSizeIterator<Item = &'a str>) -> Self {
        let versions = refs.len();
        let refs: std::collections::HashSet<&str> = refs.collect();
        Self {
            versions,
            packs: refs.len(),
        }
    }
}

impl fmt::Display for IndexSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {}",
            count(self.versions, "version", "versions"),
            count(self.packs, "pack", "packs")
        )
    }
}

/// The slow path for a document that does not parse as an index: parsed
/// again, tracking the JSON path of the first error.
fn located_parse_error(
    registry: &str,
    location: &str,
    bytes: &[u8],
) -> Result<(Option<Index>, Problems), RegistryError> {
    let text = utf8_text(registry, location, bytes)?;
    Ok(check_index_text(text, Compat::Knap))
}

fn refuse_invalid(
    registry: &str,
    location: &str,
    problems: &Problems,
) -> Result<(), RegistryError> {
    for w in problems.warnings() {
        tracing::debug!("{location}: {w}");
    }
    if problems.has_errors() {
        return Err(invalid(registry, location, format_problems(problems)));
    }
    Ok(())
}

/// Checks a whole index (as [`check_index`]) and hands `each` every
/// entry's raw bytes in the document and its search fields, in index
/// order, as soon as it is checked: what the per-ref cache
/// (`index::split`) is written from. The entries handed over are only
/// to be used if this returns `Ok`.
pub(crate) fn check_and_split<'a>(
    registry: &str,
    location: &str,
    bytes: &'a [u8],
    each: impl FnMut(SplitEntry<'a>),
) -> Result<IndexSummary, RegistryError> {
    match check_whole::<SplitEntry<'a>>(location, bytes, each) {
        Some(c) => {
            refuse_invalid(registry, location, &c.problems)?;
            Ok(c.summary)
        }
        None => {
            let (_, problems) = located_parse_error(registry, location, bytes)?;
            refuse_invalid(registry, location, &problems)?;
            // Parsed by the exact parser but not by the fast one: refused
            // like any document the fast path cannot read.
            Err(invalid(registry, location, format_problems(&problems)))
        }
    }
}

/// What the per-ref cache's search table keeps of one entry.
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

/// One entry of a checked index, as the per-ref cache needs it.
pub(crate) struct SplitEntry<'a> {
    /// The entry's own bytes in the document.
    pub raw: &'a RawValue,
    pub fields: Fields,
}

/// What [`check_whole`] keeps of each entry once checked: the entry, or
/// only what the checks across entries need ([`EntryKey`]), or what the
/// per-ref cache needs ([`SplitEntry`]).
trait Held<'a>: Send + Sized {
    fn hold(e: Entry, raw: &'a RawValue) -> Self;
    fn parts(&self) -> (&str, &semver::Version);
}

impl<'a> Held<'a> for SplitEntry<'a> {
    fn hold(e: Entry, raw: &'a RawValue) -> Self {
        Self {
            raw,
            fields: Fields::from(e),
        }
    }
    fn parts(&self) -> (&str, &semver::Version) {
        (&self.fields.pack_ref, &self.fields.version)
    }
}

impl Held<'_> for Entry {
    fn hold(e: Entry, _: &RawValue) -> Self {
        e
    }
    fn parts(&self) -> (&str, &semver::Version) {
        (&self.pack_ref, &self.version)
    }
}

/// The ref and version of an entry.
struct EntryKey {
    pack_ref: knap_schema::PackRef,
    version: semver::Version,
}

impl Held<'_> for EntryKey {
    fn hold(e: Entry, _: &RawValue) -> Self {
        Self {
            pack_ref: e.pack_ref,
            version: e.version,
        }
    }
    fn parts(&self) -> (&str, &semver::Version) {
        (&self.pack_ref, &self.version)
    }
}

/// An entry's ref and version, and whether it names a source by a
/// relative URL.
struct RelativeKey {
    key: EntryKey,
    relative: bool,
}

impl Held<'_> for RelativeKey {
    fn hold(e: Entry, raw: &RawValue) -> Self {
        let relative = names_relative(&e);
        Self {
            key: EntryKey::hold(e, raw),
            relative,
        }
    }
    fn parts(&self) -> (&str, &semver::Version) {
        self.key.parts()
    }
}

/// An index read by [`check_whole`]: its own fields (no entries), the
/// counts and every problem.
struct Checked {
    index: Index,
    summary: IndexSummary,
    problems: Problems,
}

/// Raw entries handed from the scan to the workers: the index of the
/// first, then the entries.
type Batch<'a> = (usize, Vec<&'a RawValue>);

/// A batch after the workers: its first index, what is held of each entry,
/// and each entry's own problems.
type Done<T> = (usize, Vec<T>, Vec<Problems>);

/// Entries per batch: small enough to spread a short index over the
/// workers, large enough that handing batches over costs nothing.
const BATCH: usize = 64;

/// Parses and validates an index (see the module documentation), handing
/// what is held of each entry to `each` in index order once it is checked.
/// `None` if the document does not parse as an index.
fn check_whole<'a, T: Held<'a>>(
    location: &str,
    bytes: &'a [u8],
    mut each: impl FnMut(T),
) -> Option<Checked> {
    let started = std::time::Instant::now();
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let (tx, rx) = mpsc::channel::<Batch<'a>>();
    let rx = Mutex::new(rx);
    // Bounded, so that workers wait for a caller slower than they are
    // (one writing files) instead of piling up checked entries.
    let (done_tx, done_rx) = mpsc::sync_channel::<Done<T>>(2 * workers);
    // Set by a worker that meets an entry that does not parse.
    let failed = AtomicBool::new(false);
    let mut entry_problems = Problems::new();
    let mut list = EntryListCheck::new("$.packs", Compat::Knap, true, 0);
    let mut refs: HashSet<String> = HashSet::new();
    let mut n = 0;
    let scanned = std::thread::scope(|s| {
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let (rx, failed) = (&rx, &failed);
            s.spawn(move || work::<T>(rx, done_tx, failed));
        }
        drop(done_tx);
        let scan = s.spawn(move || scan(bytes, tx));
        // The batches come back in any order; each is checked across
        // entries and handed on in index order.
        let mut pending: BTreeMap<usize, Done<T>> = BTreeMap::new();
        for d in done_rx {
            if failed.load(Ordering::Relaxed) {
                pending.clear();
                continue;
            }
            pending.insert(d.0, d);
            while let Some((_, held, found)) = pending.remove(&n) {
                n += held.len();
                for (e, p) in held.into_iter().zip(found) {
                    entry_problems.extend(p);
                    let (pack_ref, version) = e.parts();
                    list.push(pack_ref, version, &mut entry_problems);
                    if !refs.contains(pack_ref) {
                        refs.insert(pack_ref.to_owned());
                    }
                    each(e);
                }
            }
        }
        scan.join().ok().flatten()
    });
    let (mut rest, total) = scanned?;
    if failed.load(Ordering::Relaxed) || n != total {
        return None;
    }
    let parsed_at = started.elapsed();
    rest.insert("packs".into(), serde_json::Value::Array(vec![]));
    let index: Index = serde_json::from_value(serde_json::Value::Object(rest)).ok()?;
    // The document's own fields first, as `validate_index` reports them.
    let mut problems = validate_index(&index, Compat::Knap);
    problems.extend(entry_problems);
    list.finish(&mut problems);
    let summary = IndexSummary {
        versions: n,
        packs: refs.len(),
    };
    tracing::debug!(
        "{location}: {summary} parsed and checked on {workers} threads in {parsed_at:?}, finished in {:?}",
        started.elapsed() - parsed_at
    );
    Some(Checked {
        index,
        summary,
        problems,
    })
}

/// A worker: parses and checks the batches it receives until the scan is
/// over, sending each back checked; sets `failed` and stops if an entry
/// does not parse (or once another worker has).
fn work<'a, T: Held<'a>>(
    rx: &Mutex<mpsc::Receiver<Batch<'a>>>,
    done: mpsc::SyncSender<Done<T>>,
    failed: &AtomicBool,
) {
    let mut path = String::new();
    loop {
        let next = rx.lock().expect("batch queue lock").recv();
        let Ok((first, raw)) = next else {
            return;
        };
        if failed.load(Ordering::Relaxed) {
            return;
        }
        let mut held = Vec::with_capacity(raw.len());
        let mut found = Vec::with_capacity(raw.len());
        for (j, r) in raw.iter().enumerate() {
            let Ok(e) = serde_json::from_str::<Entry>(r.get()) else {
                failed.store(true, Ordering::Relaxed);
                return;
            };
            path.clear();
            {
                use std::fmt::Write;
                let _ = write!(path, "$.packs[{}]", first + j);
            }
            let mut p = Problems::new();
            validate_entry(&e, &path, Compat::Knap, &mut p);
            found.push(p);
            held.push(T::hold(e, r));
        }
        if done.send((first, held, found)).is_err() {
            return;
        }
    }
}

/// Scans the document: its fields other than `packs` are returned (with
/// the number of entries), the raw entries are sent to `tx` in batches as
/// they are found. `None` if it is not a JSON object with one `packs`
/// array, or if a key other than `packs` is repeated. Dropping `tx` on
/// return tells the workers the scan is over.
fn scan<'a>(
    bytes: &'a [u8],
    tx: mpsc::Sender<Batch<'a>>,
) -> Option<(serde_json::Map<String, serde_json::Value>, usize)> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let top = de.deserialize_map(TopVisitor { tx }).ok()?;
    de.end().ok()?;
    Some(top)
}

/// The top-level object: `packs` streamed to the workers, the rest kept.
struct TopVisitor<'a> {
    tx: mpsc::Sender<Batch<'a>>,
}

impl<'de> Visitor<'de> for TopVisitor<'de> {
    type Value = (serde_json::Map<String, serde_json::Value>, usize);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an index (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut rest = serde_json::Map::new();
        let mut count = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "packs" {
                if count.is_some() {
                    return Err(de::Error::duplicate_field("packs"));
                }
                count = Some(map.next_value_seed(PacksSeed { tx: &self.tx })?);
            } else {
                let value: serde_json::Value = map.next_value()?;
                // A repeated key is an error for a known field and not for
                // an unknown one: left to the exact parse of the slow path.
                if rest.insert(key, value).is_some() {
                    return Err(de::Error::custom("a repeated key"));
                }
            }
        }
        let count = count.ok_or_else(|| de::Error::missing_field("packs"))?;
        Ok((rest, count))
    }
}

/// The `packs` array, sent to the workers in batches; gives its length.
struct PacksSeed<'s, 'a> {
    tx: &'s mpsc::Sender<Batch<'a>>,
}

impl<'de> DeserializeSeed<'de> for PacksSeed<'_, 'de> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for PacksSeed<'_, 'de> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of entries")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let mut sent = 0;
        let mut batch = Vec::with_capacity(BATCH);
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            batch.push(raw);
            if batch.len() == BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                sent += full.len();
                let _ = self.tx.send((sent - BATCH, full));
            }
        }
        let total = sent + batch.len();
        if !batch.is_empty() {
            let _ = self.tx.send((sent, batch));
        }
        Ok(total)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::error::Kind;

    /// A valid index entry (the registry's unit tests' fixture).
    pub(crate) fn entry(r: &str, v: &str) -> serde_json::Value {
        serde_json::json!({
            "ref": r, "label": r, "description": "", "version": v, "author": "a",
            "license": "MIT", "keywords": [], "runtime_deps": [],
            "install_sources": [{"type": "archive", "url": "https://example.org/a.tgz",
                "checksum": format!("sha256:{}", "0".repeat(64))}],
            "contents": {}
        })
    }

    /// A valid index document of `packs`.
    pub(crate) fn doc(packs: Vec<serde_json::Value>) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "registry_name": "T", "registry_url": "https://example.org/", "version": "1.0",
            "last_updated": "2026-11-21T12:00:00Z", "packs": packs
        }))
        .unwrap()
    }

    #[test]
    fn parse_index_accepts_a_valid_index_and_keeps_unknown_fields() {
        let mut e = entry("a", "1.0.0");
        e["x_custom"] = serde_json::json!(1);
        let i = parse_index("r", "here", &doc(vec![e, entry("b", "1.0.0")])).unwrap();
        assert_eq!(i.packs.len(), 2);
        assert_eq!(i.packs[0].extra["x_custom"], 1);
    }

    #[test]
    fn every_entry_is_kept_in_order_across_batches() {
        let n = BATCH * 5 + 3;
        let packs: Vec<_> = (0..n)
            .map(|i| entry(&format!("p{i:04}"), "1.0.0"))
            .collect();
        let mut held = Vec::new();
        let c = check_whole::<Entry>("here", &doc(packs), |e| held.push(e))
            .expect("a valid index parses");
        assert!(c.problems.is_empty(), "{}", c.problems);
        assert_eq!(held.len(), n);
        for (i, e) in held.iter().enumerate() {
            assert_eq!(e.pack_ref, format!("p{i:04}"));
        }
        assert_eq!(
            c.summary,
            IndexSummary {
                versions: n,
                packs: n
            }
        );
    }

    #[test]
    fn parse_index_reports_duplicates_across_batches_with_their_path() {
        let n = BATCH * 3;
        let packs: Vec<_> = (0..n)
            .map(|i| entry(&format!("p{i:04}"), "1.0.0"))
            .chain([entry("p0000", "1.0.0")])
            .collect();
        let e = parse_index("r", "here", &doc(packs)).unwrap_err();
        assert_eq!(e.kind(), Kind::Integrity);
        assert!(
            e.to_string().contains(&format!(
                "$.packs[{n}].version: `p0000` version 1.0.0 is listed twice (also at $.packs[0])"
            )),
            "{e}"
        );
    }

    #[test]
    fn parse_index_refuses_an_entry_that_parses_but_is_invalid() {
        let mut e = entry("a", "1.0.0");
        e["install_sources"][0]["checksum"] = serde_json::json!("sha256:abc");
        let mut first = entry("a", "2.0.0");
        first["license"] = "".into();
        let err = parse_index("r", "here", &doc(vec![first, e])).unwrap_err();
        assert_eq!(err.kind(), Kind::Integrity);
        let text = err.to_string();
        assert!(text.contains("$.packs[0].license"), "{text}");
        assert!(
            text.contains("$.packs[1].install_sources[0].checksum"),
            "{text}"
        );
    }

    #[test]
    fn parse_index_refuses_every_entry_with_an_invalid_ref_or_version() {
        let err = parse_index(
            "r",
            "here",
            &doc(vec![
                entry("0", "1.0.0"),
                entry("a", "1.0"),
                entry("b", "1.0.0"),
            ]),
        )
        .unwrap_err();
        assert_eq!(err.kind(), Kind::Integrity);
        let text = err.to_string();
        assert!(text.contains("$.packs[0].ref: invalid pack ref"), "{text}");
        assert!(
            text.contains("$.packs[1].version: version of `a`: `1.0` has 2 parts"),
            "{text}"
        );
        assert!(!text.contains("$.packs[2]"), "{text}");
    }

    #[test]
    fn parse_index_locates_a_type_error() {
        let mut e = entry("a", "1.0.0");
        e["keywords"] = serde_json::json!("not a list");
        let err = parse_index("r", "here", &doc(vec![e])).unwrap_err();
        assert!(err.to_string().contains("$.packs[0].keywords"), "{err}");
    }

    #[test]
    fn check_index_gives_the_counts_and_the_same_problems_in_the_same_order_as_validate_index() {
        let mut packs: Vec<_> = (0..BATCH * 2)
            .map(|i| entry(&format!("p{:04}", i / 2), &format!("1.{}.0", i % 2)))
            .collect();
        packs[3]["license"] = "".into();
        packs[BATCH + 1]["install_sources"][0]["checksum"] = "sha256:0".into();
        packs.push(entry("p0001", "1.1.0"));
        packs.push(entry("a-unsorted", "1.0.0"));
        let bytes = doc(packs);
        let c = check_whole::<EntryKey>("here", &bytes, drop).expect("parses");
        let whole: Index = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(c.problems, validate_index(&whole, Compat::Knap));
        assert_eq!(c.problems.errors().count(), 3, "{}", c.problems);
        assert_eq!(c.problems.warnings().count(), 1, "{}", c.problems);
        assert_eq!(
            c.summary,
            IndexSummary {
                versions: BATCH * 2 + 2,
                packs: BATCH + 1
            }
        );
        let e = check_index("r", "here", &bytes).unwrap_err();
        assert!(e.to_string().contains("$.packs[3].license"), "{e}");
    }

    #[test]
    fn a_repeated_top_level_key_is_judged_as_validate_index_judges_it() {
        let text = String::from_utf8(doc(vec![entry("a", "1.0.0")])).unwrap();
        // A repeated known field: refused, as `check_index_text` refuses it.
        let twice = text.replacen('{', r#"{"registry_name": "Other","#, 1);
        assert!(check_index_text(&twice, Compat::Knap).1.has_errors());
        let e = check_index("r", "here", twice.as_bytes()).unwrap_err();
        assert_eq!(e.kind(), Kind::Integrity);
        assert!(
            e.to_string().contains("duplicate field `registry_name`"),
            "{e}"
        );
        assert!(parse_index("r", "here", twice.as_bytes()).is_err());
        // A repeated unknown key: accepted, keeping the last value.
        let twice = text.replacen('{', r#"{"x": 1, "x": 2,"#, 1);
        assert_eq!(
            parse_index("r", "here", twice.as_bytes()).unwrap().extra["x"],
            2
        );
        let summary = check_index("r", "here", twice.as_bytes()).unwrap();
        assert_eq!(
            summary,
            IndexSummary {
                versions: 1,
                packs: 1
            }
        );
    }

    #[test]
    fn a_document_that_is_not_an_index_is_refused_with_the_path_of_the_error() {
        for (text, path) in [
            (&b"{\"packs\": 3}"[..], "$.packs"),
            (b"[1, 2]", "$"),
            (b"{\"packs\": [], \"packs\": []}", "$"),
            (
                b"{\"registry_name\": \"r\", \"packs\": [{\"ref\": 1}]",
                "$.packs[0].ref",
            ),
            (b"{\"packs\": [}", "$"),
        ] {
            let e = check_index("r", "here", text).unwrap_err();
            assert_eq!(e.kind(), Kind::Integrity);
            assert!(e.to_string().contains(&format!("error: {path}: ")), "{e}");
        }
    }
}
