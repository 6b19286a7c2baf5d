//! Where the configuration is: `--config`, `$KNAP_CONFIG`,
//! `$XDG_CONFIG_HOME/knap/config.toml`; and what a configuration knap
//! cannot read gets.

use knap_test_support::prelude::*;

#[test]
fn config_is_found_through_xdg_config_home_and_the_flag() {
    let mut k = Knap::new();
    let xdg = k.dir.path().join("xdg");
    k.env
        .push(("XDG_CONFIG_HOME".into(), xdg.display().to_string()));
    // Without KNAP_CONFIG the XDG location is used.
    let mut c = k.command();
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

/// A configuration that is not TOML is refused naming the file and the
/// place of the problem.
#[test]
fn a_configuration_knap_cannot_read_is_refused_naming_the_file() {
    let k = Knap::new();
    std::fs::write(k.config(), "[[registries]\nname = \"x\"\n").unwrap();
    assert_out!("not_toml", k.run(&["registry", "list"]));
    assert_out!("not_toml_json", k.run(&["--json", "registry", "list"]));
}
