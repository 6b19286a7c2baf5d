//! Builds with the real installers (pip, uv, npm) against a local PEP 503
//! index and npm registry (the test kit's `knap_test_support::envs`): what is built, recorded,
//! re-used without work, locked, checked, repaired, refused, recovered,
//! and built in parallel.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use knap_envs::{BuildOptions, Builder, Built, EnvError, EnvState, Settings};
use knap_schema::lock::{LockedPack, LockedSource, Lockfile};
use knap_schema::progress::{Event, Reporter};
use knap_schema::{Checksum, PackRef};
use knap_test_support::envs::{self as support, IndexServer, NpmRegistry, PyIndex};

/// A root with packs, the test's index and registry, and a lock that
/// lists the packs.
struct World {
    dir: tempfile::TempDir,
    py: PyIndex,
    npm: NpmRegistry,
    lock: Lockfile,
    events: Arc<Events>,
}

#[derive(Default)]
struct Events(Mutex<Vec<Event>>);

impl Reporter for Events {
    fn report(&self, event: Event) {
        self.0.lock().unwrap().push(event);
    }
}

impl World {
    /// `None` (the test passes as skipped, see
    /// [`support::installers_present`]) when the installers are missing.
    fn new() -> Option<Self> {
        if !support::installers_present() {
            return None;
        }
        let server = IndexServer::start();
        let py = PyIndex::new(server.clone());
        py.add("alpha", "1.0", &["beta>=2"]);
        py.add("beta", "2.0", &[]);
        let npm = NpmRegistry::new(server);
        Some(Self {
            dir: tempfile::tempdir().unwrap(),
            py,
            npm,
            lock: Lockfile::default(),
            events: Arc::default(),
        })
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn envs_dir(&self) -> PathBuf {
        self.dir.path().join("envs")
    }

    /// Installs a pack into the root (writes it and lists it in the lock).
    fn pack(&mut self, r: &str, extra: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = support::pack(&self.root(), r, extra, files);
        let pack_ref: PackRef = r.parse().unwrap();
        if self.lock.get(r).is_none() {
            self.lock.packs.push(LockedPack {
                pack_ref,
                version: "1.0.0".parse().unwrap(),
                registry: None,
                source: LockedSource::Path {
                    path: dir.display().to_string(),
                },
                tree: Checksum::of(r.as_bytes()),
                dependencies: vec![],
                installed_at: "2026-12-01T12:00:00Z".into(),
                yanked: false,
                signed: None,
            });
        }
        dir
    }

    fn builder(&self, uv: bool) -> Builder {
        let mut s = Settings::new(self.envs_dir());
        s.path = Some(if uv {
            support::path_with_uv()
        } else {
            support::path_without_uv()
        });
        s.installer_env = support::index_env(&self.py, &self.npm, &self.dir.path().join("cache"));
        Builder::new(s, self.events.clone())
    }

    /// Plans and builds `refs` (all when empty), records what was built.
    fn build(
        &mut self,
        b: &Builder,
        refs: &[&str],
        opts: BuildOptions,
    ) -> Vec<Result<Built, EnvError>> {
        let refs: Vec<PackRef> = refs.iter().map(|r| r.parse().unwrap()).collect();
        let plan = b.plan(&self.root(), &self.lock, &refs);
        let results = b.build(plan, opts);
        knap_envs::record(
            &mut self.lock,
            results.iter().filter_map(|r| r.as_ref().ok()),
        );
        results
    }

    fn check(&self, b: &Builder) -> Vec<knap_envs::EnvCheck> {
        let plan = b.plan(&self.root(), &self.lock, &[]);
        knap_envs::check::check(&plan, &self.lock, b.store(), true)
    }
}

fn ok(results: Vec<Result<Built, EnvError>>) -> Vec<Built> {
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("{}", knap_schema::report::chain_line(&e))))
        .collect()
}

