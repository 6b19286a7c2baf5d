//! `[[mirror]]` (issue 22, formats.md §6), end to end with three servers:
//! the registry A, whose index names archives (and git repositories) under
//! the prefix of host B, and the mirror C, holding the same files, that a
//! `[[mirror]]` rewrites B's prefix to. The servers' logs show which host
//! served what: C serves every archive and B sees no request, even when C
//! fails (there is no fallback); what C serves is checked as B's would be;
//! the mirror's token goes to C only; `knap.lock` keeps B's URLs.

use knap_test_support::prelude::*;
use serde_json::json;

const MIRROR_TOKEN: &str = "m1rror-token";
const REGISTRY_TOKEN: &str = "r3gistry-token";

/// The three hosts of a test and their directories.
struct Hosts {
    a: Server,
    b: Server,
    c: Server,
    c_dir: tempfile::TempDir,
    /// Pack `p` 1.0.0 as published.
    pack: std::path::PathBuf,
    _dirs: Vec<tempfile::TempDir>,
}

/// A registry on A with pack `p` 1.0.0, whose archive is at
/// `<B>/archives/p.tar.gz`; the same archive on C at `/mirror/p.tar.gz`.
fn hosts() -> Hosts {
    let (a_dir, b_dir, c_dir, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let pack = make_pack(work.path(), "p", "1.0.0", &[]);
    let bytes = tar_gz_dir(&pack);
    write(&b_dir.path().join("archives/p.tar.gz"), &bytes);
    write(&c_dir.path().join("mirror/p.tar.gz"), &bytes);
    let (a, b, c) = (
        Server::start(files(a_dir.path().to_path_buf())),
        Server::start(files(b_dir.path().to_path_buf())),
        Server::start(files(c_dir.path().to_path_buf())),
    );
    write_json(
        &a_dir.path().join("index.json"),
        &index(
            "Origin",
            vec![entry_with(
                "p",
                "1.0.0",
                &[],
                json!([{"type": "archive", "url": b.url("/archives/p.tar.gz"), "checksum": sha(&bytes)}]),
            )],
        ),
    );
    Hosts {
        a,
        b,
        c,
        c_dir,
        pack,
        _dirs: vec![a_dir, b_dir, work],
    }
}

/// A knap with registry `r` at A (sending `$REG_TOKEN`) and a mirror of
/// B's `/archives/` at `replace` (sending `$MIRROR_TOKEN`).
fn knap(h: &Hosts, prefix: &str, replace: &str) -> Knap {
    let mut k = Knap::new();
    k.set("REG_TOKEN", REGISTRY_TOKEN);
    k.set("MIRROR_TOKEN", MIRROR_TOKEN);
    k.set("KNAP_HTTP_RETRIES", "0");
    k.run(&[
        "registry",
        "add",
        "r",
        &h.a.url("/"),
        "--token-env",
        "REG_TOKEN",
    ])
    .ok();
    let mut config = std::fs::read_to_string(k.config()).unwrap();
    config.push_str(&format!(
        "\n[[mirror]]\nprefix = \"{prefix}\"\nreplace = \"{replace}\"\ntoken_env = \"MIRROR_TOKEN\"\n"
    ));
    std::fs::write(k.config(), config).unwrap();
    k
}

fn install(k: &Knap, extra: &[&str]) -> Out {
    let root = k.dir.path().join("root");
    let mut args = vec!["--root", root.to_str().unwrap()];
    args.extend(extra);
    args.extend(["install", "p"]);
    k.run(&args)
}

fn paths(s: &Server) -> Vec<String> {
    s.requests().into_iter().map(|r| r.path).collect()
}

#[test]
fn archives_under_the_prefix_come_from_the_mirror_and_the_lock_keeps_the_original_url() {
    let h = hosts();
    let k = knap(&h, &h.b.url("/archives/"), &h.c.url("/mirror/"));
    let o = install(&k, &["-v"]).ok();
    let root = k.dir.path().join("root");
    assert_eq!(digest(&root.join("p")), digest(&h.pack));
    assert_eq!(
        paths(&h.c),
        vec!["/mirror/p.tar.gz"],
        "the mirror served it"
    );
    assert_eq!(paths(&h.b), Vec::<String>::new(), "the origin saw nothing");
    let lock = std::fs::read_to_string(root.join("knap.lock")).unwrap();
    assert!(lock.contains(&h.b.url("/archives/p.tar.gz")), "{lock}");
    assert!(!lock.contains(&h.c.url("/")), "{lock}");
    // `-v` says which mirror served the source.
    assert!(
        o.stderr.contains(&format!(
            "p 1.0.0: {} is fetched from the mirror, at {}",
            h.b.url("/archives/p.tar.gz"),
            h.c.url("/mirror/p.tar.gz")
        )),
        "{}",
        o.stderr
    );
}

#[test]
fn the_mirrors_token_reaches_the_mirror_only() {
    let h = hosts();
    let k = knap(&h, &h.b.url("/archives/"), &h.c.url("/mirror/"));
    install(&k, &[]).ok();
    let c = h.c.requests();
    assert!(!c.is_empty());
    for r in &c {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {MIRROR_TOKEN}").as_str()),
            "{} got no mirror token",
            r.path
        );
    }
    let a = h.a.requests();
    assert!(!a.is_empty());
    for r in &a {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {REGISTRY_TOKEN}").as_str()),
            "the registry got another token on {}",
            r.path
        );
    }
    assert!(h.b.requests().is_empty());
}

