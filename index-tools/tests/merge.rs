//! Must-show 4: `merge` of the two real Attune index versions refuses the 42
//! re-pinned `(ref, version)` pairs unless `--prefer`, and then keeps every
//! version and every `meta` field; nothing is written on refusal.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use serde_json::Value;

fn by_id(doc: &Value) -> BTreeMap<(String, String), Value> {
    doc["packs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                (
                    p["ref"].as_str().unwrap().to_owned(),
                    p["version"].as_str().unwrap().to_owned(),
                ),
                p.clone(),
            )
        })
        .collect()
}

#[test]
fn merge_refuses_repinned_versions_unless_prefer() {
    let Some(corpus) = corpus() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let old_path = corpus.join("attune/index.at-b4312d6.json");
    let new_path = corpus.join("attune/index.json");
    let (old, new) = (read_json(&old_path), read_json(&new_path));
    let (old_ids, new_ids) = (by_id(&old), by_id(&new));
    let repinned: BTreeSet<_> = old_ids
        .iter()
        .filter(|(id, e)| new_ids.get(*id).is_some_and(|n| n != *e))
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(repinned.len(), 42);

    let out = tmp.path().join("merged.json");
    let o = knap_index([
        "merge",
        "-o",
        out.to_str().unwrap(),
        old_path.to_str().unwrap(),
        new_path.to_str().unwrap(),
    ]);
    assert_exit(&o, 4);
    let err = stderr(&o);
    assert!(err.contains("42 published versions differ"), "{err}");
    for (r, v) in &repinned {
        assert!(
            err.contains(&format!("  {r} {v}: ")),
            "{r} {v} not named:\n{err}"
        );
    }
    assert!(
        err.contains("index.at-b4312d6.json") && err.contains("attune/index.json"),
        "{err}"
    );
    assert!(!out.exists(), "nothing is written on refusal");

    for (prefer, winner) in [("first", &old_ids), ("last", &new_ids)] {
        let o = knap_index([
            "merge",
            "-o",
            out.to_str().unwrap(),
            old_path.to_str().unwrap(),
            new_path.to_str().unwrap(),
            "--prefer",
            prefer,
        ]);
        assert_exit(&o, 0);
        let merged = read_json(&out);
        let ids = by_id(&merged);
        let all: BTreeSet<_> = old_ids.keys().chain(new_ids.keys()).cloned().collect();
        assert_eq!(
            ids.keys().cloned().collect::<BTreeSet<_>>(),
            all,
            "every version kept"
        );
        assert_eq!(merged["packs"].as_array().unwrap().len(), all.len());
        for (id, e) in &ids {
            let expected = winner
                .get(id)
                .or_else(|| old_ids.get(id))
                .or_else(|| new_ids.get(id))
                .unwrap();
            assert_eq!(
                e, expected,
                "{id:?} is the {prefer} input's entry, every field and meta field intact"
            );
            assert!(
                e["meta"].as_object().is_some_and(|m| !m.is_empty()),
                "{id:?} keeps its meta"
            );
        }
        // Identity from the first input, last_updated the latest.
        assert_eq!(merged["registry_name"], old["registry_name"]);
        assert_eq!(merged["last_updated"], new["last_updated"]);
    }
}

#[test]
fn identical_duplicates_collapse_and_unknown_fields_survive() {
    let Some(corpus) = corpus() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut doc = read_json(&corpus.join("attune/index.json"));
    doc["x-operator-note"] = "kept".into();
    doc["packs"][0]["x-field"] = serde_json::json!({"nested": [1, 2]});
    doc["packs"][0]["install_sources"][0]["x-mirror"] = "kept too".into();
    let a = tmp.path().join("a.json");
    std::fs::write(&a, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let out = tmp.path().join("out.json");
    let o = knap_index([
        "merge",
        "-o",
        out.to_str().unwrap(),
        a.to_str().unwrap(),
        a.to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
    let merged = read_json(&out);
    assert_eq!(merged, doc, "merging a file with itself changes nothing");
}

#[test]
fn an_invalid_input_writes_nothing() {
    let Some(corpus) = corpus() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out.json");
    std::fs::write(&out, "previous content").unwrap();
    let bad = corpus.join("attune/example-registry-index.AndroxxTraxxon.json");
    let good = corpus.join("attune/index.json");
    let o = knap_index([
        "merge",
        "-o",
        out.to_str().unwrap(),
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert_exit(&o, 4);
    assert!(stderr(&o).contains("AndroxxTraxxon"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "previous content");
}
