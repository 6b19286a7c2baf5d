//! Integration tests of the `knap` binary against real registries: real
//! HTTP(S) servers on 127.0.0.1 (see `server`), real git repositories and
//! real files, each test with its own configuration and cache directory.

mod cli_tests;
mod completions_tests;
mod crash_tests;
mod direct_tests;
mod doctor_tests;
mod example_index_tests;
mod fault_tests;
mod friction_tests;
mod git_tests;
mod hostile_tests;
mod http_tests;
mod install_flags_tests;
mod install_tests;
mod lock_tests;
mod net_hints_tests;
mod output_tests;
mod priority_tests;
mod root_lock_tests;
mod root_tests;
mod server;
mod signed_tests;
mod sparse_tests;
mod stdout_tests;
mod tls_tests;
mod token_tests;
mod transfer_tests;
mod verbose_tests;
mod warning_tests;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

/// A `knap` with its own config and cache, and no inherited knap, XDG or
/// CA environment.
pub struct Knap {
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

/// What a run of `knap` gave.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "knap failed: {self:#?}");
        self
    }
}

impl Default for Knap {
    fn default() -> Self {
        Self::new()
    }
}

impl Knap {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            env: vec![
                ("KNAP_HTTP_BACKOFF_MS".into(), "10".into()),
                ("KNAP_HTTP_TIMEOUT".into(), "20".into()),
            ],
        }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    pub fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    pub fn set(&mut self, k: &str, v: &str) {
        self.env.push((k.into(), v.into()));
    }

    /// Runs knap with `args`. `registry add` gets `--no-fetch`: the
    /// suite's tests add registries before their servers hold anything,
    /// or count requests from the first `update`, so they are added
    /// unread; [`Knap::run_exactly`] runs the arguments as given (the tests
    /// of `registry add`'s own read use it).
    pub fn run(&self, args: &[&str]) -> Out {
        let mut all = args.to_vec();
        if let Some(i) = all.iter().position(|a| *a == "registry")
            && all.get(i + 1) == Some(&"add")
            && !all.contains(&"--no-fetch")
        {
            all.push("--no-fetch");
        }
        self.run_exactly(&all)
    }

    /// Runs knap with exactly `args`.
    pub fn run_exactly(&self, args: &[&str]) -> Out {
        let mut c = Command::new(env!("CARGO_BIN_EXE_knap"));
        c.args(args);
        self.isolate(&mut c);
        let o = c.output().expect("knap runs");
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Gives `c` (knap, or a program that runs it) this knap's environment:
    /// no inherited knap, XDG, CA or `NO_COLOR` variables; this config and
    /// cache; then `env`.
    pub fn isolate(&self, c: &mut Command) {
        for (k, _) in std::env::vars() {
            if k.starts_with("KNAP_")
                || k.starts_with("XDG_")
                || k == "SSL_CERT_FILE"
                || k == "GIT_SSL_CAINFO"
                || k == "NO_COLOR"
            {
                c.env_remove(&k);
            }
        }
        c.env("RUST_BACKTRACE", "0")
            .env("HOME", self.dir.path())
            .env("KNAP_CONFIG", self.config())
            .env("KNAP_CACHE_DIR", self.cache());
        for (k, v) in &self.env {
            c.env(k, v);
        }
    }
}

/// The shared corpus (`../shared/corpus` from the workspace root), if here.
pub fn corpus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    if p.join("attune/index.json").is_file() {
        Some(p)
    } else {
        println!("SKIPPED: the shared corpus is not at {}", p.display());
        None
    }
}

/// A valid index entry for `r` at `version`, depending on `deps`.
pub fn entry(r: &str, version: &str, deps: &[&str]) -> Value {
    let mut e = json!({
        "ref": r,
        "label": format!("The {r} pack"),
        "description": format!("Does {r} things"),
        "version": version,
        "author": "Test Author",
        "license": "Apache-2.0",
        "keywords": [r, "test"],
        "runtime_deps": [],
        "install_sources": [{
            "type": "archive",
            "url": format!("https://example.org/{r}-{version}.tar.gz"),
            "checksum": format!("sha256:{}", "ab".repeat(32)),
        }],
        "contents": {"actions": [], "sensors": [], "triggers": [], "rules": [], "workflows": []},
    });
    if !deps.is_empty() {
        e["dependencies"] = json!({"packs": deps});
    }
    e
}

/// A valid index of `entries` (sorted by the caller).
pub fn index(name: &str, entries: Vec<Value>) -> Value {
    json!({
        "registry_name": name,
        "registry_url": "https://example.org/registry/",
        "version": "1.0",
        "last_updated": "2026-11-21T12:00:00Z",
        "packs": entries,
    })
}

pub fn write_json(path: &Path, v: &Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_vec_pretty(v).unwrap()).unwrap();
}

/// Runs git in `dir` with a fixed identity; panics on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=t@example.org",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}
