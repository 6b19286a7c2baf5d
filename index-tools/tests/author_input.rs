//! What a pack author hands `knap-index` is untrusted input, read by every
//! command through the same tree rules: `checksum`, `entry` and `pack`
//! refuse a `pack.yaml` that is a FIFO or a symbolic link, a manifest text
//! field over its bound (naming the field), and file names that installing
//! the archive would refuse (control characters); `pack -o` refuses to
//! write into the pack it packs and writes a publishable 0644 file. Runs
//! are killed after [`LIMIT`], so a command that blocks fails its test.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::*;

const LIMIT: Duration = Duration::from_secs(20);

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The arguments of `cmd` (`checksum`, `entry` or `pack`) on `dir`.
fn command<'a>(cmd: &'a str, dir: &'a Path, out: &'a Path) -> Vec<&'a str> {
    match cmd {
        "checksum" => vec!["checksum", s(dir)],
        "entry" => vec![
            "entry",
            s(dir),
            "--archive-url",
            "https://example.org/demo-1.0.0.tar.gz",
            "--archive-checksum",
            "sha256:abababababababababababababababababababababababababababababababab",
        ],
        _ => vec!["pack", s(dir), "-o", s(out)],
    }
}

const COMMANDS: [&str; 3] = ["checksum", "entry", "pack"];

#[test]
fn a_fifo_pack_yaml_is_refused_by_checksum_entry_and_pack() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    make_pack(&dir, "demo", "1.0.0");
    mkfifo(&dir.join("pack.yaml"));
    let out = tmp.path().join("demo.tar.gz");
    for cmd in COMMANDS {
        let o = knap_index_within(LIMIT, None, &command(cmd, &dir, &out));
        assert_exit(&o, 4);
        let err = stderr(&o);
        assert!(
            err.contains("pack.yaml") && err.contains("FIFO"),
            "{cmd}: {err}"
        );
        assert!(!out.exists(), "{cmd}");
    }
}

#[test]
fn a_symlinked_pack_yaml_is_refused_by_every_command_and_never_read() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    make_pack(&dir, "demo", "1.0.0");
    let outside = tmp.path().join("outside.yaml");
    write(
        &outside,
        "ref: demo\nversion: \"1.0.0\"\nauthor: Someone\ndescription: TOP-SECRET-CONTENT\n",
    );
    std::fs::remove_file(dir.join("pack.yaml")).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("pack.yaml")).unwrap();
    let out = tmp.path().join("demo.tar.gz");
    for cmd in COMMANDS {
        let o = knap_index_within(LIMIT, None, &command(cmd, &dir, &out));
        assert_exit(&o, 4);
        assert!(
            stderr(&o).contains("symbolic link"),
            "{cmd}: {}",
            stderr(&o)
        );
        assert!(
            !stdout(&o).contains("TOP-SECRET") && !stderr(&o).contains("TOP-SECRET"),
            "{cmd}: the linked file's content never reaches the output"
        );
        assert!(!out.exists(), "{cmd}");
    }
}

#[test]
fn a_fifo_archive_given_to_entry_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    make_pack(&dir, "demo", "1.0.0");
    let fifo = tmp.path().join("demo-1.0.0.tar.gz");
    mkfifo(&fifo);
    let o = knap_index_within(
        LIMIT,
        None,
        &[
            "entry",
            s(&dir),
            "--archive-url",
            "https://example.org/demo-1.0.0.tar.gz",
            "--archive",
            s(&fifo),
        ],
    );
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("FIFO"), "{}", stderr(&o));
}

