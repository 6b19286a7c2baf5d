//! `knap-index keys generate`, `knap-index sign` and `build --sign`: keys
//! from files and environment variables (never arguments), the metadata of
//! formats.md section 7 verified by knap-trust (the client's verifier),
//! thresholds, rotation, `--timestamp-only`, and no HTTP client in
//! knap-index.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use common::*;
use knap_trust::verify::{DirFetch, Pin, Verifier};

fn example_index() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../example-index")
}

fn generate(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    let out = knap_index(["keys", "generate", "-o", path.to_str().unwrap()]);
    assert_exit(&out, 0);
    (path, stdout(&out).trim().to_string())
}

fn verify(site: &Path, cache: &Path) -> knap_trust::Verified {
    let root = std::fs::read(site.join("tuf/1.root.json")).unwrap();
    let v = Verifier::new(
        Arc::new(DirFetch { root: site.into() }),
        Pin::Root(root),
        cache,
    );
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(v.update())
        .unwrap()
}

fn built_site(tmp: &Path) -> PathBuf {
    let site = tmp.join("site");
    assert_exit(
        &knap_index([
            "build",
            example_index().to_str().unwrap(),
            "-o",
            site.to_str().unwrap(),
            "--base-url",
            "https://example.org/reg/",
        ]),
        0,
    );
    site
}

fn sign(args: &[&str]) -> Output {
    let mut all = vec!["sign"];
    all.extend(args);
    knap_index(all)
}

