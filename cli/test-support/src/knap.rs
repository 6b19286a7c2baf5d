//! The `knap` binary, run the way a test needs it: in a temporary home of
//! its own, so that no test reads or writes anything of another test, of
//! the user who runs them, or of the checkout.
//!
//! A [`Knap`]'s directory holds `config.toml` (`KNAP_CONFIG`), `cache/`
//! (`KNAP_CACHE_DIR`), and `work/`, the working directory of every run, so
//! the default install root (`packs`, relative) is `work/packs` inside it
//! ([`Knap::root`]). `HOME` is the directory too; every `KNAP_`, `XDG_`
//! and CA variable of the environment is removed, as is `NO_COLOR`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// A `knap` with its own home; see the module documentation.
pub struct Knap {
    pub dir: tempfile::TempDir,
    /// Set for every run, after the isolation (see [`Knap::set`]).
    pub env: Vec<(String, String)>,
    bin: PathBuf,
    /// Paths shown in transcripts under a name, longest first.
    names: Vec<(String, String)>,
}

/// What a run of `knap` gave.
#[derive(Clone)]
pub struct Out {
    /// The arguments, as run.
    pub args: Vec<String>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// (path, name) pairs that [`Out::transcript`] replaces.
    names: Vec<(String, String)>,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Out")
            .field("args", &self.args)
            .field("code", &self.code)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .finish()
    }
}

impl Out {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// The `--progress json` events on stderr, one JSON object per line.
    pub fn events(&self) -> Vec<Value> {
        self.stderr
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("a stderr line is not JSON ({e}): {l}"))
            })
            .collect()
    }

    /// The `--json` error object on stderr.
    pub fn error_json(&self) -> Value {
        serde_json::from_str(&self.stderr)
            .unwrap_or_else(|e| panic!("stderr is not JSON ({e}):\n{}", self.stderr))
    }

    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "knap failed: {self:#?}");
        self
    }

    /// Asserts the exit code, showing the whole run when it differs.
    #[track_caller]
    pub fn code(self, code: i32) -> Self {
        assert_eq!(self.code, code, "exit code: {self:#?}");
        self
    }

    /// The run as a person would read it, for a snapshot: the command, the
    /// exit code, stdout and stderr, with this knap's own paths (and those
    /// given to [`Knap::name`]) replaced by their names. The filters of
    /// [`crate::snapshot`] take out what still changes from run to run.
    pub fn transcript(&self) -> String {
        let mut t = format!("$ knap {}\n", shell_words(&self.args));
        t.push_str(&format!("exit: {}\n", self.code));
        t.push_str("----- stdout -----\n");
        t.push_str(&self.stdout);
        if !self.stdout.is_empty() && !self.stdout.ends_with('\n') {
            t.push_str("\n[no newline at the end]\n");
        }
        t.push_str("----- stderr -----\n");
        t.push_str(&self.stderr);
        if !self.stderr.is_empty() && !self.stderr.ends_with('\n') {
            t.push_str("\n[no newline at the end]\n");
        }
        for (path, name) in &self.names {
            t = t.replace(path.as_str(), name);
        }
        t
    }
}

fn shell_words(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=@^+,~[]".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Default for Knap {
    fn default() -> Self {
        Self::new()
    }
}

impl Knap {
    /// The `knap` binary of this build (see [`cargo_bin`]), in a fresh home,
    /// with quick HTTP retries and a 20 s total timeout.
    pub fn new() -> Self {
        Self::with_bin(cargo_bin("knap"))
    }

    /// [`Knap::new`] running the binary at `bin`.
    pub fn with_bin(bin: PathBuf) -> Self {
        assert!(
            bin.is_file(),
            "{} is not built: run the tests with cargo test",
            bin.display()
        );
        let dir = crate::tempdir();
        std::fs::create_dir(dir.path().join("work")).unwrap();
        let mut k = Self {
            names: Vec::new(),
            dir,
            env: vec![
                ("KNAP_HTTP_BACKOFF_MS".into(), "10".into()),
                ("KNAP_HTTP_TIMEOUT".into(), "20".into()),
            ],
            bin,
        };
        let home = k.dir.path().to_path_buf();
        k.name(&home, "[KNAP]");
        k
    }

