//! Must-show 6: every file in `../shared/corpus/bad-pack-yaml/` has a
//! decided outcome. Broken manifests give a clear error naming `pack.yaml`
//! and the field (exit 4); tolerable ones give a valid entry.

mod common;

use common::*;
use serde_json::Value;

/// What `knap-index entry` must do with one corpus manifest.
enum Outcome {
    /// Exit 4; every listed field is named, with the given words in the message.
    Error(&'static [(&'static str, &'static str)]),
    /// A valid entry; the check inspects it.
    Entry(fn(&Value, &str)),
}
use Outcome::*;

const TABLE: &[(&str, Outcome)] = &[
    (
        "st2-contrib-hello_st2.deps-list.pack.yaml",
        Entry(|e, _| {
            assert_eq!(e["ref"], "hello_st2");
            assert_eq!(e["label"], "Hello StackStorm");
            assert_eq!(e["dependencies"], serde_json::json!({"packs": ["core"]}));
            assert_eq!(e["keywords"], serde_json::json!(["example", "test"]));
        }),
    ),
    (
        "st2-fixture-dummy_pack_10.bad-deps.pack.yaml",
        Error(&[("ref", "is required"), ("dependencies[0]", "core@=0.2.0")]),
    ),
    (
        "st2-fixture-dummy_pack_12.5-part-version.pack.yaml",
        Error(&[("version", "5 parts"), ("ref", "is required")]),
    ),
    // The spec's ref pattern ^[a-z][a-z0-9_-]*$ (and Attune's) allows '-':
    // st2 refused it, knap accepts it.
    (
        "st2-fixture-dummy_pack_13.ref-with-dash.pack.yaml",
        Entry(|e, _| {
            assert_eq!(e["ref"], "invalid-has-dash");
            assert_eq!(e["label"], "dummy_pack_13");
        }),
    ),
    (
        "st2-fixture-dummy_pack_20.extra-attributes.pack.yaml",
        Entry(|e, _| {
            assert_eq!(e["ref"], "dummy_pack_20_ref");
            assert!(
                e.get("attribute1").is_none(),
                "unknown manifest fields stay out of the entry"
            );
        }),
    ),
    (
        "st2-fixture-dummy_pack_21.python-versions-4-5.pack.yaml",
        Entry(|e, _| {
            assert_eq!(e["ref"], "dummy_pack_21_ref");
            assert_eq!(e["version"], "0.1.0");
        }),
    ),
    (
        "st2-fixture-dummy_pack_9.deps-system-extras.pack.yaml",
        Error(&[("ref", "is required"), ("dependencies[0]", "core@=0.2.0")]),
    ),
    (
        "st2-fixture-pack_dir_name_doesnt_match_ref.pack.yaml",
        Entry(|e, _| {
            assert_eq!(e["ref"], "pack_name_not_the_same_as_dir_name");
            assert_eq!(e["version"], "0.1.1");
        }),
    ),
    (
        "st2-fixture-stackstorm-test3.st2-version-range.pack.yaml",
        Error(&[("ref", "is required")]),
    ),
    (
        "st2contrib-alertlogic.float-version.pack.yaml",
        Error(&[("version", "YAML number 0.2")]),
    ),
    (
        "st2contrib-astral.float-version-0.1.pack.yaml",
        Error(&[("version", "YAML number 0.1"), ("ref", "add `ref: astral`")]),
    ),
    (
        "st2contrib-bit-bucket.empty.pack.yaml",
        Error(&[("(file)", "is empty")]),
    ),
    (
        "st2contrib-consul.4-part-version-glued-comment.pack.yaml",
        Error(&[("version", "4 parts")]),
    ),
    (
        "st2contrib-digitalocean.name-with-space.pack.yaml",
        Entry(|e, _| {
            assert_eq!(e["ref"], "digitalocean");
            assert_eq!(e["label"], "Digital Ocean");
            assert_eq!(e["version"], "0.2.0");
        }),
    ),
    (
        "st2contrib-servicenow.typo-mail-field.pack.yaml",
        Error(&[("ref", "is required")]),
    ),
    (
        "st2contrib-victorops.yaml-syntax-error.pack.yaml",
        Error(&[("(file)", "not valid YAML")]),
    ),
    (
        "st2exchange-jira.merge-conflict-markers.pack.yaml",
        Error(&[("(file)", "merge-conflict markers (line 9)")]),
    ),
    (
        "st2exchange-slack.early-no-ref.pack.yaml",
        Error(&[("ref", "add `ref: slack`")]),
    ),
];

#[test]
fn every_bad_pack_yaml_has_a_decided_outcome() {
    let Some(corpus) = corpus() else { return };
    let dir = corpus.join("bad-pack-yaml");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    files.sort();
    let mut decided: Vec<&str> = TABLE.iter().map(|(f, _)| *f).collect();
    decided.sort();
    assert_eq!(
        files, decided,
        "every corpus file is in the table, and only those"
    );

    for (file, outcome) in TABLE {
        let tmp = tempfile::tempdir().unwrap();
        let pack = tmp.path().join("pack");
        std::fs::create_dir(&pack).unwrap();
        std::fs::copy(dir.join(file), pack.join("pack.yaml")).unwrap();
        let o = entry_with_git(pack);
        match outcome {
            Error(fields) => {
                assert_exit(&o, 4);
                let err = stderr(&o);
                assert!(
                    err.contains("pack.yaml"),
                    "{file}: the error names pack.yaml:\n{err}"
                );
                for (field, words) in *fields {
                    let line = err
                        .lines()
                        .find(|l| l.contains(&format!("field `{field}`:")))
                        .unwrap_or_else(|| panic!("{file}: field `{field}` is not named:\n{err}"));
                    assert!(
                        line.contains(words),
                        "{file}: `{field}` line lacks {words:?}:\n{line}"
                    );
                }
                assert!(stdout(&o).is_empty(), "{file}: no entry on stdout");
            }
            Entry(check) => {
                assert_exit(&o, 0);
                let entry: Value =
                    serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{file}: {e}"));
                check(&entry, file);
                // And the entry is valid on its own.
                let f = tmp.path().join("entry.json");
                std::fs::write(&f, &o.stdout).unwrap();
                assert_exit(&knap_index(["validate", f.to_str().unwrap()]), 0);
            }
        }
    }
}

#[test]
fn a_near_miss_field_is_warned_about() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        &tmp.path().join("pack.yaml"),
        "ref: sn\nversion: 0.1.0\nauthor: A\nmail: a@b.c\n",
    );
    let o = entry_with_git(tmp.path());
    assert_exit(&o, 0);
    assert!(
        stderr(&o).contains("unknown field `mail` is ignored (did you mean `email`?)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_bad_ref_and_a_missing_author_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        &tmp.path().join("pack.yaml"),
        "ref: Digital Ocean\nversion: 0.1.0\nauthor: A\n",
    );
    let o = entry_with_git(tmp.path());
    assert_exit(&o, 4);
    assert!(
        stderr(&o).contains("field `ref`: the ref `Digital Ocean`"),
        "{}",
        stderr(&o)
    );
    write(&tmp.path().join("pack.yaml"), "ref: ok\nversion: 0.1.0\n");
    let o = entry_with_git(tmp.path());
    assert_exit(&o, 4);
    assert!(
        stderr(&o).contains("pack.yaml") && stderr(&o).contains("field `author`"),
        "{}",
        stderr(&o)
    );
}
