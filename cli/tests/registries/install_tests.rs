//! `knap install` end to end: packs built in the test, archived with real
//! tar/gzip, published in real registries (HTTP on 127.0.0.1, local
//! directories, git repositories over `file://` and smart HTTP), installed
//! into a real root and compared with the published trees.

use std::path::{Path, PathBuf};

use knap_schema::digest::{format_sha256, tree_digest};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::server::{Server, files, git_cgi};
use crate::{Knap, git, index, write_json};

/// Writes a pack directory `<dir>/<ref>-<version>` and returns it.
pub(crate) fn make_pack(dir: &Path, r: &str, version: &str, deps: &[&str]) -> PathBuf {
    let p = dir.join(format!("{r}-{version}"));
    std::fs::create_dir_all(p.join("actions")).unwrap();
    let deps_yaml = if deps.is_empty() {
        String::new()
    } else {
        format!(
            "dependencies:\n{}",
            deps.iter()
                .map(|d| format!("  - \"{d}\"\n"))
                .collect::<String>()
        )
    };
    std::fs::write(
        p.join("pack.yaml"),
        format!(
            "ref: {r}\nversion: {version}\nname: The {r} pack\ndescription: Does {r} things\nauthor: Test Author\n{deps_yaml}"
        ),
    )
    .unwrap();
    std::fs::write(
        p.join("actions/run.sh"),
        format!("#!/bin/sh\necho {r} {version}\n"),
    )
    .unwrap();
    std::fs::write(p.join("README.md"), format!("# {r} {version}\n")).unwrap();
    p
}

/// A .tar.gz of `pack_dir` under a single top directory.
pub(crate) fn tar_gz(pack_dir: &Path) -> Vec<u8> {
    let enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut b = tar::Builder::new(enc);
    let top = pack_dir.file_name().unwrap().to_str().unwrap().to_owned();
    b.append_dir_all(&top, pack_dir).unwrap();
    b.into_inner().unwrap().finish().unwrap()
}

pub(crate) fn sha(bytes: &[u8]) -> String {
    format_sha256(&Sha256::digest(bytes))
}

/// An index entry for `r` with the given install sources.
pub(crate) fn entry_with(r: &str, version: &str, deps: &[&str], sources: Value) -> Value {
    let mut e = crate::entry(r, version, deps);
    e["install_sources"] = sources;
    e
}

/// Builds the pack, writes its archive to `<site>/archives/` and returns
/// its entry with a relative archive URL, and the pack dir.
pub(crate) fn publish(
    site: &Path,
    work: &Path,
    r: &str,
    version: &str,
    deps: &[&str],
) -> (Value, PathBuf) {
    let dir = make_pack(work, r, version, deps);
    let bytes = tar_gz(&dir);
    let name = format!("archives/{r}-{version}.tar.gz");
    std::fs::create_dir_all(site.join("archives")).unwrap();
    std::fs::write(site.join(&name), &bytes).unwrap();
    let e = entry_with(
        r,
        version,
        deps,
        json!([{"type": "archive", "url": name, "checksum": sha(&bytes)}]),
    );
    (e, dir)
}

pub(crate) fn lock_of(root: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(root.join("knap.lock")).unwrap()).unwrap()
}

pub(crate) fn digest(p: &Path) -> String {
    tree_digest(p).unwrap().checksum
}

pub(crate) fn archive_requests(server: &Server) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.path.ends_with(".tar.gz"))
        .count()
}

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

