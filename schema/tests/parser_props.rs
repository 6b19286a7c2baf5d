//! Properties of the parsers for what knap reads from others, over
//! generated hostile inputs: index documents, `pack.yaml`, `knap.lock`,
//! requirement strings, entry names and source URL joining. Each property
//! says what must never happen: a panic, an accepted invalid value, a URL
//! that resolves to another host. Bounded (64-256 cases) to keep CI fast.

use knap_schema::entry_name::{self, check_component};
use knap_schema::lock::Lockfile;
use knap_schema::urls::{SourcePolicy, SourceUrlKind, classify_source_url, resolve_source_url};
use knap_schema::validate::{Compat, check_index_text};
use knap_schema::{Requirement, ident, manifest};
use proptest::prelude::*;
use serde_json::{Value, json};
use url::Url;

/// Text an attacker would try: separators, dots, percent signs, control
/// characters, bidi overrides, long runs, and plain letters.
fn hostile_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-z0-9]{1,6}",
        1 => Just("..".to_owned()),
        1 => Just(".".to_owned()),
        1 => Just("/".to_owned()),
        1 => Just("//".to_owned()),
        1 => Just("\\".to_owned()),
        1 => Just(":".to_owned()),
        1 => Just("@".to_owned()),
        1 => Just("?".to_owned()),
        1 => Just("#".to_owned()),
        1 => Just("%2e%2e".to_owned()),
        1 => Just("%2F".to_owned()),
        1 => Just(" ".to_owned()),
        1 => Just("\t".to_owned()),
        1 => Just("\n".to_owned()),
        1 => Just("\u{1b}[2J".to_owned()),
        1 => Just("\u{202e}".to_owned()),
        1 => Just("\u{0}".to_owned()),
        1 => Just(".git".to_owned()),
        1 => Just("127.0.0.1:9".to_owned()),
        1 => Just("evil.example".to_owned()),
        1 => Just("https:".to_owned()),
        1 => Just("file:".to_owned()),
        1 => Just("x".repeat(300)),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|v| v.concat())
}

/// A URL-ish string: a prefix of separators, whitespace and controls that
/// URL parsers fold into `//`, then maybe a host, then hostile text.
fn url_like() -> impl Strategy<Value = String> {
    let one = prop::sample::select(vec!["/", "\\", " ", "\t", "\n", "\r", "\u{1}", ".", "%2F"]);
    let seps = prop::collection::vec(one, 0..4).prop_map(|v| v.concat());
    let tricks = prop::sample::select(vec![
        "//", "\\\\", "/\\", "\\/", "/\t/", " //", "\n//", "/\r\n/", "\u{1}//", "./\\",
    ])
    .prop_map(str::to_owned);
    let seps = prop_oneof![seps, tricks];
    let host = prop::sample::select(vec![
        "",
        "evil.example",
        "127.0.0.1:9",
        "example.org",
        "@evil.example",
    ]);
    (seps, host, hostile_text()).prop_map(|(a, b, c)| format!("{a}{b}{c}"))
}

/// Arbitrary JSON, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        hostile_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(hostile_text(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn valid_entry() -> Value {
    json!({
        "ref": "core",
        "label": "Core",
        "description": "d",
        "version": "1.0.0",
        "author": "A",
        "license": "Apache-2.0",
        "keywords": [],
        "runtime_deps": [],
        "install_sources": [{
            "type": "archive",
            "url": "archives/core-1.0.0.tar.gz",
            "checksum": format!("sha256:{}", "ab".repeat(32)),
        }],
        "contents": {"actions": [], "sensors": [], "triggers": [], "rules": [], "workflows": []},
    })
}

/// A valid index with one field of its one entry replaced by `value`.
fn mutated_index(field: &str, value: Value) -> Value {
    let mut e = valid_entry();
    match field {
        "url" => e["install_sources"][0]["url"] = value,
        "checksum" => e["install_sources"][0]["checksum"] = value,
        "type" => e["install_sources"][0]["type"] = value,
        f => e[f] = value,
    }
    json!({
        "registry_name": "R",
        "registry_url": "https://example.org/r/",
        "version": "1.0",
        "last_updated": "2026-01-01T00:00:00Z",
        "packs": [e],
    })
}

