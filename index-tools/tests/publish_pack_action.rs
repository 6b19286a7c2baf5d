//! The publish-pack GitHub action's script (`.github/actions/publish-pack/
//! publish.sh`) run with bash and this build's `knap-index`, as the action
//! runs it: on example-index packs it writes the published entry and archive
//! and sets the step outputs; with a git source the entry pins the tree
//! digest; without any source it refuses.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use serde_json::Value;

fn project() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// Runs publish.sh in `dir` with the given inputs; returns the output and
/// the step outputs it wrote to `$GITHUB_OUTPUT`.
fn publish(dir: &Path, inputs: &[(&str, &str)]) -> (Output, BTreeMap<String, String>) {
    let outputs = dir.join("github_output");
    let mut c = Command::new("bash");
    c.arg(project().join(".github/actions/publish-pack/publish.sh"))
        .current_dir(dir)
        .env("KNAP_INDEX", env!("CARGO_BIN_EXE_knap-index"))
        .env("GITHUB_OUTPUT", &outputs)
        .env_remove("RUST_BACKTRACE");
    for k in [
        "PACK_DIR",
        "OUT_DIR",
        "ARCHIVE_URL_BASE",
        "GIT_URL",
        "GIT_REF",
    ] {
        c.env_remove(k);
    }
    for (k, v) in inputs {
        c.env(k, v);
    }
    let o = c.output().expect("bash runs");
    let text = std::fs::read_to_string(&outputs).unwrap_or_default();
    let map = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    (o, map)
}

#[test]
fn makes_the_published_entry_and_archive_of_every_example_pack() {
    let root = project().join("example-index");
    let tmp = tempfile::tempdir().unwrap();
    for (r, v) in [
        ("hello", "1.1.0"),
        ("ticketing", "1.0.0"),
        ("uptime", "0.1.0"),
    ] {
        let src = root.join("src").join(r).join(v);
        let (o, out) = publish(
            tmp.path(),
            &[
                ("PACK_DIR", src.to_str().unwrap()),
                ("ARCHIVE_URL_BASE", "archives/"),
            ],
        );
        assert_exit(&o, 0);
        assert_eq!(out["ref"], r);
        assert_eq!(out["version"], v);
        let entry_file = format!("knap-dist/entries/{r}/{v}.json");
        let archive = format!("knap-dist/{r}-{v}.tar.gz");
        assert_eq!(out["entry-file"], entry_file);
        assert_eq!(out["archive"], archive);
        let published = root.join(format!("entries/{r}/{v}.json"));
        assert_eq!(
            read_json(&tmp.path().join(&entry_file)),
            read_json(&published),
            "{r} {v}: the entry"
        );
        assert_eq!(
            std::fs::read(tmp.path().join(&archive)).unwrap(),
            std::fs::read(root.join(format!("archives/{r}-{v}.tar.gz"))).unwrap(),
            "{r} {v}: the archive"
        );
        assert_eq!(
            out["archive-checksum"],
            read_json(&published)["install_sources"][0]["checksum"]
        );
        let tree = knap_schema::digest::tree_digest(&src).unwrap().checksum;
        assert_eq!(out["checksum"], tree);
    }
}

#[test]
fn a_git_source_pins_the_commit_and_the_tree_digest() {
    // The pack repository as the action sees it: a checkout of the commit
    // (the git checksum is read from the commit's tree).
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("hello");
    copy_tree(&project().join("example-index/src/hello/1.0.0"), &src);
    let sha = commit_all(&src);
    let sha = sha.as_str();
    let (o, out) = publish(
        tmp.path(),
        &[
            ("PACK_DIR", src.to_str().unwrap()),
            ("OUT_DIR", "dist"),
            ("GIT_URL", "https://github.com/me/hello.git"),
            ("GIT_REF", sha),
        ],
    );
    assert_exit(&o, 0);
    assert_eq!(out["entry-file"], "dist/entries/hello/1.0.0.json");
    let entry: Value = read_json(&tmp.path().join(&out["entry-file"]));
    let sources = entry["install_sources"].as_array().unwrap();
    assert_eq!(sources.len(), 1, "no archive-url-base: git only: {entry}");
    assert_eq!(sources[0]["type"], "git");
    assert_eq!(sources[0]["url"], "https://github.com/me/hello.git");
    assert_eq!(sources[0]["ref"], sha);
    assert_eq!(sources[0]["checksum"], out["checksum"]);
    assert_eq!(
        out["checksum"],
        knap_schema::digest::tree_digest(&src).unwrap().checksum
    );
    assert!(
        tmp.path().join("dist/hello-1.0.0.tar.gz").is_file(),
        "the archive is made anyway"
    );
}

#[test]
fn no_source_is_refused_before_anything_is_written() {
    let src = project().join("example-index/src/hello/1.0.0");
    let tmp = tempfile::tempdir().unwrap();
    let (o, out) = publish(tmp.path(), &[("PACK_DIR", src.to_str().unwrap())]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("no install source"), "{}", stderr(&o));
    assert!(out.is_empty(), "{out:?}");
    assert!(!tmp.path().join("knap-dist").exists());
}

#[test]
fn an_invalid_pack_fails_with_knap_index_s_exit_code() {
    let tmp = tempfile::tempdir().unwrap();
    let pack = tmp.path().join("bad");
    write(&pack.join("pack.yaml"), "ref: Bad Ref\nversion: 0.2\n");
    let (o, out) = publish(
        tmp.path(),
        &[
            ("PACK_DIR", pack.to_str().unwrap()),
            ("ARCHIVE_URL_BASE", "archives"),
        ],
    );
    assert_exit(&o, 4);
    assert!(out.is_empty(), "{out:?}");
    assert!(!tmp.path().join("knap-dist").exists());
}

#[test]
fn a_failing_entry_step_leaves_no_entry_file() {
    let src = project().join("example-index/src/hello/1.0.0");
    let tmp = tempfile::tempdir().unwrap();
    // A branch name is not a pinned commit: `knap-index entry` refuses it.
    let (o, out) = publish(
        tmp.path(),
        &[
            ("PACK_DIR", src.to_str().unwrap()),
            ("OUT_DIR", "dist"),
            ("GIT_URL", "https://github.com/me/hello.git"),
            ("GIT_REF", "main"),
        ],
    );
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(out.is_empty(), "{out:?}");
    let entries = tmp.path().join("dist/entries/hello");
    let left: Vec<_> = std::fs::read_dir(&entries)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "left behind in {}: {left:?}",
        entries.display()
    );
}

#[test]
fn the_defaults_publish_a_pack_at_the_repository_root_without_packing_the_output() {
    // pack-dir `.` and out-dir `knap-dist`: the output directory is inside
    // the pack, which `knap-index pack -o` refuses; the archive is made
    // outside and moved there, and holds only the pack's files.
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("hello");
    copy_tree(&project().join("example-index/src/hello/1.1.0"), &src);
    let (o, out) = publish(
        &src,
        &[("PACK_DIR", "."), ("ARCHIVE_URL_BASE", "archives/")],
    );
    assert_exit(&o, 0);
    assert_eq!(out["archive"], "knap-dist/hello-1.1.0.tar.gz");
    assert_eq!(
        std::fs::read(src.join("knap-dist/hello-1.1.0.tar.gz")).unwrap(),
        std::fs::read(project().join("example-index/archives/hello-1.1.0.tar.gz")).unwrap(),
        "the same archive as from a pack directory with nothing else in it"
    );
}
