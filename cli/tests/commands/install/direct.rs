//! `knap install` of packs named directly instead of by registry ref: a
//! local pack directory, a local archive, an https archive URL (with
//! `--checksum`, or `--allow-unverified`) and `git+...#<commit>`, each
//! checked, recorded in `knap.lock` without a registry, and kept by later
//! commands.

use knap_test_support::prelude::*;
use knap_test_support::tls::test_pki;
use serde_json::json;

use crate::fixtures::*;

#[test]
fn a_local_pack_dir_installs_with_registry_dependencies_and_is_kept_by_the_lock() {
    let site = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (core, core_dir) = publish(site.path(), work.path(), "core", "1.0.0", &[]);
    let (other, _) = publish(site.path(), work.path(), "other", "1.0.0", &[]);
    write_json(
        &site.path().join("index.json"),
        &index("Good", vec![core, other]),
    );
    let server = Server::start(files(site.path().to_path_buf()));
    let k = Knap::new();
    k.run(&["registry", "add", "good", &server.url("/")]).ok();
    let root = k.dir.path().join("root");
    let r = s(&root);
    let app = make_pack(work.path(), "app", "0.1.0", &["core@^1"]);

    let out = k.run(&["--root", r, "install", s(&app)]).ok();
    assert!(out.stdout.contains("installed app 0.1.0"), "{out:?}");
    assert_eq!(digest(&root.join("app")), digest(&app));
    assert_eq!(digest(&root.join("core")), digest(&core_dir));
    let lock = lock_of(&root);
    assert_eq!(lock["requested"]["app"], "=0.1.0");
    let locked_app = &lock["packs"][0];
    assert_eq!(locked_app["ref"], "app");
    assert!(locked_app.get("registry").is_none(), "{lock}");
    assert_eq!(
        locked_app["source"],
        json!({"type": "path", "path": s(&app)})
    );
    assert_eq!(locked_app["tree"], digest(&app));
    assert_eq!(locked_app["dependencies"], json!(["core@^1"]));

    // Installing a registry pack later keeps the directly installed one.
    k.run(&["--root", r, "install", "other"]).ok();
    let lock = lock_of(&root);
    let refs: Vec<&str> = lock["packs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ref"].as_str().unwrap())
        .collect();
    assert_eq!(refs, ["app", "core", "other"]);

    // Gone from disk: `knap install` copies it again from its directory.
    std::fs::remove_dir_all(root.join("app")).unwrap();
    k.run(&["--root", r, "install"]).ok();
    assert_eq!(digest(&root.join("app")), digest(&app));

    // A directory that no longer matches the lock is refused on reinstall.
    std::fs::remove_dir_all(root.join("app")).unwrap();
    std::fs::write(app.join("README.md"), "edited\n").unwrap();
    let o = k.run(&["--root", r, "install"]);
    assert_eq!(o.code, 4, "{o:?}");
    assert!(o.stderr.contains("knap.lock says"), "{}", o.stderr);
    assert!(!root.join("app").exists());
}

#[test]
fn a_local_archive_installs_and_a_wrong_checksum_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let pack = make_pack(work.path(), "tool", "2.0.0", &[]);
    let archive = work.path().join("tool-2.0.0.tar.gz");
    let bytes = tar_gz_dir(&pack);
    std::fs::write(&archive, &bytes).unwrap();
    // No registry is configured: a pack without dependencies needs none.
    let k = Knap::new();
    let root = k.dir.path().join("root");
    let r = s(&root);

    let bad = format!("sha256:{}", "0".repeat(64));
    let o = k.run(&["--root", r, "install", s(&archive), "--checksum", &bad]);
    assert_eq!(o.code, 4, "{o:?}");
    assert!(o.stderr.contains("checksum mismatch"), "{}", o.stderr);
    assert!(!root.join("tool").exists());

    k.run(&[
        "--root",
        r,
        "install",
        s(&archive),
        "--checksum",
        &sha(&bytes),
    ])
    .ok();
    assert_eq!(digest(&root.join("tool")), digest(&pack));
    let lock = lock_of(&root);
    assert_eq!(lock["packs"][0]["source"]["type"], "archive");
    assert_eq!(
        lock["packs"][0]["source"]["url"],
        url::Url::from_file_path(&archive).unwrap().to_string()
    );
    assert_eq!(lock["packs"][0]["source"]["checksum"], sha(&bytes));

    // Without --checksum a local file is trusted (the user chose it) and
    // its checksum is recorded; a repeat changes nothing.
    let before = std::fs::read(root.join("knap.lock")).unwrap();
    let again = k.run(&["--root", r, "install", s(&archive)]).ok();
    assert!(again.stdout.contains("nothing to do"), "{again:?}");
    assert_eq!(std::fs::read(root.join("knap.lock")).unwrap(), before);
}

