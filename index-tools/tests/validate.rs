//! Must-show 3: `validate` accepts both real Attune index files; the Attune
//! JSON Schema accepts what `merge` and `--compat attune` emit for them; the
//! AndroxxTraxxon example index is rejected with every problem's JSON path.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn attune_schema(corpus: &Path) -> jsonschema::Validator {
    let schema = read_json(&corpus.join("attune/index.schema.json"));
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the Attune schema compiles")
}

#[track_caller]
fn assert_attune_valid(v: &jsonschema::Validator, doc: &Value, what: &str) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} fails the Attune schema:\n{}",
        errors.join("\n")
    );
}

#[test]
fn validate_accepts_both_real_attune_indices() {
    let Some(corpus) = corpus() else { return };
    for f in ["attune/index.json", "attune/index.at-b4312d6.json"] {
        let path = corpus.join(f);
        for compat in [None, Some("attune")] {
            let mut args = vec!["validate".to_owned(), path.display().to_string()];
            if let Some(c) = compat {
                args.extend(["--compat".into(), c.into()]);
            }
            let o = knap_index(&args);
            assert_exit(&o, 0);
            assert!(stdout(&o).contains("valid"), "{}", stdout(&o));
        }
    }
}

#[test]
fn attune_schema_accepts_what_merge_and_compat_attune_emit() {
    let Some(corpus) = corpus() else { return };
    let schema = attune_schema(&corpus);
    let tmp = tempfile::tempdir().unwrap();
    let old = corpus.join("attune/index.at-b4312d6.json");
    let new = corpus.join("attune/index.json");
    // The real files themselves: the schema and our reading agree.
    assert_attune_valid(&schema, &read_json(&new), "index.json");

    let merged = tmp.path().join("merged.json");
    let o = knap_index([
        "merge",
        "-o",
        merged.to_str().unwrap(),
        old.to_str().unwrap(),
        new.to_str().unwrap(),
        "--prefer",
        "last",
    ]);
    assert_exit(&o, 0);
    assert_attune_valid(&schema, &read_json(&merged), "merge --prefer last");

    let attune = tmp.path().join("attune.json");
    let o = knap_index([
        "merge",
        "-o",
        attune.to_str().unwrap(),
        old.to_str().unwrap(),
        new.to_str().unwrap(),
        "--prefer",
        "last",
        "--compat",
        "attune",
    ]);
    assert_exit(&o, 0);
    let doc = read_json(&attune);
    assert_attune_valid(&schema, &doc, "merge --compat attune");
    // One version per ref, the newest.
    let packs = doc["packs"].as_array().unwrap();
    let mut refs: Vec<&str> = packs.iter().map(|p| p["ref"].as_str().unwrap()).collect();
    let n = refs.len();
    refs.dedup();
    assert_eq!(refs.len(), n, "one version per ref");
    assert_eq!(n, read_json(&new)["packs"].as_array().unwrap().len());
    let o = knap_index(["validate", "--compat", "attune", attune.to_str().unwrap()]);
    assert_exit(&o, 0);
}

#[test]
fn compat_attune_rejects_knap_additions() {
    let Some(corpus) = corpus() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut doc = read_json(&corpus.join("attune/index.json"));
    doc["packs"][0]["yanked"] = true.into();
    doc["packs"][1]["install_sources"][1]["url"] = "archives/x.tar.gz".into();
    doc["packs"][2]["x-extra"] = 1.into();
    let mut second = doc["packs"][3].clone();
    second["version"] = "9.9.9".into();
    doc["packs"].as_array_mut().unwrap().insert(4, second);
    let f = tmp.path().join("index.json");
    std::fs::write(&f, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    // Valid knap...
    let o = knap_index(["validate", f.to_str().unwrap()]);
    assert_exit(&o, 0);
    // ...but not Attune.
    let o = knap_index(["validate", "--compat", "attune", f.to_str().unwrap()]);
    assert_exit(&o, 4);
    let err = stderr(&o);
    for path in [
        "$.packs[0].yanked",
        "$.packs[1].install_sources[1].url",
        "$.packs[2][\"x-extra\"]",
        "$.packs[4].ref",
    ] {
        assert!(err.contains(path), "no problem at {path}:\n{err}");
    }
}

#[test]
fn androxxtraxxon_example_is_rejected_with_every_json_path() {
    let Some(corpus) = corpus() else { return };
    let f = corpus.join("attune/example-registry-index.AndroxxTraxxon.json");
    let o = knap_index(["validate", f.to_str().unwrap()]);
    assert_exit(&o, 4);
    let err = stderr(&o);
    // Every git source pins a tag, and one archive checksum has 65 hex digits.
    let doc = read_json(&f);
    let mut expected = Vec::new();
    for (i, p) in doc["packs"].as_array().unwrap().iter().enumerate() {
        for (j, s) in p["install_sources"].as_array().unwrap().iter().enumerate() {
            if s["type"] == "git" {
                expected.push(format!("$.packs[{i}].install_sources[{j}].ref"));
            }
            let hex = s["checksum"]
                .as_str()
                .unwrap()
                .trim_start_matches("sha256:");
            if hex.len() != 64 {
                expected.push(format!("$.packs[{i}].install_sources[{j}].checksum"));
            }
        }
    }
    assert_eq!(
        expected.len(),
        5,
        "the example has four tag refs and one 65-hex checksum"
    );
    for path in &expected {
        assert!(
            err.contains(&format!("error: {path}:")),
            "no error at {path}:\n{err}"
        );
    }
    assert!(err.contains("65 hex digits"), "{err}");
    assert_eq!(
        err.matches("error: $.").count(),
        expected.len(),
        "exactly these errors:\n{err}"
    );

    let o = knap_index(["validate", "--json", f.to_str().unwrap()]);
    assert_exit(&o, 4);
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let paths: Vec<&str> = report[0]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["severity"] == "error")
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        expected.iter().map(String::as_str).collect::<Vec<_>>()
    );
}

