//! Pack environments through the binary (formats.md §8): `knap install`
//! and `knap upgrade` build them after the commit (or, with `--no-envs`
//! or `envs = false`, say which are needed), `--locked` and an install
//! from a lock reproduce the recorded versions, a failed build leaves the
//! packs installed and the previous environment in use, `uninstall`
//! removes environments, a build holds no root lock; and `knap env list |
//! build | check | remove` and `knap doctor`. Real pip and npm against
//! the test kit's PEP 503 index and npm registry
//! (`knap_test_support::envs`; the installers read the index settings
//! from knap's environment, which passes them through), a build killed
//! with SIGKILL and recovered.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use knap_test_support::envs::{self as support, IndexServer, NpmRegistry, PyIndex};
use knap_test_support::prelude::*;
use serde_json::Value;

struct World {
    k: Knap,
    py: PyIndex,
    npm: NpmRegistry,
}

impl World {
    /// `None` (the test passes as skipped, see
    /// [`support::installers_present`]) when the installers are missing.
    fn new() -> Option<Self> {
        Self::with(Knap::new())
    }

    /// The index and registry set up for `k`'s runs.
    fn with(mut k: Knap) -> Option<Self> {
        if !support::installers_present() {
            return None;
        }
        let server = IndexServer::start();
        let py = PyIndex::new(server.clone());
        py.add("alpha", "1.0", &["beta>=2"]);
        py.add("beta", "2.0", &[]);
        let npm = NpmRegistry::new(server);
        let path = support::path_without_uv();
        k.set("PATH", path.to_str().unwrap());
        k.set("PIP_CONFIG_FILE", "/dev/null");
        for (name, value) in support::index_env(&py, &npm, &k.dir.path().join("icache")) {
            k.set(name.to_str().unwrap(), value.to_str().unwrap());
        }
        Some(Self { k, py, npm })
    }

    fn root(&self) -> PathBuf {
        self.k.root()
    }

    fn envs(&self) -> PathBuf {
        self.root().join(".envs")
    }

    fn run(&self, args: &[&str]) -> Out {
        self.k.run(args)
    }

    /// Writes pack `r` at `version` under the test's directory.
    fn pack(&self, r: &str, version: &str, files: &[(&str, &str)]) -> PathBuf {
        let parent = self.k.dir.path().join(format!("src-{version}"));
        let dir = support::pack(&parent, r, "", files);
        std::fs::write(
            dir.join("pack.yaml"),
            format!("ref: {r}\nversion: {version}\n"),
        )
        .unwrap();
        dir
    }

    /// Pack `p` needing alpha (Python) and leftish (Node.js).
    fn python_and_node_pack(&self) -> PathBuf {
        self.npm.add("leftish", "1.0.0", &[]);
        self.pack(
            "p",
            "1.0.0",
            &[
                ("requirements.txt", "alpha\n"),
                (
                    "package.json",
                    r#"{"name": "p", "version": "1.0.0", "dependencies": {"leftish": "^1"}}"#,
                ),
            ],
        )
    }

    fn lock(&self) -> Value {
        serde_json::from_str(&support::read(&self.root().join("knap.lock"))).unwrap()
    }
}

fn states(w: &World, cmd: &str) -> (i32, Vec<String>) {
    let o = w.run(&["env", cmd, "--json"]);
    let v = o.json();
    let s = v["envs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {} {}",
                e["pack"].as_str().unwrap(),
                e["runtime"].as_str().unwrap_or("-"),
                e["state"].as_str().unwrap()
            )
        })
        .collect();
    (o.code, s)
}

