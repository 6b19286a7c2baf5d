//! `knap registry add / list / set-priority / remove`: the configuration
//! file they edit, the URLs they refuse, `add` run twice, and `add`
//! reading the registry before it is kept.

use knap_test_support::prelude::*;
use serde_json::json;

use crate::fixtures::*;

#[test]
fn registry_add_list_set_priority_remove_edit_the_config_file() {
    let k = Knap::new();
    let dir = k.dir.path().join("one");
    std::fs::create_dir(&dir).unwrap();
    assert_out!("add_text", k.run(&["registry", "add", "one", s(&dir)]));
    assert_out!(
        "add_json",
        k.run(&[
            "--json",
            "registry",
            "add",
            "two",
            "https://example.org/reg/",
            "--priority",
            "5",
            "--token-env",
            "TWO_TOKEN",
        ])
    );
    let text = std::fs::read_to_string(k.config()).unwrap();
    let cfg = knap_schema::config::Config::from_toml(&text).unwrap();
    assert_eq!(cfg.registries.len(), 2);
    // Priority 5 is searched first.
    assert_out!("list_text", k.run(&["registry", "list"]));
    assert_out!("list_json", k.run(&["registry", "list", "--json"]));
    assert_out!(
        "set_priority_text",
        k.run(&["registry", "set-priority", "one", "1"])
    );
    assert_out!(
        "list_after_set_priority_json",
        k.run(&["registry", "list", "--json"])
    );
    assert_out!("remove_text", k.run(&["registry", "remove", "two"]));
    assert_out!("remove_unknown_text", k.run(&["registry", "remove", "two"]));
    assert_out!(
        "remove_unknown_json",
        k.run(&["--json", "registry", "remove", "two"])
    );
    assert_out!(
        "list_after_remove_json",
        k.run(&["registry", "list", "--json"])
    );
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
    assert_out!(
        "plain_http",
        k.run(&["registry", "add", "a", "http://example.org/index.json"])
    );
    assert_out!(
        "credentials",
        k.run(&[
            "registry",
            "add",
            "a",
            "https://user:pw@example.org/index.json",
        ])
    );
    k.run(&[
        "registry",
        "add",
        "a",
        "http://example.org/index.json",
        "--allow-http",
    ])
    .ok();
    assert_out!(
        "duplicate_name",
        k.run(&["registry", "add", "a", "https://example.org/other.json"])
    );
    assert_out!("unknown_subcommand", k.run(&["registry", "frobnicate"]));
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
fn registry_add_run_twice_is_a_no_op_other_flags_are_applied_and_another_url_is_refused() {
    let k = Knap::new();
    let dir = k.dir.path().join("reg");
    write_json(
        &dir.join("index.json"),
        &index("Reg", vec![entry("core", "1.0.0", &[])]),
    );
    k.run(&["registry", "add", "mine", s(&dir)]).ok();
    let before = std::fs::read(k.config()).unwrap();
    assert_out!("again_text", k.run(&["registry", "add", "mine", s(&dir)]));
    assert_eq!(
        std::fs::read(k.config()).unwrap(),
        before,
        "the config is untouched"
    );
    assert_out!(
        "again_json",
        k.run(&["registry", "add", "mine", s(&dir), "--json"])
    );
    // Another priority or token is applied, and said.
    assert_out!(
        "other_flags",
        k.run(&[
            "registry",
            "add",
            "mine",
            s(&dir),
            "--priority",
            "5",
            "--token-env",
            "MINE_TOKEN",
        ])
    );
    let v = k.run(&["registry", "list", "--json"]).ok().json();
    assert_eq!(v[0]["priority"], 5, "{v}");
    assert_eq!(v[0]["token_env"], "MINE_TOKEN", "{v}");
    let before = std::fs::read(k.config()).unwrap();

    let other = k.dir.path().join("other");
    write_json(&other.join("index.json"), &index("Other", vec![]));
    assert_out!(
        "another_url",
        k.run(&["registry", "add", "mine", s(&other)])
    );
    assert_eq!(std::fs::read(k.config()).unwrap(), before);
}

#[test]
fn registry_add_reads_the_registry_first_and_refuses_one_it_cannot_read() {
    let mut k = Knap::new();
    let nowhere = k.dir.path().join("does-not-exist");
    let o = k.run_exactly(&["registry", "add", "bad", s(&nowhere)]);
    // What to check, and no `registry remove` for what was not added.
    assert!(
        o.stderr
            .contains("\nhint: check the path: a local registry is a directory"),
        "{}",
        o.stderr
    );
    assert!(!o.stderr.contains("registry remove"), "{}", o.stderr);
    assert_out!("unreadable", o);
    let list = k.run(&["registry", "list", "--json"]).ok().json();
    assert_eq!(list, json!([]), "nothing was added");

    // --no-fetch adds it unread (offline set-up).
    assert_out!(
        "no_fetch",
        k.run(&["registry", "add", "bad", s(&nowhere), "--no-fetch"])
    );
    k.run(&["registry", "remove", "bad"]).ok();

    // A readable one is read once, which fills the cache.
    let mut site = Site::new();
    site.name_in(&mut k);
    site.publish("core", "1.0.0", &[], &[]);
    assert_out!(
        "read_at_add",
        k.run_exactly(&["registry", "add", "site", &site.server.url("/")])
    );
    let requests = site.server.requests().len();
    assert!(requests >= 1, "read once at add");
    let hits = k
        .run(&["--offline", "search", "core", "--json"])
        .ok()
        .json();
    assert_eq!(hits[0]["ref"], "core", "the cache was filled");
}
