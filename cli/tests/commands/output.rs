//! What knap shows a person, whatever the command: colour follows
//! `--color` and `NO_COLOR`; progress bars are drawn only when stderr is a
//! terminal (checked through pipes, and under a real pseudo-terminal made
//! by `script` from util-linux); `-v` lines and `--progress json` events;
//! the `--json` error object; the libraries' warnings (`Event::Warning`)
//! in every mode; and a closed stdout, which ends knap quietly.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use knap_test_support::prelude::*;
use serde_json::json;

use crate::fixtures::*;

const ESC: char = '\u{1b}';

/// A knap with one local registry listing `core` and `net`.
fn with_local_registry() -> Knap {
    let k = Knap::new();
    let file = k.dir.path().join("site/index.json");
    write_json(
        &file,
        &index(
            "Local",
            vec![entry("core", "1.0.0", &[]), entry("net", "2.0.0", &[])],
        ),
    );
    k.run(&["registry", "add", "local", file.to_str().unwrap()])
        .ok();
    k
}

/// `knap ARGS` fails because `nope` is not listed anywhere.
fn not_found(k: &Knap, args: &[&str]) -> Out {
    let mut all = args.to_vec();
    all.extend(["info", "nope"]);
    let o = k.run(&all);
    assert_eq!(o.code, 3, "{o:#?}");
    o
}

#[test]
fn color_always_colours_search_results_and_errors_even_through_pipes() {
    let k = with_local_registry();
    let o = k.run(&["--color", "always", "search"]).ok();
    assert!(o.stdout.contains("\u{1b}[1mcore\u{1b}[0m"), "{o:#?}");
    assert!(o.stdout.contains("\u{1b}[2m[local]\u{1b}[0m"), "{o:#?}");
    let o = not_found(&k, &["--color", "always"]);
    assert!(o.stderr.starts_with("\u{1b}[31merror\u{1b}[0m: "), "{o:#?}");
}

#[test]
fn color_never_and_auto_through_pipes_write_no_escape_sequence() {
    let k = with_local_registry();
    for flags in [&["--color", "never"][..], &["--color", "auto"], &[]] {
        let mut args = flags.to_vec();
        args.push("search");
        let o = k.run(&args).ok();
        assert!(o.stdout.contains("core"), "{o:#?}");
        assert!(!o.stdout.contains(ESC) && !o.stderr.contains(ESC), "{o:#?}");
        let o = not_found(&k, flags);
        assert!(o.stderr.starts_with("error: "), "{o:#?}");
        assert!(!o.stdout.contains(ESC) && !o.stderr.contains(ESC), "{o:#?}");
    }
}

#[test]
fn an_explicit_color_always_wins_over_no_color() {
    let mut k = with_local_registry();
    k.set("NO_COLOR", "1");
    let o = k.run(&["--color", "always", "search"]).ok();
    assert!(o.stdout.contains("\u{1b}[1mcore"), "{o:#?}");
    let o = k.run(&["--color", "never", "search"]).ok();
    assert!(!o.stdout.contains(ESC), "{o:#?}");
}

/// `s` quoted for `sh`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Runs `knap ARGS` with stdin, stdout and stderr on a pseudo-terminal
/// (`script -qec`), with `k`'s environment plus `extra`; gives what the
/// terminal showed (stdout and stderr together, in `stdout`), or `None`
/// when util-linux `script` is not installed.
fn run_in_terminal(k: &Knap, args: &[&str], extra: &[(&str, &str)]) -> Option<Out> {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: util-linux `script` is not installed; no pseudo-terminal");
        return None;
    }
    let mut line = sh_quote(k.bin().to_str().unwrap());
    for a in args {
        line.push(' ');
        line.push_str(&sh_quote(a));
    }
    let mut c = Command::new("script");
    c.args(["-qec", &line, "/dev/null"]);
    for (name, _) in std::env::vars() {
        if name.starts_with("KNAP_")
            || name.starts_with("XDG_")
            || name == "SSL_CERT_FILE"
            || name == "GIT_SSL_CAINFO"
            || name == "NO_COLOR"
        {
            c.env_remove(&name);
        }
    }
    c.env("RUST_BACKTRACE", "0")
        .env("TERM", "xterm-256color")
        .env("SHELL", "/bin/sh")
        .env("HOME", k.dir.path())
        .env("KNAP_CONFIG", k.config())
        .env("KNAP_CACHE_DIR", k.cache())
        .current_dir(k.cwd());
    for (name, value) in k.env.iter().map(|(n, v)| (n.as_str(), v.as_str())) {
        c.env(name, value);
    }
    for (name, value) in extra {
        c.env(name, value);
    }
    let o = c.output().expect("script runs");
    Some(k.out(args, o))
}

