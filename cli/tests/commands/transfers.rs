//! Issue 11 findings 3 and 9, and the size limit for every index kind,
//! end to end: transfers that drip (one byte a second) are cut off by
//! their total deadline or their inactivity timeout, exit 5 naming the URL
//! and the limit (and the variable that sets it), and leave nothing
//! behind (no partial download in the cache, no clone or temporary
//! repository, the root and
//! `knap.lock` unchanged); archive downloads retry like index fetches and
//! say how many attempts were made; `KNAP_MAX_INDEX_SIZE` bounds a local
//! sparse registry's pack files, and a git registry over it is invalid
//! input (exit 4).
//! An archive served with `Content-Encoding: gzip` is hashed as published.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use knap_test_support::dir::Node;
use knap_test_support::prelude::*;
use serde_json::json;

use crate::fixtures::*;

#[track_caller]
fn assert_limit(o: &Out, url: &str, words: &str, setting: &str) {
    assert_eq!(o.code, 5, "{o:#?}");
    for needle in [url, "timed out", words, setting] {
        assert!(
            o.stderr.contains(needle),
            "the message does not say {needle:?}:\n{}",
            o.stderr
        );
    }
}

fn drip(body: Vec<u8>) -> Reply {
    Reply::Drip {
        headers: vec![],
        body,
        every: Duration::from_secs(1),
    }
}

#[test]
fn an_archive_that_drips_is_cut_off_by_its_total_deadline() {
    let mut s = Installed::new();
    s.serve_v2_with(|_, body| drip(body));
    // Every byte comes within the read timeout: only the total deadline
    // can end it.
    s.k.set("KNAP_HTTP_READ_TIMEOUT", "10");
    s.k.set("KNAP_HTTP_DOWNLOAD_TIMEOUT", "3");
    let started = std::time::Instant::now();
    let o = s.install_v2();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_limit(
        &o,
        &s.v2_url(),
        "total deadline of 3 s",
        "KNAP_HTTP_DOWNLOAD_TIMEOUT",
    );
    s.assert_unchanged();
}

#[test]
fn an_archive_that_stalls_between_bytes_is_cut_off_by_the_read_timeout() {
    let mut s = Installed::new();
    s.serve_v2_with(|_, body| Reply::Drip {
        headers: vec![],
        body,
        every: Duration::from_secs(4),
    });
    s.k.set("KNAP_HTTP_READ_TIMEOUT", "1");
    s.k.set("KNAP_HTTP_DOWNLOAD_TIMEOUT", "60");
    let o = s.install_v2();
    assert_limit(&o, &s.v2_url(), "no data for 1 s", "KNAP_HTTP_READ_TIMEOUT");
    s.assert_unchanged();
}

#[test]
fn an_index_that_drips_is_cut_off_by_its_total_deadline() {
    let mut s = Installed::new();
    let cached = files_under(&s.k.cache().join("registries"))
        .into_iter()
        .map(|p| (std::fs::read(&p).unwrap(), p))
        .collect::<Vec<_>>();
    let files = files(s.site.dir.path().to_path_buf());
    s.site.server.set_handler(Arc::new(move |req: &Req| {
        match files(req) {
            // Unconditional, so that a 304 cannot answer it.
            Reply::Full { body, .. } if req.path() == "/index.json" => drip(body),
            other => other,
        }
    }));
    // A changed index, so that the site must send it.
    s.site.publish("victim", "3.0.0", &[], &[]);
    s.k.set("KNAP_HTTP_READ_TIMEOUT", "10");
    s.k.set("KNAP_HTTP_TIMEOUT", "3");
    let o = s.k.run(&["update"]);
    assert_limit(
        &o,
        &s.site.server.url("/index.json"),
        "total deadline of 3 s",
        "KNAP_HTTP_TIMEOUT",
    );
    let after = files_under(&s.k.cache().join("registries"))
        .into_iter()
        .map(|p| (std::fs::read(&p).unwrap(), p))
        .collect::<Vec<_>>();
    assert_eq!(after, cached, "the cached index changed");
    s.assert_unchanged();
}

