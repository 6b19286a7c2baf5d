//! `knap install` flags and source handling end to end: `--no-deps`,
//! `--registry`, `--force`, falling back from a failing source to the next,
//! and the download size limit.

use knap_test_support::prelude::*;
use serde_json::{Value, json};

use crate::fixtures::*;

/// A registry over HTTP with core 1.0.0 and slack 2.0.0 (needs core ^1).
fn core_and_slack() -> (Server, tempfile::TempDir, Knap) {
    let site = tempfile::tempdir().unwrap();
    let (core, _) = publish(site.path(), site.path(), "core", "1.0.0", &[]);
    let (slack, _) = publish(site.path(), site.path(), "slack", "2.0.0", &["core@^1"]);
    write_json(
        &site.path().join("index.json"),
        &index("Good", vec![core, slack]),
    );
    let server = Server::start(files(site.path().to_path_buf()));
    let k = Knap::new();
    k.run(&["registry", "add", "good", &server.url("/")]).ok();
    (server, site, k)
}

#[test]
fn no_deps_installs_only_the_named_pack() {
    let (server, _site, k) = core_and_slack();
    let root = k.dir.path().join("root");
    k.run(&["--root", s(&root), "install", "slack", "--no-deps"])
        .ok();
    assert!(root.join("slack/pack.yaml").is_file());
    assert!(!root.join("core").exists(), "core was not asked for");
    let lock = lock_of(&root);
    assert_eq!(lock["packs"].as_array().unwrap().len(), 1, "{lock}");
    assert_eq!(archive_requests(&server), 1);
}

#[test]
fn registry_flag_resolves_from_that_registry_only() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let (c1, c1_dir) = publish(first.path(), first.path(), "core", "1.0.0", &[]);
    let (c2, c2_dir) = publish(second.path(), second.path(), "core", "2.0.0", &[]);
    write_json(&first.path().join("index.json"), &index("First", vec![c1]));
    write_json(
        &second.path().join("index.json"),
        &index("Second", vec![c2]),
    );
    let k = Knap::new();
    k.run(&[
        "registry",
        "add",
        "first",
        s(first.path()),
        "--priority",
        "1",
    ])
    .ok();
    k.run(&[
        "registry",
        "add",
        "second",
        s(second.path()),
        "--priority",
        "2",
    ])
    .ok();

    let a = k.dir.path().join("a");
    k.run(&["--root", s(&a), "install", "core"]).ok();
    assert_eq!(digest(&a.join("core")), digest(&c1_dir), "priority wins");

    let b = k.dir.path().join("b");
    k.run(&["--root", s(&b), "install", "core", "--registry", "second"])
        .ok();
    assert_eq!(digest(&b.join("core")), digest(&c2_dir));
    assert_eq!(lock_of(&b)["packs"][0]["registry"], "second");

    let o = k.run(&["--root", s(&b), "install", "core", "--registry", "nope"]);
    assert_eq!(o.code, 3, "{o:?}");
    assert!(o.stderr.contains("nope"), "{}", o.stderr);
}

#[test]
fn force_reinstalls_what_an_ordinary_install_leaves_alone() {
    let (_server, site, k) = core_and_slack();
    let root = k.dir.path().join("root");
    let r = s(&root);
    k.run(&["--root", r, "install", "core"]).ok();
    let published = site.path().join("core-1.0.0");
    let tampered = root.join("core/README.md");
    std::fs::write(&tampered, "local edit\n").unwrap();

    let o = k.run(&["--root", r, "install", "core"]).ok();
    assert!(o.stdout.contains("nothing to do"), "{o:?}");
    assert_eq!(std::fs::read_to_string(&tampered).unwrap(), "local edit\n");

    let o = k.run(&["--root", r, "install", "core", "--force"]).ok();
    assert!(o.stdout.contains("installed core 1.0.0"), "{o:?}");
    assert_eq!(digest(&root.join("core")), digest(&published));
}

#[test]
fn a_failing_source_falls_back_to_the_next_and_every_failure_is_reported() {
    let site = tempfile::tempdir().unwrap();
    let (good, good_dir) = publish(site.path(), site.path(), "core", "1.0.0", &[]);
    let archive = good["install_sources"][0].clone();
    let missing = json!({"type": "archive", "url": "archives/gone.tar.gz",
        "checksum": archive["checksum"]});
    let e = entry_with("core", "1.0.0", &[], json!([missing, archive]));
    // Its own checksum: core's archive is in the content-addressed cache
    // by then, and a cached archive with the right checksum needs no URL.
    let (mut broken, _) = publish(site.path(), site.path(), "other", "1.0.0", &[]);
    let other_sum = broken["install_sources"][0]["checksum"].clone();
    broken["install_sources"] = json!([
        {"type": "archive", "url": "archives/gone1.tar.gz", "checksum": other_sum},
        {"type": "archive", "url": "archives/gone2.tar.gz", "checksum": other_sum},
    ]);
    write_json(
        &site.path().join("index.json"),
        &index("Fallback", vec![e, broken]),
    );
    let server = Server::start(files(site.path().to_path_buf()));
    let k = Knap::new();
    k.run(&["registry", "add", "fb", &server.url("/")]).ok();
    let root = k.dir.path().join("root");

    k.run(&["--root", s(&root), "install", "core"]).ok();
    assert_eq!(digest(&root.join("core")), digest(&good_dir));
    let lock = lock_of(&root);
    assert_eq!(
        lock["packs"][0]["source"]["url"],
        server.url("/archives/core-1.0.0.tar.gz"),
        "the lock names the source that worked"
    );
    let paths: Vec<String> = server.requests().iter().map(|r| r.path.clone()).collect();
    assert!(
        paths.iter().any(|p| p == "/archives/gone.tar.gz"),
        "{paths:?}"
    );

    let o = k.run(&["--root", s(&root), "install", "other"]);
    assert_eq!(o.code, 5, "{o:?}");
    assert!(
        o.stderr.contains("gone1.tar.gz")
            && o.stderr.contains("gone2.tar.gz")
            && o.stderr.contains("every install source failed"),
        "{}",
        o.stderr
    );
    assert!(!root.join("other").exists());
}

