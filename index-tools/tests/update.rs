//! `knap-index update`: adds entries atomically and sorted, keeps unknown
//! fields, treats a published `(ref, version)` as immutable without
//! `--force`, bumps `last_updated` only on change, and never writes an
//! invalid index.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn update(index: &Path, pack: &Path, extra: &[&str]) -> std::process::Output {
    let sha = commit_all(pack);
    let mut args = vec![
        "update",
        "--index",
        index.to_str().unwrap(),
        pack.to_str().unwrap(),
        "--git-url",
        "https://example.org/p.git",
        "--git-ref",
        &sha,
    ];
    args.extend_from_slice(extra);
    knap_index(args)
}

fn create(index: &Path, pack: &Path) -> std::process::Output {
    update(
        index,
        pack,
        &[
            "--create",
            "--name",
            "Test Registry",
            "--url",
            "https://example.org/reg/",
        ],
    )
}

#[test]
fn update_creates_adds_sorted_and_is_idempotent() {
    let tmp = tempfile::tempdir().unwrap();
    let index = tmp.path().join("index.json");
    let (b2, b1, a1) = (
        tmp.path().join("b2"),
        tmp.path().join("b1"),
        tmp.path().join("a1"),
    );
    make_pack(&b2, "beta", "2.0.0");
    make_pack(&b1, "beta", "1.10.0");
    make_pack(&a1, "alpha", "1.0.0");

    let o = update(&index, &b2, &[]);
    assert_exit(&o, 1);
    assert!(stderr(&o).contains("--create"), "{}", stderr(&o));
    assert!(!index.exists());

    assert_exit(&create(&index, &b2), 0);
    assert_exit(&update(&index, &b1, &[]), 0);
    let o = update(&index, &a1, &[]);
    assert_exit(&o, 0);
    assert!(stderr(&o).contains("added alpha 1.0.0"), "{}", stderr(&o));
    let doc = read_json(&index);
    let ids: Vec<(String, String)> = doc["packs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["ref"].as_str().unwrap().into(),
                p["version"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want = [("alpha", "1.0.0"), ("beta", "2.0.0"), ("beta", "1.10.0")];
    assert_eq!(
        ids,
        want.map(|(a, b)| (a.to_owned(), b.to_owned())),
        "sorted by ref, then newest first (Attune's client takes the first)"
    );
    assert_exit(&knap_index(["validate", index.to_str().unwrap()]), 0);

    // The same entry again: nothing changes, not even last_updated.
    let before = std::fs::read(&index).unwrap();
    let o = knap_index_at(&index, &a1, "1800000000");
    assert_exit(&o, 0);
    assert!(stderr(&o).contains("unchanged"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&index).unwrap(), before);
    // No temporary files left beside the index.
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(".knap-index"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

/// `update` at another time (SOURCE_DATE_EPOCH).
fn knap_index_at(index: &Path, pack: &Path, epoch: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_knap-index"))
        .args([
            "update",
            "--index",
            index.to_str().unwrap(),
            pack.to_str().unwrap(),
        ])
        .args(["--git-url", "https://example.org/p.git", "--git-ref"])
        .arg(commit_all(pack))
        .env("SOURCE_DATE_EPOCH", epoch)
        .output()
        .unwrap()
}

#[test]
fn a_published_version_is_immutable_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let index = tmp.path().join("index.json");
    let pack = tmp.path().join("p");
    make_pack(&pack, "demo", "1.0.0");
    assert_exit(&create(&index, &pack), 0);
    let before = std::fs::read(&index).unwrap();
    let first_time = read_json(&index)["last_updated"].clone();

    write(&pack.join("actions/hello.py"), "print('changed')\n");
    let o = update(&index, &pack, &[]);
    assert_exit(&o, 4);
    let err = stderr(&o);
    assert!(
        err.contains("demo 1.0.0 is already published") && err.contains("install_sources"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&index).unwrap(),
        before,
        "the index is untouched"
    );

    let o = knap_index_at(&index, &pack, "1800000000");
    assert_exit(&o, 4);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_knap-index"))
        .args([
            "update",
            "--force",
            "--index",
            index.to_str().unwrap(),
            pack.to_str().unwrap(),
        ])
        .args(["--git-url", "https://example.org/p.git", "--git-ref"])
        .arg(commit_all(&pack))
        .env("SOURCE_DATE_EPOCH", "1800000000")
        .output()
        .unwrap();
    assert_exit(&o, 0);
    let doc = read_json(&index);
    assert_eq!(doc["packs"].as_array().unwrap().len(), 1);
    assert_ne!(
        doc["last_updated"], first_time,
        "a change bumps last_updated"
    );
    assert_eq!(doc["last_updated"], "2027-01-15T08:00:00Z");
}

#[test]
fn unknown_fields_and_indentation_survive_an_update() {
    let Some(corpus) = corpus() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let index = tmp.path().join("index.json");
    let mut doc = read_json(&corpus.join("attune/index.json"));
    doc["x-top"] = serde_json::json!({"keep": [1, "two"]});
    doc["packs"][5]["x-entry"] = "kept".into();
    doc["packs"][5]["contents"]["x-contents"] = true.into();
    let mut text = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    serde::Serialize::serialize(
        &doc,
        &mut serde_json::Serializer::with_formatter(&mut text, fmt),
    )
    .unwrap();
    std::fs::write(&index, &text).unwrap();

    let pack = tmp.path().join("p");
    make_pack(&pack, "zzz_new", "0.1.0");
    assert_exit(&update(&index, &pack, &[]), 0);
    let after_text = std::fs::read_to_string(&index).unwrap();
    assert!(
        after_text.contains("\n    \"registry_name\""),
        "four-space indentation kept"
    );
    let after: Value = serde_json::from_str(&after_text).unwrap();
    assert_eq!(after["x-top"], doc["x-top"]);
    let old_entries = doc["packs"].as_array().unwrap();
    let new_entries = after["packs"].as_array().unwrap();
    assert_eq!(new_entries.len(), old_entries.len() + 1);
    assert_eq!(
        &new_entries[..old_entries.len()],
        &old_entries[..],
        "existing entries untouched"
    );
    assert_eq!(new_entries.last().unwrap()["ref"], "zzz_new");
}

#[test]
fn an_invalid_index_or_entry_is_refused_and_left_alone() {
    let Some(corpus) = corpus() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let index = tmp.path().join("index.json");
    std::fs::copy(
        corpus.join("attune/example-registry-index.AndroxxTraxxon.json"),
        &index,
    )
    .unwrap();
    let before = std::fs::read(&index).unwrap();
    let pack = tmp.path().join("p");
    make_pack(&pack, "demo", "1.0.0");
    let o = update(&index, &pack, &[]);
    assert_exit(&o, 4);
    assert!(
        stderr(&o).contains("$.packs[0].install_sources[0].ref"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&index).unwrap(), before);

    // An entry file whose checksum is malformed.
    let good = tmp.path().join("good.json");
    assert_exit(&create(&good, &pack), 0);
    let mut entry = read_json(&good)["packs"][0].clone();
    entry["install_sources"][0]["checksum"] = "sha256:xyz".into();
    let ef = tmp.path().join("entry.json");
    std::fs::write(&ef, serde_json::to_vec(&entry).unwrap()).unwrap();
    let before = std::fs::read(&good).unwrap();
    let o = knap_index([
        "update",
        "--index",
        good.to_str().unwrap(),
        "--entry",
        ef.to_str().unwrap(),
    ]);
    assert_exit(&o, 4);
    assert!(
        stderr(&o).contains("$.install_sources[0].checksum"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&good).unwrap(), before);
}
