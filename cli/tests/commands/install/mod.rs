//! `knap install` end to end: packs built in the test, archived with real
//! tar/gzip, published in real registries (HTTP on 127.0.0.1, local
//! directories, git repositories over `file://` and smart HTTP), installed
//! into a real root and compared with the published trees.
//!
//! The modules: `flags` (`--no-deps`, `--registry`, `--force`, source
//! fallback), `direct` (packs named by path, archive or URL),
//! `hostile_archives` and `git_sources` (what an install must refuse),
//! `io_errors` (a full disk, a size limit, a read-only root), and
//! `example_index` (the README's quick start).

mod direct;
mod example_index;
mod flags;
mod git_sources;
mod hostile_archives;
mod io_errors;

use std::path::PathBuf;

use knap_test_support::prelude::*;
use serde_json::{Value, json};

use crate::fixtures::*;

#[test]
fn installs_transitive_deps_from_http_then_a_repeat_changes_nothing() {
    let site = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (core, core_dir) = publish(site.path(), work.path(), "core", "1.0.0", &[]);
    let (core2, _) = publish(site.path(), work.path(), "core", "2.0.0", &[]);
    let (slack, slack_dir) = publish(site.path(), work.path(), "slack", "2.1.0", &["core@^1"]);
    write_json(
        &site.path().join("index.json"),
        &index("Good", vec![core.clone(), core2, slack.clone()]),
    );
    let server = Server::start(files(site.path().to_path_buf()));
    let k = Knap::new();
    k.run(&["registry", "add", "good", &server.url("/")]).ok();
    let root = k.dir.path().join("root");
    let r = root.to_str().unwrap();

    let plan = k
        .run(&["--root", r, "install", "slack", "--dry-run", "--json"])
        .ok()
        .json();
    assert_eq!(plan["install"].as_array().unwrap().len(), 2, "{plan}");
    assert!(
        !root.join("knap.lock").exists(),
        "--dry-run changes nothing"
    );
    assert_eq!(archive_requests(&server), 0);

    let out = k.run(&["--root", r, "install", "slack"]).ok();
    assert!(out.stdout.contains("installed slack 2.1.0"), "{out:?}");
    assert_eq!(digest(&root.join("core")), digest(&core_dir));
    assert_eq!(digest(&root.join("slack")), digest(&slack_dir));
    let lock = lock_of(&root);
    assert_eq!(lock["requested"], json!({"slack": "*"}));
    let packs = lock["packs"].as_array().unwrap();
    assert_eq!(packs.len(), 2);
    assert_eq!(packs[0]["ref"], "core");
    assert_eq!(packs[0]["version"], "1.0.0", "slack needs core ^1");
    assert_eq!(packs[0]["registry"], "good");
    assert_eq!(
        packs[0]["source"]["url"],
        server.url("/archives/core-1.0.0.tar.gz"),
        "the relative URL is resolved against the index location"
    );
    assert_eq!(
        packs[0]["source"]["checksum"],
        core["install_sources"][0]["checksum"]
    );
    assert_eq!(packs[0]["tree"], digest(&core_dir));
    assert_eq!(packs[1]["ref"], "slack");
    assert_eq!(packs[1]["dependencies"], json!(["core@^1"]));
    assert_eq!(packs[1]["tree"], digest(&slack_dir));
    assert_eq!(archive_requests(&server), 2);

    let before = std::fs::read(root.join("knap.lock")).unwrap();
    server.clear_log();
    let again = k.run(&["--root", r, "install", "slack"]).ok();
    assert!(again.stdout.contains("nothing to do"), "{again:?}");
    assert_eq!(std::fs::read(root.join("knap.lock")).unwrap(), before);
    assert_eq!(archive_requests(&server), 0, "no new downloads");
    k.run(&["--root", r, "install", "slack", "--locked"]).ok();

    // Without SPEC: a missing pack directory is reinstalled from the lock.
    std::fs::remove_dir_all(root.join("core")).unwrap();
    k.run(&["--root", r, "install", "--locked"]).ok();
    assert_eq!(digest(&root.join("core")), digest(&core_dir));
    assert_eq!(
        archive_requests(&server),
        0,
        "the verified archive came from the cache"
    );
    let relock = lock_of(&root);
    assert_eq!(relock["packs"][0]["tree"], packs[0]["tree"]);
    assert_eq!(relock["requested"], lock["requested"]);

    // --locked refuses a change of the lock.
    let o = k.run(&["--root", r, "install", "core@2", "--locked"]);
    assert_eq!(o.code, 3, "{o:?}");
}