fn names(b: &Built) -> Vec<String> {
    b.env
        .packages
        .iter()
        .map(|p| format!("{}=={}", p.name, p.version))
        .collect()
}

fn python_says(env: &Path, code: &str) -> String {
    let out = std::process::Command::new(env.join("bin/python"))
        .args(["-c", code])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn pip_builds_a_venv_from_the_local_index_and_records_its_packages() {
    let Some(mut w) = World::new() else {
        return;
    };
    w.pack("p", "", &[("requirements.txt", "alpha\n")]);
    let b = w.builder(false);
    let built = ok(w.build(&b, &[], BuildOptions::default()));
    assert_eq!(built.len(), 1);
    assert_eq!(built[0].installer, Some("pip"));
    assert_eq!(names(&built[0]), ["alpha==1.0", "beta==2.0"]);
    assert!(
        built[0].path.starts_with(w.envs_dir().join("p"))
            && built[0].env.dir.as_str().starts_with("python-3."),
        "{}",
        built[0].path.display()
    );
    assert_eq!(
        python_says(&built[0].path, "import alpha; print(alpha.VERSION)"),
        "1.0"
    );
    let lock = w.lock.envs_of("p");
    assert_eq!(lock.len(), 1);
    assert_eq!(lock[0].packages, built[0].env.packages);
    assert!(built[0].path.join(".knap-env.json").is_file());
    let events = w.events.0.lock().unwrap();
    assert!(
        matches!(&events[0], Event::EnvBuilding { pack, installer, .. } if pack == "p" && installer == "pip")
    );
    assert!(matches!(&events[1], Event::EnvBuilt { pack, packages: 2, .. } if pack == "p"));
}

#[test]
fn uv_builds_the_venv_when_it_is_on_path() {
    let Some(mut w) = World::new() else {
        return;
    };
    w.pack("p", "", &[("requirements.txt", "alpha\n")]);
    let b = w.builder(true);
    let built = ok(w.build(&b, &[], BuildOptions::default()));
    assert_eq!(built[0].installer, Some("uv"));
    assert_eq!(names(&built[0]), ["alpha==1.0", "beta==2.0"]);
    assert_eq!(
        python_says(&built[0].path, "import beta; print(beta.VERSION)"),
        "2.0"
    );
    let checks = w.check(&b);
    assert!(checks.iter().all(|c| c.state == EnvState::Ok), "{checks:?}");
}

#[test]
fn npm_builds_node_modules_from_the_local_registry() {
    let Some(mut w) = World::new() else {
        return;
    };
    w.npm.add("leftish", "1.0.0", &[("rightish", "^2.0.0")]);
    w.npm.add("rightish", "2.0.0", &[]);
    w.pack(
        "nodepack",
        "runtime_deps: [\"nodejs>=18\"]\n",
        &[(
            "package.json",
            r#"{"name": "nodepack", "version": "1.0.0", "dependencies": {"leftish": "^1.0.0"}}"#,
        )],
    );
    let b = w.builder(false);
    let built = ok(w.build(&b, &[], BuildOptions::default()));
    assert_eq!(built[0].installer, Some("npm"));
    assert!(
        built[0].env.dir.as_str().starts_with("node-"),
        "{}",
        built[0].env.dir
    );
    assert_eq!(names(&built[0]), ["leftish==1.0.0", "rightish==2.0.0"]);
    assert!(
        built[0]
            .path
            .join("node_modules/rightish/index.js")
            .is_file()
    );
    let checks = w.check(&b);
    assert!(checks.iter().all(|c| c.state == EnvState::Ok), "{checks:?}");
}

#[test]
fn a_rebuild_with_unchanged_inputs_does_no_work_and_sends_no_request() {
    let Some(mut w) = World::new() else {
        return;
    };
    w.npm.add("leftish", "1.0.0", &[]);
    w.pack(
        "p",
        "",
        &[
            ("requirements.txt", "alpha\n"),
            (
                "package.json",
                r#"{"name": "p", "version": "1.0.0", "dependencies": {"leftish": "1"}}"#,
            ),
        ],
    );
    let b = w.builder(false);
    let first = ok(w.build(&b, &[], BuildOptions::default()));
    assert!(first.iter().all(Built::built_now));
    drop(first);
    w.py.server.clear_log();
    w.events.0.lock().unwrap().clear();
    let plan = b.plan(&w.root(), &w.lock, &[]);
    assert!(
        !plan.needs_work(),
        "{:?}",
        plan.envs.iter().map(|e| e.state).collect::<Vec<_>>()
    );
    let again = ok(w.build(&b, &[], BuildOptions::default()));
    assert_eq!(again.len(), 2);
    assert!(again.iter().all(|b| !b.built_now()));
    assert_eq!(
        w.py.server.log(),
        Vec::<String>::new(),
        "no request to the index or registry"
    );
    assert!(w.events.0.lock().unwrap().is_empty(), "no build event");
}

#[test]
fn a_locked_build_reproduces_the_recorded_versions_when_newer_exist() {
    let Some(mut w) = World::new() else {
        return;
    };
    w.npm.add("leftish", "1.0.0", &[]);
    w.pack(
        "p",
        "",
        &[
            ("requirements.txt", "alpha\n"),
            (
                "package.json",
                r#"{"name": "p", "version": "1.0.0", "dependencies": {"leftish": "^1.0.0"}}"#,
            ),
        ],
    );
    let b = w.builder(false);
    drop(ok(w.build(&b, &[], BuildOptions::default())));
    let recorded = w.lock.clone();
    // Newer versions appear; another machine (a fresh envs dir) builds.
    w.py.add("alpha", "1.1", &["beta>=2"]);
    w.py.add("beta", "2.5", &[]);
    w.npm.add("leftish", "1.2.0", &[]);
    std::fs::remove_dir_all(w.envs_dir()).unwrap();
    let fresh = ok(w.build(&b, &[], BuildOptions::default()));
    assert_eq!(
        names(&fresh[0]),
        ["alpha==1.0", "beta==2.0"],
        "same id: the recorded versions"
    );
    drop(fresh);
    std::fs::remove_dir_all(w.envs_dir()).unwrap();
    w.lock = recorded.clone();
    let unlocked_elsewhere = {
        // With nothing recorded, the newest versions.
        let mut nothing_recorded = recorded.clone();
        nothing_recorded.envs.clear();
        let plan = b.plan(&w.root(), &nothing_recorded, &[]);
        ok(b.build(plan, BuildOptions::default()))
    };
    assert_eq!(names(&unlocked_elsewhere[0]), ["alpha==1.1", "beta==2.5"]);
    assert_eq!(names(&unlocked_elsewhere[1]), ["leftish==1.2.0"]);
    drop(unlocked_elsewhere);
    let locked = ok(w.build(
        &b,
        &[],
        BuildOptions {
            force: true,
            locked: true,
            ..Default::default()
        },
    ));
    assert_eq!(names(&locked[0]), ["alpha==1.0", "beta==2.0"]);
    assert_eq!(names(&locked[1]), ["leftish==1.0.0"]);
    assert_eq!(
        python_says(&locked[0].path, "import alpha; print(alpha.VERSION)"),
        "1.0"
    );
}

#[test]
fn a_locked_build_fails_naming_the_package_it_cannot_have() {
    let Some(mut w) = World::new() else {
        return;
    };
    w.pack("p", "", &[("requirements.txt", "alpha\n")]);
    let b = w.builder(true);
    drop(ok(w.build(&b, &[], BuildOptions::default())));
    // The lock records a version the index does not have.
    let text = w.lock.to_pretty_json().replace("\"2.0\"", "\"1.5\"");
    w.lock = knap_schema::json::from_json_str(&text).unwrap();
    let results = w.build(
        &b,
        &[],
        BuildOptions {
            force: true,
            locked: true,
            ..Default::default()
        },
    );
    let err = results
        .into_iter()
        .next()
        .unwrap()
        .expect_err("beta 1.5 cannot be had");
    let text = knap_schema::report::chain_line(&err);
    assert!(text.contains("beta"), "{text}");
    assert!(text.contains("`p`"), "{text}");
}

#[test]
fn check_finds_a_damaged_environment_and_a_forced_build_repairs_it() {
    let Some(mut w) = World::new() else {
        return;
    };
    w.pack("p", "", &[("requirements.txt", "alpha\n")]);
    let b = w.builder(false);
    let built = ok(w.build(&b, &[], BuildOptions::default()));
    let env = built[0].path.clone();
    drop(built);
    let sp = knap_envs::inventory::site_packages(&env).remove(0);
    std::fs::write(sp.join("alpha/__init__.py"), "VERSION = 'tampered'\n").unwrap();
    let beta: Vec<_> = std::fs::read_dir(&sp)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("beta-"))
        .collect();
    std::fs::remove_dir_all(beta[0].path()).unwrap();
    let checks = w.check(&b);
    assert_eq!(checks[0].state, EnvState::Changed, "{checks:?}");
    let problems = checks[0].problems.join("\n");
    assert!(
        problems.contains("alpha: alpha/__init__.py changed"),
        "{problems}"
    );
    assert!(problems.contains("beta 2.0 is not installed"), "{problems}");
    // Without --force the environment counts as built: no work.
    let again = ok(w.build(&b, &[], BuildOptions::default()));
    assert!(!again[0].built_now());
    drop(again);
    let repaired = ok(w.build(
        &b,
        &[],
        BuildOptions {
            force: true,
            locked: false,
            ..Default::default()
        },
    ));
    assert!(repaired[0].built_now());
    drop(repaired);
    let checks = w.check(&b);
    assert_eq!(checks[0].state, EnvState::Ok, "{checks:?}");
    assert_eq!(
        python_says(&env, "import alpha; print(alpha.VERSION)"),
        "1.0"
    );
}