const ENTRY_FIELDS: [&str; 9] = [
    "ref",
    "version",
    "label",
    "author",
    "url",
    "checksum",
    "type",
    "dependencies",
    "contents",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// An index document never panics the parser, and an index that
    /// validates without errors holds only valid refs, versions, source
    /// URLs and checksums.
    #[test]
    fn an_index_never_panics_and_a_clean_index_holds_only_valid_values(
        field in prop::sample::select(ENTRY_FIELDS.to_vec()),
        value in json_value(),
        whole in json_value(),
    ) {
        for doc in [mutated_index(field, value), whole] {
            let text = doc.to_string();
            let (index, problems) = check_index_text(&text, Compat::Knap);
            if let (Some(index), false) = (index, problems.has_errors()) {
                for e in &index.packs {
                    prop_assert!(ident::is_valid_ref(&e.pack_ref), "{}", e.pack_ref);
                    prop_assert_eq!(semver::Version::parse(&e.version.to_string()).ok(), Some(e.version.clone()));
                    for s in &e.install_sources {
                        prop_assert!(classify_source_url(s.url()).is_ok(), "{}", s.url());
                        prop_assert!(ident::check_checksum(s.checksum()).is_ok(), "{}", s.checksum());
                    }
                }
            }
        }
    }

    /// A `pack.yaml` never panics the parser; one that parses has a valid
    /// ref.
    #[test]
    fn a_pack_yaml_never_panics_and_a_parsed_one_has_a_valid_ref(
        r in hostile_text(),
        version in hostile_text(),
        junk in hostile_text(),
        raw in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let docs = [
            format!("ref: {r:?}\nversion: {version:?}\nname: n\ndescription: d\nauthor: a\n"),
            format!("ref: core\nversion: 1.0.0\nname: n\ndescription: d\n{junk}\n"),
            format!("{junk}: [{r}\n"),
        ];
        let path = std::path::Path::new("pack.yaml");
        for doc in docs.iter().map(|d| d.as_bytes()).chain([raw.as_slice()]) {
            if let Ok(m) = manifest::parse(doc, path) {
                prop_assert!(ident::is_valid_ref(&m.pack_ref), "{}", m.pack_ref);
            }
        }
    }

    /// `knap.lock` text never panics the reader, and what it accepts
    /// writes back to the same value.
    #[test]
    fn a_lock_never_panics_and_round_trips(value in json_value(), r in hostile_text()) {
        let shaped = json!({
            "version": 1,
            "requested": {r.clone(): "*"},
            "packs": [{"ref": r, "version": "1.0.0", "source": value, "tree": "x", "dependencies": [], "installed_at": "t"}],
        });
        for doc in [value_text(&shaped), value_text(&value)] {
            if let Ok(lock) = serde_json::from_str::<Lockfile>(&doc) {
                let again: Lockfile = serde_json::from_str(&lock.to_pretty_json()).unwrap();
                prop_assert_eq!(again, lock);
            }
        }
    }

    /// A requirement string never panics the parser, and one that parses
    /// reads back as the same requirement from its display.
    #[test]
    fn a_requirement_never_panics_and_round_trips(s in hostile_text(), ops in "[<>=^~*|, 0-9.a-z-]{0,24}") {
        for text in [s, ops] {
            if let Ok(r) = Requirement::parse(&text) {
                let shown = r.to_string();
                let again = Requirement::parse(&shown);
                prop_assert!(again.as_ref().is_ok_and(|a| *a == r), "{text:?} -> {shown:?} -> {again:?}");
            }
        }
    }

    /// Joining a source URL to an index location never panics, never gives
    /// a URL with credentials, a query or a fragment, and a relative URL
    /// never leaves the index's own origin (scheme, host and port).
    #[test]
    fn a_relative_source_url_never_leaves_the_index_origin(
        s in prop_oneof![url_like(), hostile_text()], http in any::<bool>(),
    ) {
        let base = if http {
            Url::parse("http://127.0.0.1:8080/reg/index.json").unwrap()
        } else {
            Url::parse("https://example.org/reg/index.json").unwrap()
        };
        if let Ok(u) = resolve_source_url(&base, &s, SourcePolicy::default()) {
            prop_assert!(u.username().is_empty() && u.password().is_none(), "{s:?} -> {u}");
            prop_assert!(u.query().is_none() && u.fragment().is_none(), "{s:?} -> {u}");
            if classify_source_url(&s) == Ok(SourceUrlKind::Relative) {
                prop_assert_eq!(u.origin(), base.origin(), "{:?} -> {}", s, u);
            }
        }
    }

    /// An entry name is accepted only when no component is `.git` in any
    /// spelling, a control character, a separator or too long; its escaped
    /// form never holds a control character.
    #[test]
    fn entry_names_refuse_what_they_must_and_escape_always_prints_safely(
        s in hostile_text(), raw in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        if check_component(&s).is_ok() {
            prop_assert!(!s.chars().any(char::is_control));
            prop_assert!(!s.contains('/') && !s.contains('\\'));
            prop_assert!(s.len() <= 255);
            let folded: String = s.chars().filter(|c| *c != '\u{202e}').collect();
            prop_assert!(!folded.trim_end_matches(['.', ' ']).eq_ignore_ascii_case(".git"));
        }
        for shown in [entry_name::escape_str(&s), entry_name::escape(&raw)] {
            prop_assert!(!shown.chars().any(|c| c.is_control()), "{shown:?}");
        }
    }
}

fn value_text(v: &Value) -> String {
    v.to_string()
}