#[test]
fn a_conflict_exits_3_names_every_party_and_installs_nothing() {
    let site = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (c1, _) = publish(site.path(), work.path(), "core", "1.0.0", &[]);
    let (c2, _) = publish(site.path(), work.path(), "core", "2.0.0", &[]);
    let (a, _) = publish(site.path(), work.path(), "alpha", "1.0.0", &["core@^1"]);
    let (b, _) = publish(site.path(), work.path(), "beta", "1.0.0", &["core@^2"]);
    write_json(
        &site.path().join("index.json"),
        &index("Good", vec![a, b, c1, c2]),
    );
    let server = Server::start(files(site.path().to_path_buf()));
    let k = Knap::new();
    k.run(&["registry", "add", "good", &server.url("/")]).ok();
    let root = k.dir.path().join("root");
    let o = k.run(&["--root", root.to_str().unwrap(), "install", "alpha", "beta"]);
    assert_eq!(o.code, 3, "{o:?}");
    for name in ["alpha", "beta", "core"] {
        assert!(o.stderr.contains(name), "{name} not named: {}", o.stderr);
    }
    assert!(!root.join("knap.lock").exists());
    assert!(!root.join("alpha").exists() && !root.join("core").exists());
    assert_eq!(archive_requests(&server), 0);

    let unknown = k.run(&["--root", root.to_str().unwrap(), "install", "nosuch"]);
    assert_eq!(unknown.code, 3, "{unknown:?}");
    assert!(unknown.stderr.contains("nosuch"), "{}", unknown.stderr);
}

/// A server whose index lists core 1.0.0 (good) and a knap that installed
/// it; returns the server, knap, root, site and the core 1.0.0 pack dir.
fn installed_core() -> (Server, Knap, PathBuf, tempfile::TempDir, PathBuf, Value) {
    let site = tempfile::tempdir().unwrap();
    let (core, core_dir) = publish(site.path(), site.path(), "core", "1.0.0", &[]);
    write_json(
        &site.path().join("index.json"),
        &index("Good", vec![core.clone()]),
    );
    let server = Server::start(files(site.path().to_path_buf()));
    let k = Knap::new();
    k.run(&["registry", "add", "good", &server.url("/")]).ok();
    let root = k.dir.path().join("root");
    k.run(&["--root", root.to_str().unwrap(), "install", "core"])
        .ok();
    (server, k, root, site, core_dir, core)
}

#[test]
fn a_wrong_archive_checksum_exits_4_and_keeps_the_installed_version() {
    let (server, k, root, site, core_dir, core) = installed_core();
    let lock_before = std::fs::read(root.join("knap.lock")).unwrap();
    let (mut core11, _) = publish(site.path(), site.path(), "core", "1.1.0", &[]);
    core11["install_sources"][0]["checksum"] = json!(format!("sha256:{}", "0".repeat(64)));
    write_json(
        &site.path().join("index.json"),
        &index("Good", vec![core, core11]),
    );
    k.run(&["update"]).ok();
    let o = k.run(&["--root", root.to_str().unwrap(), "install", "core@1.1.0"]);
    assert_eq!(o.code, 4, "{o:?}");
    assert!(
        o.stderr.contains("checksum mismatch") && o.stderr.contains("core-1.1.0.tar.gz"),
        "{}",
        o.stderr
    );
    assert_eq!(digest(&root.join("core")), digest(&core_dir));
    assert_eq!(std::fs::read(root.join("knap.lock")).unwrap(), lock_before);
    drop(server);
}

