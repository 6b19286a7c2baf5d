//! The project's `example-index/` as a user meets it (the README quick
//! start): added as a local registry, `knap update`, then `--offline`
//! installs. Every published version of every example pack installs into a
//! fresh root with its dependencies, and ticketing + alerts is the
//! deliberate conflict the docs show.

use std::collections::BTreeMap;

use knap_schema::Dependency;
use knap_schema::digest::tree_digest;
use knap_schema::manifest::read_pack_dir;
use knap_test_support::prelude::*;
use serde_json::Value;

use crate::fixtures::*;

/// Every `(ref, version)` of the example index.
fn published() -> Vec<(String, String)> {
    let index: Value =
        serde_json::from_slice(&std::fs::read(example_index().join("index.json")).unwrap())
            .unwrap();
    index["packs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["ref"].as_str().unwrap().to_owned(),
                e["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Installs `spec` offline into a fresh root under `k`'s directory and
/// checks the root: every pack in `knap.lock` is installed with the locked
/// version in its pack.yaml and exactly the files of
/// `example-index/src/<ref>/<version>/`, and every dependency of every
/// installed pack is installed at a version its requirement allows.
/// Returns ref -> installed version.
fn install_and_check(k: &Knap, spec: &str) -> BTreeMap<String, String> {
    let root = k
        .dir
        .path()
        .join(format!("root-{}", spec.replace(['@', '='], "-")));
    assert!(!root.exists(), "{spec}: a fresh root");
    k.run(&[
        "--offline",
        "--root",
        root.to_str().unwrap(),
        "install",
        spec,
    ])
    .ok();
    let lock: Value =
        serde_json::from_slice(&std::fs::read(root.join("knap.lock")).unwrap()).unwrap();
    let mut installed = BTreeMap::new();
    let mut manifests = Vec::new();
    for p in lock["packs"].as_array().unwrap() {
        let (r, v) = (p["ref"].as_str().unwrap(), p["version"].as_str().unwrap());
        assert_eq!(p["registry"], "example", "{spec}: {r}");
        let m = read_pack_dir(&root.join(r))
            .unwrap_or_else(|e| panic!("{spec}: installed {r}/pack.yaml: {e}"));
        assert_eq!(m.pack_ref, r, "{spec}: {r}/pack.yaml ref");
        assert_eq!(m.version.to_string(), v, "{spec}: {r}/pack.yaml version");
        let src = example_index().join("src").join(r).join(v);
        let tree = tree_digest(&root.join(r)).unwrap().checksum;
        assert_eq!(
            tree,
            tree_digest(&src).unwrap().checksum,
            "{spec}: {r} files"
        );
        assert_eq!(p["tree"], tree, "{spec}: {r} tree in knap.lock");
        installed.insert(r.to_owned(), v.to_owned());
        manifests.push(m);
    }
    let dirs: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "knap.lock" && n != ".knap")
        .collect();
    assert_eq!(
        dirs.len(),
        installed.len(),
        "{spec}: only locked packs in {dirs:?}"
    );
    for m in &manifests {
        for d in m.dependencies.iter().flat_map(|d| &d.packs) {
            let d = Dependency::parse(d).unwrap();
            let v = installed.get(d.pack.as_str()).unwrap_or_else(|| {
                panic!("{spec}: {} needs {}, not installed", m.pack_ref, d.pack)
            });
            assert!(
                d.req.matches(&semver::Version::parse(v).unwrap()),
                "{spec}: {} needs {d}, got {v}",
                m.pack_ref
            );
        }
    }
    installed
}

fn want(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(r, v)| (r.to_string(), v.to_string()))
        .collect()
}

#[test]
fn every_example_pack_installs_offline_with_its_dependencies() {
    let k = knap_with_example_index();
    // The newest version of each ref, and what comes with it.
    let expected = [
        ("hello", want(&[("hello", "1.1.0")])),
        ("notify", want(&[("hello", "1.1.0"), ("notify", "2.0.0")])),
        (
            "ticketing",
            want(&[
                ("hello", "1.1.0"),
                ("notify", "1.1.0"),
                ("ticketing", "1.0.0"),
            ]),
        ),
        (
            "alerts",
            want(&[("alerts", "1.0.0"), ("hello", "1.1.0"), ("notify", "2.0.0")]),
        ),
        (
            "uptime",
            want(&[
                ("alerts", "1.0.0"),
                ("hello", "1.1.0"),
                ("notify", "2.0.0"),
                ("uptime", "0.1.0"),
            ]),
        ),
    ];
    let mut refs: Vec<String> = published().into_iter().map(|(r, _)| r).collect();
    refs.dedup();
    let mut listed: Vec<String> = expected.iter().map(|(r, _)| r.to_string()).collect();
    listed.sort();
    assert_eq!(
        refs, listed,
        "this test names every ref of the example index"
    );
    for (r, want) in expected {
        assert_eq!(install_and_check(&k, r), want, "knap install {r}");
    }
}

#[test]
fn every_published_version_installs_offline_in_a_fresh_root() {
    let k = knap_with_example_index();
    let all = published();
    assert!(all.len() >= 8, "{all:?}");
    for (r, v) in all {
        let installed = install_and_check(&k, &format!("{r}@={v}"));
        assert_eq!(installed.get(&r), Some(&v), "{r}@={v}");
    }
}

#[test]
fn ticketing_and_alerts_together_is_the_documented_conflict() {
    let k = knap_with_example_index();
    let root = k.dir.path().join("root");
    let o = k.run(&[
        "--offline",
        "--root",
        root.to_str().unwrap(),
        "install",
        "ticketing",
        "alerts",
    ]);
    assert_eq!(o.code, 3, "{o:?}");
    for party in ["ticketing", "alerts", "notify@^1", "notify@^2"] {
        assert!(o.stderr.contains(party), "{party} not named:\n{}", o.stderr);
    }
    assert!(!root.join("knap.lock").exists(), "nothing installed");
    for r in ["ticketing", "alerts", "notify", "hello"] {
        assert!(!root.join(r).exists(), "{r} not installed");
    }

    // Each alone is fine (the README's point: they need different notify).
    install_and_check(&k, "ticketing");
    install_and_check(&k, "alerts");
}