/// A bare repository `index.git` under `root` holding an index of
/// `entries`.
fn git_index_repo(root: &Path, entries: Vec<serde_json::Value>) {
    let work = root.join("work");
    write_json(&work.join("index.json"), &index("Git", entries));
    git(&work, &["init", "-q"]);
    git(&work, &["add", "index.json"]);
    git(&work, &["commit", "-q", "-m", "index"]);
    git(root, &["clone", "-q", "--bare", "work", "index.git"]);
}

#[test]
fn a_git_registry_that_drips_is_cut_off_by_its_total_deadline_and_leaves_no_clone() {
    let s = Installed::new();
    let repos = tempfile::tempdir().unwrap();
    let many: Vec<_> = (0..50)
        .map(|i| entry(&format!("p{i:02}"), "1.0.0", &[]))
        .collect();
    git_index_repo(repos.path(), many);
    let server = dripping_git(repos.path().to_path_buf());
    let url = server.url("/index.git");
    let mut k = s.k;
    k.run(&["registry", "add", "dripping", &format!("git+{url}")])
        .ok();
    k.set("KNAP_HTTP_READ_TIMEOUT", "10");
    k.set("KNAP_HTTP_TIMEOUT", "3");
    let started = std::time::Instant::now();
    let o = k.run(&["update", "dripping"]);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_limit(&o, &url, "total deadline of 3 s", "KNAP_HTTP_TIMEOUT");
    assert!(
        server.requests().iter().any(|r| r.method == "POST"),
        "the fetch never reached the pack: {:?}",
        server.requests()
    );
    let left: Vec<PathBuf> = files_under(&k.cache().join("registries"))
        .into_iter()
        .filter(|p| p.components().any(|c| c.as_os_str() == "repo"))
        .collect();
    assert!(left.is_empty(), "a clone was left: {left:?}");
}

// Finding 9: one retry policy for every transfer, the attempts in the error.

#[test]
fn an_archive_served_500_then_200_installs_with_retries() {
    let mut s = Installed::new();
    let tries = Arc::new(AtomicUsize::new(0));
    {
        let tries = tries.clone();
        s.serve_v2_with(move |_, body| {
            if tries.fetch_add(1, Ordering::SeqCst) == 0 {
                Reply::status(500, b"busy")
            } else {
                Reply::Full {
                    status: 200,
                    headers: vec![],
                    body,
                }
            }
        });
    }
    s.k.set("KNAP_HTTP_RETRIES", "3");
    s.install_v2().ok();
    assert_eq!(tries.load(Ordering::SeqCst), 2, "one 500, then the archive");
    assert_eq!(lock_of(&s.root)["packs"][0]["version"], "2.0.0");
    assert_root_consistent(&s.root);
}

#[test]
fn an_archive_that_always_fails_with_500_is_exit_5_after_every_attempt() {
    let mut s = Installed::new();
    let tries = Arc::new(AtomicUsize::new(0));
    {
        let tries = tries.clone();
        s.serve_v2_with(move |_, _| {
            tries.fetch_add(1, Ordering::SeqCst);
            Reply::status(500, b"down")
        });
    }
    s.k.set("KNAP_HTTP_RETRIES", "2");
    let o = s.install_v2();
    assert_eq!(o.code, 5, "{o:#?}");
    for needle in [s.v2_url().as_str(), "HTTP 500", "after 3 attempts"] {
        assert!(o.stderr.contains(needle), "no {needle:?}:\n{}", o.stderr);
    }
    assert_eq!(tries.load(Ordering::SeqCst), 3, "one try and 2 retries");
    s.assert_unchanged();
}

// KNAP_MAX_INDEX_SIZE for every kind of index.