#[test]
fn a_git_source_pinned_to_a_commit_over_file_url() {
    let work = tempfile::tempdir().unwrap();
    let (pack, sha) = git_pack(work.path(), "gitpack", "0.3.0");
    let expected = digest(&pack);
    // A later commit must not be what is installed.
    std::fs::write(pack.join("README.md"), "changed later\n").unwrap();
    git(&pack, &["commit", "-q", "-am", "later"]);
    let url = url::Url::from_directory_path(&pack).unwrap().to_string();
    let reg = tempfile::tempdir().unwrap();
    write_json(
        &reg.path().join("index.json"),
        &index(
            "Local",
            vec![git_entry("gitpack", "0.3.0", &url, &sha, &expected)],
        ),
    );
    let k = Knap::new();
    k.run(&["registry", "add", "local", reg.path().to_str().unwrap()])
        .ok();
    let root = k.dir.path().join("root");
    k.run(&["--root", root.to_str().unwrap(), "install", "gitpack"])
        .ok();
    assert_eq!(digest(&root.join("gitpack")), expected);
    assert!(!root.join("gitpack/.git").exists());
    let lock = lock_of(&root);
    assert_eq!(lock["packs"][0]["source"]["type"], "git");
    assert_eq!(lock["packs"][0]["source"]["ref"], sha);
    assert_eq!(lock["packs"][0]["tree"], expected);

    // A checksum that does not match the commit's tree: exit 4.
    let reg2 = tempfile::tempdir().unwrap();
    write_json(
        &reg2.path().join("index.json"),
        &index(
            "Local",
            vec![git_entry(
                "gitpack",
                "0.3.0",
                &url,
                &sha,
                &format!("sha256:{}", "1".repeat(64)),
            )],
        ),
    );
    let k2 = Knap::new();
    k2.run(&["registry", "add", "local", reg2.path().to_str().unwrap()])
        .ok();
    let root2 = k2.dir.path().join("root");
    let o = k2.run(&["--root", root2.to_str().unwrap(), "install", "gitpack"]);
    assert_eq!(o.code, 4, "{o:?}");
    assert!(!root2.join("gitpack").exists());
}

#[test]
fn a_git_source_over_smart_http() {
    let work = tempfile::tempdir().unwrap();
    let (pack, sha) = git_pack(work.path(), "httpgit", "1.0.0");
    let expected = digest(&pack);
    let served = tempfile::tempdir().unwrap();
    git(
        served.path(),
        &[
            "clone",
            "-q",
            "--bare",
            pack.to_str().unwrap(),
            "httpgit.git",
        ],
    );
    let server = Server::start(git_cgi(served.path().to_path_buf()));
    let site = tempfile::tempdir().unwrap();
    write_json(
        &site.path().join("index.json"),
        &index(
            "Git",
            vec![git_entry(
                "httpgit",
                "1.0.0",
                &server.url("/httpgit.git"),
                &sha,
                &expected,
            )],
        ),
    );
    let k = Knap::new();
    k.run(&["registry", "add", "local", site.path().to_str().unwrap()])
        .ok();
    let root = k.dir.path().join("root");
    k.run(&["--root", root.to_str().unwrap(), "install", "httpgit"])
        .ok();
    assert_eq!(digest(&root.join("httpgit")), expected);
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.path.starts_with("/httpgit.git/info/refs")),
        "fetched over smart HTTP"
    );
}