#[test]
fn a_forced_rebuild_that_fails_puts_the_previous_environment_back() {
    let Some(mut w) = World::new() else {
        return;
    };
    w.pack("p", "", &[("requirements.txt", "alpha\n")]);
    let b = w.builder(false);
    let built = ok(w.build(&b, &[], BuildOptions::default()));
    let env = built[0].path.clone();
    let record = std::fs::read(env.join(".knap-env.json")).unwrap();
    drop(built);
    let recorded = w.lock.clone();
    // The installers get one second: `python -m venv` alone takes longer.
    let mut s = Settings::new(w.envs_dir());
    s.path = Some(support::path_without_uv());
    s.installer_env = support::index_env(&w.py, &w.npm, &w.dir.path().join("cache"));
    s.timeout = std::time::Duration::from_secs(1);
    let slow = Builder::new(s, w.events.clone());
    let force = BuildOptions {
        force: true,
        locked: false,
        ..Default::default()
    };
    let err = w
        .build(&slow, &[], force)
        .into_iter()
        .next()
        .unwrap()
        .expect_err("the rebuild runs out of time");
    assert!(
        matches!(err, EnvError::Timeout { .. }),
        "{}",
        knap_schema::report::chain_line(&err)
    );
    assert!(
        err.to_string().contains("did not finish within 1 s"),
        "{err}"
    );
    assert_eq!(w.lock, recorded, "knap.lock still names it");
    assert_eq!(
        std::fs::read(env.join(".knap-env.json")).unwrap(),
        record,
        "the previous environment is back, whole"
    );
    assert_eq!(
        python_says(&env, "import alpha; print(alpha.VERSION)"),
        "1.0"
    );
    let names: Vec<String> = std::fs::read_dir(w.envs_dir().join("p"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [env.file_name().unwrap().to_string_lossy()],
        "nothing aside"
    );
    assert_eq!(w.check(&b)[0].state, EnvState::Ok);
}

#[test]
fn an_environment_a_killed_rebuild_left_aside_is_put_back() {
    let Some(mut w) = World::new() else {
        return;
    };
    w.pack("p", "", &[("requirements.txt", "alpha\n")]);
    let b = w.builder(false);
    let built = ok(w.build(&b, &[], BuildOptions::default()));
    let env = built[0].path.clone();
    drop(built);
    // What a forced rebuild killed midway leaves: the previous
    // environment aside, a half-built one in its place.
    let aside = w.envs_dir().join("p").join(format!(
        ".prev-{}",
        env.file_name().unwrap().to_string_lossy()
    ));
    std::fs::rename(&env, &aside).unwrap();
    std::fs::create_dir_all(env.join("lib")).unwrap();
    let pack: knap_schema::PackRef = "p".parse().unwrap();
    let held = b.store().lock(&pack).unwrap();
    b.store().recover(&pack, &held).unwrap();
    drop(held);
    assert!(!aside.exists());
    assert_eq!(w.check(&b)[0].state, EnvState::Ok);
    assert_eq!(
        python_says(&env, "import alpha; print(alpha.VERSION)"),
        "1.0"
    );
}

#[test]
fn an_unbuildable_requirement_fails_naming_the_command_and_keeps_the_previous_environment() {
    let Some(mut w) = World::new() else {
        return;
    };
    let dir = w.pack("p", "", &[("requirements.txt", "alpha\n")]);
    let b = w.builder(false);
    let before = ok(w.build(&b, &[], BuildOptions::default()));
    let old = before[0].path.clone();
    drop(before);
    let recorded = w.lock.clone();
    std::fs::write(dir.join("requirements.txt"), "alpha\nnosuchthing==9.9\n").unwrap();
    let results = w.build(&b, &[], BuildOptions::default());
    let err = results
        .into_iter()
        .next()
        .unwrap()
        .expect_err("nosuchthing is not on the index");
    let text = knap_schema::report::chain_line(&err);
    assert!(
        text.contains("`p`") && text.contains("pip install"),
        "{text}"
    );
    assert!(
        text.contains("nosuchthing"),
        "the installer's last lines: {text}"
    );
    assert!(matches!(err, EnvError::Install { .. }));
    assert_eq!(
        w.lock, recorded,
        "knap.lock still names the previous environment"
    );
    assert!(
        old.join(".knap-env.json").is_file(),
        "the previous environment is untouched"
    );
    let found = b.store().found(&"p".parse().unwrap()).unwrap();
    assert_eq!(found.len(), 1, "the failed one left nothing: {found:?}");
    let events = w.events.0.lock().unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::EnvFailed { pack, .. } if pack == "p"))
    );
}

