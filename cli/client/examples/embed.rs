//! Embedding knap in another program (as Attune's API server would, rather
//! than shelling out to `knap`): open the registries of a configuration,
//! plan an install (`--dry-run`: a `knap_installer::Plan`), then install
//! into a root, printing every progress event the libraries report
//! (resolving, extracting, verifying, committing) as a JSON line.
//!
//! `cargo run --example embed` installs `notify@^1` (and `hello`, its
//! dependency) from the repository's `example-index/` into a temporary root;
//! `cargo test --example embed` runs the same function with a recording
//! reporter and checks its events and the installed result.

// An example program: it prints the events it receives.
#![allow(clippy::print_stdout)]

use std::path::Path;
use std::sync::Arc;

use knap_client::{Client, Config, Env, Event, Outcome, RegistryConfig, Reporter, Request, spec};

/// The example registry of this repository (a local directory).
fn example_index() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join("example-index")
}

/// Plans, then installs `notify@^1` from `index` into `root`, with `cache`
/// as knap's cache, reporting to `reporter`. Returns the plan's outcome and
/// the install's.
async fn install_from_example(
    index: &Path,
    root: &Path,
    cache: &Path,
    reporter: Arc<dyn Reporter>,
) -> Result<(Outcome, Outcome), Box<dyn std::error::Error>> {
    let config = Config {
        registries: vec![RegistryConfig {
            name: "example".into(),
            url: index.display().to_string(),
            priority: 10,
            token_env: None,
            allow_http: false,
            ca_file: None,
            tuf_root: None,
        }],
        ..Config::default()
    };
    let env = Env {
        cache_root: cache.to_owned(),
        offline: false,
        http: Default::default(),
        global_ca_file: None,
        reporter,
    };
    let client = Client::open(config, env)?;
    let mut request = Request {
        specs: vec![spec::parse("notify@^1")?],
        jobs: 2,
        dry_run: true,
        ..Request::default()
    };
    let planned = client.install(root, &request).await?;
    request.dry_run = false;
    let installed = client.install(root, &request).await?;
    Ok((planned, installed))
}

/// Prints each event as one JSON line (what `knap --progress json` does).
struct PrintEvents;

impl Reporter for PrintEvents {
    fn report(&self, event: Event) {
        println!(
            "{}",
            serde_json::to_string(&event).expect("events serialise")
        );
    }
}

#[cfg_attr(test, allow(dead_code))]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("root");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (planned, installed) = runtime.block_on(install_from_example(
        &example_index(),
        &root,
        &dir.path().join("cache"),
        Arc::new(PrintEvents),
    ))?;
    println!("plan: {}", serde_json::to_string(&planned.plan)?);
    for p in &installed.installed {
        println!(
            "installed {} {} into {}",
            p.pack_ref,
            p.version,
            root.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Keeps every event.
    #[derive(Default)]
    struct Record(Mutex<Vec<Event>>);

    impl Reporter for Record {
        fn report(&self, event: Event) {
            self.0.lock().unwrap().push(event);
        }
    }

    #[test]
    fn the_example_installs_from_the_example_index_and_reports_every_step() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let record = Arc::new(Record::default());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let (planned, installed) = runtime
            .block_on(install_from_example(
                &example_index(),
                &root,
                &dir.path().join("cache"),
                record.clone(),
            ))
            .unwrap();

        // The plan: both packs to install, nothing there before.
        let plan: Vec<String> = planned
            .plan
            .install
            .iter()
            .map(|i| format!("{} {}", i.pack_ref, i.version))
            .collect();
        assert_eq!(plan, ["hello 1.1.0", "notify 1.1.0"]);
        assert!(planned.installed.is_empty(), "a dry run installs nothing");

        // The install: the same packs, in the root and in its knap.lock.
        let mut got: Vec<String> = installed
            .installed
            .iter()
            .map(|p| format!("{} {}", p.pack_ref, p.version))
            .collect();
        got.sort();
        assert_eq!(got, plan);
        for r in ["hello", "notify"] {
            assert!(root.join(r).join("pack.yaml").is_file(), "{r} is installed");
        }
        let lock: serde_json::Value =
            serde_json::from_slice(&std::fs::read(root.join("knap.lock")).unwrap()).unwrap();
        assert_eq!(lock["requested"], serde_json::json!({"notify": "^1"}));
        assert_eq!(lock["packs"][0]["registry"], "example");

        // The events: resolving (plan and install), then for each pack
        // extracting before verifying, then committing and committed.
        let events = record.0.lock().unwrap().clone();
        let names: Vec<String> = events
            .iter()
            .map(|e| {
                serde_json::to_value(e).unwrap()["event"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        let count = |n: &str| names.iter().filter(|x| *x == n).count();
        assert_eq!(count("resolving"), 2, "{names:?}");
        assert_eq!(count("extracting"), 2, "{names:?}");
        assert_eq!(count("verifying"), 2, "{names:?}");
        assert_eq!(count("committing"), 1, "{names:?}");
        assert_eq!(count("committed"), 1, "{names:?}");
        for pack in ["hello", "notify"] {
            let at = |kind: &str| {
                events
                    .iter()
                    .position(|e| match (kind, e) {
                        ("extracting", Event::Extracting { pack: p, .. }) => p == pack,
                        ("verifying", Event::Verifying { pack: p, .. }) => p == pack,
                        _ => false,
                    })
                    .unwrap_or_else(|| panic!("no {kind} event for {pack}: {names:?}"))
            };
            assert!(at("extracting") < at("verifying"), "{names:?}");
        }
        let committing = names.iter().position(|n| n == "committing").unwrap();
        assert!(
            names[..committing]
                .iter()
                .filter(|n| *n == "verifying")
                .count()
                == 2
        );
        assert!(matches!(
            events.last(),
            Some(Event::Committed { root: r }) if *r == root
        ));
    }
}
