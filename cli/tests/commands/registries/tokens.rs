//! Issue 11 finding 2, end to end: a registry's bearer token goes to the
//! registry's own origin (scheme, host and port) and nowhere else: not to
//! an archive on another port of the same host, not over plain `http://`
//! when the registry is `https://` (same host and port), not to git
//! smart-HTTP on another port, and a backslash URL naming another port is
//! refused before any request. Each test server records the
//! `Authorization` headers it received; each test also checks that the
//! registry's own origin did get the token (so the absence elsewhere is
//! not only the absence of any token).

use std::path::Path;
use std::sync::Arc;

use knap_test_support::prelude::*;
use serde_json::json;

const TOKEN: &str = "s3cret-token";

/// A knap whose registry `priv` at `url` sends `$PRIV_TOKEN`.
fn knap_with_token(url: &str, extra: &[&str]) -> Knap {
    let mut k = Knap::new();
    k.set("PRIV_TOKEN", TOKEN);
    let mut args = vec!["registry", "add", "priv", url, "--token-env", "PRIV_TOKEN"];
    args.extend(extra);
    k.run(&args).ok();
    k
}

fn install(k: &Knap, spec: &str) -> Out {
    let root = k.dir.path().join("root");
    k.run(&["--root", root.to_str().unwrap(), "install", spec])
}

#[track_caller]
fn assert_no_token(what: &str, reqs: &[Logged]) {
    assert!(!reqs.is_empty(), "{what}: no request reached the server");
    for r in reqs {
        assert_eq!(
            r.header("authorization"),
            None,
            "{what}: the token reached {} {}",
            r.method,
            r.path
        );
    }
}

#[track_caller]
fn assert_token(what: &str, reqs: &[Logged]) {
    assert!(!reqs.is_empty(), "{what}: no request reached the server");
    for r in reqs {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str()),
            "{what}: {} {} got no token",
            r.method,
            r.path
        );
    }
}

/// Writes pack `r` 1.0.0's archive to `<dir>/<r>.tar.gz`; returns its
/// checksum and the pack directory.
fn archive_in(dir: &Path, work: &Path, r: &str) -> (String, std::path::PathBuf) {
    let pack = make_pack(work, r, "1.0.0", &[]);
    let bytes = tar_gz_dir(&pack);
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(format!("{r}.tar.gz")), &bytes).unwrap();
    (sha(&bytes), pack)
}

