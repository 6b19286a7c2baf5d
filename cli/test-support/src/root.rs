//! Reading an install root back, as a test checks it: its `knap.lock`,
//! the (ref, version) pairs it lists, and the root's invariant.

use std::path::Path;

use serde_json::Value;

use crate::digest;

/// The root's `knap.lock`, as JSON.
pub fn lock_of(root: &Path) -> Value {
    let path = root.join("knap.lock");
    serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// (ref, version) of every pack in the root's `knap.lock`.
pub fn versions(root: &Path) -> Vec<(String, String)> {
    lock_of(root)["packs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["ref"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// `ref@version` of each object in the JSON array `packs` (a lock's
/// packs, a plan's installs, a report's contents), in its order.
pub fn refs_at_versions(packs: &serde_json::Value) -> Vec<String> {
    packs
        .as_array()
        .expect("an array of packs")
        .iter()
        .map(|p| {
            format!(
                "{}@{}",
                p["ref"].as_str().expect("a ref"),
                p["version"].as_str().expect("a version")
            )
        })
        .collect()
}

/// `[("a", "1.0.0")]` as owned pairs, to compare with [`versions`].
pub fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// The root's invariant: no journal, staging, trash or temp files; every
/// locked pack's directory has the locked tree digest; no other pack
/// directory; exactly one per-file record per locked pack.
#[track_caller]
pub fn assert_consistent(root: &Path) {
    let private = root.join(".knap");
    assert!(
        !private.join("journal.json").exists(),
        "journal.json left behind"
    );
    for dir in [root, private.as_path()] {
        let temps: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| knap_schema::atomic::is_temp_name(n))
            .collect();
        assert!(
            temps.is_empty(),
            "temporary files left in {dir:?}: {temps:?}"
        );
    }
    for debris in ["staging", "trash"] {
        if let Ok(d) = std::fs::read_dir(private.join(debris)) {
            let left: Vec<_> = d.map(|e| e.unwrap().file_name()).collect();
            assert!(left.is_empty(), "{debris} holds {left:?}");
        }
    }
    let lock = lock_of(root);
    let packs = lock["packs"].as_array().unwrap();
    let mut expected_records = Vec::new();
    for p in packs {
        let r = p["ref"].as_str().unwrap();
        let tree = p["tree"].as_str().unwrap();
        assert_eq!(
            digest(&root.join(r)),
            tree,
            "{r} is not what knap.lock says"
        );
        expected_records.push(format!("{r}.{}.json", &tree["sha256:".len()..]));
    }
    expected_records.sort();
    let mut records: Vec<String> = std::fs::read_dir(private.join("files"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    records.sort();
    assert_eq!(records, expected_records, "per-file records");
    for item in std::fs::read_dir(root).unwrap() {
        let name = item.unwrap().file_name().to_string_lossy().into_owned();
        if name == ".knap" || name == "knap.lock" {
            continue;
        }
        assert!(
            packs.iter().any(|p| p["ref"] == name.as_str()),
            "{name} is not in knap.lock"
        );
    }
}