/// A source that cannot be used (a `file://` git URL in an index read over
/// HTTP) before one that installs: `-v` names it and why, as does
/// `--progress json` (a `source_skipped` event); without `-v` the install
/// is as quiet as ever.
#[test]
fn a_skipped_source_is_named_with_its_reason_under_v() {
    let site = tempfile::tempdir().unwrap();
    let (good, _) = publish(site.path(), site.path(), "core", "1.0.0", &[]);
    let archive = good["install_sources"][0].clone();
    let git = json!({"type": "git", "url": "file:///srv/git/core.git",
        "ref": "0123456789abcdef0123456789abcdef01234567", "checksum": archive["checksum"]});
    let e = entry_with("core", "1.0.0", &[], json!([git, archive]));
    write_json(&site.path().join("index.json"), &index("Skip", vec![e]));
    let server = Server::start(files(site.path().to_path_buf()));
    let k = Knap::new();
    k.run(&["registry", "add", "sk", &server.url("/")]).ok();
    let said = "core 1.0.0: install source not used: git source `file:///srv/git/core.git`: file:///srv/git/core.git: a file:// source is only allowed in an index read from a local path";

    let quiet = k.run(&["--root", "r0", "install", "core"]).ok();
    assert!(!quiet.stderr.contains("not used"), "{}", quiet.stderr);
    let o = k.run(&["-v", "--root", "r1", "install", "core"]).ok();
    assert!(o.stderr.lines().any(|l| l == said), "{}", o.stderr);
    let o = k
        .run(&["--progress", "json", "--root", "r2", "install", "core"])
        .ok();
    let event = o
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["event"] == "source_skipped")
        .unwrap_or_else(|| panic!("{}", o.stderr));
    assert_eq!(event["pack"], "core");
    assert_eq!(event["version"], "1.0.0");
}

#[test]
fn an_archive_over_the_download_limit_is_refused_with_exit_4() {
    let (server, _site, k) = core_and_slack();
    let config = std::fs::read_to_string(k.config()).unwrap();
    std::fs::write(
        k.config(),
        format!("{config}\n[limits]\ndownload_size = 64\n"),
    )
    .unwrap();
    let root = k.dir.path().join("root");
    let o = k.run(&["--root", s(&root), "install", "core"]);
    assert_eq!(o.code, 4, "{o:?}");
    assert!(
        o.stderr.contains("download limit of 64 bytes") && o.stderr.contains("download_size"),
        "{}",
        o.stderr
    );
    assert!(!root.join("core").exists());
    assert!(!root.join("knap.lock").exists());
    assert_eq!(archive_requests(&server), 1);
}

#[test]
fn a_relative_source_in_a_git_hosted_index_is_refused_with_what_to_do() {
    let repo = tempfile::tempdir().unwrap();
    let (mut core, core_dir) = publish(repo.path(), repo.path(), "core", "1.0.0", &[]);
    let relative = core["install_sources"][0].clone();
    let absolute = url::Url::from_file_path(repo.path().join(relative["url"].as_str().unwrap()))
        .unwrap()
        .to_string();
    write_json(
        &repo.path().join("index.json"),
        &index("Git", vec![core.clone()]),
    );
    git(repo.path(), &["init", "-q"]);
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-q", "-m", "index"]);
    let url = format!(
        "git+{}",
        url::Url::from_directory_path(repo.path()).unwrap()
    );
    let k = Knap::new();
    k.run(&["registry", "add", "g", &url]).ok();
    let root = k.dir.path().join("root");
    let o = k.run(&["--root", s(&root), "install", "core"]);
    assert_eq!(o.code, 4, "{o:?}");
    assert!(
        o.stderr.contains("git-hosted index") && o.stderr.contains("sparse+https://"),
        "{}",
        o.stderr
    );
    assert!(!root.join("core").exists());

    // With an absolute source after it, that one is used.
    core["install_sources"] = json!([relative, {"type": "archive", "url": absolute,
        "checksum": relative["checksum"]}]);
    write_json(&repo.path().join("index.json"), &index("Git", vec![core]));
    git(repo.path(), &["commit", "-q", "-am", "absolute source"]);
    k.run(&["update"]).ok();
    k.run(&["--root", s(&root), "install", "core"]).ok();
    assert_eq!(digest(&root.join("core")), digest(&core_dir));
}