#[test]
fn a_local_sparse_registrys_pack_file_is_bounded_by_knap_max_index_size() {
    let d = tempfile::tempdir().unwrap();
    write_json(
        &d.path().join("config.json"),
        &json!({"format": "knap-sparse-1", "registry_name": "Sparse", "registry_url": "https://example.org/sparse/", "last_updated": "2026-11-21T12:00:00Z"}),
    );
    let versions: Vec<_> = (0..200)
        .map(|i| entry("big", &format!("1.0.{i}"), &[]))
        .collect();
    write_json(
        &d.path().join("packs/big.json"),
        &json!({"ref": "big", "versions": versions}),
    );
    write_json(
        &d.path().join("packs/small.json"),
        &json!({"ref": "small", "versions": [entry("small", "1.0.0", &[])]}),
    );
    let size = std::fs::metadata(d.path().join("packs/big.json"))
        .unwrap()
        .len();
    assert!(size > 50_000, "{size}");
    let mut k = Knap::new();
    k.run(&["registry", "add", "dir", d.path().to_str().unwrap()])
        .ok();
    k.set("KNAP_MAX_INDEX_SIZE", "20000");
    // Under the limit: read as before.
    let info = k.run(&["info", "small", "--json"]).ok().json();
    assert_eq!(info["versions"][0]["version"], "1.0.0");
    let o = k.run(&["info", "big"]);
    assert_eq!(o.code, 4, "{o:#?}");
    assert!(
        o.stderr.contains("packs/big.json")
            && o.stderr.contains("larger than the limit of 20000 bytes")
            && o.stderr.contains("KNAP_MAX_INDEX_SIZE"),
        "{}",
        o.stderr
    );
}

#[test]
fn a_git_registry_whose_index_is_over_the_size_limit_is_exit_4() {
    let repos = tempfile::tempdir().unwrap();
    let many: Vec<_> = (0..400)
        .map(|i| entry(&format!("p{i:03}"), "1.0.0", &[]))
        .collect();
    git_index_repo(repos.path(), many);
    let server = Server::start(git_cgi(repos.path().to_path_buf()));
    let mut k = Knap::new();
    for (name, url) in [
        ("over-http", format!("git+{}", server.url("/index.git"))),
        (
            "over-file",
            format!("git+file://{}", repos.path().join("index.git").display()),
        ),
    ] {
        k.run(&["registry", "add", name, &url]).ok();
    }
    k.set("KNAP_MAX_INDEX_SIZE", "20000");
    for name in ["over-http", "over-file"] {
        let o = k.run(&["update", name]);
        assert_eq!(o.code, 4, "{name}: {o:#?}");
        assert!(
            o.stderr.contains("index.json at commit")
                && o.stderr.contains("larger than the limit of 20000 bytes")
                && o.stderr.contains("KNAP_MAX_INDEX_SIZE"),
            "{name}: {}",
            o.stderr
        );
    }
}

// Issue 14 point 10: Ctrl-C during an install.

#[test]
fn ctrl_c_during_a_download_says_nothing_was_installed_exits_130_and_leaves_no_partial_file() {
    let s = Installed::new();
    s.serve_v2_with(|_, body| Reply::Drip {
        headers: vec![],
        body,
        every: Duration::from_millis(300),
    });
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_knap"));
    c.args([
        "--root",
        s.root.to_str().unwrap(),
        "install",
        "victim@=2.0.0",
    ]);
    s.k.isolate(&mut c);
    let mut child = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the download is under way: its temporary file is in the
    // cache and the server is sending.
    let started = std::time::Instant::now();
    let partial = loop {
        let new: Vec<PathBuf> = files_under(&s.k.cache().join("archives"))
            .into_iter()
            .filter(|p| !s.archives.contains(p))
            .collect();
        let sending = s
            .site
            .server
            .requests()
            .iter()
            .any(|r| r.path.ends_with("victim-2.0.0.tar.gz"));
        if sending && !new.is_empty() {
            break new;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the download never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(500));
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let waited = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            waited.elapsed() < Duration::from_secs(20),
            "knap did not stop after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted; nothing was installed"),
        "{stderr}"
    );
    for p in &partial {
        assert!(!p.exists(), "the partial download {} was left", p.display());
    }
    s.assert_unchanged();
}