#[test]
fn a_tampered_archive_on_the_mirror_is_refused() {
    let h = hosts();
    let f = h.c_dir.path().join("mirror/p.tar.gz");
    let mut bytes = std::fs::read(&f).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&f, bytes).unwrap();
    let k = knap(&h, &h.b.url("/archives/"), &h.c.url("/mirror/"));
    let o = install(&k, &[]).code(4);
    assert!(
        o.stderr
            .contains(&format!("from the mirror `{}`", h.c.url("/mirror/"))),
        "{}",
        o.stderr
    );
    assert!(!k.dir.path().join("root/p").exists());
    assert!(h.b.requests().is_empty(), "no fallback to the origin");
}

#[test]
fn a_mirror_that_is_down_is_a_clear_error_and_the_origin_is_never_contacted() {
    let h = hosts();
    let down = Server::start(files(h.c_dir.path().to_path_buf()));
    let replace = down.url("/mirror/");
    drop(down);
    let k = knap(&h, &h.b.url("/archives/"), &replace);
    let o = install(&k, &[]).code(5);
    assert!(
        o.stderr.contains(&format!(
            "from the mirror `{replace}` (for `{}`; the original URL is not tried)",
            h.b.url("/archives/p.tar.gz")
        )),
        "{}",
        o.stderr
    );
    assert!(h.b.requests().is_empty(), "no fallback to the origin");
    assert!(!k.dir.path().join("root/p").exists());
}

#[test]
fn a_bundle_takes_its_archives_from_the_mirror() {
    let h = hosts();
    let k = knap(&h, &h.b.url("/archives/"), &h.c.url("/mirror/"));
    install(&k, &[]).ok();
    // A cold cache: the archive is downloaded again.
    std::fs::remove_dir_all(k.cache()).unwrap();
    h.c.clear_log();
    let (root, out) = (k.dir.path().join("root"), k.dir.path().join("bundle"));
    k.run(&[
        "--root",
        root.to_str().unwrap(),
        "bundle",
        "create",
        "-o",
        out.to_str().unwrap(),
    ])
    .ok();
    assert!(out.join("archives/p-1.0.0.tar.gz").is_file());
    assert_eq!(paths(&h.c), vec!["/mirror/p.tar.gz"]);
    assert!(h.b.requests().is_empty(), "the origin saw nothing");
}

#[test]
fn a_prefix_that_does_not_match_leaves_the_source_alone() {
    let h = hosts();
    // `/archive/` is not a path-boundary prefix of `/archives/p.tar.gz`.
    let k = knap(&h, &h.b.url("/archive/"), &h.c.url("/mirror/"));
    install(&k, &[]).ok();
    assert_eq!(paths(&h.b), vec!["/archives/p.tar.gz"]);
    assert!(h.c.requests().is_empty());
}

#[test]
fn a_git_source_under_the_prefix_is_fetched_from_the_mirror() {
    let (a_dir, b_dir, c_dir, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (pack, commit) = git_pack(work.path(), "g", "1.0.0");
    for d in [b_dir.path(), c_dir.path()] {
        git(
            d,
            &["clone", "-q", "--bare", pack.to_str().unwrap(), "g.git"],
        );
    }
    let (a, b, c) = (
        Server::start(files(a_dir.path().to_path_buf())),
        Server::start(git_cgi(b_dir.path().to_path_buf())),
        Server::start(git_cgi(c_dir.path().to_path_buf())),
    );
    write_json(
        &a_dir.path().join("index.json"),
        &index(
            "Origin",
            vec![git_entry(
                "g",
                "1.0.0",
                &b.url("/g.git"),
                &commit,
                &digest(&pack),
            )],
        ),
    );
    let k = Knap::new();
    k.run(&["registry", "add", "r", &a.url("/")]).ok();
    let mut config = std::fs::read_to_string(k.config()).unwrap();
    config.push_str(&format!(
        "\n[[mirror]]\nprefix = \"{}\"\nreplace = \"{}\"\n",
        b.url("/"),
        c.url("/")
    ));
    std::fs::write(k.config(), config).unwrap();
    let root = k.dir.path().join("root");
    k.run(&["--root", root.to_str().unwrap(), "install", "g"])
        .ok();
    assert_eq!(digest(&root.join("g")), digest(&pack));
    assert!(!c.requests().is_empty(), "the mirror served the repository");
    assert!(b.requests().is_empty(), "the origin saw nothing");
    let lock = std::fs::read_to_string(root.join("knap.lock")).unwrap();
    assert!(lock.contains(&b.url("/g.git")), "{lock}");
}

#[test]
fn a_bad_mirror_prefix_exits_2_naming_the_key() {
    let k = Knap::new();
    std::fs::write(
        k.config(),
        "[[mirror]]\nprefix = \"http://github.com/\"\nreplace = \"https://m.example/\"\n",
    )
    .unwrap();
    let o = k.run(&["list"]).code(2);
    assert!(o.stderr.contains("`mirror.0.prefix`"), "{}", o.stderr);
    assert!(o.stderr.contains("plain http://"), "{}", o.stderr);
}

#[test]
fn doctor_lists_the_mirrors_and_what_each_serves() {
    let h = hosts();
    let k = knap(&h, &h.b.url("/archives/"), &h.c.url("/mirror/"));
    install(&k, &[]).ok();
    let root = k.dir.path().join("root");
    let o = k.at(&root, &["doctor"]).ok();
    knap_test_support::assert_out!(o);
    let j = k.at(&root, &["doctor", "--json"]).ok().json();
    assert_eq!(
        j["mirrors"],
        json!([{
            "prefix": h.b.url("/archives/"),
            "replace": h.c.url("/mirror/"),
            "token_env": "MIRROR_TOKEN",
            "token_set": true,
            "packs": ["p 1.0.0"],
        }])
    );
}
