//! Environments carried to a machine without network (bundles, formats.md
//! §9): the distributions `knap.lock` records for each environment, fetched
//! by the ecosystem's own tools into a directory ([`download`]: `pip
//! download` for Python; `npm cache add` for Node.js, into an npm cache of
//! its own, which holds the registry's documents as well as the tarballs,
//! with the registry's URL beside it), and the installer settings that
//! build from that directory alone ([`Offline`]: pip and uv find their
//! wheels there with no index; npm installs offline from a copy of the
//! cache, asking the same registry URL it was filled from).
//!
//! The user's index settings (`PIP_INDEX_URL`, `.npmrc`, ...) pass to the
//! downloads as to a build. Building from a carried directory asks no index:
//! a package that is not there fails the build, naming it.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

use knap_schema::PackRef;
use knap_schema::env::{LockedEnv, Runtime};

use crate::build::Settings;
use crate::error::EnvError;
use crate::plan::tool_error;
use crate::process;
use crate::toolchain::Toolchain;

/// The subdirectory of the carried Python distributions.
pub const PYTHON_DIR: &str = "python";
/// The subdirectory of the carried npm cache (`node/cache`) and the URL of
/// the registry it was filled from (`node/registry`).
pub const NODE_DIR: &str = "node";

/// How many packages a download fetched, by runtime.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Carried {
    pub python: usize,
    pub node: usize,
}

/// Fetches every package the environments of `envs` record, at its
/// recorded version, into `dir/python` and `dir/node`, with the
/// installers of `settings` (no dependencies resolved again: the lock
/// lists each environment's whole set).
pub fn download(
    settings: &Settings,
    envs: &[(PackRef, LockedEnv)],
    dir: &Path,
) -> Result<Carried, EnvError> {
    let tools = Toolchain::new(
        settings.path.clone(),
        settings.python.clone(),
        settings.installer_env.clone(),
    );
    let mut carried = Carried::default();
    for (pack, env) in envs {
        if env.packages.is_empty() {
            continue;
        }
        match env.runtime {
            Runtime::Python => {
                let python = tools
                    .interpreter(Runtime::Python)
                    .map_err(|e| tool_error(pack, Runtime::Python, e))?;
                let to = dir.join(PYTHON_DIR);
                create(pack, env.runtime, &to)?;
                let mut c = Command::new(&python.executable);
                c.args([
                    "-m",
                    "pip",
                    "download",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--no-deps",
                    "--dest",
                ])
                .arg(&to);
                c.args(
                    env.packages
                        .iter()
                        .map(|p| format!("{}=={}", p.name, p.version)),
                );
                tools.with_path(&mut c);
                run(c, pack, env.runtime, settings, false)?;
                carried.python += env.packages.len();
            }
            Runtime::Node => {
                let npm = tools
                    .npm()
                    .map_err(|e| tool_error(pack, Runtime::Node, e))?;
                let to = dir.join(NODE_DIR);
                create(pack, env.runtime, &to)?;
                // The registry the cache's documents are keyed by.
                let mut c = Command::new(npm);
                c.args(["config", "get", "registry"]);
                tools.with_path(&mut c);
                let registry = run(c, pack, env.runtime, settings, true)?;
                write(pack, env.runtime, &to.join("registry"), registry.trim())?;
                let mut c = Command::new(npm);
                c.args(["cache", "add", "--cache"]).arg(to.join("cache"));
                c.args(
                    env.packages
                        .iter()
                        .map(|p| format!("{}@{}", p.name, p.version)),
                );
                tools.with_path(&mut c);
                run(c, pack, env.runtime, settings, false)?;
                carried.node += env.packages.len();
            }
        }
    }
    Ok(carried)
}

/// The installer settings that build environments from a carried
/// directory alone: pip and uv find their wheels there with no index, npm
/// installs offline from a copy of the carried cache.
#[derive(Debug, Clone)]
pub struct Offline {
    env: Vec<(OsString, OsString)>,
}

impl Offline {
    /// Prepares building from `dir` (as [`download`] wrote it); npm gets
    /// a copy of the carried cache in `cache` (it writes to its cache).
    pub fn prepare(settings: &Settings, dir: &Path, cache: &Path) -> Result<Self, std::io::Error> {
        let python = dir.join(PYTHON_DIR);
        let node = dir.join(NODE_DIR);
        // The user's own variables first: these win.
        let mut env = settings.installer_env.clone();
        env.extend([
            ("PIP_NO_INDEX".into(), "1".into()),
            ("PIP_FIND_LINKS".into(), python.clone().into_os_string()),
            ("UV_OFFLINE".into(), "1".into()),
            ("UV_FIND_LINKS".into(), python.into_os_string()),
            ("npm_config_offline".into(), "true".into()),
            ("npm_config_cache".into(), cache.as_os_str().to_owned()),
        ]);
        let carried = node.join("cache");
        if carried.is_dir() {
            copy_tree(&carried, cache)?;
            let registry = knap_schema::fs::read_to_string(
                &node.join("registry"),
                knap_schema::fs::Links::Refuse,
                4096,
            )
            .map_err(std::io::Error::from)?;
            env.push(("npm_config_registry".into(), registry.trim().into()));
        }
        Ok(Self { env })
    }

    /// The variables to give the installers ([`Settings::installer_env`]).
    pub fn installer_env(self) -> Vec<(OsString, OsString)> {
        self.env
    }
}

/// Copies the regular files and directories under `from` into `to`
/// (links and special files are no part of a cache, and are skipped).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    for e in walkdir::WalkDir::new(from).follow_links(false) {
        let e = e.map_err(std::io::Error::other)?;
        let rel = e.path().strip_prefix(from).expect("under the walk's root");
        let dest = to.join(rel);
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest)?;
        } else if e.file_type().is_file() {
            let (mut src, _) = knap_schema::fs::open(e.path(), knap_schema::fs::Links::Refuse)?;
            std::io::copy(&mut src, &mut std::fs::File::create(&dest)?)?;
        }
    }
    Ok(())
}

fn write(pack: &PackRef, runtime: Runtime, path: &Path, text: &str) -> Result<(), EnvError> {
    std::fs::write(path, text).map_err(|e| EnvError::Install {
        pack: pack.clone(),
        runtime,
        command: format!("write {}", path.display()),
        status: e.to_string(),
        tail: Default::default(),
    })
}

fn create(pack: &PackRef, runtime: Runtime, dir: &Path) -> Result<(), EnvError> {
    std::fs::create_dir_all(dir).map_err(|e| EnvError::Install {
        pack: pack.clone(),
        runtime,
        command: format!("create {}", dir.display()),
        status: e.to_string(),
        tail: Default::default(),
    })
}

/// Runs an installer command under the build's deadline; its stdout when
/// `keep_stdout`.
fn run(
    c: Command,
    pack: &PackRef,
    runtime: Runtime,
    settings: &Settings,
    keep_stdout: bool,
) -> Result<String, EnvError> {
    let command = process::shown(&c);
    process::run(c, settings.timeout, keep_stdout)
        .map(|ran| ran.stdout)
        .map_err(|f| EnvError::of_run(pack, runtime, command, settings.timeout, f))
}