    /// The configuration file (`KNAP_CONFIG`).
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    /// The cache directory (`KNAP_CACHE_DIR`).
    pub fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// The working directory of every run.
    pub fn cwd(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// The default install root: `packs` in the working directory.
    pub fn root(&self) -> PathBuf {
        self.cwd().join("packs")
    }

    /// Sets an environment variable for every later run.
    pub fn set(&mut self, k: &str, v: &str) {
        self.env.push((k.into(), v.into()));
    }

    /// Shows `path` as `name` in transcripts (a site, a pack directory).
    pub fn name(&mut self, path: &Path, name: &str) {
        let p = path.display().to_string();
        self.names.retain(|(q, _)| *q != p);
        self.names.push((p, name.to_owned()));
        // Longest first, so that a path inside another keeps its own name.
        self.names.sort_by_key(|n| std::cmp::Reverse(n.0.len()));
    }

    /// Runs knap with `args`. `registry add` gets `--no-fetch`: most tests
    /// add registries before their servers hold anything, or count
    /// requests from the first `update`, so they are added unread;
    /// [`Knap::run_exactly`] runs the arguments as given (the tests of
    /// `registry add`'s own read use it).
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

    /// Runs knap with `--root ROOT` and then `args`.
    pub fn at(&self, root: &Path, args: &[&str]) -> Out {
        let root = root.to_str().expect("a UTF-8 root");
        let mut all = vec!["--root", root];
        all.extend_from_slice(args);
        self.run(&all)
    }

    /// Runs knap with exactly `args`.
    pub fn run_exactly(&self, args: &[&str]) -> Out {
        let mut c = self.command();
        c.args(args);
        let o = c.output().expect("knap runs");
        self.out(args, o)
    }

    /// Runs knap with exactly `args`, killing it when it has not ended
    /// within `limit`: a test of something that must not block (a FIFO
    /// where knap reads a file, a server that sends nothing) fails instead
    /// of hanging the suite.
    #[track_caller]
    pub fn run_within(&self, limit: std::time::Duration, args: &[&str]) -> Out {
        use std::io::Read;
        use std::process::Stdio;
        let mut c = self.command();
        c.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("knap runs");
        let mut pipes = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let readers = (
            std::thread::spawn(move || {
                let mut s = Vec::new();
                let _ = pipes.0.read_to_end(&mut s);
                s
            }),
            std::thread::spawn(move || {
                let mut s = Vec::new();
                let _ = pipes.1.read_to_end(&mut s);
                s
            }),
        );
        let start = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!("knap {args:?} was still running after {limit:?} (it blocked)");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        Out {
            args: args.iter().map(|a| a.to_string()).collect(),
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&readers.0.join().unwrap()).into_owned(),
            stderr: String::from_utf8_lossy(&readers.1.join().unwrap()).into_owned(),
            names: self.names.clone(),
        }
    }

    /// The `Out` of a finished process started from [`Knap::command`].
    pub fn out(&self, args: &[&str], o: std::process::Output) -> Out {
        Out {
            args: args.iter().map(|a| a.to_string()).collect(),
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            names: self.names.clone(),
        }
    }

    /// The binary, isolated, without arguments: for a test that starts it
    /// itself (in the background, under a signal, with input).
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        self.isolate(&mut c);
        c
    }

    /// The binary's path.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// Gives `c` (knap, or a program that runs it) this knap's environment:
    /// no inherited knap, XDG, CA or `NO_COLOR` variables; this config,
    /// cache, home and working directory; then `env`.
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
            .env("KNAP_CACHE_DIR", self.cache())
            .current_dir(self.cwd());
        for (k, v) in &self.env {
            c.env(k, v);
        }
    }
}

/// A binary of this workspace's build, found beside the running test (in
/// `target/<profile>/`, the test itself being in `target/<profile>/deps/`):
/// cargo builds a package's binaries before it runs its integration tests.
pub fn cargo_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its path");
    let mut dir = exe
        .parent()
        .expect("the test is in a directory")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}