#[test]
fn on_a_terminal_color_auto_colours_unless_no_color_is_set() {
    let k = with_local_registry();
    let Some(o) = run_in_terminal(&k, &["search"], &[]) else {
        return;
    };
    assert_eq!(o.code, 0, "{o:#?}");
    assert!(o.stdout.contains("\u{1b}[1mcore\u{1b}[0m"), "{o:#?}");
    let o = run_in_terminal(&k, &["info", "nope"], &[]).unwrap();
    assert_eq!(o.code, 3, "{o:#?}");
    assert!(o.stdout.contains("\u{1b}[31merror\u{1b}[0m: "), "{o:#?}");

    for args in [&["search"][..], &["info", "nope"]] {
        let o = run_in_terminal(&k, args, &[("NO_COLOR", "1")]).unwrap();
        assert!(o.stdout.contains("core") || o.code == 3, "{o:#?}");
        assert!(!o.stdout.contains(ESC), "{o:#?}");
    }
    let o = run_in_terminal(&k, &["--color", "never", "search"], &[]).unwrap();
    assert!(!o.stdout.contains(ESC), "{o:#?}");
}

/// An HTTP registry whose `index.json` is large enough (> 256 KiB) for a
/// download bar, served without compression so its length is known.
fn large_http_registry() -> (Server, Knap) {
    let entries: Vec<_> = (0..800)
        .map(|i| entry(&format!("p{i:04}"), "1.0.0", &[]))
        .collect();
    let body = serde_json::to_vec_pretty(&index("Large", entries)).unwrap();
    assert!(body.len() > 400 * 1024, "{}", body.len());
    let server = Server::start(Arc::new(move |_: &Req| Reply::Full {
        status: 200,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.clone(),
    }));
    let k = Knap::new();
    k.run(&["registry", "add", "large", &server.url("/index.json")])
        .ok();
    (server, k)
}