#[test]
fn an_interpreter_that_does_not_meet_the_pack_is_refused_before_any_build() {
    let Some(mut w) = World::new() else {
        return;
    };
    w.pack(
        "p",
        "dependencies:\n  python_version: \">=4.0\"\n",
        &[("requirements.txt", "alpha\n")],
    );
    let b = w.builder(false);
    let plan = b.plan(&w.root(), &w.lock, &[]);
    assert!(plan.envs.is_empty());
    let err = &plan.failed[0];
    let text = err.to_string();
    assert!(
        text.contains("`p` asks for `>=4.0` (dependencies.python_version)"),
        "{text}"
    );
    assert!(text.contains("python3 3."), "what was found: {text}");
    let results = b.build(plan, BuildOptions::default());
    assert!(results[0].is_err());
    assert!(!w.envs_dir().join("p").exists(), "nothing was built");
    assert_eq!(w.py.server.log(), Vec::<String>::new());
}

#[test]
fn a_half_built_environment_is_removed_and_built_again() {
    let Some(mut w) = World::new() else {
        return;
    };
    w.pack("p", "", &[("requirements.txt", "alpha\n")]);
    let b = w.builder(false);
    let plan = b.plan(&w.root(), &w.lock, &[]);
    // What a build killed midway leaves: the directory, no record.
    let path = plan.envs[0].path.clone();
    std::fs::create_dir_all(path.join("lib")).unwrap();
    std::fs::write(path.join("lib/partial"), "x").unwrap();
    let built = ok(b.build(plan, BuildOptions::default()));
    assert!(built[0].built_now());
    assert!(!path.join("lib/partial").exists());
    assert!(path.join(".knap-env.json").is_file());
}

