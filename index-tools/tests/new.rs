//! `knap-index new DIR --ref REF`: a minimal pack that `checksum`, `pack`,
//! `entry` and `validate` accept as it is, written only into a new or empty
//! directory.

mod common;

use common::*;

#[test]
fn a_new_pack_is_accepted_by_checksum_pack_entry_and_validate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("my-pack");
    let o = knap_index([
        "new",
        dir.to_str().unwrap(),
        "--ref",
        "jira",
        "--author",
        "Ann Author",
    ]);
    assert_exit(&o, 0);
    assert!(stderr(&o).contains("knap-index checksum"), "{}", stderr(&o));

    let o = knap_index(["checksum", dir.to_str().unwrap(), "--json"]);
    assert_exit(&o, 0);
    let sum: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(sum["ref"], "jira");
    assert_eq!(sum["version"], "0.1.0");
    assert_eq!(
        sum["files"], 4,
        "pack.yaml, an action and its script, README.md"
    );

    let archive = tmp.path().join("jira-0.1.0.tar.gz");
    assert_exit(
        &knap_index([
            "pack",
            dir.to_str().unwrap(),
            "-o",
            archive.to_str().unwrap(),
        ]),
        0,
    );
    let o = knap_index([
        "entry",
        dir.to_str().unwrap(),
        "--archive-url",
        "archives/jira-0.1.0.tar.gz",
        "--archive",
        archive.to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
    assert!(stderr(&o).is_empty(), "no warning: {}", stderr(&o));
    let entry: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(entry["ref"], "jira");
    assert_eq!(entry["author"], "Ann Author");
    assert_eq!(entry["label"], "Jira");
    assert_eq!(
        entry["contents"]["actions"],
        serde_json::json!([{"name": "hello", "description": "Print a greeting"}])
    );
    let file = tmp.path().join("entry.json");
    write(&file, stdout(&o));
    assert_exit(&knap_index(["validate", file.to_str().unwrap()]), 0);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("actions/hello.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111, "the action's script is executable");
    }
}

#[test]
fn new_writes_only_into_a_new_or_empty_directory_and_takes_its_name_as_the_ref() {
    let tmp = tempfile::tempdir().unwrap();
    let taken = tmp.path().join("taken");
    write(&taken.join("notes.txt"), "mine");
    let o = knap_index(["new", taken.to_str().unwrap(), "--ref", "x"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("not empty"), "{}", stderr(&o));
    assert_eq!(std::fs::read_dir(&taken).unwrap().count(), 1);

    let bad = tmp.path().join("bad");
    let o = knap_index(["new", bad.to_str().unwrap(), "--ref", "Not A Ref"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("--ref"), "{}", stderr(&o));
    assert!(!bad.exists());

    // An empty directory is fine; without --ref its name is the ref.
    let empty = tmp.path().join("net_tools");
    std::fs::create_dir(&empty).unwrap();
    assert_exit(&knap_index(["new", empty.to_str().unwrap()]), 0);
    let o = knap_index(["checksum", empty.to_str().unwrap(), "--json"]);
    let sum: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(sum["ref"], "net_tools");
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
