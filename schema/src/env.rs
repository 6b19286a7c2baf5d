//! Pack environments as knap records them (formats.md section 8): what
//! `knap.lock` says per pack (`envs`, [`LockedEnv`]) and what an
//! environment directory says about itself (`.knap-env.json`,
//! [`EnvRecord`]).
//!
//! Both are untrusted input (a lock is shared; an environment directory is
//! written by installers that run packages' own code), so every name in
//! them is a validated type: [`EnvDir`] is one path component of a known
//! shape, a [`PackageName`] and a [`PackageVersion`] can never carry an
//! installer option, a path or a control character into a constraints
//! file or a message.

use std::fmt;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ident::Checksum;

/// The name of the file that marks an environment complete; written last.
pub const ENV_RECORD_FILE: &str = ".knap-env.json";

/// The ecosystem of an environment.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// A virtual environment built from `requirements.txt`.
    Python,
    /// `node_modules` built from `package.json` (and `package-lock.json`).
    Node,
}

impl Runtime {
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Python => "python",
            Runtime::Node => "node",
        }
    }

    /// The version part of an environment's directory name: `3.11` for
    /// Python (venvs hold the minor version), `20` for Node.js.
    pub fn dir_version(self, interpreter: &InterpreterVersion) -> String {
        let mut parts = interpreter.as_str().split('.');
        let major = parts.next().unwrap_or("0");
        match self {
            Runtime::Python => {
                let minor = parts.next().unwrap_or("0");
                let digits = minor.bytes().take_while(u8::is_ascii_digit).count();
                format!("{major}.{}", &minor[..digits])
            }
            Runtime::Node => major.to_owned(),
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Defines a string newtype that holds only values `check` accepts, with
/// serde, JSON Schema, `Display`, `Deref<Target = str>`.
macro_rules! validated_string {
    ($(#[$doc:meta])* $name:ident, $check:path, $pattern:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Box<str>);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, String> {
                $check(s)?;
                Ok(Self(s.into()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?}", &*self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }

        impl JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({"type": "string", "pattern": $pattern, "maxLength": 128})
            }
        }
    };
}

/// Whether every byte of `s` is in `allowed` and the first is alphanumeric.
fn plain(s: &str, what: &str, allowed: impl Fn(u8) -> bool) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.bytes().all(allowed);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not {what} (at most 128 characters: letters, digits and the punctuation such names use, starting with a letter or digit)"
        ))
    }
}

fn check_interpreter(s: &str) -> Result<(), String> {
    plain(s, "an interpreter version such as 3.11.7", |b| {
        b.is_ascii_alphanumeric() || b == b'.' || b == b'+'
    })?;
    let mut parts = s.split('.');
    let major = parts.next().unwrap_or("");
    let minor = parts.next().unwrap_or("");
    if !major.bytes().all(|b| b.is_ascii_digit())
        || !minor.starts_with(|c: char| c.is_ascii_digit())
    {
        return Err(format!(
            "{s:?} is not an interpreter version such as 3.11.7 (MAJOR.MINOR first)"
        ));
    }
    Ok(())
}

fn check_package_name(s: &str) -> Result<(), String> {
    // npm scopes: `@scope/name`, one slash.
    let body = match s.strip_prefix('@') {
        Some(rest) => match rest.split_once('/') {
            Some((scope, name)) if !scope.is_empty() && !name.contains('/') => {
                plain(scope, "a package scope", name_byte)?;
                name
            }
            _ => return Err(format!("{s:?} is not a package name (`@scope/name`)")),
        },
        None => s,
    };
    plain(body, "a package name", name_byte)
}

fn name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'~')
}

fn check_package_version(s: &str) -> Result<(), String> {
    plain(s, "a package version", |b| {
        b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+' | b'!')
    })
}