#[test]
fn the_token_never_reaches_an_archive_on_another_port_of_the_registrys_host() {
    let (site, other_dir, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let registry = Server::start(files(site.path().to_path_buf()));
    let other = Server::start(files(other_dir.path().to_path_buf()));
    assert_ne!(registry.addr.port(), other.addr.port());
    // `near` is on the registry's origin (relative URL): it gets the token.
    let (near_sum, _) = archive_in(&site.path().join("archives"), work.path(), "near");
    // `far` is on the same host (127.0.0.1), another port: it must not.
    let (far_sum, far) = archive_in(other_dir.path(), work.path(), "far");
    let far_url = other.url("/far.tar.gz");
    write_json(
        &site.path().join("index.json"),
        &index(
            "Private",
            vec![
                entry_with(
                    "far",
                    "1.0.0",
                    &[],
                    json!([{"type": "archive", "url": far_url, "checksum": far_sum}]),
                ),
                entry_with(
                    "near",
                    "1.0.0",
                    &[],
                    json!([{"type": "archive", "url": "archives/near.tar.gz", "checksum": near_sum}]),
                ),
            ],
        ),
    );
    let k = knap_with_token(&registry.url("/"), &[]);
    install(&k, "near").ok();
    install(&k, "far").ok();
    assert_eq!(digest(&k.dir.path().join("root/far")), digest(&far));
    assert_token("the registry's own origin", &registry.requests());
    assert_no_token("another port of the same host", &other.requests());
}

#[test]
fn the_token_is_never_sent_over_plain_http_when_the_registry_is_https() {
    let (ca_pem, cfg) = knap_test_support::tls::test_pki();
    let (site, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // One port serving both TLS and plain HTTP: the downgraded request
    // reaches the same host and port, only the scheme differs.
    let server = Server::start_dual(files(site.path().to_path_buf()), cfg);
    let https = server.url("/");
    assert!(https.starts_with("https://"), "{https}");
    let (sum, pack) = archive_in(site.path(), work.path(), "down");
    let plain = format!("http://{}/down.tar.gz", server.addr);
    write_json(
        &site.path().join("index.json"),
        &index(
            "Private",
            vec![entry_with(
                "down",
                "1.0.0",
                &[],
                json!([{"type": "archive", "url": plain, "checksum": sum}]),
            )],
        ),
    );
    let ca = work.path().join("ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    let k = knap_with_token(&https, &["--ca-file", ca.to_str().unwrap()]);
    let o = install(&k, "down");
    let reqs = server.requests();
    let (over_tls, over_plain): (Vec<Logged>, Vec<Logged>) = reqs.into_iter().partition(|r| r.tls);
    assert_token("the https index", &over_tls);
    assert_no_token("plain http on the registry's host and port", &over_plain);
    o.ok();
    assert_eq!(digest(&k.dir.path().join("root/down")), digest(&pack));
}

/// A bare repository `<served>/<r>.git` of pack `r` 1.0.0; returns its
/// index entry (git source at `base` + `/<r>.git`).
fn served_git_pack(served: &Path, work: &Path, r: &str, base: &str) -> serde_json::Value {
    let (pack, commit) = git_pack(work, r, "1.0.0");
    git(
        served,
        &[
            "clone",
            "-q",
            "--bare",
            pack.to_str().unwrap(),
            &format!("{r}.git"),
        ],
    );
    git_entry(
        r,
        "1.0.0",
        &format!("{base}/{r}.git"),
        &commit,
        &digest(&pack),
    )
}

#[test]
fn the_token_never_reaches_git_smart_http_on_another_port() {
    // A git registry over smart HTTP (it gets the token) whose pack is a
    // git source on another port of the same host (it must not).
    let (reg_root, served, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let other = Server::start(git_cgi(served.path().to_path_buf()));
    let base = other.url("");
    let e = served_git_pack(served.path(), work.path(), "gitfar", &base);
    git_index_repo(reg_root.path(), &index("Private", vec![e]));
    let registry = Server::start(git_cgi(reg_root.path().to_path_buf()));
    let k = knap_with_token(&format!("git+{}", registry.url("/index.git")), &[]);
    install(&k, "gitfar").ok();
    assert!(k.dir.path().join("root/gitfar/pack.yaml").is_file());
    assert_token("the git registry's own origin", &registry.requests());
    assert_no_token("git smart-HTTP on another port", &other.requests());
}

#[test]
fn a_backslash_url_naming_another_port_is_refused_and_gets_no_request() {
    let (site, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let registry = Server::start(files(site.path().to_path_buf()));
    let (sum, _) = archive_in(&site.path().join("archives"), work.path(), "good");
    let hit = Arc::new(std::sync::Mutex::new(0));
    let other = {
        let hit = hit.clone();
        Server::start(Arc::new(move |_: &Req| {
            *hit.lock().unwrap() += 1;
            Reply::status(200, b"not an archive")
        }))
    };
    let port = other.addr.port();
    let k = knap_with_token(&registry.url("/"), &[]);
    for url in [
        format!("\\\\127.0.0.1:{port}\\a.tar.gz"),
        format!("/\\127.0.0.1:{port}/a.tar.gz"),
    ] {
        write_json(
            &site.path().join("index.json"),
            &index(
                "Private",
                vec![
                    entry_with(
                        "good",
                        "1.0.0",
                        &[],
                        json!([{"type": "archive", "url": "archives/good.tar.gz", "checksum": sum}]),
                    ),
                    entry_with(
                        "victim",
                        "1.0.0",
                        &[],
                        json!([{"type": "archive", "url": url, "checksum": sum}]),
                    ),
                ],
            ),
        );
        let u = k.run(&["update"]);
        let o = install(&k, "victim");
        assert!(u.code == 4 || o.code == 4, "{url:?}: {u:#?} {o:#?}");
        assert!(
            u.stderr.contains("backslash") || o.stderr.contains("backslash"),
            "{url:?}: {u:#?} {o:#?}"
        );
        assert!(!k.dir.path().join("root/victim").exists());
    }
    assert_eq!(
        *hit.lock().unwrap(),
        0,
        "a backslash URL reached another port"
    );
    assert!(other.requests().is_empty());
    // The registry itself got its requests, with the token.
    assert_token("the registry's own origin", &registry.requests());
}