/// A gzip tar whose entries are written raw, so that hostile names survive.
fn hostile_tar_gz(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
    let enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut b = tar::Builder::new(enc);
    for (name, kind, data, link) in entries {
        let mut h = tar::Header::new_gnu();
        let raw = &mut h.as_old_mut().name;
        raw[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(*kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

#[test]
fn hostile_archives_exit_4_write_nothing_outside_staging_and_keep_the_old_version() {
    let (_server, k, root, site, core_dir, core) = installed_core();
    let manifest = b"ref: core\nversion: 1.2.0\nauthor: x\n";
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "1.2.0",
            hostile_tar_gz(&[
                ("pack.yaml", tar::EntryType::Regular, manifest, None),
                ("../evil", tar::EntryType::Regular, b"pwned", None),
            ]),
        ),
        (
            "1.3.0",
            hostile_tar_gz(&[
                ("pack.yaml", tar::EntryType::Regular, manifest, None),
                ("link", tar::EntryType::Symlink, b"", Some("/etc/passwd")),
            ]),
        ),
    ];
    let lock_before = std::fs::read(root.join("knap.lock")).unwrap();
    for (version, bytes) in cases {
        let name = format!("archives/core-{version}.tar.gz");
        std::fs::write(site.path().join(&name), &bytes).unwrap();
        let e = entry_with(
            "core",
            version,
            &[],
            json!([{"type": "archive", "url": name, "checksum": sha(&bytes)}]),
        );
        write_json(
            &site.path().join("index.json"),
            &index("Good", vec![core.clone(), e]),
        );
        k.run(&["update"]).ok();
        let o = k.run(&[
            "--root",
            root.to_str().unwrap(),
            "install",
            &format!("core@={version}"),
        ]);
        assert_eq!(o.code, 4, "{version}: {o:?}");
        assert!(o.stderr.contains("unsafe archive"), "{}", o.stderr);
        assert!(!root.join("evil").exists() && !root.parent().unwrap().join("evil").exists());
        assert!(!root.join(".knap/evil").exists());
        assert_eq!(digest(&root.join("core")), digest(&core_dir));
        assert_eq!(std::fs::read(root.join("knap.lock")).unwrap(), lock_before);
    }
}

#[test]
fn a_higher_priority_registry_shadows_the_same_ref_elsewhere() {
    let k = Knap::new();
    let high = tempfile::tempdir().unwrap();
    let low = tempfile::tempdir().unwrap();
    let (h, h_dir) = publish(high.path(), high.path(), "core", "1.0.0", &[]);
    let (l, _) = publish(low.path(), low.path(), "core", "9.0.0", &[]);
    write_json(&high.path().join("index.json"), &index("High", vec![h]));
    write_json(&low.path().join("index.json"), &index("Low", vec![l]));
    let hp = high.path().to_str().unwrap();
    let lp = low.path().to_str().unwrap();
    k.run(&["registry", "add", "high", hp, "--priority", "10"])
        .ok();
    k.run(&["registry", "add", "low", lp, "--priority", "100"])
        .ok();
    let root = k.dir.path().join("root");
    k.run(&["--root", root.to_str().unwrap(), "install", "core"])
        .ok();
    let lock = lock_of(&root);
    assert_eq!(lock["packs"][0]["version"], "1.0.0");
    assert_eq!(lock["packs"][0]["registry"], "high");
    assert!(
        lock["packs"][0]["source"]["url"]
            .as_str()
            .unwrap()
            .starts_with("file://"),
        "{lock}"
    );
    assert_eq!(digest(&root.join("core")), digest(&h_dir));
}

/// A git repository holding one pack at its root; returns (work dir, commit).
pub(crate) fn git_pack(parent: &Path, r: &str, version: &str) -> (PathBuf, String) {
    let pack = make_pack(parent, r, version, &[]);
    git(&pack, &["init", "-q"]);
    git(&pack, &["add", "."]);
    git(&pack, &["commit", "-q", "-m", "pack"]);
    let sha = git(&pack, &["rev-parse", "HEAD"]).trim().to_owned();
    (pack, sha)
}

pub(crate) fn git_entry(r: &str, version: &str, url: &str, sha: &str, checksum: &str) -> Value {
    entry_with(
        r,
        version,
        &[],
        json!([{"type": "git", "url": url, "ref": sha, "checksum": checksum}]),
    )
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
