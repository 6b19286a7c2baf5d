//! A closed stdout ends `knap` quietly: piped into a reader that exits
//! early (`knap info net | head -1`, `knap completions bash | head -1`),
//! it neither panics ("failed printing to stdout: Broken pipe", exit 101)
//! nor says anything, and exits as the command would have. The reader here
//! is gone before knap starts, so every write meets a closed pipe.

use std::process::{Command, Stdio};

use crate::output_tests::with_local_registry;
use crate::{Knap, Out};

/// Runs `knap ARGS` (isolated as `k` runs it) with stdout a pipe whose
/// reading end is closed.
fn with_stdout_closed(k: &Knap, args: &[&str]) -> Out {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let mut c = Command::new(env!("CARGO_BIN_EXE_knap"));
    c.args(args);
    k.isolate(&mut c);
    let o = c
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("knap runs");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

#[test]
fn completions_into_a_closed_pipe_end_quietly() {
    let k = Knap::new();
    for shell in ["bash", "zsh", "fish"] {
        let o = with_stdout_closed(&k, &["completions", shell]);
        assert_eq!((o.code, o.stderr.as_str()), (0, ""), "{shell}: {o:#?}");
    }
}

#[test]
fn reports_into_a_closed_pipe_end_quietly_in_text_and_json() {
    let k = with_local_registry();
    for args in [
        &["info", "net"][..],
        &["search"],
        &["--color", "always", "search"],
        &["--json", "search"],
        &["--json", "info", "net"],
        &["registry", "list"],
    ] {
        let o = with_stdout_closed(&k, args);
        assert_eq!((o.code, o.stderr.as_str()), (0, ""), "{args:?}: {o:#?}");
    }
}

#[test]
fn a_failing_command_into_a_closed_pipe_keeps_its_exit_code_and_its_error() {
    let k = with_local_registry();
    let o = with_stdout_closed(&k, &["info", "nope"]);
    assert_eq!(o.code, 3, "{o:#?}");
    assert!(o.stderr.starts_with("error: "), "{o:#?}");
    assert!(!o.stderr.contains("Broken pipe"), "{o:#?}");
}