#[test]
fn a_git_source_that_drips_is_cut_off_by_the_download_deadline_and_installs_nothing() {
    let s = Installed::new();
    let (served, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (pack, commit) = git_pack(work.path(), "gitdrip", "1.0.0");
    git(
        served.path(),
        &[
            "clone",
            "-q",
            "--bare",
            pack.to_str().unwrap(),
            "gitdrip.git",
        ],
    );
    let server = dripping_git(served.path().to_path_buf());
    let url = server.url("/gitdrip.git");
    let reg = tempfile::tempdir().unwrap();
    write_json(
        &reg.path().join("index.json"),
        &index(
            "Local",
            vec![git_entry("gitdrip", "1.0.0", &url, &commit, &digest(&pack))],
        ),
    );
    let mut k = s.k;
    k.run(&["registry", "add", "local", reg.path().to_str().unwrap()])
        .ok();
    k.set("KNAP_HTTP_READ_TIMEOUT", "10");
    k.set("KNAP_HTTP_DOWNLOAD_TIMEOUT", "3");
    // Nothing of the fetch may go to the system's temporary directory.
    let tmp = tempfile::tempdir().unwrap();
    k.set("TMPDIR", tmp.path().to_str().unwrap());
    let started = std::time::Instant::now();
    let o = k.at(&s.root, &["install", "gitdrip"]);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_limit(
        &o,
        &url,
        "total deadline of 3 s",
        "KNAP_HTTP_DOWNLOAD_TIMEOUT",
    );
    assert!(
        server.requests().iter().any(|r| r.method == "POST"),
        "the fetch never reached the pack: {:?}",
        server.requests()
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "a temporary clone was left: {left:?}");
    assert!(!s.root.join("gitdrip").exists());
    assert_eq!(std::fs::read(s.root.join("knap.lock")).unwrap(), s.lock);
    // Staging (where the fetched repository was kept) is empty.
    assert_root_consistent(&s.root);
}

/// Smart-HTTP git over the bare repositories in `repos`, whose refs are
/// answered at once and whose pack (the answer to the POST) comes one byte
/// a second.
fn dripping_git(repos: std::path::PathBuf) -> Server {
    let cgi = git_cgi(repos);
    Server::start(Arc::new(move |req: &Req| match cgi(req) {
        Reply::Full { headers, body, .. } if req.method == "POST" => Reply::Drip {
            headers,
            body,
            every: Duration::from_secs(1),
        },
        other => other,
    }))
}

// Finding 8: archives are fetched with identity encoding and hashed as
// published.

#[test]
fn an_archive_served_with_content_encoding_gzip_is_hashed_as_published() {
    let mut s = Scene::new();
    let v2 = s.site.publish("victim", "2.0.0", &[], &[]);
    s.k.run(&["update"]).ok();
    let files = files(s.site.dir.path().to_path_buf());
    s.site
        .server
        .set_handler(std::sync::Arc::new(move |req: &Req| {
            match files(req) {
                // The published .tar.gz, labelled as gzip-encoded (as some
                // servers and proxies do): decoding it would hash the tar.
                Reply::Full {
                    status,
                    mut headers,
                    body,
                } if req.path().ends_with(".tar.gz") => {
                    headers.push(("Content-Encoding".into(), "gzip".into()));
                    Reply::Full {
                        status,
                        headers,
                        body,
                    }
                }
                other => other,
            }
        }));
    s.site.server.clear_log();
    s.k.at(&s.root, &["install", "victim@=2.0.0"]).ok();
    assert_eq!(digest(&s.root.join("victim")), digest(&v2));
    assert_eq!(lock_of(&s.root)["packs"][0]["version"], "2.0.0");
    let gets: Vec<_> = s
        .site
        .server
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with(".tar.gz"))
        .collect();
    assert_eq!(gets.len(), 1, "{gets:?}");
    assert_eq!(gets[0].header("accept-encoding"), Some("identity"));
    assert_root_consistent(&s.root);
    assert_eq!(
        Tree::of(&s.k.dir.path().join("sentinel")),
        Tree(
            [
                ("keep.txt".to_string(), Node::File(b"untouched\n".to_vec())),
                ("sub".to_string(), Node::Dir)
            ]
            .into()
        )
    );
}