#[test]
fn no_progress_bar_when_stderr_is_not_a_terminal() {
    let (server, k) = large_http_registry();
    let o = k.run(&["update"]).ok();
    assert!(o.stdout.contains("large: updated"), "{o:#?}");
    assert!(
        !o.stderr.contains(ESC) && !o.stderr.contains('\r') && !o.stderr.contains("iB/"),
        "progress bar control sequences on a pipe: {o:#?}"
    );
    // Not even when colour is forced: colour is not a terminal.
    std::fs::remove_dir_all(k.cache()).unwrap();
    let o = k.run(&["--color", "always", "update"]).ok();
    assert!(
        !o.stderr.contains('\r') && !o.stderr.contains("iB/"),
        "{o:#?}"
    );
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn a_progress_bar_is_drawn_for_a_download_when_stderr_is_a_terminal() {
    let (server, k) = large_http_registry();
    let Some(o) = run_in_terminal(&k, &["update"], &[]) else {
        return;
    };
    assert_eq!(o.code, 0, "{o:#?}");
    assert!(o.stdout.contains("updated"), "{o:#?}");
    // The bar: `URL ████ 12.00 KiB/612.34 KiB`, redrawn in place and
    // cleared at the end.
    let url = server.url("/index.json");
    let bar = o
        .stdout
        .find(&url)
        .map(|at| &o.stdout[at..])
        .unwrap_or_else(|| panic!("no bar naming {url}: {o:#?}"));
    assert!(bar.contains("iB/"), "no byte counts: {o:#?}");
    assert!(
        o.stdout.contains('\r') || o.stdout.contains(ESC),
        "the bar is not redrawn in place: {o:#?}"
    );
    // -q: no bar even on a terminal.
    std::fs::remove_dir_all(k.cache()).unwrap();
    let o = run_in_terminal(&k, &["-q", "update"], &[]).unwrap();
    assert_eq!(o.code, 0, "{o:#?}");
    assert!(!o.stdout.contains("iB/"), "{o:#?}");
}

#[test]
fn a_cached_archive_shows_no_empty_progress_bar_on_a_terminal() {
    let mut site = Site::new();
    site.publish("core", "1.0.0", &[], &[]);
    let k = site.knap();
    let first = k.dir.path().join("first");
    k.run(&["--root", first.to_str().unwrap(), "install", "core"])
        .ok();
    // The archive is now in the cache: a second root installs it from there.
    let second = k.dir.path().join("second");
    let Some(o) = run_in_terminal(
        &k,
        &["--root", second.to_str().unwrap(), "install", "core"],
        &[],
    ) else {
        return;
    };
    assert_eq!(o.code, 0, "{o:#?}");
    assert!(o.stdout.contains("installed\u{1b}[0m core 1.0.0"), "{o:#?}");
    assert!(
        !o.stdout.contains("0 B/0 B"),
        "an empty bar for a cached pack: {o:#?}"
    );
}

#[test]
fn json_errors_carry_kind_and_message_on_stderr() {
    let k = Knap::new();
    let o = k.run(&["--json", "registry", "remove", "nope"]);
    assert_eq!(o.error_json()["error"]["kind"], "not_found");
    assert_out!("json_error_not_found", o);
    let o = k.run(&["--json", "info", "Bad Ref"]);
    assert_eq!(o.error_json()["error"]["kind"], "usage");
    assert_out!("json_error_usage", o);
    assert_out!("usage_without_a_command", k.run(&[]));
    assert_out!("usage_unknown_flag", k.run(&["install", "--frobnicate"]));
}

/// Whether `line` is `step NAME: ... (N ms)` or `(N.NN s)`.
fn timed(line: &str, name: &str) -> bool {
    let Some(rest) = line.strip_prefix(&format!("step {name}: ")) else {
        return false;
    };
    let Some(open) = rest.rfind(" (") else {
        return false;
    };
    let Some(d) = rest[open + 2..].strip_suffix(')') else {
        return false;
    };
    let (n, unit) = d.split_once(' ').unwrap_or(("", ""));
    !n.is_empty() && n.parse::<f64>().is_ok() && matches!(unit, "ms" | "s")
}

#[test]
fn install_v_lists_every_step_with_its_duration() {
    let mut site = Site::new();
    site.publish("hello", "1.0.0", &[], &[]);
    let k = site.knap();
    let root = k.dir.path().join("root");
    let o = k.at(&root, &["-v", "install", "hello"]).ok();
    let lines: Vec<&str> = o.stderr.lines().collect();
    for step in [
        "resolving",
        "fetching index",
        "downloading",
        "extracting",
        "verifying",
        "committing",
    ] {
        assert!(
            lines.iter().any(|l| timed(l, step)),
            "no timed `step {step}` line:\n{}",
            o.stderr
        );
    }
    let at_step = |name: &str| lines.iter().position(|l| timed(l, name)).unwrap();
    let archive = site.server.url("/archives/hello-1.0.0.tar.gz");
    let archive_download = lines
        .iter()
        .position(|l| timed(l, "downloading") && l.contains(&archive))
        .unwrap_or_else(|| panic!("no timed download of {archive}:\n{}", o.stderr));
    assert!(lines[at_step("fetching index")].contains("site"));
    assert!(at_step("fetching index") < at_step("extracting"));
    assert!(at_step("resolving") < at_step("extracting"));
    assert!(archive_download < at_step("extracting"));
    assert!(at_step("extracting") < at_step("verifying"));
    assert!(at_step("verifying") < at_step("committing"));
    // Without -v, no step lines.
    let o = k.at(&root, &["install", "hello", "--force"]);
    assert!(!o.stderr.contains("step "), "{o:#?}");
}

/// `--progress json` turns the libraries' progress events into one JSON
/// object per line on stderr: staging, verifying and committing each pack
/// of an install, in that order, and nothing else on stderr.
#[test]
fn progress_json_reports_each_step_of_an_install_as_ndjson() {
    let k = knap_with_example_index();
    let root = k.dir.path().join("root-progress");
    let o = k
        .run(&[
            "--offline",
            "--progress",
            "json",
            "--root",
            root.to_str().unwrap(),
            "install",
            "hello",
        ])
        .ok();
    let events = o.events();
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    let at = |name: &str| {
        names
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("no `{name}` event in {names:?}"))
    };
    assert!(at("resolving") < at("extracting"), "{names:?}");
    assert!(at("extracting") < at("verifying"), "{names:?}");
    assert!(at("verifying") < at("committing"), "{names:?}");
    assert!(at("committing") < at("committed"), "{names:?}");
    let staged = events.iter().find(|e| e["event"] == "extracting").unwrap();
    assert_eq!(staged["pack"], "hello", "{staged}");
    let committed = events.iter().find(|e| e["event"] == "committed").unwrap();
    assert_eq!(
        committed["root"].as_str().map(PathBuf::from),
        Some(root.clone()),
        "{committed}"
    );
    assert!(root.join("hello/pack.yaml").is_file());
}

