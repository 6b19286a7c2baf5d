//! The site's search index: what the front page's search box loads on
//! demand, so that the page itself stays small whatever the registry's size.
//!
//! Every ref is a document, numbered in ref order (the order of the pages).
//! Its words are taken from the newest version that is not yanked: the ref,
//! the label, the keywords, the description and the names of its
//! components (actions, sensors, triggers, rules, workflows). A word is a
//! run of letters and digits, lower-cased ([`words`]; `site.js` splits a
//! query the same way), and a query matches a pack when each of its words
//! begins a word of the pack.
//!
//! The index is an inverted one, split so that a search loads only what it
//! needs:
//!
//! - **word chunks** (`w<N>.js`): every word in sorted order with the
//!   documents holding it (those whose ref holds it apart from the others,
//!   so that name matches rank first), cut into chunks of about
//!   [`WORD_CHUNK_BYTES`]. The page knows the first word of each chunk, so
//!   a query word loads only the chunks whose range holds words beginning
//!   with it: one chunk for a whole name.
//! - **document chunks** (`d<N>.js`): what a result shows (ref, label,
//!   latest version, description, summary, keywords), [`DOC_CHUNK`]
//!   documents each; loaded only for results that the page does not
//!   already show.
//!
//! The files are scripts (`knapSearch.words(N, [...])`), not JSON, so that
//! a site opened from disk (`file://`, where a page may not fetch) searches
//! as one served over HTTP does. They live in a directory named by the
//! digest of their content (`search/<digest>/`), so a browser never mixes
//! the chunks of two builds.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use sha2::{Digest, Sha256};

/// About how many bytes a word chunk holds before the next one starts.
pub const WORD_CHUNK_BYTES: usize = 32 * 1024;
/// Documents per document chunk.
pub const DOC_CHUNK: usize = 256;

/// One ref, as the search index sees it.
pub struct Doc<'a> {
    pub pack_ref: &'a str,
    pub label: &'a str,
    pub version: String,
    pub description: &'a str,
    /// `["3 actions", "1 sensor", "2 versions"]`.
    pub summary: &'a [String],
    pub keywords: &'a [String],
    /// Label, keywords, description and component names: the texts
    /// searched besides the ref.
    pub texts: Vec<&'a str>,
}

/// The files of the search index, and what the front page needs to know
/// to load them.
pub struct SearchIndex {
    /// Where the chunks are, relative to the site root, ending in `/`.
    pub dir: String,
    /// The first word of each word chunk, in order.
    pub firsts: Vec<String>,
    /// `(path relative to the site root, content)` of every chunk.
    pub files: Vec<(String, Vec<u8>)>,
}

