//! The ecosystems' own installers, run as processes in the environment's
//! final directory:
//!
//! - Python with `uv` when it is on `PATH`: `uv venv --python <interpreter>
//!   <dir>`, then `uv pip install --python <dir>/bin/python -r
//!   requirements.txt`; else `<interpreter> -m venv <dir>`, then
//!   `<dir>/bin/python -m pip install -r requirements.txt`.
//! - Node.js: the pack's `package.json` (and `package-lock.json`) copied
//!   into the directory, then `npm ci --omit=dev` when there is a lock
//!   file, else `npm install --omit=dev`, with `--prefix <dir>`.
//!
//! A locked build pins the recorded versions: a constraints file
//! (`-c`) for pip and uv; for npm, the pack's `package-lock.json` when it
//! has one, else its direct dependencies pinned and the rest of the tree
//! set through `overrides` in the copied `package.json`. `--offline` gives
//! uv and npm their `--offline` and pip `--no-index`. Nothing else is set:
//! the user's index settings (`PIP_INDEX_URL`, `UV_INDEX_URL`, `pip.conf`,
//! `.npmrc`, `npm_config_registry`) pass through.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use knap_schema::PackRef;
use knap_schema::env::{EnvPackage, Runtime};

use crate::error::EnvError;
use crate::inputs::{Inputs, PACKAGE_JSON, PACKAGE_LOCK, REQUIREMENTS};
use crate::inventory;
use crate::process;
use crate::toolchain::{Interpreter, Toolchain};

/// The constraints file of a locked Python build, in the environment.
pub const CONSTRAINTS: &str = ".knap-constraints.txt";

/// One build, as the installers need it.
pub struct Job<'a> {
    pub pack: &'a PackRef,
    pub pack_dir: &'a Path,
    pub inputs: &'a Inputs,
    /// The environment's final directory (created by the build).
    pub path: &'a Path,
    pub interpreter: &'a Interpreter,
    pub tools: &'a Toolchain,
    pub offline: bool,
    pub timeout: Duration,
    /// The exact versions to install (a locked build).
    pub pinned: Option<&'a [EnvPackage]>,
}

/// What a finished build used.
pub struct Done {
    /// `uv`, `pip` or `npm`.
    pub installer: &'static str,
    /// Packages the environment's creation put there (pip's own in a
    /// `python -m venv`), not asked for by the pack.
    pub seed: Vec<EnvPackage>,
}

impl Job<'_> {
    /// Which installer a build of this job uses.
    pub fn installer(&self) -> &'static str {
        match self.inputs.runtime {
            Runtime::Python if self.tools.uv().is_some() => "uv",
            Runtime::Python => "pip",
            Runtime::Node => "npm",
        }
    }

    fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        c.current_dir(self.pack_dir);
        self.tools.with_path(&mut c);
        c
    }

    fn run(&self, c: Command) -> Result<(), EnvError> {
        let command = process::shown(&c);
        tracing::debug!("{}: running {command}", self.pack);
        process::run(c, self.timeout, false)
            .map(|_| ())
            .map_err(|f| EnvError::of_run(self.pack, self.inputs.runtime, command, self.timeout, f))
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, EnvError> {
        let p = self.path.join(name);
        std::fs::write(&p, bytes).map_err(EnvError::io(self.pack, "write", &p))?;
        Ok(p)
    }

    /// Builds the environment in [`Job::path`], which must not exist.
    pub fn build(&self) -> Result<Done, EnvError> {
        match self.inputs.runtime {
            Runtime::Python => self.python(),
            Runtime::Node => self.node(),
        }
    }

    fn python(&self) -> Result<Done, EnvError> {
        let python = self.path.join("bin").join("python");
        let requirements = self.pack_dir.join(REQUIREMENTS);
        let uv = self.tools.uv();
        if let Some(uv) = uv {
            let mut c = self.command(uv);
            c.args(["venv", "--quiet", "--no-project", "--python"])
                .arg(&self.interpreter.executable)
                .arg(self.path);
            if self.offline {
                c.arg("--offline");
            }
            self.run(c)?;
        } else {
            let mut c = self.command(&self.interpreter.executable);
            c.args(["-m", "venv"]).arg(self.path);
            self.run(c)?;
        }
        let seed = inventory::packages(&inventory::list(Runtime::Python, self.path).0);
        let constraints = match self.pinned {
            Some(pins) => {
                let text: String = pins
                    .iter()
                    .map(|p| format!("{}=={}\n", p.name, p.version))
                    .collect();
                Some(self.write(CONSTRAINTS, text.as_bytes())?)
            }
            None => None,
        };
        let mut c = match uv {
            Some(uv) => {
                let mut c = self.command(uv);
                c.args(["pip", "install", "--python"]).arg(&python);
                if self.offline {
                    c.arg("--offline");
                }
                c
            }
            None => {
                let mut c = self.command(&python);
                c.args([
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--no-input",
                ]);
                if self.offline {
                    c.arg("--no-index");
                }
                c
            }
        };
        c.arg("-r").arg(&requirements);
        if let Some(file) = &constraints {
            c.arg("-c").arg(file);
        }
        self.run(c)?;
        Ok(Done {
            installer: if uv.is_some() { "uv" } else { "pip" },
            seed,
        })
    }

    fn node(&self) -> Result<Done, EnvError> {
        let npm = self.tools.npm().map_err(|e| match e {
            crate::toolchain::ToolError::Missing { what, looked } => EnvError::Missing {
                pack: self.pack.clone(),
                runtime: Runtime::Node,
                what,
                looked,
            },
            crate::toolchain::ToolError::Probe { program, message } => EnvError::Probe {
                pack: self.pack.clone(),
                runtime: Runtime::Node,
                program,
                message,
            },
        })?;
        std::fs::create_dir_all(self.path).map_err(EnvError::io(self.pack, "create", self.path))?;
        let package_json = self.inputs.file(PACKAGE_JSON).unwrap_or(b"{}");
        let lock = self.inputs.file(PACKAGE_LOCK);
        let package_json = match (self.pinned, lock) {
            (Some(pins), None) => pin_package_json(self.pack, package_json, pins)?,
            _ => package_json.to_vec(),
        };
        self.write(PACKAGE_JSON, &package_json)?;
        if let Some(lock) = lock {
            self.write(PACKAGE_LOCK, lock)?;
        }
        let mut c = self.command(npm);
        c.arg(if lock.is_some() { "ci" } else { "install" })
            .args([
                "--omit=dev",
                "--no-audit",
                "--no-fund",
                "--no-update-notifier",
            ])
            .arg("--prefix")
            .arg(self.path);
        if self.offline {
            c.arg("--offline");
        }
        self.run(c)?;
        Ok(Done {
            installer: "npm",
            seed: Vec::new(),
        })
    }
}

