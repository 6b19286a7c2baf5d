//! The programs environments are built with, found once per run: the
//! Python interpreter (the configured one, else `python3` on `PATH`), `uv`
//! (preferred when on `PATH`), Node.js and `npm`, each located with the
//! `which` crate and the interpreters probed for their exact version and
//! platform (which go into the environment id).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use knap_schema::env::{InterpreterVersion, Runtime};

use crate::process;

/// How long a probe (`python -c ...`, `node -p ...`) may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// An interpreter as probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreter {
    pub runtime: Runtime,
    /// What was asked for or found on PATH (`python3`, `/usr/bin/python3.11`).
    pub command: PathBuf,
    /// The interpreter itself (`sys.executable`; for Node.js the program found).
    pub executable: PathBuf,
    pub version: InterpreterVersion,
    /// `cpython-linux-x86_64`, `linux-x64`.
    pub platform: String,
}

impl Interpreter {
    /// `python3 3.11.7 (/usr/bin/python3.11)`, for messages.
    pub fn describe(&self) -> String {
        format!(
            "{} {} ({})",
            self.command.display(),
            self.version,
            self.executable.display()
        )
    }
}

/// Why an interpreter is not usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolError {
    /// Not found: what was looked for, where.
    Missing { what: String, looked: String },
    /// Found but its probe failed.
    Probe { program: String, message: String },
}

/// The programs of a run, each looked for (and probed) once, on first use.
#[derive(Debug)]
pub struct Toolchain {
    path: Option<OsString>,
    cwd: PathBuf,
    python: Option<PathBuf>,
    env: Vec<(OsString, OsString)>,
    timeout: Duration,
    python_probe: OnceLock<Result<Interpreter, ToolError>>,
    node_probe: OnceLock<Result<Interpreter, ToolError>>,
    uv: OnceLock<Option<PathBuf>>,
    npm: OnceLock<Option<PathBuf>>,
}

impl Toolchain {
    /// Programs are looked for on `path` (the process's `PATH` when
    /// `None`); `python` is the configured interpreter, a path or a name
    /// looked for on that `PATH`.
    /// `env` is set for every program run (see `Settings::installer_env`).
    pub fn new(
        path: Option<OsString>,
        python: Option<PathBuf>,
        env: Vec<(OsString, OsString)>,
    ) -> Self {
        Self {
            path: path.or_else(|| std::env::var_os("PATH")),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
            python,
            env,
            timeout: PROBE_TIMEOUT,
            python_probe: OnceLock::new(),
            node_probe: OnceLock::new(),
            uv: OnceLock::new(),
            npm: OnceLock::new(),
        }
    }

    /// The `PATH` installers run with.
    pub fn path(&self) -> Option<&OsString> {
        self.path.as_ref()
    }

    /// `name` on this toolchain's `PATH` (a name with a `/` as it is).
    pub fn find(&self, name: &Path) -> Option<PathBuf> {
        which::which_in(name, self.path.as_ref(), &self.cwd).ok()
    }

    fn path_words(&self) -> String {
        match &self.path {
            Some(p) => format!("PATH={}", p.to_string_lossy()),
            None => "PATH is not set".into(),
        }
    }

    /// The interpreter of `runtime`, probed once.
    pub fn interpreter(&self, runtime: Runtime) -> Result<&Interpreter, ToolError> {
        let cell = match runtime {
            Runtime::Python => &self.python_probe,
            Runtime::Node => &self.node_probe,
        };
        cell.get_or_init(|| match runtime {
            Runtime::Python => self.probe_python(),
            Runtime::Node => self.probe_node(),
        })
        .as_ref()
        .map_err(Clone::clone)
    }

    /// `uv`, when it is on `PATH`.
    pub fn uv(&self) -> Option<&Path> {
        self.uv
            .get_or_init(|| self.find(Path::new("uv")))
            .as_deref()
    }