#[test]
fn type_errors_and_bad_json_are_located() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("index.json");
    std::fs::write(
        &f,
        r#"{"registry_name":"r","registry_url":"https://r/","version":"1.0","last_updated":"2026-01-01T00:00:00Z","packs":[{"ref":"a","version":7}]}"#,
    )
    .unwrap();
    let o = knap_index(["validate", f.to_str().unwrap()]);
    assert_exit(&o, 4);
    assert!(stderr(&o).contains("$.packs[0]"), "{}", stderr(&o));
    std::fs::write(&f, "{not json").unwrap();
    let o = knap_index(["validate", f.to_str().unwrap()]);
    assert_exit(&o, 4);
    assert!(stderr(&o).contains("not valid JSON"), "{}", stderr(&o));
}

#[test]
fn a_directory_validates_entries_and_the_sparse_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let pack = tmp.path().join("src");
    make_pack(&pack, "demo", "1.0.0");
    let o = entry_with_git(pack);
    assert_exit(&o, 0);
    let reg = tmp.path().join("reg");
    write(&reg.join("entries/demo/1.0.0.json"), &o.stdout);
    write(&reg.join("entries/demo/2.0.0.json"), &o.stdout);
    let o = knap_index(["validate", reg.to_str().unwrap()]);
    assert_exit(&o, 4);
    let err = stderr(&o);
    assert!(err.contains("2.0.0.json: error: $.version"), "{err}");
    assert!(!err.contains("1.0.0.json: error"), "{err}");

    // The sparse layout: config.json and packs/<ref>.json, whose ref must
    // match its file name.
    let sparse = tmp.path().join("sparse");
    let entry: Value = read_json(&reg.join("entries/demo/1.0.0.json"));
    write(
        &sparse.join("config.json"),
        r#"{"format":"knap-sparse-1","registry_name":"S","registry_url":"https://s/","last_updated":"2026-11-21T12:00:00Z"}"#,
    );
    write(
        &sparse.join("packs/demo.json"),
        serde_json::to_vec(&serde_json::json!({"ref": "demo", "versions": [entry]})).unwrap(),
    );
    let o = knap_index(["validate", sparse.to_str().unwrap()]);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("config.json: valid") && stdout(&o).contains("demo.json: valid"),
        "{}",
        stdout(&o)
    );
    std::fs::rename(
        sparse.join("packs/demo.json"),
        sparse.join("packs/other.json"),
    )
    .unwrap();
    write(
        &sparse.join("config.json"),
        r#"{"format":"knap-sparse-2","registry_name":"S","registry_url":"https://s/","last_updated":"2026-11-21T12:00:00Z"}"#,
    );
    let o = knap_index(["validate", sparse.to_str().unwrap()]);
    assert_exit(&o, 4);
    let err = stderr(&o);
    assert!(err.contains("config.json: error: $.format"), "{err}");
    assert!(
        err.contains("other.json: error: $.ref") && err.contains("does not match the file name"),
        "{err}"
    );
}

/// What knap-index quotes from an index reaches the terminal escaped: a
/// problem naming a keyword that holds a screen clear, a C1 CSI, a
/// right-to-left override and a colour code that hides text is told with
/// each written as `\u{..}`, never raw.
#[test]
fn problems_quote_index_values_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let index = tmp.path().join("index.json");
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../example-index/index.json"),
    )
    .unwrap();
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    let hostile = "\u{1b}[2J\u{9b}31m\u{202e}\u{1b}[8mx";
    doc["packs"][0]["keywords"] = serde_json::json!([hostile, hostile]);
    std::fs::write(&index, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let o = knap_index(["validate", index.to_str().unwrap()]);
    assert_exit(&o, 4);
    let err = stderr(&o);
    assert!(err.contains("is listed twice"), "{err}");
    for c in ['\u{1b}', '\u{9b}', '\u{202e}'] {
        assert!(!err.contains(c), "{c:?} reached the terminal raw: {err:?}");
    }
    assert!(err.contains("\\u{1b}[8m"), "{err}");
}
