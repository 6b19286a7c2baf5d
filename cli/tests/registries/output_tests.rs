//! What knap shows a person, and one transport rule: colour follows
//! `--color` and `NO_COLOR`; progress bars are drawn only when stderr is a
//! terminal (checked through pipes, and under a real pseudo-terminal made
//! by `script` from util-linux); a redirect from https to plain http is
//! refused before the http URL is ever requested.

use std::process::Command;
use std::sync::Arc;

use crate::server::{Reply, Req, Server, files};
use crate::tls_tests::test_pki;
use crate::{Knap, Out, entry, index, write_json};

const ESC: char = '\u{1b}';

/// A knap with one local registry listing `core` and `net`.
pub(crate) fn with_local_registry() -> Knap {
    let k = Knap::new();
    let file = k.dir.path().join("site/index.json");
    write_json(
        &file,
        &index(
            "Local",
            vec![entry("core", "1.0.0", &[]), entry("net", "2.0.0", &[])],
        ),
    );
    k.run(&["registry", "add", "local", file.to_str().unwrap()])
        .ok();
    k
}

/// `knap ARGS` fails because `nope` is not listed anywhere.
fn not_found(k: &Knap, args: &[&str]) -> Out {
    let mut all = args.to_vec();
    all.extend(["info", "nope"]);
    let o = k.run(&all);
    assert_eq!(o.code, 3, "{o:#?}");
    o
}

#[test]
fn color_always_colours_search_results_and_errors_even_through_pipes() {
    let k = with_local_registry();
    let o = k.run(&["--color", "always", "search"]).ok();
    assert!(o.stdout.contains("\u{1b}[1mcore\u{1b}[0m"), "{o:#?}");
    assert!(o.stdout.contains("\u{1b}[2m[local]\u{1b}[0m"), "{o:#?}");
    let o = not_found(&k, &["--color", "always"]);
    assert!(o.stderr.starts_with("\u{1b}[31merror\u{1b}[0m: "), "{o:#?}");
}

#[test]
fn color_never_and_auto_through_pipes_write_no_escape_sequence() {
    let k = with_local_registry();
    for flags in [&["--color", "never"][..], &["--color", "auto"], &[]] {
        let mut args = flags.to_vec();
        args.push("search");
        let o = k.run(&args).ok();
        assert!(o.stdout.contains("core"), "{o:#?}");
        assert!(!o.stdout.contains(ESC) && !o.stderr.contains(ESC), "{o:#?}");
        let o = not_found(&k, flags);
        assert!(o.stderr.starts_with("error: "), "{o:#?}");
        assert!(!o.stdout.contains(ESC) && !o.stderr.contains(ESC), "{o:#?}");
    }
}

#[test]
fn an_explicit_color_always_wins_over_no_color() {
    let mut k = with_local_registry();
    k.set("NO_COLOR", "1");
    let o = k.run(&["--color", "always", "search"]).ok();
    assert!(o.stdout.contains("\u{1b}[1mcore"), "{o:#?}");
    let o = k.run(&["--color", "never", "search"]).ok();
    assert!(!o.stdout.contains(ESC), "{o:#?}");
}

/// `s` quoted for `sh`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Runs `knap ARGS` with stdin, stdout and stderr on a pseudo-terminal
/// (`script -qec`), with `k`'s environment plus `extra`; gives what the
/// terminal showed (stdout and stderr together, in `stdout`), or `None`
/// when util-linux `script` is not installed.
fn run_in_terminal(k: &Knap, args: &[&str], extra: &[(&str, &str)]) -> Option<Out> {
    if Command::new("script").arg("--version").output().is_err() {
        println!("SKIPPED: util-linux `script` is not installed; no pseudo-terminal");
        return None;
    }
    let mut line = sh_quote(env!("CARGO_BIN_EXE_knap"));
    for a in args {
        line.push(' ');
        line.push_str(&sh_quote(a));
    }
    let mut c = Command::new("script");
    c.args(["-qec", &line, "/dev/null"]);
    for (name, _) in std::env::vars() {
        if name.starts_with("KNAP_")
            || name.starts_with("XDG_")
            || name == "SSL_CERT_FILE"
            || name == "GIT_SSL_CAINFO"
            || name == "NO_COLOR"
        {
            c.env_remove(&name);
        }
    }
    c.env("RUST_BACKTRACE", "0")
        .env("TERM", "xterm-256color")
        .env("SHELL", "/bin/sh")
        .env("HOME", k.dir.path())
        .env("KNAP_CONFIG", k.config())
        .env("KNAP_CACHE_DIR", k.cache());
    for (name, value) in k.env.iter().map(|(n, v)| (n.as_str(), v.as_str())) {
        c.env(name, value);
    }
    for (name, value) in extra {
        c.env(name, value);
    }
    let o = c.output().expect("script runs");
    Some(Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    })
}