#[test]
fn an_https_archive_url_needs_a_checksum_or_allow_unverified() {
    let (ca_pem, tls) = test_pki();
    let site = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (_, web_dir) = publish(site.path(), work.path(), "web", "1.0.0", &[]);
    let (_, web2_dir) = publish(site.path(), work.path(), "web", "1.1.0", &[]);
    let bytes = std::fs::read(site.path().join("archives/web-1.0.0.tar.gz")).unwrap();
    let server = Server::start_tls(files(site.path().to_path_buf()), tls);
    let mut k = Knap::new();
    let ca = k.dir.path().join("ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    k.set("SSL_CERT_FILE", s(&ca));
    let root = k.dir.path().join("root");
    let r = s(&root);
    let url = server.url("/archives/web-1.0.0.tar.gz");
    assert!(url.starts_with("https://"), "{url}");

    let o = k.run(&["--root", r, "install", &url]);
    assert_eq!(o.code, 4, "{o:?}");
    assert!(
        o.stderr.contains("--checksum") && o.stderr.contains("--allow-unverified"),
        "{}",
        o.stderr
    );
    assert_eq!(archive_requests(&server), 0, "refused before any download");

    let bad = format!("sha256:{}", "f".repeat(64));
    let o = k.run(&["--root", r, "install", &url, "--checksum", &bad]);
    assert_eq!(o.code, 4, "{o:?}");
    assert!(!root.join("web").exists());

    k.run(&["--root", r, "install", &url, "--checksum", &sha(&bytes)])
        .ok();
    assert_eq!(digest(&root.join("web")), digest(&web_dir));
    let lock = lock_of(&root);
    assert_eq!(
        lock["packs"][0]["source"],
        json!({"type": "archive", "url": url, "checksum": sha(&bytes)})
    );

    // --allow-unverified: installed, and the checksum it had is recorded so
    // that a reinstall from the lock is verified against it.
    let url2 = server.url("/archives/web-1.1.0.tar.gz");
    let bytes2 = std::fs::read(site.path().join("archives/web-1.1.0.tar.gz")).unwrap();
    k.run(&["--root", r, "install", &url2, "--allow-unverified"])
        .ok();
    assert_eq!(digest(&root.join("web")), digest(&web2_dir));
    let lock = lock_of(&root);
    assert_eq!(lock["packs"][0]["version"], "1.1.0");
    assert_eq!(lock["packs"][0]["source"]["checksum"], sha(&bytes2));
    assert_eq!(lock["requested"]["web"], "=1.1.0");

    // The flags only go with what they apply to.
    let o = k.run(&["--root", r, "install", "web", "--allow-unverified"]);
    assert_eq!(o.code, 2, "{o:?}");
    let o = k.run(&["--root", r, "install", "web", "--checksum", &bad]);
    assert_eq!(o.code, 2, "{o:?}");
}

#[test]
fn a_git_url_pinned_to_a_commit_installs_that_commit_over_file_and_smart_http() {
    let work = tempfile::tempdir().unwrap();
    let (pack, sha1) = git_pack(work.path(), "gitdirect", "0.2.0");
    let expected = digest(&pack);
    std::fs::write(pack.join("README.md"), "a later commit\n").unwrap();
    git(&pack, &["commit", "-q", "-am", "later"]);
    let file_url = url::Url::from_directory_path(&pack).unwrap().to_string();
    let k = Knap::new();
    let root = k.dir.path().join("root");
    let r = s(&root);

    let o = k.run(&["--root", r, "install", &format!("git+{file_url}")]);
    assert_eq!(o.code, 2, "a commit must be named: {o:?}");
    assert!(o.stderr.contains("40-hex"), "{}", o.stderr);

    let spec = format!("git+{file_url}#{sha1}");
    let wrong = format!("sha256:{}", "1".repeat(64));
    let o = k.run(&["--root", r, "install", &spec, "--checksum", &wrong]);
    assert_eq!(o.code, 4, "{o:?}");
    assert!(!root.join("gitdirect").exists());

    k.run(&["--root", r, "install", &spec, "--checksum", &expected])
        .ok();
    assert_eq!(digest(&root.join("gitdirect")), expected);
    assert!(!root.join("gitdirect/.git").exists());
    let lock = lock_of(&root);
    assert_eq!(
        lock["packs"][0]["source"],
        json!({"type": "git", "url": file_url, "ref": sha1, "checksum": expected})
    );

    // The same commit over smart HTTP (loopback http is allowed).
    let served = tempfile::tempdir().unwrap();
    git(
        served.path(),
        &["clone", "-q", "--bare", s(&pack), "gitdirect.git"],
    );
    let server = Server::start(git_cgi(served.path().to_path_buf()));
    let root2 = k.dir.path().join("root2");
    let spec2 = format!("git+{}#{sha1}", server.url("/gitdirect.git"));
    k.run(&["--root", s(&root2), "install", &spec2]).ok();
    assert_eq!(digest(&root2.join("gitdirect")), expected);
    assert!(
        server
            .requests()
            .iter()
            .any(|q| q.path.starts_with("/gitdirect.git/info/refs")),
        "fetched over smart HTTP"
    );
}

#[test]
fn a_direct_pack_shadows_the_registry_until_a_registry_spec_names_it() {
    let site = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (core, core_dir) = publish(site.path(), work.path(), "core", "1.0.0", &[]);
    write_json(&site.path().join("index.json"), &index("Good", vec![core]));
    let server = Server::start(files(site.path().to_path_buf()));
    let k = Knap::new();
    k.run(&["registry", "add", "good", &server.url("/")]).ok();
    let root = k.dir.path().join("root");
    let r = s(&root);
    let local_core = make_pack(&work.path().join("dev"), "core", "1.5.0-dev", &[]);

    k.run(&["--root", r, "install", s(&local_core)]).ok();
    let lock = lock_of(&root);
    assert_eq!(lock["packs"][0]["version"], "1.5.0-dev");
    assert_eq!(archive_requests(&server), 0);

    // The registry's core comes back only when asked for by ref.
    k.run(&["--root", r, "install", "core"]).ok();
    let lock = lock_of(&root);
    assert_eq!(lock["packs"][0]["version"], "1.0.0");
    assert_eq!(lock["packs"][0]["registry"], "good");
    assert_eq!(lock["requested"]["core"], "*");
    assert_eq!(digest(&root.join("core")), digest(&core_dir));
}

#[test]
fn a_local_pack_dir_holding_a_name_with_a_control_character_is_refused() {
    // The archive of such a pack is refused when it is installed, so the
    // directory is refused too, when the pack is made or installed.
    let work = tempfile::tempdir().unwrap();
    let k = Knap::new();
    let root = k.dir.path().join("root");
    for name in ["actions/clear\x1b[2J.py", "two\nlines.txt"] {
        let app = make_pack(work.path(), "app", "0.1.0", &[]);
        std::fs::write(app.join(name), "x").unwrap();
        let o = k.run(&["--root", s(&root), "install", s(&app)]);
        assert_eq!(o.code, 4, "{o:?}");
        assert!(o.stderr.contains("control character"), "{}", o.stderr);
        assert!(
            !o.stderr.contains('\x1b') && !o.stderr.contains("two\nlines"),
            "escaped: {:?}",
            o.stderr
        );
        assert!(!root.join("app").exists());
        std::fs::remove_dir_all(&app).unwrap();
    }
}

#[test]
fn a_broken_local_pack_is_reported_at_its_own_path_and_a_new_root_is_not_left_behind() {
    let k = Knap::new();
    let work = tempfile::tempdir().unwrap();
    let broken = work.path().join("broken/num");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(
        broken.join("pack.yaml"),
        "ref: num\nversion: 1.0\nauthor: A\n",
    )
    .unwrap();
    let root = k.dir.path().join("root3");
    let o = k.at(&root, &["install", s(&broken)]);
    assert_eq!(o.code, 4, "{o:?}");
    assert!(
        o.stderr.contains(&format!(
            "{}: invalid pack manifest",
            broken.join("pack.yaml").display()
        )),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("field `version`"), "{}", o.stderr);
    assert!(!o.stderr.contains("staging"), "{}", o.stderr);
    assert!(!root.exists(), "the failed install made no root");

    // In an archive: named as the archive's pack.yaml, not the staging path.
    let pack = make_pack(work.path(), "num", "1.0.0", &[]);
    std::fs::write(
        pack.join("pack.yaml"),
        "ref: num\nversion: 1.0\nauthor: A\n",
    )
    .unwrap();
    let archive = work.path().join("num.tar.gz");
    std::fs::write(&archive, tar_gz_dir(&pack)).unwrap();
    let o = k.at(&root, &["install", s(&archive)]);
    assert_eq!(o.code, 4, "{o:?}");
    assert!(
        o.stderr.contains("pack.yaml: invalid pack manifest"),
        "{}",
        o.stderr
    );
    assert!(!o.stderr.contains("staging"), "{}", o.stderr);
    assert!(!root.exists());

    // A root that was there keeps what it had.
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("notes.txt"), "mine").unwrap();
    let o = k.at(&root, &["install", s(&broken)]);
    assert_eq!(o.code, 4, "{o:?}");
    assert_eq!(
        std::fs::read_to_string(root.join("notes.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn a_query_string_in_a_direct_archive_url_is_refused_before_any_request() {
    let s = Scene::new();
    let bytes = gz(&knap_test_support::archive::tar_of(|b| {
        knap_test_support::archive::file(b, "pack.yaml", PACK_YAML)
    }));
    std::fs::write(s.site.dir.path().join("archives/direct.tar.gz"), &bytes).unwrap();
    s.site.server.clear_log();
    for url in [
        s.site.server.url("/archives/direct.tar.gz?token=s3cret"),
        s.site.server.url("/archives/direct.tar.gz#frag"),
    ] {
        let o =
            s.k.at(&s.root, &["install", &url, "--checksum", &sha(&bytes)]);
        s.assert_refused(&url, &o, 2, "query string");
    }
    assert!(
        s.site.server.requests().is_empty(),
        "{:?}",
        s.site.server.requests()
    );
}