    /// `npm`.
    pub fn npm(&self) -> Result<&Path, ToolError> {
        self.npm
            .get_or_init(|| self.find(Path::new("npm")))
            .as_deref()
            .ok_or_else(|| ToolError::Missing {
                what: "npm".into(),
                looked: self.path_words(),
            })
    }

    fn probe_python(&self) -> Result<Interpreter, ToolError> {
        let command = self
            .python
            .clone()
            .unwrap_or_else(|| PathBuf::from("python3"));
        let exe = self.find(&command).ok_or_else(|| ToolError::Missing {
            what: format!("the Python interpreter `{}`", command.display()),
            looked: if self.python.is_some() {
                format!("configured as `python`; {}", self.path_words())
            } else {
                self.path_words()
            },
        })?;
        let mut c = Command::new(&exe);
        c.args([
            "-I",
            "-c",
            "import platform, sys, sysconfig; print(platform.python_version()); print(sys.implementation.name + '-' + sysconfig.get_platform()); print(sys.executable)",
        ]);
        self.with_path(&mut c);
        let out = self.probe(c, &exe)?;
        let mut lines = out.lines();
        let (Some(version), Some(platform), Some(executable)) =
            (lines.next(), lines.next(), lines.next())
        else {
            return Err(ToolError::Probe {
                program: exe.display().to_string(),
                message: format!("unexpected output {out:?}"),
            });
        };
        Ok(Interpreter {
            runtime: Runtime::Python,
            command,
            executable: if executable.trim().is_empty() {
                exe.clone()
            } else {
                PathBuf::from(executable.trim())
            },
            version: self.version(&exe, version)?,
            platform: platform.trim().to_owned(),
        })
    }

    fn probe_node(&self) -> Result<Interpreter, ToolError> {
        let exe = self
            .find(Path::new("node"))
            .ok_or_else(|| ToolError::Missing {
                what: "Node.js (`node`)".into(),
                looked: self.path_words(),
            })?;
        let mut c = Command::new(&exe);
        c.args([
            "-p",
            "process.versions.node + '\\n' + process.platform + '-' + process.arch",
        ]);
        self.with_path(&mut c);
        let out = self.probe(c, &exe)?;
        let mut lines = out.lines();
        let (Some(version), Some(platform)) = (lines.next(), lines.next()) else {
            return Err(ToolError::Probe {
                program: exe.display().to_string(),
                message: format!("unexpected output {out:?}"),
            });
        };
        Ok(Interpreter {
            runtime: Runtime::Node,
            command: PathBuf::from("node"),
            executable: exe.clone(),
            version: self.version(&exe, version)?,
            platform: platform.trim().to_owned(),
        })
    }

    fn version(&self, exe: &Path, text: &str) -> Result<InterpreterVersion, ToolError> {
        InterpreterVersion::parse(text.trim()).map_err(|message| ToolError::Probe {
            program: exe.display().to_string(),
            message,
        })
    }

    fn probe(&self, c: Command, exe: &Path) -> Result<String, ToolError> {
        let program = exe.display().to_string();
        match process::run(c, self.timeout, true) {
            Ok(ran) => Ok(ran.stdout),
            Err(process::Failed::Spawn(e)) => Err(ToolError::Probe {
                program,
                message: e.to_string(),
            }),
            Err(process::Failed::Status { status, tail }) => Err(ToolError::Probe {
                program,
                message: format!("{status}{tail}"),
            }),
            Err(process::Failed::Timeout { .. }) => Err(ToolError::Probe {
                program,
                message: format!("no answer within {} s", self.timeout.as_secs()),
            }),
        }
    }

    /// Gives `c` this toolchain's `PATH` and extra variables (the rest of
    /// the environment, with the user's index settings, passes through
    /// untouched).
    pub fn with_path(&self, c: &mut Command) {
        if let Some(p) = &self.path {
            c.env("PATH", p);
        }
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
    }
}