validated_string!(
    /// An interpreter's exact version, `3.11.7` or `20.20.2`.
    InterpreterVersion,
    check_interpreter,
    r"^[0-9]+\.[0-9A-Za-z.+]*$"
);
validated_string!(
    /// A Python distribution or npm package name (`requests`,
    /// `zope.interface`, `@types/node`): never an option, a path or a
    /// requirement with markers.
    PackageName,
    check_package_name,
    r"^(@[A-Za-z0-9][A-Za-z0-9._~-]*/)?[A-Za-z0-9][A-Za-z0-9._~-]*$"
);
validated_string!(
    /// An installed version as its installer reports it (`2.32.3`,
    /// `1.0.0rc1`, `4.17.21`, `1!2.0`).
    PackageVersion,
    check_package_version,
    r"^[A-Za-z0-9][A-Za-z0-9._+!-]*$"
);

/// An environment's directory name under `<envs_dir>/<ref>/`:
/// `python-3.11-<id12>` or `node-20-<id12>`, `<id12>` the first 12 hex
/// digits of the environment id. One path component, never `..`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EnvDir(Box<str>);

impl EnvDir {
    /// The directory of the environment of `runtime` on `interpreter` with `id`.
    pub fn new(runtime: Runtime, interpreter: &InterpreterVersion, id: &Checksum) -> Self {
        Self(
            format!(
                "{runtime}-{}-{}",
                runtime.dir_version(interpreter),
                &id.hex()[..12]
            )
            .into(),
        )
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{s:?} is not an environment directory name (`python-3.11-<12 hex>` or `node-20-<12 hex>`)"
            )
        };
        let (runtime, rest) = s.split_once('-').ok_or_else(bad)?;
        let (version, id12) = rest.rsplit_once('-').ok_or_else(bad)?;
        let parts: Vec<&str> = version.split('.').collect();
        let numeric =
            |p: &&str| !p.is_empty() && p.len() <= 6 && p.bytes().all(|b| b.is_ascii_digit());
        let version_ok = match runtime {
            "python" => parts.len() == 2 && parts.iter().all(numeric),
            "node" => parts.len() == 1 && parts.iter().all(numeric),
            _ => false,
        };
        let id_ok = id12.len() == 12
            && id12
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !version_ok || !id_ok {
            return Err(bad());
        }
        Ok(Self(s.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The runtime the name says.
    pub fn runtime(&self) -> Runtime {
        if self.0.starts_with("node-") {
            Runtime::Node
        } else {
            Runtime::Python
        }
    }

    /// The 12 hex digits of the id the name carries.
    pub fn id12(&self) -> &str {
        &self.0[self.0.len() - 12..]
    }

    /// `<pack_envs>/<name>`: a validated name is one plain component.
    pub fn dir_in(&self, pack_envs: &Path) -> PathBuf {
        pack_envs.join(&*self.0)
    }
}

impl fmt::Display for EnvDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EnvDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

impl Serialize for EnvDir {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EnvDir {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for EnvDir {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "EnvDir".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^(python-[0-9]{1,6}\\.[0-9]{1,6}|node-[0-9]{1,6})-[0-9a-f]{12}$",
        })
    }
}

/// One installed distribution (Python) or package (Node.js).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct EnvPackage {
    pub name: PackageName,
    pub version: PackageVersion,
}

/// What `knap.lock` records of one environment of a pack, so that another
/// machine can build the same one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LockedEnv {
    pub runtime: Runtime,
    /// The interpreter's exact version (Python's, or Node.js's).
    pub interpreter: InterpreterVersion,
    /// The environment id: the sha256 of the runtime, the interpreter's
    /// version and platform, and the dependency files' bytes.
    pub id: Checksum,
    /// The directory under `<envs_dir>/<ref>/`.
    pub dir: EnvDir,
    /// Every installed distribution or package, sorted by name.
    #[serde(default)]
    pub packages: Vec<EnvPackage>,
}

impl LockedEnv {
    /// The rules between fields: the directory names this runtime, this
    /// interpreter's version and this id.
    pub fn check(&self) -> Result<(), String> {
        let want = EnvDir::new(self.runtime, &self.interpreter, &self.id);
        if want != self.dir {
            return Err(format!(
                "`dir` is {}, but runtime {}, interpreter {} and id {} name {want}",
                self.dir, self.runtime, self.interpreter, self.id
            ));
        }
        Ok(())
    }
}

