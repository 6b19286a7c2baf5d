//! `knap mirror REGISTRY -o DIR` (formats.md §9): an HTTP, a sparse and a
//! git registry (an archive source and a git source over smart HTTP)
//! copied into a directory, which another knap with the servers gone adds
//! as a local registry and installs from, trees identical; a re-run
//! downloads no archive; a tampered archive is exit 4 with the mirror
//! unchanged; `--latest` and `--ref` select.

use std::path::{Path, PathBuf};

use knap_test_support::prelude::*;

use crate::fixtures::{GitGamma, add_git_gamma};
use serde_json::{Value, json};

/// An HTTP registry (`site`) listing `alpha` 1.0.0 and 1.1.0 (archive
/// sources; 1.1.0 depends on `gamma`) and `gamma` 1.0.0 (a git source
/// on another server), and a knap `k` with it configured. The servers
/// stop when the scene is dropped.
struct Scene {
    k: Knap,
    site: Site,
    gamma: GitGamma,
}

fn scene() -> Scene {
    let mut site = Site::new();
    let gamma = add_git_gamma(&mut site);
    site.publish("alpha", "1.0.0", &[], &[]);
    site.publish(
        "alpha",
        "1.1.0",
        &["gamma@^1"],
        &[("actions/run.py".into(), b"print('alpha')\n".to_vec())],
    );
    let mut k = site.knap();
    k.name(&k.cwd().join("mirror"), "[MIRROR]");
    Scene { k, site, gamma }
}

fn mirror(k: &Knap, registry: &str, more: &[&str]) -> Out {
    let mut args = vec!["--color", "never", "mirror", registry, "-o", "mirror"];
    args.extend_from_slice(more);
    k.run(&args)
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// The (ref, version) pairs of the mirror's index, and each entry's one
/// install source.
fn mirrored(dir: &Path) -> Vec<(String, String, Value)> {
    read_json(&dir.join("index.json"))["packs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["ref"].as_str().unwrap().to_owned(),
                e["version"].as_str().unwrap().to_owned(),
                e["install_sources"].clone(),
            )
        })
        .collect()
}

/// Installs `spec` with a fresh knap whose only registry is the mirror
/// directory `dir` (a local registry); returns that knap.
fn install_from(dir: &Path, spec: &str) -> Knap {
    let k = Knap::new();
    k.run(&["registry", "add", "m", dir.to_str().unwrap()]).ok();
    k.run(&["install", spec]).ok();
    k
}

/// `a`'s root holds each of `packs` with the same tree as `b`'s.
#[track_caller]
fn same_trees(a: &Knap, b: &Knap, packs: &[&str]) {
    for p in packs {
        assert_eq!(
            digest(&a.root().join(p)),
            digest(&b.root().join(p)),
            "{p}'s tree"
        );
    }
}

fn archive_requests(server: &Server) -> Vec<String> {
    server
        .requests()
        .into_iter()
        .map(|r| r.path)
        .filter(|p| p.contains("/archives/"))
        .collect()
}

