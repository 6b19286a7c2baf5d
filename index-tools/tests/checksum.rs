//! `knap-index checksum DIR` checks that DIR is a pack: its `pack.yaml` is
//! read and validated with or without `--json` (exit 4 when it is missing or
//! invalid), and each cause of an error is printed once.

mod common;

use common::*;

/// Runs `checksum DIR` and `checksum --json DIR` and asserts that both exit
/// 4 naming `pack.yaml` and the given words, with nothing on stdout.
#[track_caller]
fn refused_both_ways(dir: &std::path::Path, words: &[&str]) {
    for json in [false, true] {
        let mut args = vec!["checksum", dir.to_str().unwrap()];
        if json {
            args.push("--json");
        }
        let o = knap_index(&args);
        assert_exit(&o, 4);
        assert_eq!(stdout(&o), "", "no digest is printed for {args:?}");
        let err = stderr(&o);
        assert!(err.contains("pack.yaml"), "{args:?}: {err}");
        for w in words {
            assert!(err.contains(w), "{args:?}: `{w}` missing from {err}");
        }
    }
}

#[test]
fn an_empty_directory_is_not_a_pack() {
    let t = tempfile::tempdir().unwrap();
    refused_both_ways(t.path(), &["No such file"]);
}

#[test]
fn invalid_yaml_is_refused() {
    let t = tempfile::tempdir().unwrap();
    write(&t.path().join("pack.yaml"), "ref: [\n");
    refused_both_ways(t.path(), &["not valid YAML"]);
}

#[test]
fn a_yaml_number_version_is_refused() {
    let t = tempfile::tempdir().unwrap();
    write(
        &t.path().join("pack.yaml"),
        "ref: p\nversion: 1.0\nauthor: A\n",
    );
    refused_both_ways(t.path(), &["field `version`", "YAML number 1.0"]);
}

#[test]
fn a_missing_ref_is_refused() {
    let t = tempfile::tempdir().unwrap();
    write(&t.path().join("pack.yaml"), "version: \"1.0.0\"\n");
    refused_both_ways(t.path(), &["field `ref`", "is required"]);
}

#[test]
fn a_valid_pack_prints_its_digest_either_way() {
    let t = tempfile::tempdir().unwrap();
    make_pack(t.path(), "p", "1.0.0");
    let plain = knap_index(["checksum", t.path().to_str().unwrap()]);
    assert_exit(&plain, 0);
    let digest = stdout(&plain).trim().to_owned();
    assert!(digest.starts_with("sha256:"), "{digest}");
    let json = knap_index(["checksum", t.path().to_str().unwrap(), "--json"]);
    assert_exit(&json, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(v["checksum"], digest.as_str());
    assert_eq!(v["ref"], "p");
}

#[test]
fn a_missing_directory_names_the_cause_once() {
    let t = tempfile::tempdir().unwrap();
    let nope = t.path().join("nope");
    let o = knap_index(["checksum", nope.to_str().unwrap()]);
    let err = stderr(&o);
    assert_ne!(o.status.code(), Some(0), "{err}");
    assert_eq!(
        err.matches("No such file or directory").count(),
        1,
        "the cause once: {err}"
    );
    assert!(err.contains(nope.to_str().unwrap()), "{err}");
    let o = knap_index(["checksum", nope.to_str().unwrap(), "--json"]);
    let err = stderr(&o);
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

#[test]
fn json_is_taken_before_the_command_as_after_it() {
    let t = tempfile::tempdir().unwrap();
    make_pack(t.path(), "p", "1.0.0");
    let dir = t.path().to_str().unwrap();
    let after = knap_index(["checksum", dir, "--json"]);
    let before = knap_index(["--json", "checksum", dir]);
    assert_exit(&after, 0);
    assert_exit(&before, 0);
    assert_eq!(stdout(&before), stdout(&after));
    let v: serde_json::Value = serde_json::from_str(&stdout(&before)).unwrap();
    assert_eq!(v["ref"], "p");

    // validate's report, and an error object, either way.
    let bad = t.path().join("index.json");
    write(&bad, r#"{"registry_name": "R"}"#);
    for args in [
        ["--json", "validate", bad.to_str().unwrap()],
        ["validate", bad.to_str().unwrap(), "--json"],
    ] {
        let o = knap_index(args);
        assert_exit(&o, 4);
        let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(report[0]["valid"], false, "{report}");
    }
    for args in [
        ["--json", "checksum", "/nonexistent/pack"],
        ["checksum", "/nonexistent/pack", "--json"],
    ] {
        let o = knap_index(args);
        let err: serde_json::Value = serde_json::from_str(stderr(&o).trim()).unwrap();
        assert!(err["error"]["message"].is_string(), "{err}");
    }
}
