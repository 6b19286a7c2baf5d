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
        // `node --version` answers before Node.js boots its JavaScript
        // engine (a few ms, where `node -p` takes 40-70 ms of a build): with
        // the platform and architecture read from the executable's header,
        // it says all the environment id needs. An executable whose header
        // is not one of those (a shell-script shim, a universal binary) is
        // asked the long way.
        if let Some(platform) = node_platform(&exe) {
            let mut c = Command::new(&exe);
            c.arg("--version");
            self.with_path(&mut c);
            let out = self.probe(c, &exe)?;
            let version = out.trim();
            return Ok(Interpreter {
                runtime: Runtime::Node,
                command: PathBuf::from("node"),
                executable: exe.clone(),
                version: self.version(&exe, version.strip_prefix('v').unwrap_or(version))?,
                platform,
            });
        }
        self.probe_node_by_script(exe)
    }

    /// Node.js's own answer to what it is (`node -p`).
    fn probe_node_by_script(&self, exe: PathBuf) -> Result<Interpreter, ToolError> {
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

/// `process.platform` + `-` + `process.arch` of the Node.js executable at
/// `exe`, read from its ELF or Mach-O header (the platform is the system
/// knap runs on, which the executable must be built for to run here); `None`
/// for anything else (a script, a universal or a PE binary, an architecture
/// not named here), which is then asked with `node -p`.
fn node_platform(exe: &Path) -> Option<String> {
    use std::io::Read;
    let platform = match std::env::consts::OS {
        "linux" => "linux",
        "macos" => "darwin",
        "freebsd" => "freebsd",
        "openbsd" => "openbsd",
        _ => return None,
    };
    let mut header = [0u8; 20];
    std::fs::File::open(exe)
        .ok()?
        .read_exact(&mut header)
        .ok()?;
    Some(format!("{platform}-{}", arch_of_header(&header)?))
}

/// Node.js's name (`process.arch`) for the architecture of an ELF or
/// 64-bit Mach-O executable, from its first 20 bytes.
fn arch_of_header(h: &[u8; 20]) -> Option<&'static str> {
    if h[..4] == *b"\x7fELF" {
        let (class64, little) = (h[4] == 2, h[5] == 1);
        let machine = if little {
            u16::from_le_bytes([h[18], h[19]])
        } else {
            u16::from_be_bytes([h[18], h[19]])
        };
        return match (machine, class64, little) {
            (62, true, true) => Some("x64"),
            (183, true, true) => Some("arm64"),
            (3, false, true) => Some("ia32"),
            (40, false, true) => Some("arm"),
            (21, true, _) => Some("ppc64"),
            (22, true, false) => Some("s390x"),
            (243, true, true) => Some("riscv64"),
            (258, true, true) => Some("loong64"),
            _ => None,
        };
    }
    // MH_MAGIC_64, little-endian, then the CPU type.
    if h[..4] == [0xcf, 0xfa, 0xed, 0xfe] {
        return match u32::from_le_bytes([h[4], h[5], h[6], h[7]]) {
            0x0100_0007 => Some("x64"),
            0x0100_000c => Some("arm64"),
            _ => None,
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf(class: u8, data: u8, machine: u16) -> [u8; 20] {
        let mut h = [0u8; 20];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = class;
        h[5] = data;
        let m = if data == 1 {
            machine.to_le_bytes()
        } else {
            machine.to_be_bytes()
        };
        h[18..20].copy_from_slice(&m);
        h
    }

    #[test]
    fn the_architecture_is_read_from_an_elf_or_mach_o_header_in_nodes_words() {
        assert_eq!(arch_of_header(&elf(2, 1, 62)), Some("x64"));
        assert_eq!(arch_of_header(&elf(2, 1, 183)), Some("arm64"));
        assert_eq!(arch_of_header(&elf(1, 1, 3)), Some("ia32"));
        assert_eq!(arch_of_header(&elf(2, 2, 22)), Some("s390x"));
        let mut macho = [0u8; 20];
        macho[..4].copy_from_slice(&[0xcf, 0xfa, 0xed, 0xfe]);
        macho[4..8].copy_from_slice(&0x0100_000c_u32.to_le_bytes());
        assert_eq!(arch_of_header(&macho), Some("arm64"));
    }

    #[test]
    fn a_script_an_unknown_machine_or_a_universal_binary_is_asked_the_long_way() {
        let mut script = [b' '; 20];
        script[..10].copy_from_slice(b"#!/bin/sh\n");
        assert_eq!(arch_of_header(&script), None);
        // x86-64's number in a 32-bit ELF, and an unnamed machine.
        assert_eq!(arch_of_header(&elf(1, 1, 62)), None);
        assert_eq!(arch_of_header(&elf(2, 1, 0x1234)), None);
        let mut fat = [0u8; 20];
        fat[..4].copy_from_slice(&[0xca, 0xfe, 0xba, 0xbe]);
        assert_eq!(arch_of_header(&fat), None);
        let dir = tempfile::tempdir().unwrap();
        let shim = dir.path().join("node");
        std::fs::write(&shim, "#!/bin/sh\nexec /usr/bin/node \"$@\"\n").unwrap();
        assert_eq!(node_platform(&shim), None);
    }

    #[test]
    #[allow(clippy::print_stderr)]
    fn the_quick_node_probe_says_what_node_itself_says() {
        let tools = Toolchain::new(None, None, Vec::new());
        let Some(exe) = tools.find(Path::new("node")) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "no `node` on PATH under CI"
            );
            eprintln!("skipped: the quick node probe test needs `node` on PATH");
            return;
        };
        let quick = tools.probe_node().unwrap();
        let asked = tools.probe_node_by_script(exe.clone()).unwrap();
        assert_eq!(quick, asked);
        let mut magic = [0u8; 4];
        std::io::Read::read_exact(&mut std::fs::File::open(&exe).unwrap(), &mut magic).unwrap();
        if cfg!(target_os = "linux") && magic == *b"\x7fELF" {
            assert!(
                node_platform(&exe).is_some(),
                "{exe:?} was asked the long way"
            );
        }
    }
}
