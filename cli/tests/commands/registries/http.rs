//! `https://` (here: loopback http) registries serving one `index.json`:
//! the real Attune index, conditional GET, gzip, tokens, and every fault a
//! server can show, each with its exit code and the last good copy kept.
//! A 304 is trusted only for a copy that is there; a redirect from https
//! to plain http is refused before the http URL is requested.

use std::path::Path;
use std::sync::Arc;

use knap_test_support::prelude::*;
use knap_test_support::tls::test_pki;

use crate::fixtures::*;

#[test]
fn attune_index_over_http_add_update_search_info_then_304() {
    let Some(corpus) = corpus() else { return };
    let site = tempfile::tempdir().unwrap();
    std::fs::copy(
        corpus.join("attune/index.json"),
        site.path().join("index.json"),
    )
    .unwrap();
    let server = Server::start(files(site.path().to_path_buf()));
    let k = Knap::new();
    k.run(&["registry", "add", "attune", &server.url("/")]).ok();
    let o = k.run(&["update"]).ok();
    assert!(
        o.stdout.contains("updated") && o.stdout.contains("44 packs"),
        "{}",
        o.stdout
    );
    let first = server.requests();
    assert_eq!(first.len(), 1);
    assert_eq!(
        first[0].path, "/index.json",
        "a URL ending in / means <url>index.json"
    );
    assert!(
        first[0]
            .header("accept-encoding")
            .unwrap_or("")
            .contains("gzip")
    );
    assert!(first[0].body_len > 0);

    let hits = k.run(&["search", "slack", "--json"]).ok().json();
    assert_eq!(hits[0]["ref"], "slack");
    assert_eq!(hits[0]["registry"], "attune");
    let info = k.run(&["info", "ansible", "--json"]).ok().json();
    assert_eq!(info["registry"], "attune");
    assert_eq!(info["versions"][0]["version"], "0.1.1");
    assert_eq!(info["versions"][0]["install_sources"][0]["type"], "git");
    let text = k.run(&["info", "ansible"]).ok().stdout;
    assert!(
        text.contains("provided by registry `attune`")
            && text.contains("source: git https://github.com/attune-packs/ansible.git"),
        "{text}"
    );
    assert_eq!(server.requests().len(), 1, "search and info read the cache");

    server.clear_log();
    let o = k.run(&["update", "attune"]).ok();
    assert!(o.stdout.contains("up to date"), "{}", o.stdout);
    let second = server.requests();
    assert_eq!(second.len(), 1);
    let etag =
        knap_test_support::server::etag_of(&std::fs::read(site.path().join("index.json")).unwrap());
    assert_eq!(second[0].header("if-none-match"), Some(etag.as_str()));
    assert!(second[0].header("if-modified-since").is_some());
    assert_eq!(second[0].status, 304);
    assert_eq!(second[0].body_len, 0, "a 304 downloads no body");
}

/// A server with a small valid index, a knap that has fetched it once, and
/// the cached bytes.
fn good_registry() -> (Server, Knap, tempfile::TempDir, Vec<u8>) {
    let site = tempfile::tempdir().unwrap();
    write_json(
        &site.path().join("index.json"),
        &index(
            "Good",
            vec![
                entry("core", "1.0.0", &[]),
                entry("slack", "2.1.0", &["core@^1"]),
            ],
        ),
    );
    let server = Server::start(files(site.path().to_path_buf()));
    let mut k = Knap::new();
    k.set("KNAP_HTTP_RETRIES", "2");
    k.run(&["registry", "add", "good", &server.url("/index.json")])
        .ok();
    k.run(&["update"]).ok();
    let cached = cached_index(&k);
    (server, k, site, cached)
}

