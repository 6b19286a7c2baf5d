//! No file hangs knap: a FIFO (or a socket, or a device) where knap reads a
//! file is refused at once, naming the file and what it is: exit 4 for a
//! file knap manages or reads from a registry (the configuration,
//! `knap.lock`, the journal, the root's lock, a cached pack file, a local
//! registry's `packs/<ref>.json`), exit 2 for a file named on the command
//! line (`--root FILE`, `--ca-file`, a local archive). Every run is killed
//! if it has not ended within [`LIMIT`], so a reader that blocks fails its
//! test instead of hanging the suite.

use std::path::{Path, PathBuf};
use std::time::Duration;

use knap_test_support::prelude::*;

use crate::fixtures::{knap_with_sparse, s};
use crate::registries::sparse::sparse_site;

const LIMIT: Duration = Duration::from_secs(20);

fn mkfifo(path: &Path) {
    if path.exists() {
        std::fs::remove_file(path).unwrap();
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// The run failed with `code`, naming `path` and saying it is a FIFO.
#[track_caller]
fn refused(o: &Out, code: i32, path: &Path) {
    assert_eq!(o.code, code, "{o:#?}");
    let name = path.file_name().unwrap().to_str().unwrap();
    assert!(
        o.stderr.contains(name) && o.stderr.contains("FIFO"),
        "names {name} and says it is a FIFO: {}",
        o.stderr
    );
}

/// A site with `core` 1.0.0 installed into `<knap dir>/root`.
fn installed() -> (Site, Knap, PathBuf) {
    let mut site = Site::new();
    site.publish("core", "1.0.0", &[], &[]);
    let k = site.knap();
    let root = k.dir.path().join("root");
    k.run(&["--root", s(&root), "install", "core"]).ok();
    (site, k, root)
}

#[test]
fn a_fifo_configuration_is_exit_4() {
    let k = Knap::new();
    mkfifo(&k.config());
    let o = k.run_within(LIMIT, &["registry", "list"]);
    refused(&o, 4, &k.config());
}

#[test]
fn a_fifo_knap_lock_journal_or_root_lock_is_exit_4() {
    let (_site, k, root) = installed();
    let lock = root.join("knap.lock");
    let saved = std::fs::read(&lock).unwrap();
    mkfifo(&lock);
    for args in [&["list"][..], &["install"][..]] {
        let mut all = vec!["--root", s(&root)];
        all.extend_from_slice(args);
        let o = k.run_within(LIMIT, &all);
        refused(&o, 4, &lock);
    }
    std::fs::remove_file(&lock).unwrap();
    std::fs::write(&lock, &saved).unwrap();

    // An interrupted commit's journal, read by the recovery every write runs.
    let journal = root.join(".knap/journal.json");
    mkfifo(&journal);
    let o = k.run_within(LIMIT, &["--root", s(&root), "install"]);
    refused(&o, 4, &journal);
    std::fs::remove_file(&journal).unwrap();

    // The root's lock, opened for reading by the read-only commands.
    let root_lock = root.join(".knap/lock");
    mkfifo(&root_lock);
    let o = k.run_within(LIMIT, &["--root", s(&root), "list"]);
    refused(&o, 4, &root_lock);
    std::fs::remove_file(&root_lock).unwrap();
    k.run(&["--root", s(&root), "list"]).ok();
}

#[test]
fn a_fifo_pack_file_of_a_local_sparse_registry_is_exit_4() {
    let reg = sparse_site();
    let k = Knap::new();
    k.run(&["registry", "add", "local", s(reg.path())]).ok();
    k.run_within(LIMIT, &["info", "core"]).ok();
    let pack = reg.path().join("packs/app.json");
    mkfifo(&pack);
    let o = k.run_within(LIMIT, &["info", "app"]);
    refused(&o, 4, &pack);
}

/// The cached copy of a sparse registry's pack file, under the cache.
fn cached(cache: &Path, rel: &str) -> PathBuf {
    let regs = cache.join("registries");
    for e in std::fs::read_dir(&regs).unwrap() {
        let p = e.unwrap().path().join(rel);
        if p.is_file() {
            return p;
        }
    }
    panic!("no cached {rel} under {}", regs.display());
}

#[test]
fn a_fifo_in_place_of_a_cached_pack_file_is_exit_4() {
    let site = sparse_site();
    let server = Server::start(files(site.path().to_path_buf()));
    let k = knap_with_sparse(&server);
    k.run_within(LIMIT, &["info", "core"]).ok();
    let file = cached(&k.cache(), "packs/core.json");
    mkfifo(&file);
    let o = k.run_within(LIMIT, &["--offline", "info", "core"]);
    refused(&o, 4, &file);
}

#[test]
fn a_fifo_named_on_the_command_line_is_exit_2() {
    let (_site, k, root) = installed();
    let fifo = k.dir.path().join("named.fifo");
    mkfifo(&fifo);
    let o = k.run_within(
        LIMIT,
        &[
            "registry",
            "add",
            "pinned",
            "https://example.org/",
            "--no-fetch",
            "--root",
            s(&fifo),
        ],
    );
    refused(&o, 2, &fifo);
    let o = k.run_within(
        LIMIT,
        &[
            "registry",
            "add",
            "private",
            "https://example.org/",
            "--no-fetch",
            "--ca-file",
            s(&fifo),
        ],
    );
    refused(&o, 2, &fifo);
    let archive = k.dir.path().join("tool-1.0.0.tar.gz");
    mkfifo(&archive);
    let o = k.run_within(LIMIT, &["--root", s(&root), "install", s(&archive)]);
    refused(&o, 2, &archive);
    let config = std::fs::read_to_string(k.config()).unwrap();
    assert!(
        !config.contains("pinned") && !config.contains("private"),
        "{config}"
    );
}
