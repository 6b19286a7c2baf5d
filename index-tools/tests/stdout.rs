//! A closed stdout ends `knap-index` quietly: piped into a reader that
//! exits early (`knap-index completions bash | head -1`), it neither panics
//! ("failed printing to stdout: Broken pipe", exit 101) nor says anything,
//! and exits as the command would have (0). The reader here is gone before
//! the program starts, so every write meets a closed pipe.

mod common;

use std::process::{Command, Output, Stdio};

use common::*;

/// Runs `knap-index ARGS` with stdout a pipe whose reading end is closed.
fn with_stdout_closed(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    Command::new(env!("CARGO_BIN_EXE_knap-index"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("runs knap-index")
}

#[track_caller]
fn ends_quietly(args: &[&str]) {
    let o = with_stdout_closed(args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{args:?} with stdout closed: {}",
        stderr(&o)
    );
    assert_eq!(
        stderr(&o),
        "",
        "{args:?} says nothing about the closed pipe"
    );
}

#[test]
fn completions_into_a_closed_pipe_end_quietly() {
    for shell in ["bash", "zsh", "fish"] {
        ends_quietly(&["completions", shell]);
    }
}

#[test]
fn a_report_into_a_closed_pipe_ends_quietly_in_text_and_json() {
    let t = tempfile::tempdir().unwrap();
    make_pack(t.path(), "piped", "1.0.0");
    let dir = t.path().to_str().unwrap();
    ends_quietly(&["checksum", dir]);
    ends_quietly(&["checksum", dir, "--json"]);
}