fn cached_index(k: &Knap) -> Vec<u8> {
    let dir = std::fs::read_dir(k.cache().join("registries"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    std::fs::read(dir.join("index.json")).unwrap()
}

/// The fault's exit code and message, then: the cache is the last good copy
/// and still answers.
#[track_caller]
fn assert_fault(k: &Knap, cached: &[u8], code: i32, needle: &str) -> Out {
    let o = k.run(&["update"]);
    assert_eq!(o.code, code, "{o:#?}");
    assert!(
        o.stderr.contains(needle),
        "stderr lacks {needle:?}:\n{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("good"),
        "the error names the registry:\n{}",
        o.stderr
    );
    assert_eq!(cached_index(k), cached, "the last good copy is kept");
    let info = k.run(&["--offline", "info", "slack", "--json"]).ok().json();
    assert_eq!(info["versions"][0]["version"], "2.1.0");
    o
}

#[test]
fn http_500_is_retried_then_exit_5() {
    let (server, k, _site, cached) = good_registry();
    server.set_handler(Arc::new(|_: &Req| Reply::status(500, b"boom")));
    server.clear_log();
    assert_fault(&k, &cached, 5, "HTTP 500");
    assert_eq!(
        server.requests().len(),
        3,
        "one try and KNAP_HTTP_RETRIES=2 retries"
    );
}

#[test]
fn connection_reset_is_exit_5() {
    let (server, k, _site, cached) = good_registry();
    server.set_reset(true);
    server.clear_log();
    let o = assert_fault(&k, &cached, 5, &server.url("/index.json"));
    assert!(
        server.requests().len() >= 2,
        "connection errors are retried"
    );
    drop(o);
}

#[test]
fn stalled_server_times_out_with_exit_5() {
    let (server, mut k, _site, cached) = good_registry();
    server.set_handler(Arc::new(|_: &Req| Reply::Stall));
    k.set("KNAP_HTTP_TIMEOUT", "1");
    assert_fault(&k, &cached, 5, "timed out");
}

#[test]
fn truncated_body_is_exit_5() {
    let (server, k, site, cached) = good_registry();
    let full = std::fs::read(site.path().join("index.json")).unwrap();
    server.set_handler(Arc::new(move |_: &Req| Reply::Truncated {
        declared: full.len(),
        body: full[..full.len() / 2].to_vec(),
    }));
    assert_fault(&k, &cached, 5, "cut off");
}

#[test]
fn invalid_json_is_exit_4() {
    let (server, k, _site, cached) = good_registry();
    server.set_handler(Arc::new(|_: &Req| {
        Reply::status(200, b"{\"registry_name\": ")
    }));
    assert_fault(&k, &cached, 4, "not valid JSON");
}

#[test]
fn index_failing_validation_is_exit_4_naming_the_json_path() {
    let (server, k, _site, cached) = good_registry();
    let mut bad = index("Bad", vec![entry("slack", "3.0.0", &[])]);
    bad["packs"][0]["install_sources"][0]["checksum"] = "md5:abc".into();
    let body = serde_json::to_vec(&bad).unwrap();
    server.set_handler(Arc::new(move |_: &Req| Reply::status(200, &body)));
    assert_fault(&k, &cached, 4, "$.packs[0].install_sources[0].checksum");
}

#[test]
fn oversized_index_is_refused_while_streaming_with_exit_4() {
    let (server, mut k, site, cached) = good_registry();
    // Highly compressible: gzip's Content-Length is far below the limit, the
    // decompressed body far above it, so only the streaming check can stop it.
    let entries: Vec<_> = (0..300)
        .map(|i| entry(&format!("pack{i:03}"), "1.0.0", &[]))
        .collect();
    write_json(&site.path().join("index.json"), &index("Big", entries));
    let size = std::fs::metadata(site.path().join("index.json"))
        .unwrap()
        .len();
    let limit = 20_000;
    assert!(size > 5 * limit);
    k.set("KNAP_MAX_INDEX_SIZE", &limit.to_string());
    server.clear_log();
    assert_fault(&k, &cached, 4, "larger than the limit");
    let sent = server.requests()[0].body_len as u64;
    assert!(
        sent < limit,
        "gzip sent {sent} bytes, under the limit of {limit}"
    );
}

#[test]
fn token_goes_to_the_registry_host_only_and_is_never_written() {
    let site = tempfile::tempdir().unwrap();
    write_json(
        &site.path().join("index.json"),
        &index("Private", vec![entry("core", "1.0.0", &[])]),
    );
    let other = Server::start(files(site.path().to_path_buf()));
    let target = format!("http://localhost:{}/index.json", other.addr.port());
    let home = Server::start(files(site.path().to_path_buf()));
    let mut k = Knap::new();
    k.set("PRIV_TOKEN", "s3cret-token");
    k.run(&[
        "registry",
        "add",
        "priv",
        &home.url("/index.json"),
        "--token-env",
        "PRIV_TOKEN",
    ])
    .ok();
    let o = k.run(&["-v", "update"]).ok();
    assert_eq!(
        home.requests()[0].header("authorization"),
        Some("Bearer s3cret-token")
    );
    // Now the registry redirects to another host (localhost, not 127.0.0.1).
    home.set_handler(Arc::new(move |_: &Req| Reply::Full {
        status: 302,
        headers: vec![("Location".into(), target.clone())],
        body: vec![],
    }));
    std::fs::write(
        site.path().join("index.json"),
        serde_json::to_vec(&index("Private", vec![entry("core", "1.0.1", &[])])).unwrap(),
    )
    .unwrap();
    let o2 = k.run(&["-vv", "update"]).ok();
    let r = other.requests();
    assert_eq!(r.len(), 1, "the redirect was followed");
    assert_eq!(
        r[0].header("authorization"),
        None,
        "no token on a redirect to another host"
    );
    let info = k.run(&["info", "core", "--json"]).ok().json();
    assert_eq!(info["versions"][0]["version"], "1.0.1");
    for text in [
        o.stdout,
        o.stderr,
        o2.stdout,
        o2.stderr,
        std::fs::read_to_string(k.config()).unwrap(),
    ] {
        assert!(!text.contains("s3cret"), "the token leaked: {text}");
    }
    for f in walk(&k.cache()) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("s3cret"),
            "token in {}",
            f.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// An index of a (two versions, the newer depending on b), b and c, served
/// and fetched: the knap, its server, the site and the per-ref cache dir.
fn split_registry() -> (Knap, Server, tempfile::TempDir, std::path::PathBuf) {
    let site = tempfile::tempdir().unwrap();
    write_json(
        &site.path().join("index.json"),
        &index(
            "Split",
            vec![
                entry("a", "1.0.0", &[]),
                entry("a", "1.1.0", &["b@^1"]),
                entry("b", "1.0.0", &[]),
                entry("c", "2.0.0", &[]),
            ],
        ),
    );
    let server = Server::start(files(site.path().to_path_buf()));
    let k = Knap::new();
    k.run(&["registry", "add", "split", &server.url("/")]).ok();
    k.run(&["update"]).ok();
    let dir = std::fs::read_dir(k.cache().join("registries"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path()
        .join("refs");
    (k, server, site, dir)
}

#[test]
fn update_splits_the_index_per_ref_and_info_and_search_read_the_split() {
    let (k, server, _site, dir) = split_registry();
    let mut files: Vec<String> = std::fs::read_dir(dir.join("packs"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, ["a.json", "b.json", "c.json"]);
    let a: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("packs/a.json")).unwrap()).unwrap();
    assert_eq!(a["ref"], "a");
    assert_eq!(a["versions"][1]["version"], "1.1.0");
    // The search table: a head line, then a row per line in ref order
    // (ref, newest version, versions, label, description, keywords, ...).
    let table = std::fs::read_to_string(dir.join("search.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = table
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines[0],
        serde_json::json!({"format": "knap-search-2", "rows": 3})
    );
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[1][0], "a");
    assert_eq!(lines[1][1], "1.1.0", "the newest version");
    assert_eq!(lines[1][2], serde_json::json!(["1.0.0", "1.1.0"]));
    assert_eq!(lines[3][0], "c");

    // What info and search show comes from these files (a valid change to
    // them shows), not from index.json, and needs no request.
    server.clear_log();
    let mut a2 = a.clone();
    a2["versions"][1]["description"] = "From the per-ref file".into();
    write_json(&dir.join("packs/a.json"), &a2);
    let info = k.run(&["info", "a", "--json"]).ok().json();
    assert_eq!(info["versions"][1]["description"], "From the per-ref file");
    assert_eq!(
        info["versions"][1]["dependencies"][0],
        serde_json::json!({"spec": "b@^1", "registry": "split"})
    );
    let mut c_row = lines[3].clone();
    c_row[4] = "From the search table".into();
    let mut t2: Vec<String> = table.lines().map(str::to_owned).collect();
    t2[3] = c_row.to_string();
    std::fs::write(dir.join("search.jsonl"), t2.join("\n") + "\n").unwrap();
    let hits = k.run(&["search", "c", "--json"]).ok().json();
    let c = hits
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["ref"] == "c")
        .unwrap();
    assert_eq!(c["description"], "From the search table");
    assert_eq!(c["version"], "2.0.0");
    assert_eq!(server.requests().len(), 0, "{:?}", server.requests());
}

#[test]
fn a_damaged_per_ref_cache_is_refused_and_split_again_from_the_index() {
    let (k, server, _site, dir) = split_registry();
    let good_a = std::fs::read(dir.join("packs/a.json")).unwrap();
    let good_table = std::fs::read(dir.join("search.jsonl")).unwrap();
    server.clear_log();

    // A per-ref file that parses but names another ref, and a torn one.
    std::fs::write(
        dir.join("packs/a.json"),
        br#"{"ref": "evil", "versions": []}"#,
    )
    .unwrap();
    std::fs::write(dir.join("packs/b.json"), b"{\"ref\": \"b\", \"vers").unwrap();
    let info = k.run(&["info", "a", "--json"]).ok().json();
    assert_eq!(info["versions"].as_array().unwrap().len(), 2, "{info}");
    assert_eq!(info["versions"][1]["dependencies"][0]["registry"], "split");
    assert_eq!(std::fs::read(dir.join("packs/a.json")).unwrap(), good_a);

    // Search tables that are not one: a row with a bad ref, a row cut
    // short, rows out of order, fewer rows than the head says, a row that
    // does not parse. Each is refused, whatever the query (a row that
    // cannot match is still checked for its ref and place), and the table
    // is written again from the cached index.
    let good = String::from_utf8(good_table.clone()).unwrap();
    let rows: Vec<&str> = good.lines().collect();
    let bad_tables = [
        format!("{}\n[\"../x\"]\n", rows[0]),
        good[..good.len() - 3].to_owned(),
        format!("{}\n{}\n{}\n{}\n", rows[0], rows[2], rows[1], rows[3]),
        format!("{}\n{}\n{}\n", rows[0], rows[1], rows[2]),
        format!("{}\n{}\n{}\n{}\n", rows[0], rows[1], "[\"b\",2]", rows[3]),
    ];
    for (i, bad) in bad_tables.iter().enumerate() {
        for q in ["", "b"] {
            std::fs::write(dir.join("search.jsonl"), bad).unwrap();
            let hits = k.run(&["search", q, "--json"]).ok().json();
            let refs: Vec<&str> = hits
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["ref"].as_str().unwrap())
                .collect();
            let want: &[&str] = if q.is_empty() {
                &["a", "b", "c"]
            } else {
                &["b"]
            };
            assert_eq!(refs, want, "table {i}, query `{q}`");
            assert_eq!(
                std::fs::read(dir.join("search.jsonl")).unwrap(),
                good_table,
                "table {i}, query `{q}`: split again"
            );
        }
    }
    assert_eq!(
        server.requests().len(),
        0,
        "split again from the cached copy"
    );
}

#[test]
fn a_cache_without_a_split_is_split_on_first_use() {
    let (k, server, _site, dir) = split_registry();
    std::fs::remove_dir_all(&dir).unwrap();
    server.clear_log();
    let info = k.run(&["info", "c", "--json"]).ok().json();
    assert_eq!(info["versions"][0]["version"], "2.0.0");
    assert!(dir.join("packs/c.json").is_file() && dir.join("search.jsonl").is_file());
    assert_eq!(server.requests().len(), 0);
}

// Finding 11 (client parts).

/// A server that answers every request with 304 Not Modified, asked or not.
fn always_304() -> Server {
    Server::start(std::sync::Arc::new(|_req: &Req| Reply::status(304, b"")))
}

#[test]
fn a_304_without_a_cached_copy_is_not_up_to_date() {
    let mut s = Scene::new();
    let liar = always_304();
    s.k.run(&["registry", "add", "liar", &liar.url("/index.json")])
        .ok();
    let sparse = always_304();
    s.k.run(&[
        "registry",
        "add",
        "sparse-liar",
        &format!("sparse+{}", sparse.url("/")),
    ])
    .ok();
    s.before = Tree::skipping(s.k.dir.path(), SKIP);
    for name in ["liar", "sparse-liar"] {
        let o = s.k.run(&["update", name]);
        assert_eq!(o.code, 5, "{name}: {o:#?}");
        assert!(
            o.stderr
                .contains("answered 304 Not Modified to a request that named no cached copy"),
            "{name}: {}",
            o.stderr
        );
        s.assert_unharmed(name);
    }
    // Every request was unconditional: there was nothing to revalidate.
    for r in liar.requests().iter().chain(sparse.requests().iter()) {
        assert!(r.header("if-none-match").is_none(), "{r:?}");
        assert!(r.header("if-modified-since").is_none(), "{r:?}");
    }
}

#[test]
fn a_304_for_a_cached_copy_that_is_gone_refetches_unconditionally() {
    let s = Scene::new();
    // The cached copy of the site's index disappears (its metadata stays).
    fn remove_indices(dir: &Path) -> usize {
        let mut n = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                n += remove_indices(&p);
            } else if p.file_name().is_some_and(|f| f == "index.json") {
                std::fs::remove_file(&p).unwrap();
                n += 1;
            }
        }
        n
    }
    let removed = remove_indices(&s.k.cache());
    assert_eq!(removed, 1, "one cached index");
    s.site.server.clear_log();
    s.k.run(&["update"]).ok();
    let index_gets: Vec<_> = s
        .site
        .server
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("index.json"))
        .collect();
    assert_eq!(index_gets.len(), 1, "{index_gets:?}");
    assert!(index_gets[0].header("if-none-match").is_none());
    assert_eq!(index_gets[0].status, 200);
    let o = s.k.at(&s.root, &["info", "victim", "--offline"]).ok();
    assert!(o.stdout.contains("victim"), "{o:?}");
    s.assert_unharmed("");
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