#[test]
fn on_a_terminal_color_auto_colours_unless_no_color_is_set() {
    let k = with_local_registry();
    let Some(o) = run_in_terminal(&k, &["search"], &[]) else {
        return;
    };
    assert_eq!(o.code, 0, "{o:#?}");
    assert!(o.stdout.contains("\u{1b}[1mcore\u{1b}[0m"), "{o:#?}");
    let o = run_in_terminal(&k, &["info", "nope"], &[]).unwrap();
    assert_eq!(o.code, 3, "{o:#?}");
    assert!(o.stdout.contains("\u{1b}[31merror\u{1b}[0m: "), "{o:#?}");

    for args in [&["search"][..], &["info", "nope"]] {
        let o = run_in_terminal(&k, args, &[("NO_COLOR", "1")]).unwrap();
        assert!(o.stdout.contains("core") || o.code == 3, "{o:#?}");
        assert!(!o.stdout.contains(ESC), "{o:#?}");
    }
    let o = run_in_terminal(&k, &["--color", "never", "search"], &[]).unwrap();
    assert!(!o.stdout.contains(ESC), "{o:#?}");
}

/// An HTTP registry whose `index.json` is large enough (> 256 KiB) for a
/// download bar, served without compression so its length is known.
fn large_http_registry() -> (Server, Knap) {
    let entries: Vec<_> = (0..800)
        .map(|i| entry(&format!("p{i:04}"), "1.0.0", &[]))
        .collect();
    let body = serde_json::to_vec_pretty(&index("Large", entries)).unwrap();
    assert!(body.len() > 400 * 1024, "{}", body.len());
    let server = Server::start(Arc::new(move |_: &Req| Reply::Full {
        status: 200,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.clone(),
    }));
    let k = Knap::new();
    k.run(&["registry", "add", "large", &server.url("/index.json")])
        .ok();
    (server, k)
}