/// The pack's `package.json` with each direct dependency pinned to its
/// recorded version and every other recorded package (one version each)
/// set through `overrides`, so that npm installs the recorded tree.
fn pin_package_json(
    pack: &PackRef,
    original: &[u8],
    pins: &[EnvPackage],
) -> Result<Vec<u8>, EnvError> {
    let bad = |message: String| EnvError::Install {
        pack: pack.clone(),
        runtime: Runtime::Node,
        command: "reading package.json".into(),
        status: message,
        tail: Default::default(),
    };
    let mut doc: serde_json::Value =
        serde_json::from_slice(original).map_err(|e| bad(format!("is not JSON: {e}")))?;
    let Some(obj) = doc.as_object_mut() else {
        return Err(bad("is not a JSON object".into()));
    };
    let mut versions: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for p in pins {
        versions.entry(&p.name).or_default().push(&p.version);
    }
    let single = |name: &str| match versions.get(name).map(Vec::as_slice) {
        Some([one]) => Some(one.to_string()),
        _ => None,
    };
    let mut direct = Vec::new();
    for section in ["dependencies", "optionalDependencies"] {
        if let Some(deps) = obj.get_mut(section).and_then(|d| d.as_object_mut()) {
            for (name, spec) in deps.iter_mut() {
                if let Some(v) = single(name) {
                    *spec = serde_json::Value::String(v);
                    direct.push(name.clone());
                }
            }
        }
    }
    let mut overrides = serde_json::Map::new();
    for (name, vs) in &versions {
        if let [v] = vs.as_slice()
            && !direct.iter().any(|d| d == name)
        {
            overrides.insert(
                (*name).to_owned(),
                serde_json::Value::String((*v).to_owned()),
            );
        }
    }
    if !overrides.is_empty() {
        obj.insert("overrides".into(), serde_json::Value::Object(overrides));
    }
    Ok(serde_json::to_vec_pretty(&doc).expect("JSON serialises"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use knap_schema::env::{PackageName, PackageVersion};

    #[test]
    fn a_locked_package_json_pins_direct_dependencies_and_overrides_the_rest() {
        let pins: Vec<EnvPackage> = [
            ("left-pad", "1.1.0"),
            ("dep", "2.0.0"),
            ("dup", "1.0.0"),
            ("dup", "2.0.0"),
        ]
        .iter()
        .map(|(n, v)| EnvPackage {
            name: PackageName::parse(n).unwrap(),
            version: PackageVersion::parse(v).unwrap(),
        })
        .collect();
        let out = pin_package_json(
            &"p".parse().unwrap(),
            br#"{"name":"p","dependencies":{"left-pad":"^1.0.0"}}"#,
            &pins,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["dependencies"]["left-pad"], "1.1.0");
        assert_eq!(v["overrides"]["dep"], "2.0.0");
        assert!(v["overrides"].get("left-pad").is_none());
        assert!(v["overrides"].get("dup").is_none());
    }
}