#[test]
fn mirror_cmd_of_an_http_registry_installs_the_same_trees_with_the_servers_gone() {
    let s = scene();
    s.k.run(&["install", "alpha"]).ok();
    assert_out!("http", mirror(&s.k, "site", &[]).ok());
    let dir = s.k.cwd().join("mirror");
    let got = mirrored(&dir);
    let pairs: Vec<(&str, &str)> = got
        .iter()
        .map(|(r, v, _)| (r.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [("alpha", "1.1.0"), ("alpha", "1.0.0"), ("gamma", "1.0.0")]
    );
    for (r, v, sources) in &got {
        let url = format!("archives/{r}-{v}.tar.gz");
        assert_eq!(sources.as_array().unwrap().len(), 1, "{r} {v}");
        assert_eq!(
            sources[0]["type"], "archive",
            "{r} {v}: gamma's git source is packed"
        );
        assert_eq!(sources[0]["url"], url.as_str(), "relative URL");
        assert_eq!(
            sources[0]["checksum"].as_str().unwrap(),
            sha(&std::fs::read(dir.join(&url)).unwrap()),
            "{url}"
        );
    }
    let Scene { k, .. } = s; // every server stops here
    same_trees(&install_from(&dir, "alpha"), &k, &["alpha", "gamma"]);
}

#[test]
fn mirror_cmd_rerun_with_nothing_new_downloads_no_archive_and_fetches_no_git() {
    let s = scene();
    mirror(&s.k, "site", &[]).ok();
    let before = Tree::of(&s.k.cwd().join("mirror"));
    s.site.server.clear_log();
    s.gamma.server.clear_log();
    // Not from knap's archive cache either: it is gone.
    std::fs::remove_dir_all(s.k.cache()).unwrap();
    let out = mirror(&s.k, "site", &["--json"]).ok();
    let j = out.json();
    assert_eq!(
        (j["copied"].clone(), j["kept"].clone(), j["packed"].clone()),
        (json!(0), json!(3), json!(0))
    );
    assert_eq!(archive_requests(&s.site.server), Vec::<String>::new());
    assert_eq!(s.gamma.server.requests().len(), 0, "no git fetch");
    assert!(
        s.site
            .server
            .requests()
            .iter()
            .any(|r| r.path == "/index.json"),
        "the index is read again"
    );
    let after = Tree::of(&s.k.cwd().join("mirror"));
    let changed = before.changes(&after);
    assert!(
        changed
            .iter()
            .all(|c| c.contains("index.json") || c.contains("mirror.json")),
        "{changed:?}"
    );
}

#[test]
fn mirror_cmd_rerun_copies_only_a_new_version() {
    let mut s = scene();
    mirror(&s.k, "site", &[]).ok();
    s.site.publish("alpha", "1.2.0", &[], &[]);
    s.site.server.clear_log();
    assert_out!("rerun", mirror(&s.k, "site", &[]).ok());
    assert_eq!(
        archive_requests(&s.site.server),
        ["/archives/alpha-1.2.0.tar.gz"]
    );
    assert!(
        s.k.cwd()
            .join("mirror/archives/alpha-1.2.0.tar.gz")
            .is_file()
    );
}

#[test]
fn mirror_cmd_tampered_archive_is_exit_4_and_the_mirror_is_unchanged() {
    let mut s = scene();
    mirror(&s.k, "site", &[]).ok();
    let dir = s.k.cwd().join("mirror");
    let before = Tree::of(&dir);
    s.site.publish("alpha", "1.2.0", &[], &[]);
    let archive = s.site.dir.path().join("archives/alpha-1.2.0.tar.gz");
    let mut bytes = std::fs::read(&archive).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&archive, bytes).unwrap();
    assert_out!("tampered", mirror(&s.k, "site", &[]).code(4));
    before.assert_unchanged(&dir, &[], "the mirror");
    let leftovers: Vec<PathBuf> = std::fs::read_dir(s.k.cwd())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(".knap-mirror")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn mirror_cmd_a_tampered_archive_into_a_new_dir_creates_no_dir() {
    let s = scene();
    let archive = s.site.dir.path().join("archives/alpha-1.0.0.tar.gz");
    std::fs::write(&archive, b"not the archive").unwrap();
    mirror(&s.k, "site", &[]).code(4);
    assert!(!s.k.cwd().join("mirror").exists());
}

#[test]
fn mirror_cmd_latest_and_ref_select_what_is_mirrored_and_a_narrower_rerun_removes_the_rest() {
    let s = scene();
    let out = mirror(
        &s.k,
        &s.site.url(),
        &["--ref", "alpha", "--latest", "1", "--json"],
    )
    .ok();
    assert_out!("latest_ref_json", out);
    let got = mirrored(&s.k.cwd().join("mirror"));
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].0.as_str(), got[0].1.as_str()), ("alpha", "1.1.0"));
    let files = files_under(&s.k.cwd().join("mirror/archives"));
    assert_eq!(files.len(), 1, "{files:?}");
    // All versions of every ref again: the others are added.
    let j = mirror(&s.k, "site", &["--json"]).ok().json();
    assert_eq!(
        (j["copied"].clone(), j["kept"].clone(), j["packed"].clone()),
        (json!(1), json!(1), json!(1))
    );
    // Narrowed again: what is no longer selected is removed.
    let j = mirror(&s.k, "site", &["--ref", "alpha", "--latest", "1", "--json"])
        .ok()
        .json();
    assert_eq!(
        j["removed"],
        json!(["archives/alpha-1.0.0.tar.gz", "archives/gamma-1.0.0.tar.gz"])
    );
    assert_eq!(files_under(&s.k.cwd().join("mirror/archives")).len(), 1);
}

#[test]
fn mirror_cmd_unknown_ref_is_exit_3_and_unknown_registry_is_exit_3() {
    let s = scene();
    mirror(&s.k, "site", &["--ref", "nope"]).code(3);
    mirror(&s.k, "nosuch", &[]).code(3);
    assert!(!s.k.cwd().join("mirror").exists());
}

