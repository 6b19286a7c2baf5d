//! Requirements from real ecosystems (`../shared/corpus/semver-reqs.txt`):
//! Cargo syntax, space-separated AND and `||` unions parse; every other
//! construct gets an error that names it.

// Tests print what they skip and what they measured.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;

use knap_schema::{Dependency, Requirement};
use semver::Version;

/// The lines that must be refused, and words the error must contain.
const REFUSED: &[(&str, &str)] = &[
    ("core=0.2.0", "core@=0.2.0"),
    ("wrongstackstormversion", "is not a version"),
    ("0.0.6 - 1", "hyphen ranges"),
    ("0.2.9 - 1", "hyphen ranges"),
    ("0.39.1 - 1", "hyphen ranges"),
    ("0.7.3 - 1", "hyphen ranges"),
    ("0.8.1 - 1", "hyphen ranges"),
    ("0.8.4 - 1", "hyphen ranges"),
    (
        "git+https://github.com/Phillip9587/on-finished.git#stream-finished",
        "URL",
    ),
    ("git://github.com/senchalabs/connect.git", "URL"),
    ("file:.yalc/react-concurrent-store", "`file:`"),
    (
        "https://pkg.csb.dev/testing-library/react-testing-library/commit/0e2cf7da/@testing-library/react#.tgz",
        "URL",
    ),
    (
        "https://pkg.csb.dev/testing-library/react-testing-library/commit/0e2cf7da/@testing-library/react/_pkg.tgz",
        "URL",
    ),
    ("npm:@testing-library/react@^12", "`npm:`"),
    ("npm:react-dom@^17", "`npm:`"),
    ("npm:react-test-renderer@^17", "`npm:`"),
    ("npm:react@^17", "`npm:`"),
    ("npm:types-react-dom@rc", "`npm:`"),
    ("npm:types-react@rc", "`npm:`"),
    ("npm:types-use-sync-external-store@rc", "`npm:`"),
    ("catalog:", "`catalog:`"),
    (">=v16.20.0", "leading `v`"),
    (">=v18.16.1", "leading `v`"),
    (">=v18.3.0", "leading `v`"),
    (">=v20.0.0", "leading `v`"),
];

fn corpus() -> Option<std::path::PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("skipped: the corpus ../shared/corpus is absent");
        None
    }
}

/// Fields whose values are pack dependency strings (`REF` or `REF@REQ`).
fn is_dependency_string(ecosystem: &str, field: &str) -> bool {
    matches!(
        (ecosystem, field),
        ("st2-pack-dep", "dependencies")
            | ("attune-pack-dep", "dependencies.packs")
            | ("attune-pack-dep", "pack ref")
            | ("attune-pack-dep", "meta.node_dependencies")
    )
}

#[test]
fn every_corpus_requirement_parses_or_names_its_construct() {
    let Some(corpus) = corpus() else { return };
    let sources = std::fs::read_to_string(corpus.join("semver-reqs.sources.tsv")).unwrap();
    let lines = std::fs::read_to_string(corpus.join("semver-reqs.txt")).unwrap();
    let rows: Vec<Vec<&str>> = sources
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(
        rows.len(),
        lines.lines().count(),
        "one source row per requirement"
    );
    let mut refused_seen = Vec::new();
    let mut parsed = 0;
    for row in &rows {
        let (text, ecosystem, field) = (row[0], row[1], row[5]);
        let result = if is_dependency_string(ecosystem, field) {
            Dependency::parse(text)
                .map(|_| ())
                .map_err(|e| e.to_string())
        } else {
            Requirement::parse(text)
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        match (REFUSED.iter().find(|(l, _)| *l == text), result) {
            (Some((_, words)), Err(e)) => {
                assert!(
                    e.contains(words),
                    "`{text}`: the error should name {words:?}: {e}"
                );
                assert!(
                    e.contains(text),
                    "`{text}`: the error quotes the input: {e}"
                );
                refused_seen.push(text);
            }
            (Some(_), Ok(())) => panic!("`{text}` ({ecosystem} {field}) should be refused"),
            (None, Err(e)) => panic!("`{text}` ({ecosystem} {field}) should parse: {e}"),
            (None, Ok(())) => parsed += 1,
        }
    }
    assert_eq!(
        refused_seen.len(),
        REFUSED.len(),
        "every refused line is in the corpus"
    );
    assert!(parsed > 250, "{parsed} parsed");
}

#[test]
fn mixed_forms_mean_what_they_say() {
    let v = |s: &str| Version::parse(s).unwrap();
    let r = |s: &str| Requirement::parse(s).unwrap();
    assert!(r(">= 0.2.0 < 0.4.0").matches(&v("0.3.9")));
    assert!(!r(">= 0.2.0 < 0.4.0").matches(&v("0.4.0")));
    assert!(r("^8.9.0 || ^10.13.0 || >=12.0.0").matches(&v("10.20.0")));
    assert!(!r("^8.9.0 || ^10.13.0 || >=12.0.0").matches(&v("9.0.0")));
    assert!(r("^8.9.0 || ^10.13.0 || >=12.0.0").matches(&v("22.1.0")));
    assert!(r("0.x >=0.0.4").matches(&v("0.5.0")));
    assert!(!r("0.x >=0.0.4").matches(&v("0.0.3")));
    assert!(r("1.0.103, <1.0.172").matches(&v("1.0.150")));
    assert!(!r("1.0.103, <1.0.172").matches(&v("1.0.172")));
    assert!(r("~1.6.15").matches(&v("1.6.20")) && !r("~1.6.15").matches(&v("1.7.0")));
    assert!(r("2.x").matches(&v("2.9.1")) && !r("2.x").matches(&v("3.0.0")));
    assert!(r("*").matches(&v("0.0.1")));
    // A prerelease satisfies only a requirement that names that version's prerelease.
    assert!(r("^1.0.0 || 1.0.0-rc").matches(&v("1.0.0-rc")));
    assert!(!r("^1.0.0").matches(&v("1.1.0-rc.1")));
}