/// `<env>/.knap-env.json`: written last, so an environment without a
/// complete one is debris.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "knap environment record (.knap-env.json)")]
pub struct EnvRecord {
    pub id: Checksum,
    pub runtime: Runtime,
    pub interpreter: InterpreterVersion,
    /// The interpreter's platform as it was hashed into the id, e.g.
    /// `cpython-linux-x86_64` or `linux-x64`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub platform: String,
    /// The installer that built it: `uv`, `pip` or `npm`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub installer: String,
    /// Whether it was built with exactly the recorded versions.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub locked: bool,
    /// What creating the environment installed by itself (pip's own in a
    /// `python -m venv`): present, but not what the pack asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seed: Vec<EnvPackage>,
    /// Every other installed distribution or package, sorted: what
    /// `knap.lock` records.
    #[serde(default)]
    pub packages: Vec<EnvPackage>,
}

impl EnvRecord {
    /// What `knap.lock` records of this environment.
    pub fn locked_env(&self) -> LockedEnv {
        LockedEnv {
            runtime: self.runtime,
            interpreter: self.interpreter.clone(),
            id: self.id,
            dir: EnvDir::new(self.runtime, &self.interpreter, &self.id),
            packages: self.packages.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_names_are_built_and_read_back() {
        let id = Checksum::of(b"x");
        let v = InterpreterVersion::parse("3.11.7").unwrap();
        let d = EnvDir::new(Runtime::Python, &v, &id);
        assert_eq!(d.as_str(), format!("python-3.11-{}", &id.hex()[..12]));
        assert_eq!(EnvDir::parse(d.as_str()).unwrap(), d);
        assert_eq!(d.id12(), &id.hex()[..12]);
        let n = EnvDir::new(
            Runtime::Node,
            &InterpreterVersion::parse("20.20.2").unwrap(),
            &id,
        );
        assert!(n.as_str().starts_with("node-20-"), "{n}");
        assert_eq!(n.runtime(), Runtime::Node);
        for bad in [
            "..",
            "python-3.11-../../etc",
            "python-3-0123456789ab",
            "ruby-3.1-0123456789ab",
            "node-20-0123456789AB",
            "node-20-0123456789ab/x",
            "python-3.11-0123456789ab\n",
        ] {
            assert!(EnvDir::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn package_names_and_versions_cannot_carry_options_or_paths() {
        for ok in [
            "requests",
            "zope.interface",
            "@types/node",
            "left-pad",
            "A_b",
        ] {
            assert!(PackageName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "--index-url",
            "-e",
            "a b",
            "a;b",
            "../x",
            "@a/b/c",
            "a/b",
            "x\u{1b}[31m",
            "",
        ] {
            assert!(PackageName::parse(bad).is_err(), "{bad:?} must be refused");
        }
        for ok in ["2.32.3", "1.0.0rc1", "1!2.0", "4.17.21", "1.0.0-beta.1+b"] {
            assert!(PackageVersion::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1.0 ; x", "=1", "1\n", "1.0,>2"] {
            assert!(
                PackageVersion::parse(bad).is_err(),
                "{bad:?} must be refused"
            );
        }
        assert!(InterpreterVersion::parse("3.13.0rc1").is_ok());
        assert!(InterpreterVersion::parse("3").is_err());
        assert!(InterpreterVersion::parse("x.1").is_err());
    }

    #[test]
    fn a_locked_env_whose_dir_disagrees_is_refused_by_check() {
        let id = Checksum::of(b"x");
        let interpreter = InterpreterVersion::parse("3.11.7").unwrap();
        let mut e = LockedEnv {
            runtime: Runtime::Python,
            dir: EnvDir::new(Runtime::Python, &interpreter, &id),
            interpreter,
            id,
            packages: vec![],
        };
        assert!(e.check().is_ok());
        e.id = Checksum::of(b"y");
        assert!(e.check().unwrap_err().contains("`dir`"));
    }
}
