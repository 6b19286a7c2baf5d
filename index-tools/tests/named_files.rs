//! A file named on knap-index's command line that is not a regular file (a
//! FIFO) is refused at once, naming it: exit 2 (merge and validate report
//! it among the files they could not use, exit 4), where a plain read
//! would wait for a writer forever. A file that a registry or a site holds
//! (the registry's `config.json`, an archive copied into the site, a
//! signed site's `tuf/` metadata)
//! is refused the same way, as invalid input (exit 4), and a FIFO where
//! `build` looks for an earlier site's `config.json` is no site. Runs are
//! killed after [`LIMIT`], so a reader that blocks fails its test.

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

/// A copy of `example-index/` at `to`.
fn example_copy(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../example-index");
    let status = std::process::Command::new("cp")
        .arg("-R")
        .arg(&from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_fifo_a_registry_or_site_holds_is_refused_by_build_and_sign() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = tmp.path().join("reg");
    example_copy(&reg);
    let site = tmp.path().join("site");
    let build = |out: &Path| {
        knap_index_within(
            LIMIT,
            None,
            &[
                "build",
                s(&reg),
                "-o",
                s(out),
                "--base-url",
                "https://example.org/reg/",
            ],
        )
    };

    // The registry's config.json (where the site's description comes from).
    let config = reg.join("config.json");
    mkfifo(&config);
    refused(&build(&site), 4, &config);
    assert!(!site.exists(), "nothing written");
    std::fs::remove_file(&config).unwrap();

    // An archive the index names by a relative URL (copied into the site).
    let archive = reg.join("archives/hello-1.0.0.tar.gz");
    let saved = std::fs::read(&archive).unwrap();
    mkfifo(&archive);
    let o = build(&site);
    assert_exit(&o, 4);
    assert!(
        stderr(&o).contains("archives/hello-1.0.0.tar.gz"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_file(&archive).unwrap();
    std::fs::write(&archive, &saved).unwrap();

    // A directory whose config.json is a FIFO is no earlier site to replace.
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    mkfifo(&other.join("config.json"));
    std::fs::write(other.join("index.html"), "<p>mine</p>").unwrap();
    let o = build(&other);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("not a site built by knap-index build"));

    // A signed site's newest root, read back to continue its chain.
    assert_exit(&build(&site), 0);
    let key = reg.join("tuf-demo-key/DEMO-KEY-NOT-SECRET.pem");
    let sign = || knap_index_within(LIMIT, None, &["sign", s(&site), "--key", s(&key)]);
    assert_exit(&sign(), 0);
    let root = site.join("tuf/1.root.json");
    assert!(root.is_file());
    mkfifo(&root);
    refused(&sign(), 4, &root);
}
