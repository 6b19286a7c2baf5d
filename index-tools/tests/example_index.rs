//! `example-index/` is a real registry: it validates, every source directory
//! has exactly one entry file, every entry is what `knap-index entry` makes
//! from its sources today, every archive rebuilds with `knap-index pack` to
//! the published bytes and extracts to the source tree, and `index.json` is
//! exactly what `knap-index update` makes from the entry files.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use knap_schema::digest::{sha256_file, tree_digest};
use serde_json::Value;

fn example_index() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../example-index")
        .canonicalize()
        .unwrap()
}

/// Every `entries/<ref>/<version>.json`, sorted by path.
fn entry_files(root: &Path) -> Vec<PathBuf> {
    let files: Vec<PathBuf> = walkdir::WalkDir::new(root.join("entries"))
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    assert!(!files.is_empty(), "no entry files under entries/");
    files
}

/// `(ref, version)` of every `src/<ref>/<version>/` directory.
fn source_dirs(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for r in std::fs::read_dir(root.join("src")).unwrap() {
        let r = r.unwrap();
        for v in std::fs::read_dir(r.path()).unwrap() {
            let v = v.unwrap();
            assert!(v.file_type().unwrap().is_dir(), "{}", v.path().display());
            out.push((
                r.file_name().into_string().unwrap(),
                v.file_name().into_string().unwrap(),
            ));
        }
    }
    out.sort();
    out
}

fn ref_version(e: &Value) -> (String, String) {
    (
        e["ref"].as_str().unwrap().to_owned(),
        e["version"].as_str().unwrap().to_owned(),
    )
}

/// The entry's one archive source.
fn archive_source(e: &Value) -> &Value {
    let archives: Vec<&Value> = e["install_sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["type"] == "archive")
        .collect();
    assert_eq!(
        archives.len(),
        1,
        "{:?}: one archive source",
        ref_version(e)
    );
    archives[0]
}

/// Extracts a .tar.gz into `dest`.
fn extract(archive: &Path, dest: &Path) {
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(archive).unwrap());
    tar::Archive::new(gz).unpack(dest).unwrap();
}

#[test]
fn example_index_validates() {
    let o = knap_index(["validate", example_index().to_str().unwrap()]);
    assert_exit(&o, 0);
}