/// The words of a text: maximal runs of letters and digits (Unicode
/// `Alphabetic` or `Numeric`, as `[\p{Alphabetic}\p{N}]+` in JavaScript),
/// lower-cased.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// Compares as JavaScript compares strings (by UTF-16 code units), which
/// the page's binary search over the chunks' first words relies on.
fn js_order(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// The documents of one word: those whose ref holds it, and the others.
#[derive(Default)]
struct Postings {
    name: Vec<u32>,
    other: Vec<u32>,
}

impl Postings {
    fn add(&mut self, doc: u32, in_name: bool) {
        if in_name {
            if self.name.last() != Some(&doc) {
                self.name.push(doc);
            }
            // A word of the ref counts once, as a name match.
            if self.other.last() == Some(&doc) {
                self.other.pop();
            }
        } else if self.name.last() != Some(&doc) && self.other.last() != Some(&doc) {
            self.other.push(doc);
        }
    }
}

/// Builds the search index of `docs` (in ref order).
pub fn build(docs: &[Doc<'_>]) -> SearchIndex {
    let mut postings: BTreeMap<String, Postings> = BTreeMap::new();
    for (id, d) in docs.iter().enumerate() {
        let id = u32::try_from(id).expect("fewer than 4 billion refs");
        // Name words first, so that a word in both counts as a name match.
        for w in words(d.pack_ref) {
            postings.entry(w).or_default().add(id, true);
        }
        for text in &d.texts {
            for w in words(text) {
                postings.entry(w).or_default().add(id, false);
            }
        }
    }
    let mut sorted: Vec<(String, Postings)> = postings.into_iter().collect();
    sorted.sort_by(|a, b| js_order(&a.0, &b.0));

    let mut chunks: Vec<String> = Vec::new();
    let mut firsts = Vec::new();
    let mut current = String::new();
    for (word, p) in &sorted {
        if current.is_empty() {
            firsts.push(word.clone());
        } else {
            current.push(',');
        }
        current.push('[');
        current.push_str(&serde_json::to_string(word).expect("a string serialises"));
        current.push(',');
        deltas(&mut current, &p.name);
        current.push(',');
        deltas(&mut current, &p.other);
        current.push(']');
        if current.len() >= WORD_CHUNK_BYTES {
            chunks.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        chunks.push(current);
    }

    let mut files: Vec<(String, Vec<u8>)> = chunks
        .iter()
        .enumerate()
        .map(|(n, body)| {
            (
                format!("w{n}.js"),
                format!("knapSearch.words({n},[{body}]);\n").into_bytes(),
            )
        })
        .collect();
    for (n, part) in docs.chunks(DOC_CHUNK).enumerate() {
        let rows: Vec<serde_json::Value> = part
            .iter()
            .map(|d| {
                serde_json::json!([
                    d.pack_ref,
                    d.label,
                    d.version,
                    d.description,
                    d.summary,
                    d.keywords
                ])
            })
            .collect();
        let body = serde_json::to_string(&rows).expect("JSON serialises");
        files.push((
            format!("d{n}.js"),
            format!("knapSearch.docs({n},{body});\n").into_bytes(),
        ));
    }

    let mut digest = Sha256::new();
    for (name, bytes) in &files {
        digest.update(name.as_bytes());
        digest.update([0]);
        digest.update(bytes);
    }
    let digest = digest.finalize();
    let dir = format!("search/{}/", knap_schema::hex::encode(&digest[..5]));
    for (name, _) in &mut files {
        name.insert_str(0, &dir);
    }
    SearchIndex { dir, firsts, files }
}

/// `[first, second - first, ...]`: ascending document numbers as the
/// differences between neighbours, which keeps the numbers short.
fn deltas(out: &mut String, ids: &[u32]) {
    out.push('[');
    let mut prev = 0;
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{}", id - prev);
        prev = *id;
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc<'a>(pack_ref: &'a str, texts: Vec<&'a str>) -> Doc<'a> {
        Doc {
            pack_ref,
            label: "",
            version: "1.0.0".into(),
            description: "",
            summary: &[],
            keywords: &[],
            texts,
        }
    }

    #[test]
    fn words_are_runs_of_letters_and_digits_lower_cased() {
        let w: Vec<String> = words("AWS_ec2-Tools: Größe 3.14 ünïcode日本").collect();
        assert_eq!(
            w,
            ["aws", "ec2", "tools", "größe", "3", "14", "ünïcode日本"]
        );
    }

    #[test]
    fn postings_keep_name_matches_apart_and_each_document_once() {
        let docs = [
            doc("net_tools", vec!["Net tools", "tools for the net"]),
            doc("ping", vec!["Ping", "net ping ping"]),
        ];
        let index = build(&docs);
        let words = String::from_utf8(index.files[0].1.clone()).unwrap();
        assert_eq!(
            words,
            "knapSearch.words(0,[[\"for\",[],[0]],[\"net\",[0],[1]],[\"ping\",[1],[]],[\"the\",[],[0]],[\"tools\",[0],[]]]);\n"
        );
        assert_eq!(index.firsts, ["for"]);
        assert!(index.files[0].0.starts_with("search/"));
        assert!(index.files[0].0.ends_with("/w0.js"));
    }

    #[test]
    fn chunks_split_the_words_in_javascript_order_and_numbers_are_deltas() {
        // Enough refs for several word chunks and document chunks.
        let names: Vec<String> = (0..9000).map(|i| format!("pack{i:05}")).collect();
        let docs: Vec<Doc<'_>> = names.iter().map(|n| doc(n, vec!["Common"])).collect();
        let index = build(&docs);
        let word_files: Vec<_> = index
            .files
            .iter()
            .filter(|(n, _)| n.contains("/w"))
            .collect();
        assert!(word_files.len() > 2, "{} word chunks", word_files.len());
        assert_eq!(index.firsts.len(), word_files.len());
        let mut sorted = index.firsts.clone();
        sorted.sort_by(|a, b| js_order(a, b));
        assert_eq!(sorted, index.firsts);
        assert_eq!(
            index.files.len() - word_files.len(),
            9000usize.div_ceil(DOC_CHUNK)
        );
        let all: String = word_files
            .iter()
            .map(|(_, b)| String::from_utf8(b.clone()).unwrap())
            .collect();
        // Every document holds "common", so its list is 0 then 1s.
        let common = format!("[\"common\",[],[0{}]]", ",1".repeat(8999));
        assert!(all.contains(&common));
        for (_, b) in word_files {
            assert!(
                b.len() < WORD_CHUNK_BYTES * 2,
                "a chunk of {} bytes",
                b.len()
            );
        }
    }

    #[test]
    fn the_directory_changes_with_the_content() {
        let a = build(&[doc("alpha", vec!["one"])]);
        let b = build(&[doc("alpha", vec!["two"])]);
        assert_ne!(a.dir, b.dir);
        assert_eq!(a.dir, build(&[doc("alpha", vec!["one"])]).dir);
    }

    #[test]
    fn javascript_order_is_by_utf16_code_units() {
        // U+FF5E (one unit, 0xFF5E) sorts after U+1F600 (0xD83D 0xDE00) in
        // JavaScript, though its UTF-8 bytes sort first.
        assert_eq!(js_order("\u{FF5E}", "\u{1F600}"), Ordering::Greater);
        assert!("\u{FF5E}" < "\u{1F600}");
    }
}