#[test]
fn no_progress_bar_when_stderr_is_not_a_terminal() {
    let (server, k) = large_http_registry();
    let o = k.run(&["update"]).ok();
    assert!(o.stdout.contains("large: updated"), "{o:#?}");
    assert!(
        !o.stderr.contains(ESC) && !o.stderr.contains('\r') && !o.stderr.contains("iB/"),
        "progress bar control sequences on a pipe: {o:#?}"
    );
    // Not even when colour is forced: colour is not a terminal.
    std::fs::remove_dir_all(k.cache()).unwrap();
    let o = k.run(&["--color", "always", "update"]).ok();
    assert!(
        !o.stderr.contains('\r') && !o.stderr.contains("iB/"),
        "{o:#?}"
    );
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn a_progress_bar_is_drawn_for_a_download_when_stderr_is_a_terminal() {
    let (server, k) = large_http_registry();
    let Some(o) = run_in_terminal(&k, &["update"], &[]) else {
        return;
    };
    assert_eq!(o.code, 0, "{o:#?}");
    assert!(o.stdout.contains("updated"), "{o:#?}");
    // The bar: `URL ████ 12.00 KiB/612.34 KiB`, redrawn in place and
    // cleared at the end.
    let url = server.url("/index.json");
    let bar = o
        .stdout
        .find(&url)
        .map(|at| &o.stdout[at..])
        .unwrap_or_else(|| panic!("no bar naming {url}: {o:#?}"));
    assert!(bar.contains("iB/"), "no byte counts: {o:#?}");
    assert!(
        o.stdout.contains('\r') || o.stdout.contains(ESC),
        "the bar is not redrawn in place: {o:#?}"
    );
    // -q: no bar even on a terminal.
    std::fs::remove_dir_all(k.cache()).unwrap();
    let o = run_in_terminal(&k, &["-q", "update"], &[]).unwrap();
    assert_eq!(o.code, 0, "{o:#?}");
    assert!(!o.stdout.contains("iB/"), "{o:#?}");
}

/// A TLS registry that answers every request with a 302 to an `index.json`
/// on a plain-http server; the CA file to trust it.
struct Downgrade {
    tls: Server,
    plain: Server,
    target: String,
    ca: std::path::PathBuf,
    k: Knap,
    _site: tempfile::TempDir,
}

impl Downgrade {
    /// Adds the TLS server's `index.json` as registry `r`, trusting the CA,
    /// with `extra` flags.
    fn add_registry(&self, extra: &[&str]) {
        let url = self.tls.url("/index.json");
        let mut args = vec!["registry", "add", "r", &url, "--ca-file"];
        args.push(self.ca.to_str().unwrap());
        args.extend(extra);
        self.k.run(&args).ok();
    }
}

fn downgrade() -> Downgrade {
    let (ca_pem, cfg) = test_pki();
    let site = tempfile::tempdir().unwrap();
    write_json(
        &site.path().join("index.json"),
        &index("Plain", vec![entry("core", "1.0.0", &[])]),
    );
    let plain = Server::start(files(site.path().to_path_buf()));
    let target = plain.url("/index.json");
    assert!(target.starts_with("http://127.0.0.1:"), "{target}");
    let location = target.clone();
    let tls = Server::start_tls(
        Arc::new(move |_: &Req| Reply::Full {
            status: 302,
            headers: vec![("Location".into(), location.clone())],
            body: vec![],
        }),
        cfg,
    );
    let k = Knap::new();
    let ca = k.dir.path().join("ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    Downgrade {
        tls,
        plain,
        target,
        ca,
        k,
        _site: site,
    }
}

#[test]
fn a_redirect_from_https_to_plain_http_is_refused_and_the_http_url_never_requested() {
    let d = downgrade();
    let k = &d.k;
    d.add_registry(&[]);
    let o = k.run(&["update", "r"]);
    assert_eq!(o.code, 5, "{o:#?}");
    assert!(
        o.stderr
            .contains("refusing a redirect from https to plain http")
            && o.stderr.contains(&d.target),
        "{}",
        o.stderr
    );
    assert!(
        d.plain.requests().is_empty(),
        "the http URL was requested: {:?}",
        d.plain.requests()
    );
    assert_eq!(
        d.tls.requests().len(),
        1,
        "a refused redirect is not retried: {:?}",
        d.tls.requests()
    );
    let o = k.run(&["--json", "update", "r"]);
    assert_eq!(o.code, 5, "{o:#?}");
    let v: serde_json::Value = serde_json::from_str(o.stderr.trim()).expect("stderr is JSON");
    assert_eq!(v["error"]["kind"], "registry", "{v}");
    assert!(d.plain.requests().is_empty());
}

#[test]
fn the_same_redirect_is_followed_for_a_registry_added_with_allow_http() {
    let d = downgrade();
    let k = &d.k;
    d.add_registry(&["--allow-http"]);
    let o = k.run(&["update", "r"]).ok();
    assert!(o.stdout.contains("r: updated"), "{o:#?}");
    assert_eq!(d.plain.requests().len(), 1, "{:?}", d.plain.requests());
}

#[test]
fn a_cached_archive_shows_no_empty_progress_bar_on_a_terminal() {
    let mut site = crate::root_tests::Site::new();
    site.publish("core", "1.0.0", &[], &[]);
    let k = site.knap();
    let first = k.dir.path().join("first");
    k.run(&["--root", first.to_str().unwrap(), "install", "core"])
        .ok();
    // The archive is now in the cache: a second root installs it from there.
    let second = k.dir.path().join("second");
    let Some(o) = run_in_terminal(
        &k,
        &["--root", second.to_str().unwrap(), "install", "core"],
        &[],
    ) else {
        return;
    };
    assert_eq!(o.code, 0, "{o:#?}");
    assert!(o.stdout.contains("installed\u{1b}[0m core 1.0.0"), "{o:#?}");
    assert!(
        !o.stdout.contains("0 B/0 B"),
        "an empty bar for a cached pack: {o:#?}"
    );
}
