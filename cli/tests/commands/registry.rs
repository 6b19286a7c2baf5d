//! `knap registry add / list / set-priority / remove`: the configuration
//! file they edit, the URLs they refuse, `add` run twice, and `add`
//! reading the registry before it is kept.

use knap_test_support::prelude::*;
use serde_json::json;

use crate::fixtures::*;

#[test]
fn registry_add_list_set_priority_remove_edit_the_config_file() {
    let k = Knap::new();
    let dir = tempfile::tempdir().unwrap();
    k.run(&["registry", "add", "one", dir.path().to_str().unwrap()])
        .ok();
    k.run(&[
        "registry",
        "add",
        "two",
        "https://example.org/reg/",
        "--priority",
        "5",
        "--token-env",
        "TWO_TOKEN",
    ])
    .ok();
    let text = std::fs::read_to_string(k.config()).unwrap();
    let cfg = knap_schema::config::Config::from_toml(&text).unwrap();
    assert_eq!(cfg.registries.len(), 2);
    let list = k.run(&["registry", "list", "--json"]).ok().json();
    assert_eq!(list[0]["name"], "two", "priority 5 is searched first");
    assert_eq!(list[0]["token_env"], "TWO_TOKEN");
    assert_eq!(list[1]["priority"], 100);
    k.run(&["registry", "set-priority", "one", "1"]).ok();
    let list = k.run(&["registry", "list", "--json"]).ok().json();
    assert_eq!(list[0]["name"], "one");
    k.run(&["registry", "remove", "two"]).ok();
    let list = k.run(&["registry", "list", "--json"]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let leftovers: Vec<_> = std::fs::read_dir(k.dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".knap-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "atomic writes leave no temp files");
}

#[test]
fn refused_urls_are_usage_errors() {
    let k = Knap::new();
    let o = k.run(&["registry", "add", "a", "http://example.org/index.json"]);
    assert_eq!(o.code, 2, "{o:?}");
    assert!(o.stderr.contains("--allow-http"), "{}", o.stderr);
    let o = k.run(&[
        "registry",
        "add",
        "a",
        "https://user:pw@example.org/index.json",
    ]);
    assert_eq!(o.code, 2, "{o:?}");
    assert!(o.stderr.contains("credentials"), "{}", o.stderr);
    k.run(&[
        "registry",
        "add",
        "a",
        "http://example.org/index.json",
        "--allow-http",
    ])
    .ok();
    let o = k.run(&["registry", "add", "a", "https://example.org/other.json"]);
    assert_eq!(o.code, 2, "a duplicate name: {o:?}");
    let o = k.run(&["registry", "frobnicate"]);
    assert_eq!(o.code, 2, "{o:?}");
}

#[test]
fn registry_add_takes_its_root_file_only_from_its_own_root_flag() {
    let index = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../example-index");
    let index = index.to_str().unwrap();
    let mut k = Knap::new();
    let install_root = k.dir.path().join("packs");
    std::fs::create_dir_all(&install_root).unwrap();
    let dir = install_root.to_str().unwrap();
    // The global `--root DIR` and `KNAP_ROOT` name the install root, not a
    // TUF root file for the registry.
    k.run(&["--root", dir, "registry", "add", "a", index]).ok();
    k.set("KNAP_ROOT", dir);
    k.run(&["registry", "add", "b", index]).ok();
    // `registry add --root FILE` is the pin, and it is read.
    let not_a_root = k.dir.path().join("root.json");
    std::fs::write(&not_a_root, "{}").unwrap();
    let out = k.run(&[
        "--root",
        dir,
        "registry",
        "add",
        "c",
        index,
        "--root",
        not_a_root.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 4, "{out:?}");
    assert!(out.stderr.contains("not a valid TUF root"), "{out:?}");
    let config = std::fs::read_to_string(k.config()).unwrap();
    assert!(config.contains("name = \"a\"") && config.contains("name = \"b\""));
    assert!(!config.contains("name = \"c\""), "{config}");
}

#[test]
fn registry_add_run_twice_is_a_no_op_and_another_url_is_refused() {
    let k = Knap::new();
    let dir = k.dir.path().join("reg");
    write_json(
        &dir.join("index.json"),
        &index("Reg", vec![entry("core", "1.0.0", &[])]),
    );
    k.run(&["registry", "add", "mine", s(&dir)]).ok();
    let before = std::fs::read(k.config()).unwrap();
    let o = k.run(&["registry", "add", "mine", s(&dir)]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        o.stdout
            .contains("registry `mine` is already configured with")
            && o.stdout.contains("nothing changed"),
        "{}",
        o.stdout
    );
    assert_eq!(
        std::fs::read(k.config()).unwrap(),
        before,
        "the config is untouched"
    );
    let v = k
        .run(&["registry", "add", "mine", s(&dir), "--json"])
        .ok()
        .json();
    assert_eq!(v["unchanged"], true);

    let other = k.dir.path().join("other");
    write_json(&other.join("index.json"), &index("Other", vec![]));
    let o = k.run(&["registry", "add", "mine", s(&other)]);
    assert_eq!(o.code, 2, "{o:?}");
    assert!(
        o.stderr.contains("already exists with the URL"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("knap registry remove mine"),
        "{}",
        o.stderr
    );
    assert_eq!(std::fs::read(k.config()).unwrap(), before);
}

#[test]
fn registry_add_reads_the_registry_first_and_refuses_one_it_cannot_read() {
    let k = Knap::new();
    let nowhere = k.dir.path().join("does-not-exist");
    let o = k.run_exactly(&["registry", "add", "bad", s(&nowhere)]);
    assert_ne!(o.code, 0, "{o:?}");
    assert!(
        o.stderr.contains("cannot read registry `bad`"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("it was not added"), "{}", o.stderr);
    assert!(o.stderr.contains("--no-fetch"), "{}", o.stderr);
    let list = k.run(&["registry", "list", "--json"]).ok().json();
    assert_eq!(list, json!([]), "nothing was added");

    // --no-fetch adds it unread (offline set-up).
    let o = k
        .run(&["registry", "add", "bad", s(&nowhere), "--no-fetch"])
        .ok();
    assert!(o.stdout.contains("without reading it"), "{}", o.stdout);
    k.run(&["registry", "remove", "bad"]).ok();

    // A readable one is read once, which fills the cache.
    let mut site = Site::new();
    site.publish("core", "1.0.0", &[], &[]);
    let o = k
        .run_exactly(&["registry", "add", "site", &site.server.url("/")])
        .ok();
    assert!(o.stdout.contains("added registry `site`"), "{}", o.stdout);
    assert!(!o.stdout.contains("without reading it"), "{}", o.stdout);
    let requests = site.server.requests().len();
    assert!(requests >= 1, "read once at add");
    let hits = k
        .run(&["--offline", "search", "core", "--json"])
        .ok()
        .json();
    assert_eq!(hits[0]["ref"], "core", "the cache was filled");
}
