//! The resolver's lazy view of the registries follows the dependency graph
//! on its own (`knap_client::candidates::Lazy`): once a ref's versions
//! come in, the lookups of the dependencies of the version resolution will
//! most likely choose start at once, before the resolver asks for them, so
//! the files along a chain are fetched one round trip after another rather
//! than one resolver step after another. Read from a sparse directory on
//! disk: which refs were looked up is what is checked, not when.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use knap_client::candidates::Lazy;
use knap_client::{Config, Env, RegistryConfig};
use knap_registry::index_set::IndexSet;
use knap_resolver::{Candidates, Options};
use knap_schema::progress::Silent;
use knap_test_support::prelude::{entry, write_json};
use serde_json::json;

/// `app` -> `b` -> `c` -> `d`; `d`'s newest version needs `e`, its older
/// one `old`; `b`'s newest version is yanked and its yanked one needs
/// `never`; `lone` is named by nothing.
fn site() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    write_json(
        &d.path().join("config.json"),
        &json!({"format": "knap-sparse-1", "registry_name": "Chain", "registry_url": "https://example.org/chain/", "last_updated": "2026-12-06T00:00:00Z"}),
    );
    let mut yanked = entry("b", "2.0.0", &["never"]);
    yanked["yanked"] = json!(true);
    let files = [
        ("app", vec![entry("app", "1.0.0", &["b@^1 || ^2"])]),
        ("b", vec![entry("b", "1.0.0", &["c"]), yanked]),
        ("c", vec![entry("c", "1.0.0", &["d@^1"])]),
        (
            "d",
            vec![entry("d", "1.0.0", &["old"]), entry("d", "1.1.0", &["e"])],
        ),
        ("e", vec![entry("e", "1.0.0", &[])]),
        ("old", vec![entry("old", "1.0.0", &[])]),
        ("never", vec![entry("never", "1.0.0", &[])]),
        ("lone", vec![entry("lone", "1.0.0", &[])]),
    ];
    for (r, versions) in files {
        write_json(
            &d.path().join(format!("packs/{r}.json")),
            &json!({"ref": r, "versions": versions}),
        );
    }
    d
}

fn set(site: &std::path::Path, cache: &std::path::Path) -> Arc<IndexSet> {
    let config = Config {
        registries: vec![RegistryConfig {
            name: "chain".into(),
            url: site.display().to_string(),
            priority: 0,
            token_env: None,
            allow_http: false,
            ca_file: None,
            tuf_root: None,
        }],
        ..Config::default()
    };
    let env = Env {
        cache_root: cache.to_path_buf(),
        offline: false,
        http: Default::default(),
        global_ca_file: None,
        reporter: Arc::new(Silent),
    };
    Arc::new(IndexSet::open(&config, &env, None).unwrap())
}

/// The refs looked up and found so far, once `want` is among them (or
/// after 30 s, when the assertion that follows tells what is missing).
fn looked_up_once(lazy: &Lazy, want: &str) -> Vec<String> {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let found: Vec<String> = lazy.providers().keys().map(|r| r.to_string()).collect();
        if found.iter().any(|r| r == want) || Instant::now() > until {
            return found;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn an_answer_starts_the_lookups_of_its_likely_dependencies_before_the_resolver_asks() {
    let site = site();
    let cache = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    // Made on the runtime, asked off it (as the install pipeline does).
    let lazy = rt.block_on(async {
        Lazy::new(
            Some(set(site.path(), cache.path())),
            BTreeMap::new(),
            &Options::default(),
        )
    });
    // The resolver asks for `app` only.
    let app = lazy.versions("app").unwrap();
    assert_eq!(app.len(), 1);
    let found = looked_up_once(&lazy, "e");
    // The whole chain along the likely versions: b 1.0.0 (2.0.0 is
    // yanked), c, d 1.1.0 (the newest), e.
    assert_eq!(found, ["app", "b", "c", "d", "e"], "looked up");
    // Nothing else: not the dependencies of versions not likely chosen,
    // not a ref nothing names.
    std::thread::sleep(Duration::from_millis(200));
    let found: Vec<String> = lazy.providers().keys().map(|r| r.to_string()).collect();
    assert_eq!(found, ["app", "b", "c", "d", "e"], "nothing more");
}

#[test]
fn with_no_deps_nothing_but_what_is_asked_is_looked_up() {
    let site = site();
    let cache = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let options = Options {
        no_deps: true,
        ..Options::default()
    };
    let lazy = rt.block_on(async {
        Lazy::new(
            Some(set(site.path(), cache.path())),
            BTreeMap::new(),
            &options,
        )
    });
    lazy.versions("app").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let found: Vec<String> = lazy.providers().keys().map(|r| r.to_string()).collect();
    assert_eq!(found, ["app"]);
}