// Issue 20 §8: the low-speed rule (as Cargo's http.low-speed-limit). A
// server that drips keeps the inactivity timer alive; the total deadlines
// end it only after minutes. Under KNAP_HTTP_LOW_SPEED_LIMIT bytes/s over
// KNAP_HTTP_LOW_SPEED_TIME, the transfer is aborted, exit 5, saying it was
// too slow and where. Each test leaves the total deadlines far away, so
// only the rule can end it.

#[track_caller]
fn assert_too_slow(o: &Out, url: &str) {
    assert_eq!(o.code, 5, "{o:#?}");
    for needle in [
        url,
        "too slow",
        "fewer than 1000 bytes/s over 2 s",
        "KNAP_HTTP_LOW_SPEED_LIMIT",
    ] {
        assert!(
            o.stderr.contains(needle),
            "the message does not say {needle:?}:\n{}",
            o.stderr
        );
    }
}

fn low_speed(k: &mut Knap) {
    k.set("KNAP_HTTP_LOW_SPEED_LIMIT", "1000");
    k.set("KNAP_HTTP_LOW_SPEED_TIME", "2");
    k.set("KNAP_HTTP_READ_TIMEOUT", "100");
    k.set("KNAP_HTTP_TIMEOUT", "300");
    k.set("KNAP_HTTP_DOWNLOAD_TIMEOUT", "300");
}

/// A byte every 20 ms: 50 bytes/s, steady enough for any read timeout.
fn slow_drip(body: Vec<u8>) -> Reply {
    Reply::Drip {
        headers: vec![],
        body,
        every: Duration::from_millis(20),
    }
}

#[test]
fn an_archive_slower_than_the_low_speed_limit_is_aborted_saying_so() {
    let mut s = Installed::new();
    s.serve_v2_with(|_, body| slow_drip(body));
    low_speed(&mut s.k);
    let o = s.k.run_within(
        Duration::from_secs(60),
        &[
            "--root",
            s.root.to_str().unwrap(),
            "install",
            "victim@=2.0.0",
        ],
    );
    assert_too_slow(&o, &s.v2_url());
    s.assert_unchanged();
}

#[test]
fn an_index_slower_than_the_low_speed_limit_is_aborted_saying_so() {
    let mut s = Installed::new();
    let files = files(s.site.dir.path().to_path_buf());
    s.site
        .server
        .set_handler(Arc::new(move |req: &Req| match files(req) {
            Reply::Full { body, .. } if req.path() == "/index.json" => slow_drip(body),
            other => other,
        }));
    s.site.publish("victim", "3.0.0", &[], &[]);
    low_speed(&mut s.k);
    let o = s.k.run_within(Duration::from_secs(60), &["update"]);
    assert_too_slow(&o, &s.site.server.url("/index.json"));
}

#[test]
fn a_git_fetch_slower_than_the_low_speed_limit_is_aborted_saying_so() {
    let s = Installed::new();
    let repos = tempfile::tempdir().unwrap();
    let many: Vec<_> = (0..50)
        .map(|i| entry(&format!("p{i:02}"), "1.0.0", &[]))
        .collect();
    git_index_repo(repos.path(), many);
    let server = dripping_git(repos.path().to_path_buf());
    let url = server.url("/index.git");
    let mut k = s.k;
    k.run(&["registry", "add", "dripping", &format!("git+{url}")])
        .ok();
    low_speed(&mut k);
    let o = k.run_within(Duration::from_secs(60), &["update", "dripping"]);
    assert_too_slow(&o, &url);
}

#[test]
fn a_transfer_at_or_above_the_low_speed_limit_completes() {
    let mut s = Installed::new();
    // 50 bytes/s against a limit of 20 bytes/s over 1 s.
    s.serve_v2_with(|_, body| slow_drip(body));
    s.k.set("KNAP_HTTP_LOW_SPEED_LIMIT", "20");
    s.k.set("KNAP_HTTP_LOW_SPEED_TIME", "1");
    let o = s.k.run_within(
        Duration::from_secs(120),
        &[
            "--root",
            s.root.to_str().unwrap(),
            "install",
            "victim@=2.0.0",
        ],
    );
    assert_eq!(o.code, 0, "{o:#?}");
}
