//! What a pack needs from the machine it runs on, as its `pack.yaml` says
//! it: `runtime_deps` (`python3`, `nodejs>=18`, `shell`, `native`, ...),
//! StackStorm's `python_versions` (supported Python major versions) and
//! `stackstorm_version`, Attune's `attune_version`, and the `*_version`
//! requirements of the object form of `dependencies` (`python_version`,
//! `nodejs_version`, ...). [`Manifest::runtime_needs`] lists them, each
//! with the runtime it is about, named the one way knap names it
//! ([`Runtime`]), and what would satisfy it ([`Want`]).
//!
//! Finding out whether this machine has them (`knap doctor`) is the
//! client's job: nothing here runs or looks for a program.

use std::fmt;

use crate::Requirement;
use crate::manifest::Manifest;

/// A runtime, under the one name knap gives it: the spellings packs use
/// folded together (`python`/`python3`, `node`/`nodejs`, `st2`/`stackstorm`,
/// `go`/`golang`, `sh`/`shell`), any other name lowercased.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Runtime(String);

impl Runtime {
    /// The runtime a pack means by `name`; `None` for `native` and
    /// `binary` (native executables need no runtime).
    pub fn named(name: &str) -> Option<Runtime> {
        let n = name.trim().to_ascii_lowercase();
        let canonical = match n.as_str() {
            "native" | "binary" => return None,
            "python" | "python3" => "python3",
            "node" | "nodejs" => "node",
            "shell" | "sh" => "sh",
            "stackstorm" | "st2" => "st2",
            "golang" | "go" => "go",
            other => other,
        };
        Some(Runtime(canonical.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The pack environment this runtime's packages go into
    /// (formats.md §8): Python for `python3` (knap's one name for Python,
    /// which a venv needs at major version 3), Node.js for `node`; `None`
    /// for a runtime that has no environment of its own.
    pub fn environment(&self) -> Option<crate::env::Runtime> {
        match self.0.as_str() {
            "python3" => Some(crate::env::Runtime::Python),
            "node" => Some(crate::env::Runtime::Node),
            _ => None,
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What would satisfy a need.
#[derive(Debug, Clone)]
pub enum Want {
    /// The runtime, at any version.
    Present,
    /// The runtime at a version this requirement matches.
    Version(Requirement),
    /// The runtime at one of these major versions (`python_versions`).
    Majors(Vec<u64>),
    /// Nothing from the machine (`native`).
    Nothing,
    /// The pack's requirement cannot be read: why.
    Unreadable(String),
}

/// One thing a pack needs from the machine.
#[derive(Debug, Clone)]
pub struct RuntimeNeed {
    /// Where the pack says it: `runtime_deps`, `python_versions`,
    /// `stackstorm_version`, `attune_version`,
    /// `dependencies.python_version`, ...
    pub field: String,
    /// As the pack writes it.
    pub text: String,
    /// `None` exactly when [`Want::Nothing`].
    pub runtime: Option<Runtime>,
    pub want: Want,
}

impl Manifest {
    /// Everything this pack needs from the machine, in the order of the
    /// fields above.
    pub fn runtime_needs(&self) -> Vec<RuntimeNeed> {
        let mut out = Vec::new();
        for rt in &self.runtime_deps {
            let (name, req) = split_runtime(rt);
            let runtime = Runtime::named(name);
            let want = match (&runtime, req) {
                (None, _) => Want::Nothing,
                (Some(_), None) => Want::Present,
                (Some(_), Some(r)) => requirement(r),
            };
            out.push(RuntimeNeed {
                field: "runtime_deps".into(),
                text: rt.to_owned(),
                runtime,
                want,
            });
        }
        if let Some(list) = &self.python_versions {
            let majors: Vec<u64> = list.iter().filter_map(|v| v.trim().parse().ok()).collect();
            out.push(RuntimeNeed {
                field: "python_versions".into(),
                text: list.join(", "),
                runtime: Runtime::named("python3"),
                want: if majors.len() == list.len() && !majors.is_empty() {
                    Want::Majors(majors)
                } else {
                    Want::Unreadable("python_versions must list major versions".into())
                },
            });
        }
        let mut versions: Vec<(String, String)> = Vec::new();
        for (key, v) in [
            ("stackstorm_version", &self.stackstorm_version),
            ("attune_version", &self.attune_version),
        ] {
            if let Some(s) = v {
                versions.push((key.to_owned(), s.clone()));
            }
        }
        for (k, v) in self.dependencies.iter().flat_map(|d| &d.versions) {
            if let Some(s) = v.as_str() {
                versions.push((format!("dependencies.{k}"), s.to_owned()));
            }
        }
        for (field, req) in versions {
            let key = field.trim_start_matches("dependencies.");
            let name = key.trim_end_matches("_version");
            let runtime = Runtime::named(name);
            let want = match runtime {
                Some(_) => requirement(&req),
                None => Want::Nothing,
            };
            out.push(RuntimeNeed {
                text: req.clone(),
                runtime,
                want,
                field,
            });
        }
        out
    }
}

/// A `runtime_deps` item as name and requirement: `nodejs>=18` ->
/// (`nodejs`, `>=18`); `python@^3.9` -> (`python`, `^3.9`); `python3` ->
/// (`python3`, None).
pub fn split_runtime(s: &str) -> (&str, Option<&str>) {
    let s = s.trim();
    match s.find(|c: char| "<>=^~!@ ".contains(c)) {
        Some(i) => {
            let req = s[i..].trim_start_matches('@').trim();
            (&s[..i], (!req.is_empty()).then_some(req))
        }
        None => (s, None),
    }
}

fn requirement(s: &str) -> Want {
    match Requirement::parse(s) {
        Ok(r) => Want::Version(r),
        Err(e) => Want::Unreadable(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn runtime_deps_split_name_and_requirement() {
        assert_eq!(split_runtime("nodejs>=18"), ("nodejs", Some(">=18")));
        assert_eq!(split_runtime("python3"), ("python3", None));
        assert_eq!(split_runtime("python@^3.9"), ("python", Some("^3.9")));
        assert_eq!(
            split_runtime("node >= 18, < 22"),
            ("node", Some(">= 18, < 22"))
        );
    }

    #[test]
    fn spellings_of_one_runtime_get_one_name_and_native_needs_none() {
        for (a, b) in [
            ("python", "python3"),
            ("nodejs", "node"),
            ("shell", "sh"),
            ("stackstorm", "st2"),
            ("golang", "go"),
            ("Ruby", "ruby"),
        ] {
            assert_eq!(Runtime::named(a), Runtime::named(b), "{a} {b}");
        }
        assert_eq!(Runtime::named("NodeJS").unwrap().as_str(), "node");
        assert_eq!(Runtime::named("native"), None);
        assert_eq!(Runtime::named("binary"), None);
    }

    #[test]
    fn python_and_node_have_environments_and_other_runtimes_none() {
        use crate::env::Runtime as Env;
        for (name, env) in [
            ("python", Some(Env::Python)),
            ("Python3", Some(Env::Python)),
            ("nodejs", Some(Env::Node)),
            ("node", Some(Env::Node)),
            ("python2", None),
            ("shell", None),
            ("st2", None),
        ] {
            assert_eq!(Runtime::named(name).unwrap().environment(), env, "{name}");
        }
    }

    #[test]
    fn every_field_that_states_a_need_is_listed_with_its_runtime() {
        let m = crate::manifest::parse(
            br#"
ref: needy
version: 1.0.0
description: d
runtime_deps: ["python3", "nodejs>=18", "native", "ruby@bad req"]
python_versions: ["3", "x"]
stackstorm_version: ">=3.8"
dependencies:
  packs: []
  python_version: "^3.9"
  native_version: ">=1"
"#,
            Path::new("pack.yaml"),
        )
        .unwrap();
        let needs = m.runtime_needs();
        let seen: Vec<(&str, &str, Option<&str>)> = needs
            .iter()
            .map(|n| {
                (
                    n.field.as_str(),
                    n.text.as_str(),
                    n.runtime.as_ref().map(Runtime::as_str),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("runtime_deps", "python3", Some("python3")),
                ("runtime_deps", "nodejs>=18", Some("node")),
                ("runtime_deps", "native", None),
                ("runtime_deps", "ruby@bad req", Some("ruby")),
                ("python_versions", "3, x", Some("python3")),
                ("stackstorm_version", ">=3.8", Some("st2")),
                ("dependencies.python_version", "^3.9", Some("python3")),
                ("dependencies.native_version", ">=1", None),
            ]
        );
        assert!(matches!(needs[0].want, Want::Present));
        assert!(matches!(&needs[1].want, Want::Version(r) if r.to_string() == ">=18"));
        assert!(matches!(needs[2].want, Want::Nothing));
        assert!(matches!(needs[3].want, Want::Unreadable(_)));
        assert!(matches!(&needs[4].want, Want::Unreadable(m) if m.contains("major")));
        assert!(matches!(needs[5].want, Want::Version(_)));
        assert!(matches!(needs[7].want, Want::Nothing));
    }
}
