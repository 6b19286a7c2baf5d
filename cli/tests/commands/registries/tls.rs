//! End-to-end TLS with a test CA made by rcgen: trusted when the CA is
//! configured (per registry or globally), a clear certificate error when not;
//! for `index.json` registries and for git registries over smart HTTPS.

use knap_test_support::prelude::*;
use knap_test_support::tls::test_pki;

use crate::fixtures::*;

#[test]
fn https_registry_with_a_test_ca_works_when_configured_and_fails_clearly_when_not() {
    let (ca_pem, cfg) = test_pki();
    let site = tempfile::tempdir().unwrap();
    write_json(
        &site.path().join("index.json"),
        &index("Tls", vec![entry("core", "1.0.0", &[])]),
    );
    let server = Server::start_tls(files(site.path().to_path_buf()), cfg);
    let k = Knap::new();
    let ca = k.dir.path().join("ca.pem");
    std::fs::write(&ca, &ca_pem).unwrap();

    k.run(&["registry", "add", "untrusted", &server.url("/")])
        .ok();
    let o = k.run(&["update", "untrusted"]);
    assert_eq!(o.code, 5, "{o:#?}");
    assert!(
        o.stderr.contains("certificate") && o.stderr.contains("--ca-file"),
        "{}",
        o.stderr
    );

    k.run(&[
        "registry",
        "add",
        "trusted",
        &server.url("/"),
        "--ca-file",
        ca.to_str().unwrap(),
    ])
    .ok();
    let o = k.run(&["update", "trusted"]).ok();
    assert!(o.stdout.contains("updated"), "{}", o.stdout);
    let info = k
        .run(&["info", "core", "--registry", "trusted", "--json"])
        .ok()
        .json();
    assert_eq!(info["versions"][0]["version"], "1.0.0");
}

#[test]
fn ssl_cert_file_and_the_global_ca_file_are_honoured() {
    let (ca_pem, cfg) = test_pki();
    let site = tempfile::tempdir().unwrap();
    write_json(
        &site.path().join("index.json"),
        &index("Tls", vec![entry("core", "1.0.0", &[])]),
    );
    let server = Server::start_tls(files(site.path().to_path_buf()), cfg);
    let mut k = Knap::new();
    let ca = k.dir.path().join("ca.pem");
    std::fs::write(&ca, &ca_pem).unwrap();
    k.run(&["registry", "add", "r", &server.url("/index.json")])
        .ok();
    assert_eq!(k.run(&["update"]).code, 5);
    // The global `ca_file` key of the configuration.
    let text = std::fs::read_to_string(k.config()).unwrap();
    std::fs::write(
        k.config(),
        format!("ca_file = {:?}\n{text}", ca.display().to_string()),
    )
    .unwrap();
    k.run(&["update"]).ok();
    std::fs::write(k.config(), text).unwrap();
    assert_eq!(k.run(&["update"]).code, 5);
    k.set("SSL_CERT_FILE", ca.to_str().unwrap());
    k.run(&["update"]).ok();
}

#[test]
fn git_registry_over_https_with_a_test_ca_works_when_configured_and_fails_clearly_when_not() {
    let (ca_pem, cfg) = test_pki();
    let root = tempfile::tempdir().unwrap();
    repo_with_small_index(root.path());
    let server = Server::start_tls(git_cgi(root.path().to_path_buf()), cfg);
    let url = format!("git+{}", server.url("/index.git"));
    assert!(url.starts_with("git+https://"), "{url}");
    let mut k = Knap::new();
    let ca = k.dir.path().join("ca.pem");
    std::fs::write(&ca, &ca_pem).unwrap();
    let untrusted = |k: &Knap| {
        let o = k.run(&["update", "g"]);
        assert_eq!(o.code, 5, "{o:#?}");
        assert!(
            o.stderr.contains("certificate") && o.stderr.contains("--ca-file"),
            "{}",
            o.stderr
        );
    };

    k.run(&["registry", "add", "g", &url]).ok();
    untrusted(&k);

    // The global `ca_file`: the clone works.
    let text = std::fs::read_to_string(k.config()).unwrap();
    std::fs::write(
        k.config(),
        format!("ca_file = {:?}\n{text}", ca.display().to_string()),
    )
    .unwrap();
    let o = k.run(&["update", "g"]).ok();
    assert!(o.stdout.contains("cloned"), "{}", o.stdout);
    let info = k.run(&["info", "core", "--json"]).ok().json();
    assert_eq!(info["versions"][0]["version"], "1.0.0");

    // Without it again, a fetch into the cached clone is refused too...
    std::fs::write(k.config(), &text).unwrap();
    untrusted(&k);
    // ... and with SSL_CERT_FILE it works.
    k.set("SSL_CERT_FILE", ca.to_str().unwrap());
    let o = k.run(&["update", "g"]).ok();
    assert!(o.stdout.contains("up to date"), "{}", o.stdout);
    k.env.retain(|(name, _)| name != "SSL_CERT_FILE");
    untrusted(&k);

    // A per-registry `ca_file`.
    k.run(&[
        "registry",
        "add",
        "trusted",
        &url,
        "--ca-file",
        ca.to_str().unwrap(),
    ])
    .ok();
    let o = k.run(&["update", "trusted"]).ok();
    assert!(o.stdout.contains("cloned"), "{}", o.stdout);
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.method == "POST" && r.path == "/index.git/git-upload-pack"),
        "{:?}",
        server.requests()
    );
}

#[test]
fn a_git_install_source_over_https_trusts_the_registrys_ca_and_no_other() {
    let (ca_pem, cfg) = test_pki();
    let work = tempfile::tempdir().unwrap();
    let (pack, sha) = git_pack(work.path(), "tlsgit", "1.0.0");
    let expected = digest(&pack);
    let served = tempfile::tempdir().unwrap();
    git(
        served.path(),
        &[
            "clone",
            "-q",
            "--bare",
            pack.to_str().unwrap(),
            "tlsgit.git",
        ],
    );
    let server = Server::start_tls(git_cgi(served.path().to_path_buf()), cfg);
    let url = server.url("/tlsgit.git");
    assert!(url.starts_with("https://"), "{url}");
    let reg = tempfile::tempdir().unwrap();
    write_json(
        &reg.path().join("index.json"),
        &index(
            "Local",
            vec![git_entry("tlsgit", "1.0.0", &url, &sha, &expected)],
        ),
    );
    let k = Knap::new();
    let ca = k.dir.path().join("ca.pem");
    std::fs::write(&ca, &ca_pem).unwrap();
    k.run(&["registry", "add", "plain", reg.path().to_str().unwrap()])
        .ok();
    let root = k.dir.path().join("root");
    let o = k.run(&["--root", root.to_str().unwrap(), "install", "tlsgit"]);
    assert_eq!(o.code, 5, "{o:#?}");
    assert!(o.stderr.contains("certificate"), "{}", o.stderr);
    assert!(!root.join("tlsgit").exists());

    // The same index, from a registry configured with the CA.
    k.run(&["registry", "remove", "plain"]).ok();
    k.run(&[
        "registry",
        "add",
        "trusted",
        reg.path().to_str().unwrap(),
        "--ca-file",
        ca.to_str().unwrap(),
    ])
    .ok();
    k.run(&["--root", root.to_str().unwrap(), "install", "tlsgit"])
        .ok();
    assert_eq!(digest(&root.join("tlsgit")), expected);
}