#[test]
fn every_source_dir_has_one_entry_file_and_every_archive_one_entry() {
    let root = example_index();
    let from_entries: Vec<(String, String)> = entry_files(&root)
        .iter()
        .map(|p| ref_version(&read_json(p)))
        .collect();
    let mut sorted = from_entries.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), from_entries.len(), "duplicate entries");
    assert_eq!(sorted, source_dirs(&root), "src/ and entries/ differ");

    let mut archives: Vec<String> = std::fs::read_dir(root.join("archives"))
        .unwrap()
        .map(|e| format!("archives/{}", e.unwrap().file_name().to_str().unwrap()))
        .collect();
    archives.sort();
    let mut named: Vec<String> = entry_files(&root)
        .iter()
        .map(|p| {
            archive_source(&read_json(p))["url"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    named.sort();
    assert_eq!(
        archives, named,
        "archives/ holds exactly the named archives"
    );
}

#[test]
fn every_entry_is_what_knap_index_entry_makes_from_its_sources() {
    let root = example_index();
    for file in entry_files(&root) {
        let published = read_json(&file);
        let (r, v) = ref_version(&published);
        assert_eq!(
            file,
            root.join("entries").join(&r).join(format!("{v}.json")),
            "entry file name"
        );
        let url = archive_source(&published)["url"].as_str().unwrap();
        assert_eq!(url, format!("archives/{r}-{v}.tar.gz"), "relative URL");
        let o = knap_index([
            "entry",
            root.join("src").join(&r).join(&v).to_str().unwrap(),
            "--archive-url",
            url,
            "--archive",
            root.join(url).to_str().unwrap(),
        ]);
        assert_exit(&o, 0);
        let made: Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(made, published, "{r} {v}: entry differs from its sources");
    }
}

#[test]
fn every_archive_matches_its_checksum_rebuilds_and_extracts_to_its_source_tree() {
    let root = example_index();
    let tmp = tempfile::tempdir().unwrap();
    for file in entry_files(&root) {
        let entry = read_json(&file);
        let (r, v) = ref_version(&entry);
        let source = archive_source(&entry);
        let checksum = source["checksum"].as_str().unwrap();
        let published = root.join(source["url"].as_str().unwrap());

        // The published bytes have the entry's SHA-256.
        assert_eq!(
            sha256_file(&published).unwrap(),
            checksum,
            "{r} {v}: published archive"
        );

        // `knap-index pack` rebuilds the same bytes from src/.
        let src = root.join("src").join(&r).join(&v);
        let out = tmp.path().join(format!("{r}-{v}.tar.gz"));
        let o = knap_index(["pack", src.to_str().unwrap(), "-o", out.to_str().unwrap()]);
        assert_exit(&o, 0);
        assert_eq!(stdout(&o).trim(), checksum, "{r} {v}: rebuilt checksum");
        assert_eq!(
            std::fs::read(&out).unwrap(),
            std::fs::read(&published).unwrap(),
            "{r} {v}: rebuilt bytes"
        );

        // It extracts to the source tree: same tree digest, and the
        // pack.yaml names the entry's ref and version.
        let dest = tmp.path().join(format!("{r}-{v}"));
        extract(&published, &dest);
        let src_tree = tree_digest(&src).unwrap().checksum;
        assert_eq!(
            tree_digest(&dest).unwrap().checksum,
            src_tree,
            "{r} {v}: tree digest of the extracted archive"
        );
        let o = knap_index(["checksum", dest.to_str().unwrap(), "--json"]);
        assert_exit(&o, 0);
        let c: Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(
            (c["ref"].as_str(), c["version"].as_str()),
            (Some(&*r), Some(&*v))
        );
        assert_eq!(c["checksum"], src_tree);

        // A git source, if an entry has one, pins the same tree.
        for s in entry["install_sources"].as_array().unwrap() {
            if s["type"] == "git" {
                assert_eq!(s["checksum"], src_tree, "{r} {v}: git source checksum");
            }
        }
    }
}

#[test]
fn index_json_is_what_update_makes_from_the_entry_files() {
    let root = example_index();
    let published = read_json(&root.join("index.json"));
    let tmp = tempfile::tempdir().unwrap();

    // A fresh index with the same identity, built from the entry files
    // alone, equals index.json but for last_updated.
    let fresh = tmp.path().join("fresh.json");
    for (i, file) in entry_files(&root).iter().enumerate() {
        let mut args = vec![
            "update".to_owned(),
            "--index".into(),
            fresh.to_str().unwrap().into(),
            "--entry".into(),
            file.to_str().unwrap().into(),
        ];
        if i == 0 {
            args.extend([
                "--create".into(),
                "--name".into(),
                published["registry_name"].as_str().unwrap().into(),
                "--url".into(),
                published["registry_url"].as_str().unwrap().into(),
            ]);
        }
        assert_exit(&knap_index(&args), 0);
    }
    let mut made = read_json(&fresh);
    made["last_updated"] = published["last_updated"].clone();
    assert_eq!(made, published, "index.json differs from the entries");

    // Adding every entry again to index.json changes nothing, byte for byte.
    let copy = tmp.path().join("index.json");
    std::fs::copy(root.join("index.json"), &copy).unwrap();
    for file in entry_files(&root) {
        let o = knap_index([
            "update",
            "--index",
            copy.to_str().unwrap(),
            "--entry",
            file.to_str().unwrap(),
        ]);
        assert_exit(&o, 0);
    }
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        std::fs::read(root.join("index.json")).unwrap()
    );
}