#[test]
fn a_tampered_cached_archive_is_never_installed_but_fetched_again() {
    let site = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (core, core_dir) = publish(site.path(), work.path(), "core", "1.0.0", &[]);
    write_json(&site.path().join("index.json"), &index("Good", vec![core]));
    let server = Server::start(files(site.path().to_path_buf()));
    let k = Knap::new();
    k.run(&["registry", "add", "good", &server.url("/")]).ok();
    let first = k.dir.path().join("first");
    k.run(&["--root", first.to_str().unwrap(), "install", "core"])
        .ok();
    assert_eq!(archive_requests(&server), 1);

    // A local attacker (or a bad disk) replaces the cached archive's bytes.
    let cached: Vec<PathBuf> = std::fs::read_dir(k.cache().join("archives").join("sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    let evil = work.path().join("evil");
    std::fs::create_dir_all(&evil).unwrap();
    std::fs::write(evil.join("pack.yaml"), "ref: core\nversion: 1.0.0\n").unwrap();
    std::fs::write(evil.join("planted.sh"), "#!/bin/sh\necho owned\n").unwrap();
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    tar.append_dir_all(".", &evil).unwrap();
    std::fs::write(&cached[0], tar.into_inner().unwrap().finish().unwrap()).unwrap();

    let second = k.dir.path().join("second");
    k.run(&["--root", second.to_str().unwrap(), "install", "core"])
        .ok();
    assert_eq!(
        digest(&second.join("core")),
        digest(&core_dir),
        "the published tree is installed, not the cached bytes"
    );
    assert!(!second.join("core/planted.sh").exists());
    assert_eq!(
        archive_requests(&server),
        2,
        "the cached copy failed its checksum, so it was fetched again"
    );
}

/// Two local registries: `mine` lists diskwatch (needing hello@^1),
/// `example` lists hello.
fn mine_and_example() -> Knap {
    let k = Knap::new();
    let mine = k.dir.path().join("mine/index.json");
    write_json(
        &mine,
        &index("Mine", vec![entry("diskwatch", "1.0.0", &["hello@^1"])]),
    );
    let example = k.dir.path().join("example/index.json");
    write_json(
        &example,
        &index("Example", vec![entry("hello", "1.0.0", &[])]),
    );
    k.run(&["registry", "add", "mine", s(&mine)]).ok();
    k.run(&["registry", "add", "example", s(&example)]).ok();
    k
}

#[test]
fn install_with_registry_says_it_restricts_dependencies_and_who_provides_them() {
    let k = mine_and_example();
    let root = k.dir.path().join("root");
    assert_out!(
        "restricted_install",
        k.at(&root, &["install", "diskwatch", "--registry", "mine"])
    );
    assert_out!(
        "restricted_info",
        k.run(&["info", "hello", "--registry", "mine"])
    );
}

#[test]
fn a_mistyped_or_miscased_ref_gets_the_nearest_refs_across_registries() {
    let k = mine_and_example();
    let root = k.dir.path().join("root");
    assert_out!("mistyped_in_mine", k.at(&root, &["install", "diskwach"]));
    assert_out!("mistyped_in_example", k.at(&root, &["install", "helo"]));
    assert_out!("mistyped_info", k.run(&["info", "diskwach"]));
    let o = k.at(&root, &["install", "kubernetes"]);
    assert!(
        !o.stderr.contains("did you mean"),
        "nothing near: {}",
        o.stderr
    );
    assert_out!("nothing_near", o);

    // Another case: the ref, and no path unless one exists (in the
    // working directory).
    let o = k.at(&root, &["install", "Diskwatch"]);
    assert!(
        !o.stderr.contains("./Diskwatch"),
        "no such path, so none is suggested: {}",
        o.stderr
    );
    assert_out!("miscased", o);
    std::fs::create_dir(k.cwd().join("Diskwatch")).unwrap();
    assert_out!(
        "miscased_with_a_directory_of_that_name",
        k.at(&root, &["install", "Diskwatch"])
    );
}

#[test]
fn a_request_no_version_matches_says_so_once_with_the_versions_once() {
    let k = local_registry(vec![
        entry("diskwatch", "1.0.0", &[]),
        entry("diskwatch", "1.2.0", &[]),
    ]);
    let root = k.dir.path().join("root");
    let o = k.at(&root, &["--color", "never", "install", "diskwatch@9"]);
    let err = &o.stderr;
    assert_eq!(
        err.matches("no available version of diskwatch satisfies")
            .count(),
        1,
        "{err}"
    );
    assert_eq!(err.matches("1.0.0, 1.2.0").count(), 1, "{err}");
    assert_eq!(err.matches("error:").count(), 1, "{err}");
    assert_out!("no_matching_version_text", o);
    // --json: the same explanation once, the hint apart.
    let o = k.at(&root, &["--json", "install", "diskwatch@9"]);
    let message = o.error_json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(message.matches("1.0.0, 1.2.0").count(), 1, "{message}");
    assert!(!message.contains("hint"), "{message}");
    assert_out!("no_matching_version_json", o);
}

/// The usual install as a person sees it: what was installed (with the
/// dependencies it brought), a repeat that changes nothing, `--dry-run`,
/// and `--json`; into the default root.
#[test]
fn install_says_what_it_installed_and_why() {
    let mut site = Site::new();
    site.publish("core", "1.0.0", &[], &[]);
    site.publish("slack", "2.1.0", &["core@^1"], &[]);
    site.publish("jira", "1.0.0", &[], &[]);
    let k = site.knap_local();
    assert_out!(
        "usual_dry_run",
        k.run(&["--color", "never", "install", "slack", "--dry-run"])
    );
    assert!(
        !k.root().join("knap.lock").exists(),
        "a dry run installs nothing"
    );
    assert_out!(
        "usual_text",
        k.run(&["--color", "never", "install", "slack"])
    );
    assert_out!(
        "usual_again",
        k.run(&["--color", "never", "install", "slack"])
    );
    assert_out!("usual_json", k.run(&["--json", "install", "jira"]));
    assert_out!(
        "usual_from_the_lock",
        k.run(&["--color", "never", "install"])
    );
    assert_eq!(
        versions(&k.root()),
        pairs(&[("core", "1.0.0"), ("jira", "1.0.0"), ("slack", "2.1.0")])
    );
}
