//! Must-show 1: `knap-index checksum` of every corpus pack directory equals
//! `CHECKSUMS.tsv`.

mod common;

use std::path::Path;

use common::*;

/// Expected digests by corpus directory.
fn expected(corpus: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(corpus.join("packs/CHECKSUMS.tsv")).unwrap();
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = header
        .iter()
        .position(|h| *h == "checksum_of_corpus_dir_with_placeholders")
        .unwrap();
    lines
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_owned(), f[col].to_owned())
        })
        .collect()
}

/// The shared copy of the corpus lost some `lib/` directories whose files
/// are all placeholders; their manifest lists them. Restores them in a copy
/// so the tree is the one the expected digest was computed over. Returns
/// the directory to digest.
fn restored(corpus: &Path, name: &str, scratch: &Path) -> std::path::PathBuf {
    let dir = corpus.join("packs").join(name);
    let manifest =
        std::fs::read_to_string(corpus.join(format!("packs/{name}.manifest.tsv"))).unwrap();
    let missing: Vec<&str> = manifest
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            f.len() >= 5 && !dir.join(f[0]).exists()
        })
        .collect();
    if missing.is_empty() {
        return dir;
    }
    let copy = scratch.join(name);
    copy_tree(&dir, &copy);
    for l in missing {
        let f: Vec<&str> = l.split('\t').collect();
        assert_eq!(
            f[4], "placeholder",
            "{name}: {} is missing and was not a placeholder",
            f[0]
        );
        write(&copy.join(f[0]), "# placeholder\n");
    }
    copy
}

#[test]
fn checksum_of_every_corpus_pack_matches_checksums_tsv() {
    let Some(corpus) = corpus() else { return };
    let scratch = tempfile::tempdir().unwrap();
    let rows = expected(&corpus);
    assert!(rows.len() >= 10, "CHECKSUMS.tsv lists {} packs", rows.len());
    for (name, want) in rows {
        let dir = restored(&corpus, &name, scratch.path());
        let o = knap_index([std::ffi::OsStr::new("checksum"), dir.as_os_str()]);
        assert_exit(&o, 0);
        assert_eq!(stdout(&o).trim(), want, "checksum of {name}");
    }
}

#[test]
fn checksum_json_reports_ref_version_and_counts() {
    let Some(corpus) = corpus() else { return };
    let dir = corpus.join("packs/attunepacks-jira");
    let o = knap_index([
        std::ffi::OsStr::new("checksum"),
        dir.as_os_str(),
        "--json".as_ref(),
    ]);
    assert_exit(&o, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["ref"], "jira");
    assert_eq!(v["version"], "0.1.0");
    let files = walkdir::WalkDir::new(&dir)
        .into_iter()
        .filter(|e| e.as_ref().unwrap().file_type().is_file())
        .count();
    assert_eq!(v["files"], files as u64);
    assert!(v["checksum"].as_str().unwrap().starts_with("sha256:"));
}
