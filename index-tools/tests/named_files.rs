//! A file named on knap-index's command line that is not a regular file (a
//! FIFO) is refused at once, naming it: exit 2 (merge and validate report
//! it among the files they could not use, exit 4), where a plain read
//! would wait for a writer forever. Runs are killed after [`LIMIT`], so a reader
//! that blocks fails its test.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

const LIMIT: Duration = Duration::from_secs(20);

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[track_caller]
fn refused(o: &std::process::Output, code: i32, fifo: &Path) {
    assert_exit(o, code);
    let err = stderr(o);
    let name = fifo.file_name().unwrap().to_str().unwrap();
    assert!(err.contains(name) && err.contains("FIFO"), "{err}");
}

#[test]
fn a_fifo_named_as_an_index_entry_or_key_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    make_pack(&dir, "demo", "1.0.0");

    let index = tmp.path().join("index.json");
    mkfifo(&index);
    let o = knap_index_within(
        LIMIT,
        None,
        &[
            "update",
            "--index",
            s(&index),
            s(&dir),
            "--archive-url",
            "https://example.org/demo-1.0.0.tar.gz",
            "--archive-checksum",
            "sha256:abababababababababababababababababababababababababababababababab",
        ],
    );
    refused(&o, 2, &index);

    // merge reports every input it cannot use, and writes nothing (exit 4).
    let merged = tmp.path().join("merged.json");
    let o = knap_index_within(LIMIT, None, &["merge", "-o", s(&merged), s(&index)]);
    refused(&o, 4, &index);
    assert!(!merged.exists());

    let entry = tmp.path().join("entry.json");
    mkfifo(&entry);
    let real_index = tmp.path().join("real.json");
    let o = knap_index_within(
        LIMIT,
        None,
        &[
            "update",
            "--index",
            s(&real_index),
            "--create",
            "--name",
            "Test",
            "--url",
            "https://example.org/",
            "--entry",
            s(&entry),
        ],
    );
    refused(&o, 2, &entry);

    let o = knap_index_within(LIMIT, None, &["validate", s(&index)]);
    refused(&o, 2, &index);

    let key = tmp.path().join("key.pem");
    mkfifo(&key);
    let site = tmp.path().join("site");
    write(&site.join("index.json"), r#"{"packs": []}"#);
    let o = knap_index_within(LIMIT, None, &["sign", s(&site), "--key", s(&key)]);
    refused(&o, 2, &key);
}
