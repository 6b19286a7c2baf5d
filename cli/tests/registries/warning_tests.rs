//! Warnings from the libraries travel as progress events
//! (`Event::Warning`), so every way of running knap sees them as it should:
//! a `warning:` line on stderr, nothing with `-q`, a `warning` event with
//! `--progress json` (also with `-q`: a program asked for the events), and
//! never anything on stdout, which `--json` keeps for its document.

use serde_json::{Value, json};

use crate::server::{Server, files};
use crate::sparse_tests::knap_with_sparse;
use crate::{Knap, entry, write_json};

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

#[test]
fn a_library_warning_is_a_line_on_stderr_unless_quiet() {
    let (_site, _server, k) = sparse_without_index();
    let o = k.run(&["--color", "never", "search", "core"]).ok();
    assert!(o.stderr.contains(&format!("warning: {WARNING}")), "{o:#?}");
    assert!(!o.stdout.contains("warning"), "{o:#?}");
    let o = k.run(&["-q", "search", "core"]).ok();
    assert_eq!(o.stderr, "", "-q prints only errors");
    let o = k.run(&["--json", "search", "core"]).ok();
    assert!(o.stderr.contains(WARNING), "{o:#?}");
    assert!(o.json().is_array(), "stdout stays the JSON document");
}

#[test]
fn a_library_warning_is_an_event_with_progress_json() {
    let (_site, _server, k) = sparse_without_index();
    for flags in [&[][..], &["-q"]] {
        let mut args = vec!["--progress", "json"];
        args.extend_from_slice(flags);
        args.extend(["search", "core"]);
        let o = k.run(&args).ok();
        let events: Vec<Value> = o
            .stderr
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert!(
            events
                .iter()
                .any(|e| e["event"] == "warning" && e["message"] == WARNING),
            "{flags:?}: {events:?}"
        );
    }
}