#[test]
fn a_manifest_text_field_over_its_bound_is_refused_naming_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    make_pack(&dir, "demo", "1.0.0");
    let out = tmp.path().join("demo.tar.gz");
    let long = "x".repeat(100_000);
    for (field, yaml) in [
        (
            "description",
            format!("author: Test\ndescription: {long}\n"),
        ),
        (
            "keywords[1]",
            format!("author: Test\nkeywords: [ok, {long}]\n"),
        ),
        ("author", format!("author: {long}\n")),
    ] {
        write(
            &dir.join("pack.yaml"),
            format!("ref: demo\nversion: \"1.0.0\"\n{yaml}"),
        );
        for cmd in COMMANDS {
            let o = knap_index_within(LIMIT, None, &command(cmd, &dir, &out));
            assert_exit(&o, 4);
            let err = stderr(&o);
            assert!(
                err.contains(&format!("field `{field}`")) && err.contains("65536"),
                "{cmd} {field}: {err}"
            );
            assert!(stdout(&o).is_empty(), "{cmd}: no entry, no checksum");
            assert!(!out.exists(), "{cmd}");
        }
    }
}

#[test]
fn file_names_with_control_characters_are_refused_when_authoring() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("demo.tar.gz");
    for name in [
        "actions/clear\x1b[2J.py",
        "actions/two\nlines.yaml",
        "bell\x07",
    ] {
        let dir = tmp.path().join("demo");
        let _ = std::fs::remove_dir_all(&dir);
        make_pack(&dir, "demo", "1.0.0");
        write(&dir.join(name), "x");
        for cmd in COMMANDS {
            let o = knap_index_within(LIMIT, None, &command(cmd, &dir, &out));
            assert_exit(&o, 4);
            let err = stderr(&o);
            assert!(err.contains("control character"), "{cmd} {name:?}: {err}");
            assert!(
                !err.contains('\x1b') && !err.contains('\x07') && !err.contains("two\nlines"),
                "{cmd}: the name is escaped: {err:?}"
            );
            assert!(!out.exists(), "{cmd}");
        }
    }
}

#[test]
fn pack_refuses_an_output_inside_the_pack_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    make_pack(&dir, "demo", "1.0.0");
    let before = std::fs::read_dir(&dir).unwrap().count();
    for out in [
        dir.join("demo.tar.gz"),
        dir.join("actions/demo.tar.gz"),
        dir.join("../demo/demo.tar.gz"),
    ] {
        let o = knap_index_within(LIMIT, None, &["pack", s(&dir), "-o", s(&out)]);
        assert_exit(&o, 2);
        assert!(stderr(&o).contains("inside the pack"), "{}", stderr(&o));
        assert!(!out.exists());
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), before);
    // Relative to the current directory, too.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_knap-index"))
        .args(["pack", ".", "-o", "demo.tar.gz"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_exit(&o, 2);
    assert!(!dir.join("demo.tar.gz").exists());
}

#[test]
fn pack_writes_the_archive_0644_before_the_umask() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    make_pack(&dir, "demo", "1.0.0");
    for (umask, mode) in [("022", 0o644), ("027", 0o640), ("002", 0o644)] {
        let out = tmp.path().join(format!("demo-{umask}.tar.gz"));
        let o = knap_index_within(LIMIT, Some(umask), &["pack", s(&dir), "-o", s(&out)]);
        assert_exit(&o, 0);
        let got = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(got, mode, "umask {umask}: mode {got:o}");
    }
}

#[test]
fn a_commit_holding_a_name_with_a_control_character_is_refused_by_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    make_pack(&dir, "demo", "1.0.0");
    write(&dir.join("actions/clear\x1b[2J.py"), "x");
    let sha = commit_all(&dir);
    // Gone from the work tree, still in the commit the entry names.
    std::fs::remove_file(dir.join("actions/clear\x1b[2J.py")).unwrap();
    let o = knap_index_within(
        LIMIT,
        None,
        &[
            "entry",
            s(&dir),
            "--git-url",
            "https://example.org/demo.git",
            "--git-ref",
            &sha,
        ],
    );
    assert_exit(&o, 4);
    let err = stderr(&o);
    assert!(
        err.contains("control character") && err.contains("clear\\u{1b}[2J.py"),
        "{err}"
    );
    assert!(!err.contains('\x1b'), "{err:?}");
}