fn env_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|i| i.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn python_says(env: &Path, code: &str) -> String {
    let out = Command::new(env.join("bin/python"))
        .args(["-c", code])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `name==version` of each package a lock's environment records.
fn packages(env: &Value) -> Vec<String> {
    env["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}=={}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn install_builds_the_environments_and_a_reinstall_does_no_work() {
    let Some(w) = World::new() else {
        return;
    };
    let src = w.python_and_node_pack();
    let o = w
        .run(&["--color", "never", "install", src.to_str().unwrap()])
        .ok();
    assert!(
        o.stdout
            .contains("built the python environment of p with pip (2 packages)")
            && o.stdout
                .contains("built the node environment of p with npm (1 package)"),
        "{}",
        o.stdout
    );
    let lock = w.lock();
    let envs = lock["packs"][0]["envs"].as_array().unwrap();
    assert_eq!(packages(&envs[0]), ["alpha==1.0", "beta==2.0"]);
    assert_eq!(packages(&envs[1]), ["leftish==1.0.0"]);
    let py_env = w.envs().join("p").join(envs[0]["dir"].as_str().unwrap());
    assert_eq!(
        python_says(&py_env, "import alpha; print(alpha.VERSION)"),
        "1.0"
    );
    assert_eq!(
        states(&w, "check"),
        (0, vec!["p python ok".into(), "p node ok".into()])
    );

    // Again, from the lock: nothing to build, nothing asked of an index.
    w.py.server.clear_log();
    let o = w.run(&["--json", "install"]).ok();
    let v = o.json();
    let states: Vec<&str> = v["envs"]["needed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["current", "current"]);
    assert_eq!(v["envs"]["built"], serde_json::json!([]));
    assert_eq!(w.py.server.log(), Vec::<String>::new());
}

#[test]
fn no_envs_and_envs_false_build_nothing_but_say_what_is_needed() {
    let Some(w) = World::new() else {
        return;
    };
    let src = w.pack("p", "1.0.0", &[("requirements.txt", "alpha\n")]);
    let o = w
        .run(&["--json", "install", "--no-envs", src.to_str().unwrap()])
        .ok();
    let v = o.json();
    assert_eq!(v["envs"]["skipped"], "no_envs");
    let needed = &v["envs"]["needed"][0];
    assert_eq!(needed["pack"], "p");
    assert_eq!(needed["runtime"], "python");
    assert_eq!(needed["state"], "build");
    assert_eq!(needed["files"], serde_json::json!(["requirements.txt"]));
    assert!(
        needed["dir"]
            .as_str()
            .unwrap()
            .starts_with(w.envs().join("p").join("python-3.").to_str().unwrap()),
        "{needed}"
    );
    assert!(!w.envs().exists(), "nothing built");
    assert!(w.lock()["packs"][0].get("envs").is_none());
    assert_eq!(w.py.server.log(), Vec::<String>::new());

    // The configuration says the same for every install.
    std::fs::write(w.k.config(), "envs = false\n").unwrap();
    let o = w
        .run(&[
            "--color",
            "never",
            "install",
            "--force",
            src.to_str().unwrap(),
        ])
        .ok();
    assert!(
        o.stdout.contains(
            "environments not built (envs = false): p (python); `knap env build` builds them"
        ),
        "{}",
        o.stdout
    );
    assert!(!w.envs().exists());
    assert_eq!(w.py.server.log(), Vec::<String>::new());
}

#[test]
fn an_install_from_a_lock_builds_the_recorded_versions_when_newer_exist() {
    let Some(w) = World::new() else {
        return;
    };
    let src = w.pack("p", "1.0.0", &[("requirements.txt", "alpha\n")]);
    w.run(&["install", src.to_str().unwrap()]).ok();
    let recorded = w.lock()["packs"][0]["envs"][0].clone();
    assert_eq!(packages(&recorded), ["alpha==1.0", "beta==2.0"]);
    w.py.add("alpha", "2.0", &["beta>=2"]);
    w.py.add("beta", "3.0", &[]);
    for (i, args) in [vec!["install"], vec!["install", "--locked"]]
        .into_iter()
        .enumerate()
    {
        // A fresh root given the lock.
        let fresh = w.k.dir.path().join(format!("fresh-{i}"));
        std::fs::create_dir_all(&fresh).unwrap();
        std::fs::copy(w.root().join("knap.lock"), fresh.join("knap.lock")).unwrap();
        w.k.at(&fresh, &args).ok();
        let lock: Value = serde_json::from_str(&support::read(&fresh.join("knap.lock"))).unwrap();
        let env = &lock["packs"][0]["envs"][0];
        assert_eq!(packages(env), ["alpha==1.0", "beta==2.0"], "{args:?}");
        let path = fresh.join(".envs/p").join(env["dir"].as_str().unwrap());
        assert_eq!(
            python_says(
                &path,
                "import alpha, beta; print(alpha.VERSION, beta.VERSION)"
            ),
            "1.0 2.0"
        );
    }
    // With nothing recorded to follow, the newest versions.
    w.run(&["env", "remove", "p"]).ok();
    w.run(&["env", "build"]).ok();
    assert_eq!(
        packages(&w.lock()["packs"][0]["envs"][0]),
        ["alpha==2.0", "beta==3.0"]
    );
}

#[test]
fn a_failed_build_leaves_the_packs_installed_and_the_previous_environment_in_use() {
    let Some(w) = World::new() else {
        return;
    };
    let v1 = w.pack("p", "1.0.0", &[("requirements.txt", "alpha\n")]);
    w.run(&["install", v1.to_str().unwrap()]).ok();
    let before = w.lock()["packs"][0]["envs"].clone();
    let old_env = w.envs().join("p").join(before[0]["dir"].as_str().unwrap());

    let v2 = w.pack("p", "2.0.0", &[("requirements.txt", "nosuchthing==9.9\n")]);
    let o = w
        .run(&["--color", "never", "install", v2.to_str().unwrap()])
        .code(1);
    assert!(
        o.stdout.contains("upgraded p 1.0.0 -> 2.0.0"),
        "{}",
        o.stdout
    );
    let err = &o.stderr;
    assert!(err.contains("`p`") && err.contains("pip install"), "{err}");
    assert!(
        err.contains("| ") && err.contains("nosuchthing"),
        "the installer's last lines: {err}"
    );
    assert!(err.contains("knap env build p"), "what to do: {err}");
    let lock = w.lock();
    assert_eq!(
        lock["packs"][0]["version"], "2.0.0",
        "the pack is installed"
    );
    assert!(w.root().join("p/pack.yaml").is_file());
    assert_eq!(
        lock["packs"][0]["envs"], before,
        "the previous environment is recorded"
    );
    assert_eq!(env_dirs(&w.envs().join("p")), vec![old_env.clone()]);
    assert_eq!(
        python_says(&old_env, "import alpha; print(alpha.VERSION)"),
        "1.0"
    );
    assert_eq!(states(&w, "list"), (0, vec!["p python stale".into()]));

    // An installer that runs past KNAP_ENV_TIMEOUT fails the same way.
    let mut k = Knap::new();
    k.set("KNAP_ENV_TIMEOUT", "1");
    let Some(slow) = World::with(k) else {
        return;
    };
    let src = slow.pack("q", "1.0.0", &[("requirements.txt", "alpha\n")]);
    let o = slow.run(&["install", src.to_str().unwrap()]).code(1);
    assert!(
        o.stderr.contains("`q`") && o.stderr.contains("did not finish within 1 s"),
        "{}",
        o.stderr
    );
    assert!(slow.root().join("q/pack.yaml").is_file());
    let mut bad = Knap::new();
    bad.set("KNAP_ENV_TIMEOUT", "soon");
    let o = bad.run(&["install", v1.to_str().unwrap()]).code(2);
    assert!(o.stderr.contains("KNAP_ENV_TIMEOUT"), "{}", o.stderr);
}

#[test]
fn upgrade_and_uninstall_remove_the_environments_no_lock_names() {
    let mut site = Site::new();
    site.publish_pack(Pack::new("p", "1.0.0").file("requirements.txt", "alpha\n"));
    let Some(w) = World::with(site.knap_local()) else {
        return;
    };
    w.run(&["install", "p"]).ok();
    let first = w.lock()["packs"][0]["envs"][0]["dir"]
        .as_str()
        .unwrap()
        .to_owned();
    site.publish_pack(Pack::new("p", "1.1.0").file("requirements.txt", "beta\n"));
    let o = w.run(&["--color", "never", "upgrade"]).ok();
    let second = w.lock()["packs"][0]["envs"][0]["dir"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(first, second);
    assert!(
        o.stdout.contains("upgraded p 1.0.0 -> 1.1.0")
            && o.stdout
                .contains("built the python environment of p with pip (1 package)")
            && o.stdout.contains(&format!(
                "removed the environment {}",
                w.envs().join("p").join(&first).display()
            )),
        "{}",
        o.stdout
    );
    assert_eq!(
        env_dirs(&w.envs().join("p")),
        vec![w.envs().join("p").join(&second)]
    );
    let o = w.run(&["--color", "never", "uninstall", "p"]).ok();
    assert!(o.stdout.contains("removed the environment"), "{}", o.stdout);
    assert!(!w.envs().join("p").exists());
}

#[test]
fn an_environment_build_holds_no_root_lock() {
    let Some(w) = World::new() else {
        return;
    };
    let p = w.pack("p", "1.0.0", &[("requirements.txt", "alpha\n")]);
    let q = w.pack("q", "1.0.0", &[]);
    // The wheels take long to come: the install waits in its build.
    w.py.server.delay("/files/", Duration::from_secs(10));
    let mut c = w.k.command();
    c.args(["install", p.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let start = Instant::now();
    while !w.py.server.log().iter().any(|x| x.starts_with("/files/")) {
        assert!(start.elapsed() < Duration::from_secs(60), "pip never asked");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Another install (the root's exclusive lock) goes ahead meanwhile,
    // leaving p's environment to the process building it.
    let o = w.k.run_within(
        Duration::from_secs(8),
        &["--color", "never", "install", q.to_str().unwrap()],
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        o.stdout
            .contains("the python environment of p is being built by another knap process"),
        "{}",
        o.stdout
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "the build is still running"
    );
    assert!(child.wait().unwrap().success());
    let lock = w.lock();
    let refs: Vec<&str> = lock["packs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ref"].as_str().unwrap())
        .collect();
    assert_eq!(
        refs,
        ["p", "q"],
        "the build's record kept the other install"
    );
    assert_eq!(
        packages(&lock["packs"][0]["envs"][0]),
        ["alpha==1.0", "beta==2.0"]
    );
}

#[test]
fn env_build_list_check_and_remove_through_the_cli() {
    let Some(w) = World::new() else {
        return;
    };
    let src = w.python_and_node_pack();
    w.run(&["install", "--no-envs", src.to_str().unwrap()]).ok();
    assert_eq!(
        states(&w, "list"),
        (0, vec!["p python missing".into(), "p node missing".into()])
    );
    let o = w.run(&["env", "build", "--json"]).ok();
    let v = o.json();
    let results: Vec<&str> = v["envs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["built", "built"]);
    let lock = w.lock();
    let envs = lock["packs"][0]["envs"].as_array().unwrap();
    assert_eq!(envs[0]["runtime"], "python");
    assert_eq!(envs[0]["packages"][0]["name"], "alpha");
    assert_eq!(envs[1]["packages"][0]["name"], "leftish");
    assert_eq!(
        states(&w, "check"),
        (0, vec!["p python ok".into(), "p node ok".into()])
    );

    // Damage: a file of alpha changes.
    let py_env = w.envs().join("p").join(envs[0]["dir"].as_str().unwrap());
    let sp = std::fs::read_dir(py_env.join("lib"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path()
        .join("site-packages");
    std::fs::write(sp.join("alpha/__init__.py"), "x = 1\n").unwrap();
    let o = w.run(&["env", "check"]).code(4);
    assert!(
        o.stdout.contains("alpha: alpha/__init__.py changed"),
        "{}",
        o.stdout
    );
    assert!(o.stderr.contains("not as knap.lock records"));

    w.run(&["env", "build", "--force", "p"]).ok();
    assert_eq!(states(&w, "check").0, 0);

    w.run(&["env", "remove", "p"]).ok();
    assert!(!w.envs().join("p").exists());
    assert!(w.lock()["packs"][0].get("envs").is_none());
    assert_eq!(
        states(&w, "check"),
        (4, vec!["p python missing".into(), "p node missing".into()])
    );
    w.run(&["env", "remove", "nosuchpack"]).code(3);
}

/// The processes under `pid` (from `/proc`), deepest last.
fn descendants(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`; comm may hold spaces.
        let after = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
        if let Some(ppid) = after.split_whitespace().nth(1).and_then(|x| x.parse().ok()) {
            parents.push((p, ppid));
        }
    }
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for (c, _) in parents.iter().filter(|(_, pp)| *pp == p) {
            out.push(*c);
            todo.push(*c);
        }
    }
    out
}

#[test]
fn a_build_killed_with_sigkill_is_recovered_by_the_next_one_and_held_no_root_lock() {
    let Some(w) = World::new() else {
        return;
    };
    let src = w.pack("p", "1.0.0", &[("requirements.txt", "alpha\n")]);
    w.run(&["install", "--no-envs", src.to_str().unwrap()]).ok();
    // The wheels take long to come: the build is killed while pip waits.
    w.py.server.delay("/files/", Duration::from_secs(8));
    let mut c = w.k.command();
    c.args(["env", "build"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let start = Instant::now();
    let half_built = loop {
        let dirs = env_dirs(&w.envs().join("p"));
        if let Some(d) = dirs.iter().find(|d| d.join("bin/python").exists()) {
            break d.clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the build never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // Wait until pip asks for a wheel, then kill knap and its installers.
    while !w.py.server.log().iter().any(|p| p.starts_with("/files/")) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "pip never asked for a wheel"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // `knap env build` holds no root lock while it builds: an install goes
    // ahead meanwhile.
    let q = w.pack("q", "1.0.0", &[]);
    let o = w.k.run_within(
        Duration::from_secs(8),
        &["install", "--no-envs", q.to_str().unwrap()],
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        child.try_wait().unwrap().is_none(),
        "the build is still running"
    );
    // SIGKILL to knap, then to every process under it (the installers),
    // so that knap never sees them die.
    let mut doomed = vec![child.id()];
    doomed.extend(descendants(child.id()));
    for pid in doomed {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    child.wait().unwrap();
    assert!(
        half_built.exists() && !half_built.join(".knap-env.json").exists(),
        "{} exists: {}, complete: {}, log: {:?}",
        half_built.display(),
        half_built.exists(),
        half_built.join(".knap-env.json").exists(),
        w.py.server.log()
    );
    assert!(w.lock()["packs"][0].get("envs").is_none());
    assert_eq!(w.lock()["packs"][1]["ref"], "q");

    w.py.server.delay("/files/", Duration::ZERO);
    let o = w.run(&["env", "build", "--json"]).ok();
    assert_eq!(o.json()["envs"][0]["result"], "built");
    assert!(
        half_built.join(".knap-env.json").is_file(),
        "rebuilt in its final directory"
    );
    assert_eq!(states(&w, "check"), (0, vec!["p python ok".into()]));
    assert_eq!(env_dirs(&w.envs().join("p")), vec![half_built], "no debris");
}

#[test]
fn doctor_shows_each_environment_state() {
    let Some(w) = World::new() else {
        return;
    };
    let src = w.pack("p", "1.0.0", &[("requirements.txt", "beta\n")]);
    std::fs::write(
        src.join("pack.yaml"),
        "ref: p\nversion: 1.0.0\nruntime_deps: [python3]\n",
    )
    .unwrap();
    w.run(&["install", "--no-envs", src.to_str().unwrap()]).ok();
    let o = w.run(&["doctor", "--json"]).code(1);
    let v = o.json();
    assert_eq!(v["environments"][0]["state"], "missing");
    assert_eq!(v["environments"][0]["runtime"], "python");
    assert!(o.stderr.contains("knap env build"));
    w.run(&["env", "build"]).ok();
    let o = w.run(&["doctor"]).ok();
    assert!(
        o.stdout.contains("ENVIRONMENT") && o.stdout.contains("python-3."),
        "{}",
        o.stdout
    );
    // Where knap does not build environments (`envs = false`), doctor only shows them.
    std::fs::remove_dir_all(w.envs()).unwrap();
    std::fs::write(w.k.config(), "envs = false\n").unwrap();
    let o = w.run(&["doctor", "--json"]).ok();
    assert_eq!(o.json()["environments"][0]["state"], "missing");
}

/// The usual output of the environment commands and their common errors, as
/// a user sees them (text and `--json`), with what varies by machine taken out: interpreter versions, environment
/// ids (which hash them) and the column widths they set.
fn assert_env_out(name: &str, out: Out) {
    let mut s = knap_test_support::snapshot::settings();
    s.add_filter(r"\b[0-9a-f]{12}\b", "[ID]");
    // An environment directory: `python-3.11-<id>`, `node-20-<id>`.
    s.add_filter(r"\b(python|node)-\d+(\.\d+)?-\[ID\]", "$1-[V]-[ID]");
    // The interpreter column after the runtime column.
    s.add_filter(r"\b(python|node)( +)\d+\.\d+\.\d+\b", "$1$2[VERSION]");
    // Column widths follow the values' lengths.
    s.add_filter(r"(\S) {2,}", "$1  ");
    // The same in `--json`: whole ids, interpreter versions.
    s.add_filter(r"sha256:[0-9a-f]{64}", "sha256:[ID]");
    s.add_filter(
        r#""interpreter": ?"[0-9.]+""#,
        r#""interpreter": "[VERSION]""#,
    );
    let _bound = s.bind_to_scope();
    knap_test_support::insta::assert_snapshot!(name, out.transcript());
}

#[test]
fn the_environment_commands_usual_output() {
    let Some(w) = World::new() else {
        return;
    };
    let src = w.python_and_node_pack();
    let src = src.to_str().unwrap();
    assert_env_out(
        "install_no_envs",
        w.run(&["--color", "never", "install", "--no-envs", src])
            .ok(),
    );
    assert_env_out(
        "list_missing",
        w.run(&["--color", "never", "env", "list"]).ok(),
    );
    assert_env_out("build", w.run(&["--color", "never", "env", "build"]).ok());
    assert_env_out(
        "list_current",
        w.run(&["--color", "never", "env", "list"]).ok(),
    );
    assert_env_out("list_json", w.run(&["--json", "env", "list"]).ok());
    assert_env_out("check", w.run(&["--color", "never", "env", "check"]).ok());
    assert_env_out("check_json", w.run(&["--json", "env", "check"]).ok());
    // The common errors: a pack that is not installed, an environment
    // that is missing.
    assert_env_out(
        "build_not_installed",
        w.run(&["--color", "never", "env", "build", "nosuch"]),
    );
    assert_env_out(
        "build_not_installed_json",
        w.run(&["--json", "env", "build", "nosuch"]),
    );
    assert_env_out(
        "remove",
        w.run(&["--color", "never", "env", "remove", "p"]).ok(),
    );
    assert_env_out(
        "check_missing",
        w.run(&["--color", "never", "env", "check"]),
    );
    assert_env_out("check_missing_json", w.run(&["--json", "env", "check"]));
}

/// A build is told as it happens: under `-v` as lines (the pack, its
/// runtime, how many packages), with `--progress json` as one
/// `env_building` then one `env_built` event per environment, naming the
/// pack, the installer and the packages.
#[test]
fn an_environment_build_is_told_under_v_and_as_events_with_progress_json() {
    let Some(w) = World::new() else {
        return;
    };
    let src = w.pack("q", "1.0.0", &[("requirements.txt", "alpha\n")]);
    w.run(&["install", "--no-envs", src.to_str().unwrap()]).ok();
    let o = w.run(&["-v", "env", "build"]).ok();
    assert!(
        o.stderr
            .lines()
            .any(|l| l.contains("q python") && l.contains("2 packages")),
        "{o:#?}"
    );
    let o = w
        .run(&["--progress", "json", "env", "build", "--force", "q"])
        .ok();
    let events = o.events();
    let names: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(names, ["env_building", "env_built"], "{events:?}");
    assert_eq!(events[0]["pack"], "q");
    assert_eq!(events[0]["runtime"], "python");
    assert_eq!(events[0]["installer"], "pip");
    assert_eq!(events[1]["pack"], "q");
    assert_eq!(events[1]["packages"], 2);
}

/// `python = PATH` in the configuration is the interpreter environments
/// are built with: a path that holds none is an error naming the setting,
/// and the real interpreter given by its full path builds.
#[test]
fn the_configured_python_is_the_interpreter_environments_are_built_with() {
    let Some(w) = World::new() else {
        return;
    };
    let src = w.pack("q", "1.0.0", &[("requirements.txt", "alpha\n")]);
    w.run(&["install", "--no-envs", src.to_str().unwrap()]).ok();
    let missing = w.k.dir.path().join("no-such/python3");
    std::fs::write(
        w.k.config(),
        format!("python = \"{}\"\n", missing.display()),
    )
    .unwrap();
    let o = w.run(&["--color", "never", "env", "build"]);
    assert_ne!(o.code, 0, "{o:#?}");
    assert!(o.stderr.contains("configured as `python`"), "{o:#?}");
    assert!(o.stderr.contains("no-such/python3"), "{o:#?}");
    assert!(!w.envs().join("q").exists(), "nothing built: {o:#?}");

    let real = std::env::split_paths(&support::path_without_uv())
        .map(|d| d.join("python3"))
        .find(|p| p.is_file())
        .expect("python3 on PATH");
    std::fs::write(w.k.config(), format!("python = \"{}\"\n", real.display())).unwrap();
    w.run(&["env", "build"]).ok();
    let (code, states) = states(&w, "check");
    assert_eq!((code, states), (0, vec!["q python ok".to_owned()]));
}

/// No file in an environment hangs knap: a FIFO in place of an
/// environment's `.knap-env.json` makes it not current (it is rebuilt), and
/// a FIFO in place of an installed file its RECORD lists is a mismatch that
/// `env check` names (exit 4). Runs are killed after 20 s, so a read that
/// blocks fails the test.
#[test]
fn a_fifo_in_an_environment_is_a_broken_environment_not_a_wait() {
    const LIMIT: std::time::Duration = std::time::Duration::from_secs(20);
    let Some(w) = World::new() else {
        return;
    };
    let src = w.pack("q", "1.0.0", &[("requirements.txt", "alpha\n")]);
    w.run(&["install", src.to_str().unwrap()]).ok();
    let env = env_dirs(&w.envs().join("q")).pop().unwrap();
    let mkfifo = |p: &Path| {
        std::fs::remove_file(p).unwrap();
        assert!(Command::new("mkfifo").arg(p).status().unwrap().success());
    };

    let installed = walk_for(&env, "alpha/__init__.py");
    mkfifo(&installed);
    let o = w.k.run_within(LIMIT, &["--color", "never", "env", "check"]);
    assert_eq!(o.code, 4, "{o:#?}");
    assert!(o.stdout.contains("alpha/__init__.py"), "{o:#?}");

    mkfifo(&env.join(".knap-env.json"));
    let o = w.k.run_within(LIMIT, &["--json", "env", "list"]);
    assert_eq!(o.code, 0, "{o:#?}");
    assert_ne!(o.json()["envs"][0]["state"], "ok", "{o:#?}");
    // The next build replaces it.
    let o = w.k.run_within(LIMIT, &["env", "build"]);
    assert_eq!(o.code, 0, "{o:#?}");
    assert_eq!(states(&w, "check"), (0, vec!["q python ok".to_owned()]));
}

/// The file under `dir` whose path ends with `tail`.
fn walk_for(dir: &Path, tail: &str) -> PathBuf {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(tail) {
                return p;
            }
        }
    }
    panic!("no {tail} under {}", dir.display())
}

/// A bundle carries the packages the root's environments hold (wheels for
/// Python, an npm cache for Node.js), and `install --bundle` builds the
/// environments from them alone: the other machine's package indexes get
/// no request, and the environments hold the recorded versions.
#[test]
fn a_bundle_carries_the_environments_packages_and_builds_them_without_an_index() {
    let Some(w) = World::new() else {
        return;
    };
    let src = w.python_and_node_pack();
    w.run(&["install", src.to_str().unwrap()]).ok();
    let recorded = w.lock()["packs"][0]["envs"].clone();
    w.run(&["bundle", "create", "-o", "bundle"]).ok();
    let bundle = w.k.cwd().join("bundle");
    let wheels: Vec<String> = std::fs::read_dir(bundle.join("envs/python"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        wheels.iter().any(|w| w.starts_with("alpha-1.0"))
            && wheels.iter().any(|w| w.starts_with("beta-2.0")),
        "{wheels:?}"
    );
    assert!(bundle.join("envs/node/cache").is_dir());
    assert!(bundle.join("envs/node/registry").is_file());

    // Another machine: its own index and registry, which must not be asked.
    let Some(other) = World::new() else {
        return;
    };
    other
        .run(&["install", "--bundle", bundle.to_str().unwrap()])
        .ok();
    assert_eq!(
        other.py.server.log(),
        Vec::<String>::new(),
        "pip or uv asked"
    );
    assert_eq!(other.npm.server.log(), Vec::<String>::new(), "npm asked");
    assert_eq!(
        states(&other, "check"),
        (0, vec!["p python ok".to_owned(), "p node ok".to_owned()])
    );
    assert_eq!(other.lock()["packs"][0]["envs"], recorded);
}
