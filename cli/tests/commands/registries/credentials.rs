//! No secret in a URL: a URL with credentials (`user:password@`) is refused
//! wherever knap meets one (a `knap.lock` source, a redirect, the command
//! line), and its credentials are never shown, in text or `--json`.

use std::sync::Arc;

use knap_test_support::prelude::*;
use serde_json::Value;

const SECRET: &str = "s3cret-pw";

/// Neither stream of `out` shows the secret.
#[track_caller]
fn no_secret(out: &Out) {
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains(SECRET), "the password leaked: {out:#?}");
    }
}

#[test]
fn a_lock_with_credentials_in_a_source_url_is_refused_naming_the_field_not_the_secret() {
    let mut site = Site::new();
    site.publish("core", "1.0.0", &[], &[]);
    let k = site.knap();
    let root = k.dir.path().join("root");
    k.at(&root, &["install", "core"]).ok();
    let lock_path = root.join("knap.lock");
    let mut lock: Value = serde_json::from_slice(&std::fs::read(&lock_path).unwrap()).unwrap();
    let url = lock["packs"][0]["source"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let with_secret = url.replacen("://", &format!("://user:{SECRET}@"), 1);
    lock["packs"][0]["source"]["url"] = Value::String(with_secret);
    std::fs::write(&lock_path, serde_json::to_vec_pretty(&lock).unwrap()).unwrap();
    std::fs::remove_dir_all(root.join("core")).unwrap();
    site.server.clear_log();
    for args in [
        &["install"][..],
        &["install", "--force"],
        &["verify"],
        &["list"],
        &["--json", "install"],
    ] {
        let out = k.at(&root, args);
        assert_eq!(out.code, 4, "{args:?}: {out:#?}");
        assert!(
            out.stderr.contains("$.packs[0].source"),
            "{args:?}: {out:#?}"
        );
        assert!(out.stderr.contains("credentials"), "{args:?}: {out:#?}");
        no_secret(&out);
    }
    assert!(
        site.server
            .requests()
            .iter()
            .all(|r| r.header("authorization").is_none()),
        "credentials were sent: {:?}",
        site.server.requests()
    );
}

#[test]
fn a_redirect_to_a_url_with_credentials_is_refused_and_never_requested() {
    let mut site = Site::new();
    site.publish("core", "1.0.0", &[], &[]);
    let target = site
        .server
        .url("/index.json")
        .replacen("://", &format!("://user:{SECRET}@"), 1);
    let home = Server::start(Arc::new(move |_: &Req| Reply::Full {
        status: 302,
        headers: vec![("Location".into(), target.clone())],
        body: vec![],
    }));
    let k = Knap::new();
    for json in [false, true] {
        let mut args = vec!["registry", "add", "r"];
        let url = home.url("/index.json");
        args.push(&url);
        if json {
            args.insert(0, "--json");
        }
        let out = k.run_exactly(&args);
        assert_eq!(out.code, 5, "{out:#?}");
        assert!(out.stderr.contains("redirect"), "{out:#?}");
        assert!(out.stderr.contains("credentials"), "{out:#?}");
        no_secret(&out);
    }
    assert!(
        site.server.requests().is_empty(),
        "the redirect was followed: {:?}",
        site.server.requests()
    );
}

#[test]
fn an_archive_redirected_to_a_url_with_credentials_is_refused_and_never_requested() {
    let mut site = Site::new();
    site.publish("core", "1.0.0", &[], &[]);
    // The entry's archive is served by a redirect to the same archive at a
    // URL with credentials.
    let mut e = site.entries.values().next().unwrap().clone();
    let published = site.server.url("/archives/core-1.0.0.tar.gz");
    let target = published.replacen("://", &format!("://user:{SECRET}@"), 1);
    let home = Server::start(Arc::new(move |_: &Req| Reply::Full {
        status: 302,
        headers: vec![("Location".into(), target.clone())],
        body: vec![],
    }));
    e["install_sources"][0]["url"] = serde_json::json!(home.url("/core-1.0.0.tar.gz"));
    site.add_entry(e);
    let k = site.knap();
    site.server.clear_log();
    let root = k.dir.path().join("root");
    for json in [false, true] {
        let mut args = vec!["--root", root.to_str().unwrap(), "install", "core"];
        if json {
            args.insert(0, "--json");
        }
        let out = k.run(&args);
        assert_eq!(out.code, 5, "{out:#?}");
        assert!(out.stderr.contains("credentials"), "{out:#?}");
        no_secret(&out);
    }
    assert!(!root.join("core").exists());
    assert!(
        site.server
            .requests()
            .iter()
            .all(|r| !r.path.contains("archives/")),
        "the redirect was followed: {:?}",
        site.server.requests()
    );
}

#[test]
fn credentials_typed_on_the_command_line_are_refused_and_never_shown() {
    let k = Knap::new();
    let spec = format!("https://user:{SECRET}@127.0.0.1:9/x.tar.gz");
    let git = format!("git+https://user:{SECRET}@127.0.0.1:9/r.git");
    let reg = format!("https://user:{SECRET}@127.0.0.1:9/index.json");
    for args in [
        vec!["install", spec.as_str()],
        vec!["--json", "install", spec.as_str()],
        vec!["install", spec.as_str(), "--allow-unverified"],
        vec!["install", git.as_str()],
        vec!["--json", "info", spec.as_str()],
        vec!["registry", "add", "r", reg.as_str()],
        vec!["--json", "registry", "add", "r", reg.as_str()],
        // clap's own message quotes the value it refuses.
        vec!["registry", "add", "r", "x", "--priority", reg.as_str()],
    ] {
        let out = k.run_exactly(&args);
        assert!(out.code == 2 || out.code == 4, "{args:?}: {out:#?}");
        no_secret(&out);
        assert!(
            out.stderr.contains("***@127.0.0.1") || out.stderr.contains("credentials"),
            "{args:?}: {out:#?}"
        );
    }
}

/// A server that answers every request with a redirect to the same path and
/// query at `target` (a base URL, here one with credentials).
fn redirect_all_to(target: String) -> Server {
    Server::start(Arc::new(move |req: &Req| Reply::Full {
        status: 302,
        headers: vec![("Location".into(), format!("{target}{}", req.target))],
        body: vec![],
    }))
}

#[test]
fn a_git_redirect_to_a_url_with_credentials_is_refused_and_they_are_never_sent() {
    // gix follows the first redirect of a fetch itself; what knap must
    // hold to is that nothing is asked of the redirected URL with its
    // credentials: the git server may see the redirected request for the
    // ref advertisement (sent without them), never a request carrying them,
    // and never the fetch that would follow.
    let (served, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (pack, commit) = git_pack(work.path(), "gitpack", "1.0.0");
    git(
        served.path(),
        &[
            "clone",
            "-q",
            "--bare",
            pack.to_str().unwrap(),
            "gitpack.git",
        ],
    );
    let index_work = work.path().join("index");
    write_json(
        &index_work.join("index.json"),
        &index("R", vec![entry("core", "1.0.0", &[])]),
    );
    git(&index_work, &["init", "-q"]);
    git(&index_work, &["add", "index.json"]);
    git(&index_work, &["commit", "-q", "-m", "index"]);
    git(
        served.path(),
        &[
            "clone",
            "-q",
            "--bare",
            index_work.to_str().unwrap(),
            "index.git",
        ],
    );
    let git_server = Server::start(git_cgi(served.path().to_path_buf()));
    // The control: a redirect without credentials is followed, for a
    // registry and for a git source alike.
    let plain = redirect_all_to(git_server.url(""));
    let k = Knap::new();
    let root = k.dir.path().join("root");
    k.run(&[
        "registry",
        "add",
        "r",
        &format!("git+{}", plain.url("/index.git")),
    ])
    .ok();
    let source = format!("git+{}#{commit}", plain.url("/gitpack.git"));
    k.run(&["--root", root.to_str().unwrap(), "install", &source])
        .ok();
    assert!(root.join("gitpack/pack.yaml").is_file());
    assert!(git_server.requests().iter().any(|r| r.method == "POST"));
    git_server.clear_log();

    let with_secret = git_server
        .url("")
        .replacen("://", &format!("://user:{SECRET}@"), 1);
    let home = redirect_all_to(with_secret);
    let k = Knap::new();
    let root = k.dir.path().join("root");
    let registry = format!("git+{}", home.url("/index.git"));
    let source = format!("git+{}#{commit}", home.url("/gitpack.git"));
    for args in [
        vec!["registry", "add", "r", registry.as_str()],
        vec!["--json", "registry", "add", "r", registry.as_str()],
        vec!["--root", root.to_str().unwrap(), "install", source.as_str()],
    ] {
        let out = k.run_exactly(&args);
        assert_eq!(out.code, 5, "{args:?}: {out:#?}");
        assert!(out.stderr.contains("redirect"), "{args:?}: {out:#?}");
        assert!(out.stderr.contains("credentials"), "{args:?}: {out:#?}");
        no_secret(&out);
    }
    let reqs = git_server.requests();
    assert!(
        reqs.iter().all(|r| r.header("authorization").is_none()),
        "credentials were sent: {reqs:?}"
    );
    assert!(
        reqs.iter().all(|r| r.method == "GET"),
        "a fetch went on at the redirected URL: {reqs:?}"
    );
    assert!(!root.join("gitpack").exists());
}