#[test]
fn several_packs_build_in_parallel_and_garbage_goes() {
    let Some(mut w) = World::new() else {
        return;
    };
    for r in ["a1", "a2", "a3", "a4"] {
        w.pack(r, "", &[("requirements.txt", "beta\n")]);
    }
    let mut s = Settings::new(w.envs_dir());
    s.path = Some(support::path_with_uv());
    s.installer_env = support::index_env(&w.py, &w.npm, &w.dir.path().join("cache"));
    s.jobs = 4;
    let b = Builder::new(s, w.events.clone());
    // Each download waits a while, so that four builds at once overlap.
    w.py.server
        .delay("/files/", std::time::Duration::from_millis(1500));
    let built = ok(w.build(&b, &[], BuildOptions::default()));
    assert_eq!(built.len(), 4);
    assert!(built.iter().all(|b| names(b) == ["beta==2.0"]));
    drop(built);
    let events = w.events.0.lock().unwrap().clone();
    // All four started before the first finished: they ran at once.
    let last_start = events
        .iter()
        .rposition(|e| matches!(e, Event::EnvBuilding { .. }))
        .unwrap();
    let first_end = events
        .iter()
        .position(|e| matches!(e, Event::EnvBuilt { .. }))
        .unwrap();
    assert!(last_start < first_end, "{events:?}");
    let started: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::EnvBuilding { pack, .. } => Some(pack.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(started.len(), 4);
    // a4 is uninstalled: its environment is garbage.
    w.lock.packs.retain(|p| p.pack_ref != "a4");
    knap_envs::record(&mut w.lock, std::iter::empty());
    let removed = b.store().collect_garbage(&w.lock).unwrap();
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert!(!w.envs_dir().join("a4").exists());
    assert!(w.envs_dir().join("a1").exists());
}

#[test]
fn offline_builds_pass_the_installers_offline_flags() {
    let Some(mut w) = World::new() else {
        return;
    };
    w.pack("p", "", &[("requirements.txt", "alpha\n")]);
    let online = w.builder(true);
    let first = ok(w.build(&online, &[], BuildOptions::default()));
    let env = first[0].path.clone();
    drop(first);
    let mut s = online.settings().clone();
    s.offline = true;
    // uv --offline: the same environment again from uv's cache alone.
    std::fs::remove_dir_all(&env).unwrap();
    w.py.server.clear_log();
    let uv = Builder::new(s.clone(), w.events.clone());
    let again = ok(w.build(&uv, &[], BuildOptions::default()));
    assert_eq!(again[0].installer, Some("uv"));
    assert_eq!(names(&again[0]), ["alpha==1.0", "beta==2.0"]);
    assert_eq!(
        w.py.server.log(),
        Vec::<String>::new(),
        "offline: no request"
    );
    drop(again);
    // pip --no-index: with no local copy of the wheels, it fails saying so.
    std::fs::remove_dir_all(&env).unwrap();
    s.path = Some(support::path_without_uv());
    let pip = Builder::new(s, w.events.clone());
    let err = w
        .build(&pip, &[], BuildOptions::default())
        .remove(0)
        .expect_err("pip has no index offline");
    let text = knap_schema::report::chain_line(&err);
    assert!(text.contains("--no-index"), "{text}");
    assert_eq!(
        w.py.server.log(),
        Vec::<String>::new(),
        "offline: no request"
    );
}
