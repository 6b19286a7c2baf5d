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

/// A misspelled table (`[[registries]]`) or key is refused, naming it and
/// the key meant (exit 2), and the file is left as it was: a `registry
/// add` that read the file without it would have written it back without
/// the user's entries.
#[test]
fn an_unknown_key_is_refused_and_the_file_is_not_rewritten() {
    let k = Knap::new();
    let text = "[[registries]]\nname = \"corp\"\nurl = \"https://packs.corp.example/index.json\"\n";
    std::fs::write(k.config(), text).unwrap();
    assert_out!(
        "unknown_table",
        k.run(&["registry", "add", "example", "./example"]).code(2)
    );
    assert_eq!(std::fs::read_to_string(k.config()).unwrap(), text);

    let text = "[[registry]]\nname = \"corp\"\nurl = \"https://packs.corp.example/index.json\"\nprioirty = 10\n";
    std::fs::write(k.config(), text).unwrap();
    let out = k.run(&["--json", "registry", "list"]).code(2);
    assert_eq!(
        out.error_json()["error"]["causes"][0],
        "unknown key `registry.0.prioirty` (did you mean `priority`?)"
    );
    assert_eq!(std::fs::read_to_string(k.config()).unwrap(), text);
}

/// A `KNAP_*` variable knap cannot use is a usage error (exit 2) naming
/// the variable and what it takes, in text and `--json`: never ignored,
/// never a panic (`KNAP_HTTP_TIMEOUT=1e23` once panicked converting the
/// seconds to a duration).
#[test]
fn an_invalid_knap_variable_is_exit_2_naming_it_and_what_it_takes() {
    for (name, value) in [
        ("KNAP_HTTP_TIMEOUT", "99999999999999999999999"),
        ("KNAP_HTTP_TIMEOUT", "1e23"),
        ("KNAP_HTTP_CONNECT_TIMEOUT", "ten"),
        ("KNAP_HTTP_READ_TIMEOUT", "-1"),
        ("KNAP_HTTP_DOWNLOAD_TIMEOUT", ""),
        ("KNAP_HTTP_RETRIES", "-3"),
        ("KNAP_HTTP_BACKOFF_MS", "1.5"),
        ("KNAP_MAX_INDEX_SIZE", "0"),
        ("KNAP_HTTP_LOW_SPEED_LIMIT", "fast"),
        ("KNAP_HTTP_LOW_SPEED_TIME", "0"),
        ("KNAP_LOG", "knap=loud"),
        ("KNAP_LOG", ""),
    ] {
        let mut k = Knap::new();
        k.set(name, value);
        let out = k.run(&["search"]);
        assert_eq!(out.code, 2, "{name}={value:?}: {out:#?}");
        assert!(
            out.stderr.contains(&format!("{name}=")) && out.stderr.contains("takes"),
            "{name}={value:?}: {out:#?}"
        );
        assert!(!out.stderr.contains("panicked"), "{out:#?}");
        let out = k.run(&["--json", "search"]);
        assert_eq!(out.code, 2, "{name}={value:?}: {out:#?}");
        assert_eq!(out.error_json()["error"]["kind"], "usage", "{out:#?}");
    }
}
