//! The checked-in JSON Schemas under `schema/json/` are the ones generated
//! from the Rust types; this test fails when they drift. Regenerate with
//! `KNAP_BLESS=1 cargo test -p knap-schema --test json_schemas`.

// Tests print what they skip and what they measured.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;

use knap_schema::json_schema;

#[test]
fn checked_in_schemas_match_the_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("json");
    let bless = std::env::var_os("KNAP_BLESS").is_some();
    let mut drifted = Vec::new();
    for (name, schema) in json_schema::all() {
        let path = dir.join(name);
        let want = json_schema::render(&schema);
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &want).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(have) if have == want => {}
            _ => drifted.push(name),
        }
    }
    assert!(
        drifted.is_empty(),
        "schema/json is out of date for {drifted:?}; run KNAP_BLESS=1 cargo test -p knap-schema --test json_schemas"
    );
}

#[test]
fn the_index_schema_accepts_the_real_attune_index_and_rejects_a_bad_checksum() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    if !corpus.is_dir() {
        eprintln!("skipped: the corpus ../shared/corpus is absent");
        return;
    }
    let schema = json_schema::all()
        .into_iter()
        .find(|(n, _)| *n == "index.schema.json")
        .unwrap()
        .1;
    let v = jsonschema::validator_for(&schema).unwrap();
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(corpus.join("attune/index.json")).unwrap())
            .unwrap();
    let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    doc["packs"][0]["install_sources"][0]["checksum"] = "sha256:abc".into();
    assert!(!v.is_valid(&doc));
}

#[test]
fn the_lock_and_config_schemas_accept_the_documented_examples() {
    let schemas = json_schema::all();
    let get = |n: &str| {
        jsonschema::validator_for(&schemas.iter().find(|(x, _)| *x == n).unwrap().1).unwrap()
    };
    let lock = serde_json::json!({
        "$schema": knap_schema::lock::LOCK_SCHEMA_URL,
        "version": 1,
        "requested": {"slack": "^2.1", "jira": "*"},
        "packs": [{"ref": "core", "version": "1.0.3", "registry": "community",
            "source": {"type": "archive", "url": "https://e/x.tgz", "checksum": format!("sha256:{}", "a".repeat(64))},
            "tree": format!("sha256:{}", "b".repeat(64)),
            "dependencies": [], "installed_at": "2026-11-21T12:00:00Z"}]
    });
    assert!(get("lock.schema.json").is_valid(&lock));
    let config: serde_json::Value = serde_json::to_value(
        knap_schema::config::Config::from_toml("root = \"./packs\"\n[[registry]]\nname = \"c\"\nurl = \"https://e/r/\"\npriority = 10\n").unwrap(),
    )
    .unwrap();
    assert!(get("config.schema.json").is_valid(&config));
}