/// A sparse registry that serves no `index.json`, so that a search warns
/// that it covers only the packs looked up before.
fn sparse_without_index() -> (tempfile::TempDir, Server, Knap) {
    let site = tempfile::tempdir().unwrap();
    write_json(
        &site.path().join("config.json"),
        &json!({"format": "knap-sparse-1", "registry_name": "Sparse", "registry_url": "https://example.org/sparse/", "last_updated": "2026-11-21T12:00:00Z"}),
    );
    write_json(
        &site.path().join("packs/core.json"),
        &json!({"ref": "core", "versions": [entry("core", "1.0.0", &[])]}),
    );
    let server = Server::start(files(site.path().to_path_buf()));
    let k = knap_with_sparse(&server);
    (site, server, k)
}

const WARNING: &str =
    "registry `sp` serves no index.json; search covers only the packs looked up before";

/// Warnings from the libraries travel as progress events
/// (`Event::Warning`): a `warning:` line on stderr, also with `--json`
/// (stdout stays the JSON document), and nothing with `-q`.
#[test]
fn a_library_warning_is_a_line_on_stderr_unless_quiet() {
    let (_site, _server, k) = sparse_without_index();
    let o = k.run(&["--color", "never", "search", "core"]).ok();
    assert!(o.stderr.contains(&format!("warning: {WARNING}")), "{o:#?}");
    assert!(!o.stdout.contains("warning"), "{o:#?}");
    assert_out!("warning_text", o);
    let o = k.run(&["-q", "search", "core"]).ok();
    assert_eq!(o.stderr, "", "-q prints only errors");
    let o = k.run(&["--json", "search", "core"]).ok();
    assert!(o.stderr.contains(WARNING), "{o:#?}");
    assert!(o.json().is_array(), "stdout stays the JSON document");
    assert_out!("warning_json", o);
}

/// With `--progress json` a warning is a `warning` event, also with `-q`
/// (a program asked for the events).
#[test]
fn a_library_warning_is_an_event_with_progress_json() {
    let (_site, _server, k) = sparse_without_index();
    for flags in [&[][..], &["-q"]] {
        let mut args = vec!["--progress", "json"];
        args.extend_from_slice(flags);
        args.extend(["search", "core"]);
        let o = k.run(&args).ok();
        let events = o.events();
        assert!(
            events
                .iter()
                .any(|e| e["event"] == "warning" && e["message"] == WARNING),
            "{flags:?}: {events:?}"
        );
    }
}

/// Runs `knap ARGS` (isolated as `k` runs it) with stdout a pipe whose
/// reading end is closed before knap starts, so every write meets a
/// closed pipe (as `knap info net | head -1` can).
fn with_stdout_closed(k: &Knap, args: &[&str]) -> Out {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let o = k
        .command()
        .args(args)
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("knap runs");
    k.out(args, o)
}

/// A closed stdout neither panics ("failed printing to stdout: Broken
/// pipe", exit 101) nor says anything.
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
    assert_out!("closed_stdout_error", o);
}
