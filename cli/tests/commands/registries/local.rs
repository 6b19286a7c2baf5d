//! A whole `index.json` read from a local path goes through the per-ref
//! split cache, as one fetched over HTTPS does: split once per content,
//! then `info` and `search` read the split, and the file itself is not
//! read while its identity (length, times, inode) is what was recorded
//! when it was hashed. Which content the split is of is decided by the
//! content: an edit that keeps the length and puts the modification time
//! back is still seen.

use std::path::{Path, PathBuf};
use std::time::Duration;

use knap_test_support::prelude::*;

fn write_index(dir: &Path, version: &str) -> PathBuf {
    let path = dir.join("index.json");
    write_json(
        &path,
        &index(
            "Local",
            vec![
                entry("core", version, &[]),
                entry("web", "1.0.0", &["core"]),
            ],
        ),
    );
    path
}

fn info_versions(k: &Knap) -> Vec<String> {
    let info = k.run(&["info", "core", "--json"]).ok().json();
    info["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap().to_string())
        .collect()
}

/// The record of which content the local registry's split is of.
fn record(k: &Knap) -> Option<Vec<u8>> {
    let found: Vec<PathBuf> = files_under(&k.cache())
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "local.json"))
        .collect();
    assert!(found.len() <= 1, "{found:?}");
    found.first().map(|p| std::fs::read(p).unwrap())
}

#[test]
fn an_edit_that_keeps_the_length_and_the_modification_time_is_seen() {
    let site = tempfile::tempdir().unwrap();
    let path = write_index(site.path(), "1.0.0");
    let k = Knap::new();
    k.run(&["registry", "add", "loc", site.path().to_str().unwrap()])
        .ok();
    assert_eq!(info_versions(&k), ["1.0.0"]);
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let len = std::fs::metadata(&path).unwrap().len();

    write_index(site.path(), "1.0.1");
    let f = std::fs::File::options().write(true).open(&path).unwrap();
    f.set_modified(modified).unwrap();
    drop(f);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), len);
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        modified
    );
    assert_eq!(info_versions(&k), ["1.0.1"], "the new content");
    let hits = k.run(&["search", "core", "--json"]).ok().json();
    assert!(hits.to_string().contains("1.0.1"), "{hits}");
}

#[test]
fn a_settled_local_index_is_split_once_and_then_read_from_the_split() {
    let site = tempfile::tempdir().unwrap();
    write_index(site.path(), "1.0.0");
    // Older than the window in which a change may hide from the file's
    // times (knap_registry::registry::local::RACY, 3 s).
    std::thread::sleep(Duration::from_millis(3200));
    let k = Knap::new();
    k.run(&["registry", "add", "loc", site.path().to_str().unwrap()])
        .ok();
    let hits = k.run(&["search", "core", "--json"]).ok().json();
    assert!(hits.to_string().contains("\"core\""), "{hits}");
    let first = record(&k).expect("the split's record is in the cache");
    assert_eq!(info_versions(&k), ["1.0.0"]);
    let hits = k.run(&["search", "web", "--json"]).ok().json();
    assert!(hits.to_string().contains("\"web\""), "{hits}");
    assert_eq!(
        record(&k).unwrap(),
        first,
        "the file was not hashed again: its identity vouched for the split"
    );
    // `update` checks the file again whatever the record says.
    k.run(&["update", "loc"]).ok();
    assert_ne!(record(&k).unwrap(), first, "update hashes it again");
}
