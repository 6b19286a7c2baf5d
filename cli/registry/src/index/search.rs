//! The search table of a whole index's per-ref cache ([`super::split`]):
//! one row per ref, what `knap search` shows and matches.
//!
//! ```text
//! refs/search.jsonl       {"format": "knap-search-2", "rows": N}
//!                         then one row per line, in ref order:
//!                         [REF, VERSION, [VERSIONS], LABEL, DESCRIPTION,
//!                          [KEYWORDS], [OTHER TEXT]]
//! ```
//!
//! A row per line lets a search skip the rows that cannot match without
//! parsing them: a row whose line is plain ASCII without escapes holds
//! every text it is matched against verbatim, so when its line does not
//! contain the query (ignoring ASCII case) neither does any of its fields.
//! Only the other rows are parsed and matched ([`search_table`]).
//!
//! The table is untrusted input like every file knap reads: every row must
//! start with a valid ref, in strictly increasing order, the rows must be
//! as many as the first line says, and every row a search shows is parsed
//! whole into its typed form; anything else refuses the table.

use serde::{Deserialize, Serialize};

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
    pub(super) fn write_line(&self, out: &mut Vec<u8>) {
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
pub(super) fn table_head(rows: usize) -> Vec<u8> {
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
pub(super) fn search_table(bytes: &[u8], q: &str, want_refs: bool) -> Result<Found, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
