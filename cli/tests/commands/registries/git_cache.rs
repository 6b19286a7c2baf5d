//! A git registry's clone survives interruption and concurrency: a `knap
//! update` killed (SIGKILL) or interrupted (Ctrl-C) while its fetch is
//! receiving the pack from a dripping server leaves gix's locks
//! (`shallow.lock`) and temporary packs behind; the next update removes
//! them under the registry's cache lock and succeeds. Several updates at
//! once take turns on that lock and all succeed.

use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use knap_test_support::prelude::*;

/// A bare repository `index.git` under `root` whose index lists `n` packs
/// at `version`; returns the work tree.
fn index_repo(root: &Path, n: usize, version: &str) -> std::path::PathBuf {
    let work = root.join("work");
    write_index(&work, n, version);
    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["add", "index.json"]);
    git(&work, &["commit", "-q", "-m", "index"]);
    git(root, &["clone", "-q", "--bare", "work", "index.git"]);
    work
}

fn write_index(work: &Path, n: usize, version: &str) {
    let entries = (0..n)
        .map(|i| entry(&format!("p{i:03}"), version, &[]))
        .collect();
    write_json(&work.join("index.json"), &index("Git", entries));
}

/// Publishes a new commit where every pack is at `version`.
fn push(work: &Path, n: usize, version: &str) {
    write_index(work, n, version);
    git(work, &["commit", "-q", "-am", version]);
    git(work, &["push", "-q", "../index.git", "main"]);
}

/// One byte of a dripping answer every this long.
const EVERY: Duration = Duration::from_millis(10);

/// Smart-HTTP git over `repos`; while `drip` is set, the answer to the
/// POST (shallow information, then the pack) comes one byte every
/// [`EVERY`], and `len` holds its length.
fn git_server(repos: &Path, drip: Arc<AtomicBool>, len: Arc<AtomicUsize>) -> Server {
    let cgi = git_cgi(repos.to_path_buf());
    Server::start(Arc::new(move |req: &Req| match cgi(req) {
        Reply::Full { headers, body, .. }
            if req.method == "POST" && drip.load(Ordering::SeqCst) =>
        {
            len.store(body.len(), Ordering::SeqCst);
            Reply::Drip {
                headers,
                body,
                every: EVERY,
            }
        }
        other => other,
    }))
}

fn version_of(k: &Knap, r: &str) -> String {
    let info = k.run(&["info", r, "--json"]).ok().json();
    info["versions"][0]["version"].as_str().unwrap().to_owned()
}

/// Starts `knap update` and returns once the server has been asked for
/// the pack and `at` (a fraction) of its dripping answer has been sent.
fn update_in_transfer(k: &Knap, server: &Server, len: &AtomicUsize, at: f64) -> Child {
    len.store(0, Ordering::SeqCst);
    server.clear_log();
    let mut c = k.command();
    c.args(["update", "g"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = c.spawn().unwrap();
    let started = Instant::now();
    while len.load(Ordering::SeqCst) == 0 {
        assert!(started.elapsed() < Duration::from_secs(30), "no fetch");
        std::thread::sleep(Duration::from_millis(5));
    }
    let total = EVERY * len.load(Ordering::SeqCst) as u32;
    std::thread::sleep(total.mul_f64(at));
    child
}

/// Every file under the clone's `.git` whose name says a fetch was under
/// way.
fn leftovers(k: &Knap) -> Vec<std::path::PathBuf> {
    files_under(&k.cache().join("registries"))
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            p.components().any(|c| c.as_os_str() == ".git")
                && (name.ends_with(".lock") || name.starts_with(".tmp") || name.starts_with("tmp"))
        })
        .collect()
}

#[test]
fn an_update_killed_or_interrupted_during_its_fetch_leaves_a_clone_the_next_update_uses() {
    let repos = tempfile::tempdir().unwrap();
    const N: usize = 300;
    let work = index_repo(repos.path(), N, "1.0.0");
    let drip = Arc::new(AtomicBool::new(false));
    let len = Arc::new(AtomicUsize::new(0));
    let server = git_server(repos.path(), drip.clone(), len.clone());
    let k = Knap::new();
    k.run(&[
        "registry",
        "add",
        "g",
        &format!("git+{}", server.url("/index.git")),
    ])
    .ok();
    k.run(&["update", "g"]).ok();
    let mut left_behind = 0;
    let mut version = 1;
    for (how, after) in [
        ("KILL", 0.1),
        ("KILL", 0.5),
        ("INT", 0.7),
        ("KILL", 0.9),
        ("INT", 0.95),
    ] {
        version += 1;
        let v = format!("{version}.0.0");
        push(&work, N, &v);
        drip.store(true, Ordering::SeqCst);
        let mut child = update_in_transfer(&k, &server, &len, after);
        let status = std::process::Command::new("kill")
            .args([format!("-{how}"), child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let code = child.wait().unwrap();
        if how == "INT" {
            assert_eq!(code.code(), Some(130), "Ctrl-C during a fetch");
        } else {
            assert_eq!(code.code(), None, "killed");
        }
        if !leftovers(&k).is_empty() {
            left_behind += 1;
        }
        drip.store(false, Ordering::SeqCst);
        let o = k.run(&["update", "g"]);
        assert_eq!(o.code, 0, "after {how} at {after:?}: {o:#?}");
        assert_eq!(version_of(&k, "p000"), v, "after {how} at {after:?}");
        assert!(leftovers(&k).is_empty(), "{:?}", leftovers(&k));
    }
    // The case this test is for happened: a dead fetch left its locks.
    assert!(left_behind > 0, "no interrupted fetch left anything behind");
}

#[test]
fn eight_updates_at_once_of_one_git_registry_all_succeed() {
    let repos = tempfile::tempdir().unwrap();
    let work = index_repo(repos.path(), 50, "1.0.0");
    let server = git_server(
        repos.path(),
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let k = Knap::new();
    // Added without a fetch: the first round starts with no clone at all.
    k.run(&[
        "registry",
        "add",
        "g",
        &format!("git+{}", server.url("/index.git")),
        "--no-fetch",
    ])
    .ok();
    for (round, v) in [("cold", "1.0.0"), ("warm", "2.0.0")] {
        if round == "warm" {
            push(&work, 50, v);
        }
        let children: Vec<Child> = (0..8)
            .map(|_| {
                let mut c = k.command();
                c.args(["update", "g"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                c.spawn().unwrap()
            })
            .collect();
        for child in children {
            let o = child.wait_with_output().unwrap();
            assert!(
                o.status.success(),
                "{round}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        assert_eq!(version_of(&k, "p000"), v, "{round}");
    }
}