#[test]
fn keys_generate_writes_a_private_key_file_and_prints_its_id() {
    let tmp = tempfile::tempdir().unwrap();
    let (path, id) = generate(tmp.path(), "root.key");
    assert_eq!(id.len(), 64, "{id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // Never overwritten.
    let again = knap_index(["keys", "generate", "-o", path.to_str().unwrap()]);
    assert_exit(&again, 2);
    assert!(
        stderr(&again).contains("never overwrites a key"),
        "{}",
        stderr(&again)
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn sign_writes_metadata_that_the_client_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let site = built_site(tmp.path());
    let (key, id) = generate(tmp.path(), "k");
    let out = sign(&[site.to_str().unwrap(), "--key", key.to_str().unwrap()]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains(&id), "{}", stdout(&out));
    for f in [
        "1.root.json",
        "timestamp.json",
        "1.snapshot.json",
        "1.targets.json",
    ] {
        assert!(site.join("tuf").join(f).is_file(), "{f}");
    }
    let v = verify(&site, &tmp.path().join("cache"));
    assert_eq!(v.root_key_ids, vec![id]);
    assert!(v.targets.contains_key("index.json"));
    assert!(v.targets.contains_key("config.json"));
    let packs = std::fs::read_dir(site.join("packs"))
        .unwrap()
        .filter(|e| {
            let n = e.as_ref().unwrap().file_name();
            n.to_str().unwrap().split('.').count() == 2
        })
        .count();
    assert!(packs > 0);
    assert_eq!(v.targets.len(), packs + 2, "{:?}", v.targets.keys());
    for (name, t) in &v.targets {
        v.check(name, &std::fs::read(site.join(name)).unwrap())
            .unwrap();
        let copy = knap_trust::hashed_name(name, &t.sha256);
        assert!(site.join(&copy).is_file(), "{copy}");
    }
    // The default expiries: timestamp 1 day, targets 90, root 365.
    let ts = read_json(&site.join("tuf/timestamp.json"));
    let root = read_json(&site.join("tuf/1.root.json"));
    let days = |v: &serde_json::Value| {
        let t: jiff::Timestamp = v["signed"]["expires"].as_str().unwrap().parse().unwrap();
        ((t - jiff::Timestamp::now()).get_seconds() as f64 / 86400.0).round() as i64
    };
    assert_eq!(days(&ts), 1);
    assert_eq!(days(&root), 365);
    assert_eq!(days(&read_json(&site.join("tuf/1.targets.json"))), 90);
    assert_eq!(root["signed"]["consistent_snapshot"], true);
}

#[test]
fn keys_come_from_env_vars_and_never_from_an_argument() {
    let tmp = tempfile::tempdir().unwrap();
    let site = built_site(tmp.path());
    let (key, id) = generate(tmp.path(), "k");
    let pem = std::fs::read_to_string(&key).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_knap-index"))
        .args(["sign", site.to_str().unwrap(), "--key", "env:KNAP_TEST_KEY"])
        .env("KNAP_TEST_KEY", &pem)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert!(stdout(&out).contains(&id));
    let literal = sign(&[site.to_str().unwrap(), &format!("--key={pem}")]);
    assert_exit(&literal, 2);
    assert!(
        stderr(&literal).contains("never from the command line"),
        "{}",
        stderr(&literal)
    );
    let unset = sign(&[site.to_str().unwrap(), "--key", "env:KNAP_TEST_UNSET_VAR"]);
    assert_exit(&unset, 2);
    assert!(
        stderr(&unset).contains("KNAP_TEST_UNSET_VAR"),
        "{}",
        stderr(&unset)
    );
    let none = sign(&[site.to_str().unwrap()]);
    assert_exit(&none, 2);
}

/// A key file that cannot be read is told with the reason on its own
/// `caused by:` line (the key error's message leaves it to its cause).
#[test]
fn a_key_file_that_cannot_be_read_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let site = built_site(tmp.path());
    let missing = tmp.path().join("no-such.key");
    let o = sign(&[site.to_str().unwrap(), "--key", missing.to_str().unwrap()]);
    assert_exit(&o, 1);
    assert_eq!(
        stderr(&o),
        format!(
            "error: cannot read the key file {}\n  caused by: No such file or directory (os error 2)\n",
            missing.display()
        )
    );
}

#[test]
fn separate_role_keys_thresholds_expiry_and_timestamp_only() {
    let tmp = tempfile::tempdir().unwrap();
    let site = built_site(tmp.path());
    let (root, root_id) = generate(tmp.path(), "root");
    let (t1, _) = generate(tmp.path(), "t1");
    let (t2, _) = generate(tmp.path(), "t2");
    let (ts, _) = generate(tmp.path(), "ts");
    let s = |p: &PathBuf| p.to_str().unwrap().to_string();
    let out = sign(&[
        site.to_str().unwrap(),
        "--key",
        &s(&root),
        "--role",
        &format!("targets={}", s(&t1)),
        "--role",
        &format!("targets={}", s(&t2)),
        "--threshold",
        "targets=2",
        "--role",
        &format!("timestamp={}", s(&ts)),
        "--expires",
        "timestamp=3",
    ]);
    assert_exit(&out, 0);
    let root_json = read_json(&site.join("tuf/1.root.json"));
    assert_eq!(root_json["signed"]["roles"]["targets"]["threshold"], 2);
    assert_eq!(
        root_json["signed"]["roles"]["root"]["keyids"][0],
        root_id.as_str()
    );
    assert_eq!(
        read_json(&site.join("tuf/1.targets.json"))["signatures"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    verify(&site, &tmp.path().join("cache"));
    // The scheduled job: the timestamp key alone.
    let before = std::fs::read(site.join("tuf/1.targets.json")).unwrap();
    let out = sign(&[
        site.to_str().unwrap(),
        "--timestamp-only",
        "--role",
        &format!("timestamp={}", s(&ts)),
    ]);
    assert_exit(&out, 0);
    assert!(stderr(&out).contains("timestamp v2"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(site.join("tuf/1.targets.json")).unwrap(),
        before
    );
    verify(&site, &tmp.path().join("cache"));
    // A wrong key for the timestamp is refused, naming the role.
    let out = sign(&[site.to_str().unwrap(), "--timestamp-only", "--key", &s(&t1)]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("timestamp role needs re-signing"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn rotation_signs_the_new_root_with_old_and_new_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let site = built_site(tmp.path());
    let (old, _) = generate(tmp.path(), "old");
    let (new, new_id) = generate(tmp.path(), "new");
    assert_exit(
        &sign(&[site.to_str().unwrap(), "--key", old.to_str().unwrap()]),
        0,
    );
    let cache = tmp.path().join("cache");
    verify(&site, &cache);
    let refused = sign(&[site.to_str().unwrap(), "--key", new.to_str().unwrap()]);
    assert_exit(&refused, 2);
    assert!(
        stderr(&refused).contains("--old-root-key"),
        "{}",
        stderr(&refused)
    );
    let out = sign(&[
        site.to_str().unwrap(),
        "--key",
        new.to_str().unwrap(),
        "--old-root-key",
        old.to_str().unwrap(),
    ]);
    assert_exit(&out, 0);
    let v2 = read_json(&site.join("tuf/2.root.json"));
    assert_eq!(v2["signatures"].as_array().unwrap().len(), 2);
    let v = verify(&site, &cache);
    assert_eq!((v.root_version, v.root_key_ids.clone()), (2, vec![new_id]));
}

#[test]
fn build_sign_signs_the_site_and_a_rebuild_continues_its_versions() {
    let tmp = tempfile::tempdir().unwrap();
    let (key, _) = generate(tmp.path(), "k");
    let src = tmp.path().join("src");
    copy_tree(&example_index(), &src);
    let site = tmp.path().join("site");
    let build = |extra: &[&str]| {
        let mut args = vec![
            "build",
            src.to_str().unwrap(),
            "-o",
            site.to_str().unwrap(),
            "--base-url",
            "https://example.org/reg/",
        ];
        args.extend(extra);
        knap_index(args)
    };
    assert_exit(&build(&["--sign", key.to_str().unwrap()]), 0);
    let cache = tmp.path().join("cache");
    assert_eq!(verify(&site, &cache).targets_version, 1);
    // The same input: nothing re-signed.
    let out = build(&["--sign", key.to_str().unwrap()]);
    assert_exit(&out, 0);
    assert!(
        stderr(&out).contains("nothing re-signed"),
        "{}",
        stderr(&out)
    );
    assert_eq!(verify(&site, &cache).targets_version, 1);
    // A changed index: targets v2, and the client follows.
    let index = src.join("index.json");
    let mut json = read_json(&index);
    json["registry_name"] = "Renamed registry".into();
    write(&index, serde_json::to_vec_pretty(&json).unwrap());
    assert_exit(&build(&["--sign", key.to_str().unwrap()]), 0);
    assert_eq!(verify(&site, &cache).targets_version, 2);
}

#[test]
fn build_sign_continues_the_previous_publication_with_the_online_key_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let (root_key, root_id) = generate(tmp.path(), "root.key");
    let (online, _) = generate(tmp.path(), "online.key");
    let (stranger, stranger_id) = generate(tmp.path(), "stranger.key");
    let src = tmp.path().join("src");
    copy_tree(&example_index(), &src);
    let build = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "build",
            src.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--base-url",
            "https://example.org/reg/",
        ];
        args.extend(extra);
        knap_index(args)
    };
    // The publication: the root key (offline) signs root, the online key
    // the other roles.
    let published = tmp.path().join("published");
    assert_exit(&build(&published, &[]), 0);
    let online_role = |r: &str| format!("{r}={}", online.display());
    assert_exit(
        &sign(&[
            published.to_str().unwrap(),
            "--role",
            &format!("root={}", root_key.display()),
            "--role",
            &online_role("targets"),
            "--role",
            &online_role("snapshot"),
            "--role",
            &online_role("timestamp"),
        ]),
        0,
    );
    let cache = tmp.path().join("cache");
    assert_eq!(verify(&published, &cache).targets_version, 1);

    // Rebuilding a signed site without --sign says that it drops the
    // signatures.
    let copy = tmp.path().join("copy");
    copy_tree(&published, &copy);
    let out = build(&copy, &[]);
    assert_exit(&out, 0);
    assert!(stderr(&out).contains("add --sign KEY"), "{}", stderr(&out));
    assert!(!copy.join("tuf").exists());

    // The registry changes; CI rebuilds into a fresh directory with the
    // online key and the published site as --previous: one command, the
    // root chain continued, the client (pinned to root 1) follows.
    let index = src.join("index.json");
    let mut json = read_json(&index);
    json["registry_name"] = "Renamed registry".into();
    write(&index, serde_json::to_vec_pretty(&json).unwrap());
    let fresh = tmp.path().join("fresh");
    let out = build(
        &fresh,
        &[
            "--sign",
            online.to_str().unwrap(),
            "--previous",
            published.to_str().unwrap(),
        ],
    );
    assert_exit(&out, 0);
    assert_eq!(
        std::fs::read(fresh.join("tuf/1.root.json")).unwrap(),
        std::fs::read(published.join("tuf/1.root.json")).unwrap(),
        "the root is the published one"
    );
    assert!(!fresh.join("tuf/2.root.json").exists());
    let v = verify(&fresh, &cache);
    assert_eq!((v.root_version, v.targets_version), (1, 2));
    assert_eq!(v.root_key_ids, vec![root_id.clone()]);

    // By hand, in place: the output directory is the previous publication.
    json["registry_name"] = "Renamed again".into();
    write(&index, serde_json::to_vec_pretty(&json).unwrap());
    assert_exit(&build(&fresh, &["--sign", online.to_str().unwrap()]), 0);
    assert_eq!(verify(&fresh, &cache).targets_version, 3);

    // A key the previous root does not know is refused, naming both.
    let other = tmp.path().join("other");
    let out = build(
        &other,
        &[
            "--sign",
            stranger.to_str().unwrap(),
            "--previous",
            fresh.to_str().unwrap(),
        ],
    );
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains(&stranger_id) && stderr(&out).contains(&root_id),
        "{}",
        stderr(&out)
    );
    assert!(!other.exists(), "nothing written");
    // And a --previous without tuf/.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = build(
        &other,
        &[
            "--sign",
            online.to_str().unwrap(),
            "--previous",
            empty.to_str().unwrap(),
        ],
    );
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("no tuf/"), "{}", stderr(&out));
}

#[test]
fn knap_index_has_no_http_client() {
    let out = Command::new(env!("CARGO"))
        .args(["tree", "-p", "knap-index", "-e", "normal", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let tree = stdout(&out);
    assert!(tree.contains("tough"), "knap-index signs with tough");
    for client in ["reqwest", "hyper"] {
        assert!(
            !tree.contains(client),
            "{client} in knap-index's tree:\n{tree}"
        );
    }
}
