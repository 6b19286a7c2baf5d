//! Index documents that are bombs: huge, or nested deep, for every
//! registry kind (`KNAP_MAX_INDEX_SIZE` for local and git registries too).

use knap_test_support::prelude::*;
use serde_json::Value;

use crate::fixtures::*;

#[test]
fn index_bombs_huge_and_deeply_nested_are_refused() {
    let s = Scene::new();
    // 100,000 nested arrays where an entry should be.
    let deep = format!(
        "{{\"registry_name\":\"Bomb\",\"version\":\"1.0\",\"packs\":[{}{}]}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    std::fs::write(s.site.dir.path().join("index.json"), deep).unwrap();
    let o = s.k.run(&["update"]);
    assert_ne!(o.code, 0, "{o:?}");
    assert!(o.stderr.contains("site"), "{}", o.stderr);
    assert_no_raw_controls("deep index", &o);
    s.assert_unharmed("deep index");

    // A document past KNAP_MAX_INDEX_SIZE is cut off, not read whole.
    let big = format!(
        "{{\"registry_name\":\"Bomb\",\"pad\":\"{}\",\"packs\":[]}}",
        "x".repeat(4 << 20)
    );
    std::fs::write(s.site.dir.path().join("index.json"), big).unwrap();
    let mut env = s.k.env.clone();
    env.push(("KNAP_MAX_INDEX_SIZE".into(), "1048576".into()));
    let o = run_with(&s.k, env, &["update"]);
    assert_eq!(o.code, 4, "{o:?}");
    assert!(o.stderr.contains("larger than the limit"), "{}", o.stderr);
    s.assert_unharmed("huge index");
    // What was installed still resolves from the last good index.
    let o = s.k.at(&s.root, &["verify"]);
    assert_eq!(o.code, 0, "{o:?}");
}

#[test]
fn knap_max_index_size_applies_to_local_and_git_registries() {
    let mut s = Scene::new();
    let d = tempfile::tempdir().unwrap();
    // An index of some 200 KB: far over the limit set below, while the
    // site's own index stays under it.
    let many: Vec<Value> = (0..400)
        .map(|i| entry(&format!("pack{i:04}"), "1.0.0", &[]))
        .collect();
    let big = index("Big", many);
    write_json(&d.path().join("local/index.json"), &big);
    let work = d.path().join("work");
    write_json(&work.join("index.json"), &big);
    git(&work, &["init", "-q"]);
    git(&work, &["add", "index.json"]);
    git(&work, &["commit", "-q", "-m", "big"]);
    let size = std::fs::metadata(work.join("index.json")).unwrap().len();
    assert!(size > 100_000, "{size}");
    s.k.run(&[
        "registry",
        "add",
        "local-big",
        d.path().join("local").to_str().unwrap(),
    ])
    .ok();
    s.k.run(&[
        "registry",
        "add",
        "git-big",
        &format!("git+file://{}", work.display()),
    ])
    .ok();
    s.k.set("KNAP_MAX_INDEX_SIZE", "20000");
    s.before = Tree::skipping(s.k.dir.path(), SKIP);
    for name in ["local-big", "git-big"] {
        let o = s.k.run(&["update", name]);
        assert!(
            o.stderr.contains("larger than the limit of 20000 bytes")
                && o.stderr.contains("KNAP_MAX_INDEX_SIZE"),
            "{name}: {}",
            o.stderr
        );
        assert_eq!(o.code, 4, "{name}: {o:#?}");
        s.assert_unharmed(name);
    }
    // The site, under the limit, still works.
    s.k.run(&["update", "site"]).ok();
}
