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

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;

use crate::install_tests::{digest, lock_of};
use crate::root_tests::{Site, assert_root_consistent, at};
use crate::server::{Reply, Req, Server, files, git_cgi};
use crate::{Knap, Out, entry, git, index, write_json};

/// Every file under `dir` (none when it does not exist).
pub(crate) fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A root with `victim` 1.0.0 installed from a site that also lists
/// 2.0.0 (published, not installed).
pub(crate) struct Installed {
    pub site: Site,
    pub k: Knap,
    pub root: PathBuf,
    pub tree: String,
    pub lock: Vec<u8>,
    pub archives: Vec<PathBuf>,
}

impl Installed {
    pub fn new() -> Self {
        let mut site = Site::new();
        site.publish("victim", "1.0.0", &[], &[]);
        let k = site.knap();
        let root = k.dir.path().join("root");
        at(&k, &root, &["install", "victim@=1.0.0"]).ok();
        site.publish("victim", "2.0.0", &[], &[]);
        k.run(&["update"]).ok();
        let tree = digest(&root.join("victim"));
        let lock = std::fs::read(root.join("knap.lock")).unwrap();
        let archives = files_under(&k.cache().join("archives"));
        Self {
            site,
            k,
            root,
            tree,
            lock,
            archives,
        }
    }

    /// The site answers the archive of 2.0.0 with `reply`, the rest as
    /// files.
    pub fn serve_v2_with(&self, reply: impl Fn(&Req, Vec<u8>) -> Reply + Send + Sync + 'static) {
        let files = files(self.site.dir.path().to_path_buf());
        self.site.server.set_handler(Arc::new(move |req: &Req| {
            if req.path().ends_with("victim-2.0.0.tar.gz") {
                let body = match files(req) {
                    Reply::Full { body, .. } => body,
                    _ => unreachable!("the archive is a file"),
                };
                reply(req, body)
            } else {
                files(req)
            }
        }));
    }

    pub fn v2_url(&self) -> String {
        self.site.server.url("/archives/victim-2.0.0.tar.gz")
    }

    pub fn install_v2(&self) -> Out {
        at(&self.k, &self.root, &["install", "victim@=2.0.0"])
    }

    /// The root, `knap.lock` and the archive cache are as they were.
    #[track_caller]
    pub fn assert_unchanged(&self) {
        assert_eq!(
            std::fs::read(self.root.join("knap.lock")).unwrap(),
            self.lock,
            "knap.lock changed"
        );
        assert_eq!(digest(&self.root.join("victim")), self.tree);
        assert_eq!(lock_of(&self.root)["packs"][0]["version"], "1.0.0");
        assert_eq!(
            files_under(&self.k.cache().join("archives")),
            self.archives,
            "a partial or new download was left in the cache"
        );
        assert_root_consistent(&self.root);
    }
}

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
    let (pack, commit) = crate::install_tests::git_pack(work.path(), "gitdrip", "1.0.0");
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
            vec![crate::install_tests::git_entry(
                "gitdrip",
                "1.0.0",
                &url,
                &commit,
                &digest(&pack),
            )],
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
    let o = at(&k, &s.root, &["install", "gitdrip"]);
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
