//! Transcripts of `knap-index`, asserted with `insta` snapshots (issue 19
//! §5): for each command (`new`, `checksum`, `pack`, `entry`, `update`,
//! `merge`, `validate`, `build`, `keys generate`, `sign`) its usual output
//! and its common errors, as plain text and with `--json`, so that any
//! change to what a user or a CI job reads shows up as a snapshot diff.
//!
//! A transcript is the command line, the exit code, stdout and stderr, as
//! [`knap_test_support::Out::transcript`] gives them for `knap`. Each run
//! happens in a temporary directory with relative paths, so that the
//! command lines and most messages name no machine's path; the temporary
//! directory is shown as `[TMP]` where it still appears, and the kit's
//! filters ([`knap_test_support::snapshot::settings`]) take out times and
//! durations. The packs are made by the test, so their checksums are
//! deterministic and kept; a key id made at random is shown as `[KEY ID]`.
//! Snapshots live in `snapshots/`, one file a case, named
//! `transcripts__<command>_<case>[_json]`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use knap_test_support::insta;

/// The example registry at the root of the repository.
fn example_index() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../example-index")
}

/// A temporary working directory in which `knap-index` is run.
struct Work {
    tmp: tempfile::TempDir,
}

impl Work {
    fn new() -> Self {
        Self {
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// A copy of `example-index/` at `name`, so that nothing is written to
    /// the repository and paths stay relative.
    fn example_index(&self, name: &str) {
        copy_tree(&example_index(), &self.path().join(name));
    }

    /// Runs `knap-index ARGS` in this directory and gives its transcript.
    fn run(&self, args: &[&str]) -> String {
        let o = Command::new(env!("CARGO_BIN_EXE_knap-index"))
            .args(args)
            .current_dir(self.path())
            .env_remove("RUST_BACKTRACE")
            .env_remove("CLICOLOR_FORCE")
            .env_remove("FORCE_COLOR")
            .env("SOURCE_DATE_EPOCH", "1795000000")
            .output()
            .expect("runs knap-index");
        let mut t = format!("$ knap-index {}\n", shell_words(args));
        match o.status.code() {
            Some(c) => t.push_str(&format!("exit: {c}\n")),
            None => t.push_str("exit: killed by a signal\n"),
        }
        for (name, bytes) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
            let text = String::from_utf8_lossy(bytes);
            t.push_str(&format!("----- {name} -----\n"));
            t.push_str(&text);
            if !text.is_empty() && !text.ends_with('\n') {
                t.push_str("\n[no newline at the end]\n");
            }
        }
        // The working directory as the process saw it, and as given.
        let real = self.path().canonicalize().unwrap();
        for p in [real.as_path(), self.path()] {
            t = t.replace(&p.display().to_string(), "[TMP]");
        }
        t
    }
}

/// The arguments as a shell would take them back.
fn shell_words(args: &[&str]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=@^+,~[]".contains(c))
            {
                (*a).to_owned()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Asserts the snapshot `name` of `transcript` with the kit's filters (and
/// `extra` (regex, replacement) filters on top).
#[track_caller]
fn snap_with(name: &str, transcript: String, extra: &[(&str, &str)]) {
    let mut s = knap_test_support::snapshot::settings();
    for (pattern, replacement) in extra {
        s.add_filter(pattern, *replacement);
    }
    let _bound = s.bind_to_scope();
    insta::assert_snapshot!(name, transcript);
}

#[track_caller]
fn snap(name: &str, transcript: String) {
    snap_with(name, transcript, &[]);
}

/// Runs `args` once as given (snapshot `name`) and once with `--json`
/// after them (snapshot `name_json`).
#[track_caller]
fn both(w: &Work, name: &str, args: &[&str]) {
    snap(name, w.run(args));
    let mut json = args.to_vec();
    json.push("--json");
    snap(&format!("{name}_json"), w.run(&json));
}

/// `make_pack` at `dir` (relative to the work directory) and its archive
/// `ARCHIVE` made with `pack`.
fn pack_and_archive(w: &Work, dir: &str, pack_ref: &str, version: &str, archive: &str) {
    make_pack(&w.path().join(dir), pack_ref, version);
    let o = knap_index([
        "pack",
        w.path().join(dir).to_str().unwrap(),
        "-o",
        w.path().join(archive).to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
}

#[test]
fn new_writes_a_pack_and_refuses_a_taken_directory_or_a_bad_ref() {
    let w = Work::new();
    snap(
        "new_pack",
        w.run(&["new", "my-pack", "--ref", "jira", "--author", "Ann Author"]),
    );
    snap(
        "new_pack_json",
        w.run(&["new", "other-pack", "--ref", "jira", "--json"]),
    );
    write(&w.path().join("taken/notes.txt"), "mine");
    both(&w, "new_not_empty", &["new", "taken", "--ref", "x"]);
    both(&w, "new_bad_ref", &["new", "fresh", "--ref", "Not A Ref"]);
}

#[test]
fn checksum_prints_the_digest_and_refuses_a_missing_or_invalid_pack_yaml() {
    let w = Work::new();
    make_pack(&w.path().join("p"), "p", "1.0.0");
    both(&w, "checksum_pack", &["checksum", "p"]);
    std::fs::create_dir(w.path().join("empty")).unwrap();
    both(&w, "checksum_no_pack_yaml", &["checksum", "empty"]);
    write(&w.path().join("bad/pack.yaml"), "ref: p\nversion: 1.0\n");
    both(&w, "checksum_invalid_pack_yaml", &["checksum", "bad"]);
}

#[test]
fn pack_writes_an_archive_and_refuses_a_missing_pack_yaml_or_a_link() {
    let w = Work::new();
    make_pack(&w.path().join("p"), "p", "1.0.0");
    both(&w, "pack_archive", &["pack", "p", "-o", "p-1.0.0.tar.gz"]);
    std::fs::create_dir(w.path().join("empty")).unwrap();
    both(
        &w,
        "pack_no_pack_yaml",
        &["pack", "empty", "-o", "empty.tar.gz"],
    );
    make_pack(&w.path().join("linked"), "linked", "1.0.0");
    std::os::unix::fs::symlink("/etc/passwd", w.path().join("linked/actions/evil")).unwrap();
    both(
        &w,
        "pack_symbolic_link",
        &["pack", "linked", "-o", "linked.tar.gz"],
    );
}

#[test]
fn entry_prints_the_entry_and_refuses_another_versions_archive_or_a_missing_pack_yaml() {
    let w = Work::new();
    pack_and_archive(&w, "p", "pingcheck", "1.0.0", "pingcheck-1.0.0.tar.gz");
    let with_archive = |archive: &str| {
        vec![
            "entry".to_owned(),
            "p".to_owned(),
            "--archive-url".to_owned(),
            format!("archives/{archive}"),
            "--archive".to_owned(),
            archive.to_owned(),
        ]
    };
    let args = with_archive("pingcheck-1.0.0.tar.gz");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    both(&w, "entry_archive", &args);
    // Version 2.1.0, with the 1.0.0 archive by mistake.
    make_pack(&w.path().join("p"), "pingcheck", "2.1.0");
    both(&w, "entry_archive_of_another_version", &args);
    std::fs::create_dir(w.path().join("empty")).unwrap();
    both(
        &w,
        "entry_no_pack_yaml",
        &["entry", "empty", "--archive-url", "archives/x.tar.gz"],
    );
}

#[test]
fn update_creates_adds_keeps_and_refuses_a_missing_or_invalid_index_or_a_changed_version() {
    let w = Work::new();
    pack_and_archive(&w, "a", "alpha", "1.0.0", "alpha-1.0.0.tar.gz");
    pack_and_archive(&w, "b", "beta", "1.0.0", "beta-1.0.0.tar.gz");
    let update = |dir: &str, archive: &str, extra: &[&str]| {
        let url = format!("archives/{archive}");
        let mut args = vec![
            "update",
            "--index",
            "index.json",
            dir,
            "--archive-url",
            &url,
            "--archive",
            archive,
        ];
        args.extend_from_slice(extra);
        w.run(&args)
    };
    let create = [
        "--create",
        "--name",
        "Test Registry",
        "--url",
        "https://example.org/reg/",
    ];
    snap("update_no_index", update("a", "alpha-1.0.0.tar.gz", &[]));
    snap(
        "update_no_index_json",
        update("a", "alpha-1.0.0.tar.gz", &["--json"]),
    );
    snap("update_create", update("a", "alpha-1.0.0.tar.gz", &create));
    snap("update_add", update("b", "beta-1.0.0.tar.gz", &[]));
    snap(
        "update_unchanged_json",
        update("b", "beta-1.0.0.tar.gz", &["--json"]),
    );
    // beta 1.0.0 again, with other content.
    write(&w.path().join("b/actions/hello.py"), "print('changed')\n");
    pack_and_archive(&w, "b", "beta", "1.0.0", "beta-changed.tar.gz");
    snap(
        "update_published_version_changed",
        update("b", "beta-changed.tar.gz", &[]),
    );
    snap(
        "update_published_version_changed_json",
        update("b", "beta-changed.tar.gz", &["--json"]),
    );
    write(&w.path().join("broken.json"), r#"{"registry_name": "R"}"#);
    both(
        &w,
        "update_invalid_index",
        &[
            "update",
            "--index",
            "broken.json",
            "a",
            "--archive-url",
            "archives/alpha-1.0.0.tar.gz",
            "--archive",
            "alpha-1.0.0.tar.gz",
        ],
    );
}

/// An index of the example registry with one more pack, made by `update`.
fn extended_index(w: &Work) {
    pack_and_archive(w, "z", "zeta", "1.0.0", "zeta-1.0.0.tar.gz");
    std::fs::copy(w.path().join("reg/index.json"), w.path().join("more.json")).unwrap();
    let o = knap_index([
        "update",
        "--index",
        w.path().join("more.json").to_str().unwrap(),
        w.path().join("z").to_str().unwrap(),
        "--archive-url",
        "archives/zeta-1.0.0.tar.gz",
        "--archive",
        w.path().join("zeta-1.0.0.tar.gz").to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
}

#[test]
fn merge_writes_the_union_and_refuses_conflicts_and_invalid_inputs() {
    let w = Work::new();
    w.example_index("reg");
    extended_index(&w);
    both(
        &w,
        "merge_union",
        &["merge", "-o", "merged.json", "reg/index.json", "more.json"],
    );
    // more.json's hello 1.0.0 re-pinned to another checksum.
    let mut doc = read_json(&w.path().join("more.json"));
    for p in doc["packs"].as_array_mut().unwrap() {
        if p["ref"] == "hello" && p["version"] == "1.0.0" {
            p["install_sources"][0]["checksum"] = format!("sha256:{}", "0".repeat(64)).into();
        }
    }
    std::fs::write(
        w.path().join("repinned.json"),
        serde_json::to_vec_pretty(&doc).unwrap(),
    )
    .unwrap();
    both(
        &w,
        "merge_conflict",
        &[
            "merge",
            "-o",
            "merged.json",
            "reg/index.json",
            "repinned.json",
        ],
    );
    write(&w.path().join("broken.json"), r#"{"registry_name": "R"}"#);
    both(
        &w,
        "merge_invalid_input",
        &[
            "merge",
            "-o",
            "merged.json",
            "reg/index.json",
            "broken.json",
        ],
    );
}

#[test]
fn validate_reports_valid_files_and_every_problem_of_invalid_ones() {
    let w = Work::new();
    w.example_index("reg");
    both(
        &w,
        "validate_example_index",
        &["validate", "reg/index.json"],
    );
    both(
        &w,
        "validate_entry",
        &["validate", "reg/entries/hello/1.0.0.json"],
    );
    both(&w, "validate_registry", &["validate", "reg"]);
    both(&w, "validate_nothing_to_validate", &["validate", "reg/src"]);
    write(&w.path().join("broken.json"), r#"{"registry_name": "R"}"#);
    both(&w, "validate_invalid_index", &["validate", "broken.json"]);
    write(&w.path().join("not-json.json"), "{ not json");
    both(&w, "validate_not_json", &["validate", "not-json.json"]);
}

#[test]
fn build_writes_the_site_and_refuses_a_missing_or_invalid_index() {
    let w = Work::new();
    w.example_index("reg");
    snap(
        "build_site",
        w.run(&[
            "build",
            "reg",
            "-o",
            "site",
            "--base-url",
            "https://example.org/reg/",
        ]),
    );
    snap(
        "build_site_json",
        w.run(&[
            "build",
            "reg",
            "-o",
            "site2",
            "--base-url",
            "https://example.org/reg/",
            "--json",
        ]),
    );
    std::fs::create_dir(w.path().join("empty")).unwrap();
    both(
        &w,
        "build_no_index",
        &[
            "build",
            "empty",
            "-o",
            "site3",
            "--base-url",
            "https://example.org/reg/",
        ],
    );
    write(
        &w.path().join("broken/index.json"),
        r#"{"registry_name": "R"}"#,
    );
    both(
        &w,
        "build_invalid_index",
        &[
            "build",
            "broken",
            "-o",
            "site4",
            "--base-url",
            "https://example.org/reg/",
        ],
    );
}

#[test]
fn keys_generate_prints_the_key_id_and_never_overwrites_a_key() {
    let w = Work::new();
    let key_id = [(r"\b[0-9a-f]{64}\b", "[KEY ID]")];
    snap_with(
        "keys_generate",
        w.run(&["keys", "generate", "-o", "root.key"]),
        &key_id,
    );
    snap_with(
        "keys_generate_json",
        w.run(&["keys", "generate", "-o", "other.key", "--json"]),
        &key_id,
    );
    both(
        &w,
        "keys_generate_exists",
        &["keys", "generate", "-o", "root.key"],
    );
}

#[test]
fn sign_signs_a_built_site_and_says_why_a_key_cannot_be_read() {
    let w = Work::new();
    w.example_index("reg");
    for site in ["site", "site2"] {
        let o = knap_index([
            "build",
            w.path().join("reg").to_str().unwrap(),
            "-o",
            w.path().join(site).to_str().unwrap(),
            "--base-url",
            "https://example.org/reg/",
        ]);
        assert_exit(&o, 0);
    }
    let key = "reg/tuf-demo-key/DEMO-KEY-NOT-SECRET.pem";
    snap("sign_site", w.run(&["sign", "site", "--key", key]));
    snap(
        "sign_site_json",
        w.run(&["sign", "site2", "--key", key, "--json"]),
    );
    both(
        &w,
        "sign_missing_key",
        &["sign", "site", "--key", "nope.key"],
    );
}
