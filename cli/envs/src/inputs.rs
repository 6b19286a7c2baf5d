//! Which environments a pack needs, from the dependency files at its root
//! (`requirements.txt` -> Python; `package.json`, with its
//! `package-lock.json` when there is one -> Node.js), and the environment
//! id those files, the runtime and the interpreter give.

use std::path::Path;

use knap_schema::Checksum;
use knap_schema::PackRef;
use knap_schema::env::Runtime;
use sha2::{Digest, Sha256};

use crate::error::EnvError;
use crate::toolchain::Interpreter;

/// The Python dependency file.
pub const REQUIREMENTS: &str = "requirements.txt";
/// The Node.js dependency files.
pub const PACKAGE_JSON: &str = "package.json";
pub const PACKAGE_LOCK: &str = "package-lock.json";

/// The dependency files of one environment of a pack, read once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    pub runtime: Runtime,
    /// (file name at the pack root, bytes), in a fixed order.
    pub files: Vec<(&'static str, Vec<u8>)>,
}

impl Inputs {
    pub fn file(&self, name: &str) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| b.as_slice())
    }
}

/// Reads `dir/name` if it is a regular file there.
fn read(pack: &PackRef, dir: &Path, name: &str) -> Result<Option<Vec<u8>>, EnvError> {
    let path = dir.join(name);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_file() => std::fs::read(&path)
            .map(Some)
            .map_err(EnvError::io(pack, "read", &path)),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(EnvError::io(pack, "inspect", &path)(e)),
    }
}

/// The environments the pack in `dir` needs, Python first.
pub fn detect(pack: &PackRef, dir: &Path) -> Result<Vec<Inputs>, EnvError> {
    let mut out = Vec::new();
    if let Some(req) = read(pack, dir, REQUIREMENTS)? {
        out.push(Inputs {
            runtime: Runtime::Python,
            files: vec![(REQUIREMENTS, req)],
        });
    }
    if let Some(pkg) = read(pack, dir, PACKAGE_JSON)? {
        let mut files = vec![(PACKAGE_JSON, pkg)];
        if let Some(lock) = read(pack, dir, PACKAGE_LOCK)? {
            files.push((PACKAGE_LOCK, lock));
        }
        out.push(Inputs {
            runtime: Runtime::Node,
            files,
        });
    }
    Ok(out)
}

/// The environment id: the sha256 of the runtime, the interpreter's exact
/// version and platform, and each dependency file's name and bytes (each
/// part length-prefixed, so no two inputs hash alike).
pub fn env_id(inputs: &Inputs, interpreter: &Interpreter) -> Checksum {
    let mut h = Sha256::new();
    let mut part = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    part(b"knap-env-1");
    part(inputs.runtime.as_str().as_bytes());
    part(interpreter.version.as_bytes());
    part(interpreter.platform.as_bytes());
    for (name, bytes) in &inputs.files {
        part(name.as_bytes());
        part(bytes);
    }
    Checksum::from_bytes(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use knap_schema::env::InterpreterVersion;

    fn interp(v: &str, platform: &str) -> Interpreter {
        Interpreter {
            runtime: Runtime::Python,
            command: "python3".into(),
            executable: "/usr/bin/python3".into(),
            version: InterpreterVersion::parse(v).unwrap(),
            platform: platform.into(),
        }
    }

    #[test]
    fn the_id_changes_with_each_input_and_only_with_them() {
        let req = |b: &[u8]| Inputs {
            runtime: Runtime::Python,
            files: vec![(REQUIREMENTS, b.to_vec())],
        };
        let base = env_id(&req(b"a==1\n"), &interp("3.11.7", "cpython-linux-x86_64"));
        assert_eq!(
            base,
            env_id(&req(b"a==1\n"), &interp("3.11.7", "cpython-linux-x86_64"))
        );
        for other in [
            env_id(&req(b"a==2\n"), &interp("3.11.7", "cpython-linux-x86_64")),
            env_id(&req(b"a==1\n"), &interp("3.11.8", "cpython-linux-x86_64")),
            env_id(&req(b"a==1\n"), &interp("3.11.7", "cpython-linux-aarch64")),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn detects_each_runtime_from_its_files() {
        let d = tempfile::tempdir().unwrap();
        let p: PackRef = "p".parse().unwrap();
        assert!(detect(&p, d.path()).unwrap().is_empty());
        std::fs::write(d.path().join(PACKAGE_JSON), b"{}").unwrap();
        std::fs::write(d.path().join(PACKAGE_LOCK), b"{}").unwrap();
        std::fs::write(d.path().join(REQUIREMENTS), b"x\n").unwrap();
        let found = detect(&p, d.path()).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].runtime, Runtime::Python);
        assert_eq!(found[1].files.len(), 2);
    }
}