#[test]
fn mirror_cmd_of_a_sparse_registry_installs_the_same_trees() {
    let s = scene();
    // The same site with the sparse layout beside its index.json (which
    // then lists the refs).
    let d = s.site.dir.path();
    write_json(
        &d.join("config.json"),
        &json!({"format": "knap-sparse-1", "registry_name": "Sparse", "registry_url": s.site.url(), "last_updated": "2026-11-21T12:00:00Z"}),
    );
    for r in ["alpha", "gamma"] {
        let versions: Vec<Value> = s
            .site
            .entries
            .iter()
            .filter(|((er, _), _)| er == r)
            .map(|(_, e)| e.clone())
            .collect();
        write_json(
            &d.join(format!("packs/{r}.json")),
            &json!({"ref": r, "versions": versions}),
        );
    }
    s.k.run(&["install", "alpha"]).ok();
    let sparse = format!("sparse+{}", s.site.url());
    mirror(&s.k, &sparse, &[]).ok();
    assert!(
        s.site
            .server
            .requests()
            .iter()
            .any(|r| r.path == "/packs/alpha.json"),
        "read as sparse"
    );
    let dir = s.k.cwd().join("mirror");
    assert_eq!(mirrored(&dir).len(), 3);
    let Scene { k, .. } = s;
    same_trees(&install_from(&dir, "alpha"), &k, &["alpha", "gamma"]);
}

#[test]
fn mirror_cmd_into_a_directory_that_is_no_mirror_is_exit_2_and_leaves_it() {
    let s = scene();
    let dir = s.k.cwd().join("mirror");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let before = Tree::of(&dir);
    mirror(&s.k, "site", &[]).code(2);
    before.assert_unchanged(&dir, &[], "the directory");
}

#[test]
fn mirror_cmd_of_a_sparse_registry_without_a_names_list_needs_ref() {
    let s = scene();
    let d = s.site.dir.path();
    write_json(
        &d.join("config.json"),
        &json!({"format": "knap-sparse-1", "registry_name": "Sparse", "registry_url": s.site.url(), "last_updated": "2026-11-21T12:00:00Z"}),
    );
    let alpha: Vec<Value> = s
        .site
        .entries
        .iter()
        .filter(|((r, _), _)| r == "alpha")
        .map(|(_, e)| e.clone())
        .collect();
    write_json(
        &d.join("packs/alpha.json"),
        &json!({"ref": "alpha", "versions": alpha}),
    );
    std::fs::remove_file(d.join("index.json")).unwrap();
    let sparse = format!("sparse+{}", s.site.url());
    let out = mirror(&s.k, &sparse, &[]).code(3);
    assert!(out.stderr.contains("--ref"), "{}", out.stderr);
    let j = mirror(&s.k, &sparse, &["--ref", "alpha", "--json"])
        .ok()
        .json();
    assert_eq!(j["copied"], 2);
}

#[test]
fn mirror_cmd_of_a_git_registry_installs_the_same_trees() {
    let (reg_root, served, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let packs = Server::start(git_cgi(served.path().to_path_buf()));
    let (pack, commit) = git_pack(work.path(), "gamma", "1.0.0");
    git(
        served.path(),
        &["clone", "-q", "--bare", pack.to_str().unwrap(), "gamma.git"],
    );
    let e = git_entry(
        "gamma",
        "1.0.0",
        &packs.url("/gamma.git"),
        &commit,
        &digest(&pack),
    );
    git_index_repo(reg_root.path(), &index("Git", vec![e]));
    let registry = Server::start(git_cgi(reg_root.path().to_path_buf()));
    let k = Knap::new();
    let url = format!("git+{}", registry.url("/index.git"));
    let j = k
        .run(&["mirror", &url, "-o", "mirror", "--json"])
        .ok()
        .json();
    assert_eq!(j["packed"], 1);
    drop((registry, packs));
    let dir = k.cwd().join("mirror");
    let other = install_from(&dir, "gamma");
    assert_eq!(digest(&other.root().join("gamma")), digest(&pack));
}

#[test]
fn mirror_cmd_reports_each_download_as_progress_events() {
    let s = scene();
    let out =
        s.k.run(&["--progress", "json", "mirror", "site", "-o", "mirror"])
            .ok();
    let events = out.events();
    let finished: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "download_finished")
        .map(|e| e["url"].as_str().unwrap())
        .collect();
    for a in ["alpha-1.0.0.tar.gz", "alpha-1.1.0.tar.gz"] {
        assert!(finished.iter().any(|u| u.ends_with(a)), "{a}: {finished:?}");
    }
    assert!(
        events.iter().any(|e| e["event"] == "download_started"),
        "{events:?}"
    );
}
