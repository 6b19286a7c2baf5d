//! The command line itself: configuration location, registry editing,
//! usage errors and the `--json` error object.

use crate::Knap;

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
fn config_is_found_through_xdg_config_home_and_the_flag() {
    let mut k = Knap::new();
    let xdg = k.dir.path().join("xdg");
    k.env
        .push(("XDG_CONFIG_HOME".into(), xdg.display().to_string()));
    // Without KNAP_CONFIG the XDG location is used.
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_knap"));
    c.args([
        "registry",
        "add",
        "x",
        "https://example.org/i.json",
        "--no-fetch",
    ])
    .env_remove("KNAP_CONFIG")
    .env("XDG_CONFIG_HOME", &xdg)
    .env("KNAP_CACHE_DIR", k.cache());
    assert!(c.status().unwrap().success());
    assert!(xdg.join("knap/config.toml").is_file());
    let other = k.dir.path().join("other.toml");
    k.run(&[
        "--config",
        other.to_str().unwrap(),
        "registry",
        "add",
        "y",
        "https://example.org/j.json",
    ])
    .ok();
    assert!(
        std::fs::read_to_string(&other)
            .unwrap()
            .contains("name = \"y\"")
    );
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
fn json_errors_carry_kind_and_message_on_stderr() {
    let k = Knap::new();
    let o = k.run(&["--json", "registry", "remove", "nope"]);
    assert_eq!(o.code, 3);
    let v: serde_json::Value = serde_json::from_str(o.stderr.trim()).expect("stderr is JSON");
    assert_eq!(v["error"]["kind"], "not_found");
    assert!(v["error"]["message"].as_str().unwrap().contains("nope"));
    let o = k.run(&["--json", "info", "Bad Ref"]);
    assert_eq!(o.code, 2, "{o:?}");
    let v: serde_json::Value = serde_json::from_str(o.stderr.trim()).expect("stderr is JSON");
    assert_eq!(v["error"]["kind"], "usage");
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
