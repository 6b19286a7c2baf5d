//! `example-index/` is a real registry: it validates, its `index.json`
//! holds exactly the entry files, and rebuilding every archive with
//! `knap-index pack` gives the published checksum.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn example_index() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../example-index")
}

#[test]
fn example_index_validates() {
    let o = knap_index(["validate", example_index().to_str().unwrap()]);
    assert_exit(&o, 0);
}

#[test]
fn index_json_lists_exactly_the_entry_files() {
    let root = example_index();
    let index = read_json(&root.join("index.json"));
    let mut from_files: Vec<Value> = walkdir::WalkDir::new(root.join("entries"))
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| read_json(e.path()))
        .collect();
    from_files.sort_by_key(|e| {
        (
            e["ref"].as_str().unwrap().to_owned(),
            e["version"].as_str().unwrap().to_owned(),
        )
    });
    assert!(!from_files.is_empty());
    assert_eq!(index["packs"].as_array().unwrap(), &from_files);
}

#[test]
fn rebuilt_archives_match_the_published_checksums() {
    let root = example_index();
    let tmp = tempfile::tempdir().unwrap();
    let index = read_json(&root.join("index.json"));
    for entry in index["packs"].as_array().unwrap() {
        let (r, v) = (
            entry["ref"].as_str().unwrap(),
            entry["version"].as_str().unwrap(),
        );
        let src = root.join("src").join(r).join(v);
        let out = tmp.path().join(format!("{r}-{v}.tar.gz"));
        let o = knap_index(["pack", src.to_str().unwrap(), "-o", out.to_str().unwrap()]);
        assert_exit(&o, 0);
        let archive = entry["install_sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["type"] == "archive")
            .unwrap();
        assert_eq!(
            stdout(&o).trim(),
            archive["checksum"],
            "{r} {v}: rebuilt archive checksum"
        );
        let published = root.join(archive["url"].as_str().unwrap());
        assert_eq!(
            std::fs::read(&out).unwrap(),
            std::fs::read(&published).unwrap(),
            "{r} {v}: same bytes"
        );
    }
}
