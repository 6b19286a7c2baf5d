//! Must-show 2: `knap-index entry` on the three `attunepacks-*` corpus packs
//! reproduces the real Attune standard index.

mod common;

use common::*;
use serde_json::Value;

const FIELDS: [&str; 11] = [
    "ref",
    "label",
    "description",
    "version",
    "author",
    "license",
    "keywords",
    "runtime_deps",
    "contents",
    "dependencies",
    "email",
];

#[test]
fn entry_reproduces_the_attune_standard_index() {
    let Some(corpus) = corpus() else { return };
    let index = read_json(&corpus.join("attune/index.json"));
    for (dir, pack_ref) in [
        ("attunepacks-jira", "jira"),
        ("attunepacks-nodejs_example", "nodejs_example"),
        ("attunepacks-salesforce", "salesforce"),
    ] {
        let real = index["packs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["ref"] == pack_ref)
            .unwrap();
        let git = &real["install_sources"][0];
        let archive = &real["install_sources"][1];
        // The checksum of a git source is of a commit's tree in a local
        // repository: the corpus copy, committed (its own commit, not the
        // real one: the corpus has placeholders).
        let tmp = tempfile::tempdir().unwrap();
        let copy = tmp.path().join(dir);
        copy_tree(&corpus.join("packs").join(dir), &copy);
        let sha = commit_all(&copy);
        let o = knap_index([
            "entry",
            copy.to_str().unwrap(),
            "--git-url",
            git["url"].as_str().unwrap(),
            "--git-ref",
            &sha,
            "--archive-url",
            archive["url"].as_str().unwrap(),
            "--archive-checksum",
            archive["checksum"].as_str().unwrap(),
        ]);
        assert_exit(&o, 0);
        let ours: Value = serde_json::from_str(&stdout(&o)).unwrap();
        for field in FIELDS {
            assert_eq!(
                ours.get(field),
                real.get(field),
                "{pack_ref}: field `{field}`"
            );
        }
        // Both sources are emitted in order; the archive checksum is the one given.
        assert_eq!(ours["install_sources"][0]["type"], "git");
        assert_eq!(ours["install_sources"][0]["ref"], sha.as_str());
        assert_eq!(ours["install_sources"][0]["url"], git["url"]);
        assert_eq!(ours["install_sources"][1], *archive);
        assert_eq!(
            ours["repository"], real["repository"],
            "{pack_ref}: repository"
        );
    }
}

#[test]
fn git_source_checksum_is_the_tree_digest() {
    let Some(corpus) = corpus() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("jira");
    copy_tree(&corpus.join("packs/attunepacks-jira"), &dir);
    let o = entry_with_git(&dir);
    assert_exit(&o, 0);
    let entry: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let digest = knap_index(["checksum", dir.to_str().unwrap()]);
    assert_eq!(
        entry["install_sources"][0]["checksum"],
        stdout(&digest).trim()
    );
}

#[test]
fn entry_needs_a_source_and_a_commit() {
    let tmp = tempfile::tempdir().unwrap();
    make_pack(tmp.path(), "demo", "1.0.0");
    let dir = tmp.path().to_str().unwrap();
    let o = knap_index(["entry", dir]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("at least one install source"),
        "{}",
        stderr(&o)
    );
    let o = knap_index([
        "entry",
        dir,
        "--git-url",
        "https://example.org/d.git",
        "--git-ref",
        "main",
    ]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("not a commit"), "{}", stderr(&o));
    let o = knap_index([
        "entry",
        dir,
        "--git-url",
        "https://example.org/d.git",
        "--git-ref",
        "main",
        "--allow-mutable-ref",
    ]);
    assert_exit(&o, 0);
    assert!(stderr(&o).contains("development only"), "{}", stderr(&o));
}

#[test]
fn archive_checksum_is_computed_from_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let pack = tmp.path().join("p");
    make_pack(&pack, "demo", "1.0.0");
    let tgz = tmp.path().join("demo.tar.gz");
    let o = knap_index(["pack", pack.to_str().unwrap(), "-o", tgz.to_str().unwrap()]);
    assert_exit(&o, 0);
    let printed = stdout(&o).trim().to_owned();
    let o = knap_index([
        "entry",
        pack.to_str().unwrap(),
        "--archive-url",
        "archives/demo-1.0.0.tar.gz",
        "--archive",
        tgz.to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
    let entry: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(entry["install_sources"][0]["checksum"], printed);
    assert_eq!(
        entry["install_sources"][0]["url"],
        "archives/demo-1.0.0.tar.gz"
    );
    assert_eq!(entry["contents"]["actions"][0]["name"], "hello");
    assert!(entry.get("dependencies").is_none());
}
