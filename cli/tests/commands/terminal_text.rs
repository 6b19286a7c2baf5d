//! No text from outside knap reaches the terminal raw: index fields
//! (`knap info`, `knap search`), an invalid dependency string in an index,
//! and command-line arguments echoed in errors are shown through the one
//! escaping function (`knap_schema::text`), in text and `--json` (which
//! keeps JSON's own escaping). A property test sends random strings full
//! of C0 and C1 controls, DEL and bidi controls through every printer.

use knap_test_support::prelude::*;
use proptest::prelude::*;
use serde_json::{Value, json};

/// What a terminal would act on, besides the line breaks knap writes.
fn raw_control(text: &str) -> Option<char> {
    text.chars()
        .find(|c| *c != '\n' && knap_schema::text::is_unsafe(*c))
}

#[track_caller]
fn clean(out: &Out) {
    for (name, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        if let Some(c) = raw_control(text) {
            panic!("{name} holds {c:?} raw: {out:#?}");
        }
    }
}

/// A knap whose one local registry lists `hostile` with `text` in every
/// field a person reads, and `dep` as its dependency.
fn registry_with(k: &Knap, text: &str, dep: &str) {
    let file = k.dir.path().join("site/index.json");
    let mut e = entry("hostile", "1.0.0", &[]);
    for field in ["label", "description", "author", "license"] {
        e[field] = json!(text);
    }
    for field in ["homepage", "repository"] {
        e[field] = json!(format!("https://example.org/{text}"));
    }
    e["email"] = json!(text);
    e["keywords"] = json!([text, "x"]);
    e["runtime_deps"] = json!([text]);
    e["dependencies"] = json!({"packs": [dep], "attune_version": text});
    e["contents"]["actions"] = json!([{"name": text, "description": text}]);
    write_json(
        &file,
        &index("Local", vec![e, entry("other", "1.0.0", &[])]),
    );
    k.run(&["registry", "add", "local", file.to_str().unwrap()])
        .ok();
}

/// The characters a terminal acts on, mixed with ordinary text.
fn hostile_text() -> impl Strategy<Value = String> {
    let unsafe_chars = prop::sample::select(vec![
        '\u{1b}', '\u{7}', '\u{8}', '\r', '\n', '\t', '\u{0}', '\u{7f}', '\u{85}', '\u{9b}',
        '\u{9d}', '\u{061c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}',
        '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '[', ']', ';', '2',
        'J', 'm', '@', ':', '/',
    ]);
    let any_char = prop_oneof![3 => unsafe_chars, 1 => any::<char>()];
    prop::collection::vec(any_char, 1..24).prop_map(|v| v.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_string_through_any_printer_reaches_the_terminal_raw(text in hostile_text()) {
        let k = Knap::new();
        registry_with(&k, &format!("a{text}"), &format!("other{text}"));
        for args in [
            &["info", "hostile"][..],
            &["--json", "info", "hostile"],
            &["search", "hostile"],
            &["--json", "search", "hostile"],
            &["-v", "install", "hostile"],
            &["--json", "install", "hostile"],
        ] {
            clean(&k.run(args));
        }
        // The string as command-line arguments, echoed in errors (clap's
        // own included).
        // (An argument cannot hold NUL.)
        let arg = format!("x{}", text.replace('\0', "0"));
        for args in [
            vec!["info", arg.as_str()],
            vec!["--json", "info", arg.as_str()],
            vec!["install", arg.as_str()],
            vec!["search", arg.as_str()],
            vec!["registry", "remove", arg.as_str()],
            vec!["registry", "add", "r", "x", "--priority", arg.as_str()],
            vec!["list", arg.as_str()],
            vec![arg.as_str()],
        ] {
            clean(&k.run(&args));
        }
    }
}

/// `knap info` once printed description, label, author, keywords and
/// homepage raw: a screen clear, a title change (OSC), a C1 CSI and a
/// right-to-left override from an index reached the terminal.
#[test]
fn info_escapes_every_field_and_json_keeps_the_same_strings() {
    let k = Knap::new();
    let evil = "\u{1b}[2J\u{1b}]0;pwned\u{7}\u{9b}31m\u{202e}txt.exe";
    registry_with(&k, evil, "other");
    let out = k.run(&["info", "hostile"]).ok();
    clean(&out);
    assert!(
        out.stdout
            .contains("\\u{1b}[2J\\u{1b}]0;pwned\\u{7}\\u{9b}31m\\u{202e}txt.exe"),
        "{out:#?}"
    );
    let out = k.run(&["--json", "info", "hostile"]).ok();
    clean(&out);
    let v: Value = out.json();
    assert_eq!(v["versions"][0]["description"], evil);
}

/// An invalid dependency string in an index is named escaped on its first
/// mention, and so is an argument echoed in an error.
#[test]
fn an_invalid_dependency_and_an_argument_are_echoed_escaped() {
    let k = Knap::new();
    registry_with(&k, "fine", "bad\u{1b}[2J\u{202e}@^1");
    for args in [&["install", "hostile"][..], &["info", "hostile"]] {
        let out = k.run(args);
        clean(&out);
    }
    let out = k.run(&["info", "x\u{1b}]0;t\u{7}\u{202e}"]);
    assert_eq!(out.code, 2, "{out:#?}");
    clean(&out);
    assert!(
        out.stderr.contains("\\u{1b}]0;t\\u{7}\\u{202e}"),
        "{out:#?}"
    );
}

/// With colour on, knap writes its own colour codes, so the printers keep
/// SGR sequences: one from a registry that hides the text after it
/// (`ESC [ 8 m`, conceal) must still be escaped, in reports, `-v` lines,
/// warnings and errors alike.
#[test]
fn a_colour_code_from_a_registry_is_escaped_even_with_colour_on() {
    const CONCEAL: &str = "\u{1b}[8m";
    #[track_caller]
    fn no_conceal(args: &[&str], out: &Out) {
        for (name, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            assert!(
                !text.contains(CONCEAL),
                "{args:?}: {name} holds the registry's colour code raw: {out:#?}"
            );
        }
    }
    // Reports and `-v` lines: a valid index with the code in every field.
    let k = Knap::new();
    registry_with(&k, &format!("a{CONCEAL}b"), "other");
    for args in [
        &["--color", "always", "info", "hostile"][..],
        &["--color", "always", "search", "hostile"],
        &["--color", "always", "-v", "install", "hostile", "--dry-run"],
    ] {
        let out = k.run(args);
        assert_eq!(out.code, 0, "{out:#?}");
        no_conceal(args, &out);
    }
    // Errors: an index whose problems quote it (an invalid dependency, a
    // keyword listed twice).
    let k = Knap::new();
    registry_with(&k, "a", &format!("other{CONCEAL}"));
    let file = k.dir.path().join("site/index.json");
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    doc["packs"][1]["keywords"] = json!([CONCEAL, CONCEAL]);
    write_json(&file, &doc);
    for args in [
        &["--color", "always", "update"][..],
        &["--color", "always", "install", "other"],
    ] {
        let out = k.run(args);
        assert_eq!(out.code, 4, "{out:#?}");
        no_conceal(args, &out);
    }
}
