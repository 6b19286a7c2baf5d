//! `knap env` and `knap doctor`'s environments through the binary: real
//! pip and npm against the local index and registry of
//! `cli/envs/tests/support` (the installers read the index settings from
//! knap's environment, which passes them through), and a build killed
//! with SIGKILL then recovered.

#[path = "../../envs/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{NpmRegistry, PyIndex, Server};

struct World {
    dir: tempfile::TempDir,
    py: PyIndex,
    npm: NpmRegistry,
}

impl World {
    fn new() -> Self {
        let server = Server::start();
        let py = PyIndex::new(server.clone());
        py.add("alpha", "1.0", &["beta>=2"]);
        py.add("beta", "2.0", &[]);
        let npm = NpmRegistry::new(server);
        Self {
            dir: tempfile::tempdir().unwrap(),
            py,
            npm,
        }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn envs(&self) -> PathBuf {
        self.root().join(".envs")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_knap"));
        c.arg("--root").arg(self.root()).args(args);
        for (k, _) in std::env::vars() {
            if k.starts_with("KNAP_")
                || k.starts_with("XDG_")
                || k.starts_with("PIP_")
                || k.starts_with("UV_")
                || k.starts_with("npm_config")
            {
                c.env_remove(&k);
            }
        }
        c.env("HOME", self.dir.path())
            .env("RUST_BACKTRACE", "0")
            .env("KNAP_CONFIG", self.dir.path().join("config.toml"))
            .env("KNAP_CACHE_DIR", self.dir.path().join("cache"))
            .env("PATH", support::path_without_uv())
            .envs(support::index_env(
                &self.py,
                &self.npm,
                &self.dir.path().join("icache"),
            ));
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Installs a pack written under the test's directory.
    fn install(&self, r: &str, extra: &str, files: &[(&str, &str)]) -> PathBuf {
        let src = support::pack(&self.dir.path().join("src"), r, extra, files);
        let out = self.run(&["install", src.to_str().unwrap()]);
        assert!(out.status.success(), "{out:?}");
        src
    }
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)))
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn states(w: &World, cmd: &str) -> (i32, Vec<String>) {
    let o = w.run(&["env", cmd, "--json"]);
    let v = json(&o);
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
    (code(&o), s)
}

fn env_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|i| i.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn env_build_list_check_and_remove_through_the_cli() {
    let w = World::new();
    w.npm.add("leftish", "1.0.0", &[]);
    w.install(
        "p",
        "",
        &[
            ("requirements.txt", "alpha\n"),
            (
                "package.json",
                r#"{"name": "p", "version": "1.0.0", "dependencies": {"leftish": "^1"}}"#,
            ),
        ],
    );
    assert_eq!(
        states(&w, "list"),
        (0, vec!["p python missing".into(), "p node missing".into()])
    );
    let o = w.run(&["env", "build", "--json"]);
    assert_eq!(code(&o), 0, "{o:?}");
    let v = json(&o);
    let results: Vec<&str> = v["envs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["built", "built"]);
    let lock: Value = serde_json::from_str(&support::read(&w.root().join("knap.lock"))).unwrap();
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
    let o = w.run(&["env", "check"]);
    assert_eq!(code(&o), 4, "{o:?}");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("alpha: alpha/__init__.py changed"), "{text}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("not as knap.lock records"));

    let o = w.run(&["env", "build", "--force", "p"]);
    assert_eq!(code(&o), 0, "{o:?}");
    assert_eq!(states(&w, "check").0, 0);

    let o = w.run(&["env", "remove", "p"]);
    assert_eq!(code(&o), 0, "{o:?}");
    assert!(!w.envs().join("p").exists());
    let lock = support::read(&w.root().join("knap.lock"));
    assert!(!lock.contains("\"envs\""), "{lock}");
    assert_eq!(
        states(&w, "check"),
        (4, vec!["p python missing".into(), "p node missing".into()])
    );
    let o = w.run(&["env", "remove", "nosuchpack"]);
    assert_eq!(code(&o), 3, "{o:?}");
}

#[test]
fn a_failed_build_exits_1_naming_pack_command_and_last_lines() {
    let w = World::new();
    w.install("p", "", &[("requirements.txt", "nosuchthing==9.9\n")]);
    let o = w.run(&["env", "build"]);
    assert_eq!(code(&o), 1, "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("`p`") && err.contains("pip install"), "{err}");
    assert!(
        err.contains("| ") && err.contains("nosuchthing"),
        "the installer's last lines: {err}"
    );
    // The command to run again, on the same root (given with --root).
    let again = format!("`knap --root {} env build p`", w.root().display());
    assert!(err.contains(&again), "what to do: {err}");
    assert!(
        env_dirs(&w.envs().join("p")).is_empty(),
        "nothing half-built is left"
    );
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
fn a_build_killed_with_sigkill_is_recovered_by_the_next_one() {
    let w = World::new();
    w.install("p", "", &[("requirements.txt", "alpha\n")]);
    // The wheels take long to come: the build is killed while pip waits.
    w.py.server.delay("/files/", Duration::from_secs(8));
    let mut c = w.command(&["env", "build"]);
    c.stdout(Stdio::null()).stderr(Stdio::null());
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
    assert!(!support::read(&w.root().join("knap.lock")).contains("\"envs\""));

    w.py.server.delay("/files/", Duration::ZERO);
    let o = w.run(&["env", "build", "--json"]);
    assert_eq!(code(&o), 0, "{o:?}");
    assert_eq!(json(&o)["envs"][0]["result"], "built");
    assert!(
        half_built.join(".knap-env.json").is_file(),
        "rebuilt in its final directory"
    );
    assert_eq!(states(&w, "check"), (0, vec!["p python ok".into()]));
    let leftovers: Vec<PathBuf> = env_dirs(&w.envs().join("p"));
    assert_eq!(leftovers, vec![half_built], "no debris");
}

#[test]
fn doctor_shows_each_environment_state() {
    let w = World::new();
    w.install(
        "p",
        "runtime_deps: [python3]\n",
        &[("requirements.txt", "beta\n")],
    );
    let o = w.run(&["doctor", "--json"]);
    assert_eq!(code(&o), 1, "a missing environment is not ready: {o:?}");
    let v = json(&o);
    assert_eq!(v["environments"][0]["state"], "missing");
    assert_eq!(v["environments"][0]["runtime"], "python");
    let again = format!("`knap --root {} env build`", w.root().display());
    assert!(String::from_utf8_lossy(&o.stderr).contains(&again), "{o:?}");
    assert_eq!(code(&w.run(&["env", "build"])), 0);
    let o = w.run(&["doctor"]);
    assert_eq!(code(&o), 0, "{o:?}");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("ENVIRONMENT") && text.contains("python-3."),
        "{text}"
    );
    // Where knap does not build environments (`envs = false`), doctor only shows them.
    std::fs::remove_dir_all(w.envs()).unwrap();
    std::fs::write(w.dir.path().join("config.toml"), "envs = false\n").unwrap();
    let o = w.run(&["doctor", "--json"]);
    assert_eq!(code(&o), 0, "{o:?}");
    assert_eq!(json(&o)["environments"][0]["state"], "missing");
}
