//! What a pack asks of the interpreter of an environment: the needs its
//! `pack.yaml` states (`knap_schema::runtime`, which reads
//! `dependencies.python_version` or `nodejs_version`, StackStorm's
//! `python_versions` and `runtime_deps` such as `python3`, `python>=3.9` or
//! `nodejs>=18`, folding their spellings into one runtime name) that are
//! about this environment's runtime, as versions to compare.

use knap_schema::Manifest;
use knap_schema::Requirement;
use knap_schema::env::{InterpreterVersion, Runtime};
use knap_schema::runtime::{self, RuntimeNeed};

/// One thing a pack asks, as it wrote it.
#[derive(Debug, Clone)]
pub struct Ask {
    /// Where: `dependencies.python_version`, `python_versions`, `runtime_deps`.
    pub field: String,
    /// As written.
    pub text: String,
    want: Want,
}

#[derive(Debug, Clone)]
enum Want {
    Majors(Vec<u64>),
    Version(Requirement),
}

impl Ask {
    /// Whether `v` meets it.
    pub fn met_by(&self, v: &InterpreterVersion) -> bool {
        let Some(v) = numeric(v) else {
            return false;
        };
        match &self.want {
            Want::Majors(m) => m.contains(&v.major),
            Want::Version(r) => r.matches(&v),
        }
    }
}

impl std::fmt::Display for Ask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` ({})", self.text, self.field)
    }
}

/// `3.13.0rc1` -> 3.13.0: the numeric part, for comparing.
fn numeric(v: &InterpreterVersion) -> Option<semver::Version> {
    let mut parts = v.split('.').map(|p| {
        let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u64>().ok()
    });
    let major = parts.next().flatten()?;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some(semver::Version::new(major, minor, patch))
}

/// Everything `m` asks of the interpreter of `runtime`. Knap's Python is
/// Python 3 (a venv needs it), so naming the Python runtime at all asks
/// for major version 3. A requirement that cannot be read is left out
/// (`knap doctor` reports it).
pub fn asks(m: &Manifest, runtime: Runtime) -> Vec<Ask> {
    m.runtime_needs()
        .into_iter()
        .filter_map(|need| ask(need, runtime))
        .collect()
}

fn ask(need: RuntimeNeed, runtime: Runtime) -> Option<Ask> {
    if need.runtime.as_ref()?.environment()? != runtime {
        return None;
    }
    let want = match need.want {
        runtime::Want::Version(r) => Want::Version(r),
        runtime::Want::Majors(m) => Want::Majors(m),
        runtime::Want::Present if runtime == Runtime::Python => Want::Majors(vec![3]),
        runtime::Want::Present | runtime::Want::Nothing | runtime::Want::Unreadable(_) => {
            return None;
        }
    };
    Some(Ask {
        field: need.field,
        text: need.text,
        want,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(yaml: &str) -> Manifest {
        knap_schema::manifest::parse(yaml.as_bytes(), std::path::Path::new("pack.yaml")).unwrap()
    }

    fn v(s: &str) -> InterpreterVersion {
        InterpreterVersion::parse(s).unwrap()
    }

    #[test]
    fn every_field_a_pack_may_use_is_read() {
        let m = manifest(
            "ref: x\nversion: 1.0.0\npython_versions: [\"3\"]\nruntime_deps: [python3, \"nodejs>=18\", shell]\ndependencies:\n  python_version: \">=3.9\"\n",
        );
        let py = asks(&m, Runtime::Python);
        assert_eq!(py.len(), 3, "{py:?}");
        assert!(py.iter().all(|a| a.met_by(&v("3.11.7"))));
        assert!(!py.iter().all(|a| a.met_by(&v("3.8.10"))));
        assert!(!py.iter().all(|a| a.met_by(&v("2.7.18"))));
        let node = asks(&m, Runtime::Node);
        assert_eq!(node.len(), 1);
        assert!(node[0].met_by(&v("20.20.2")));
        assert!(!node[0].met_by(&v("16.1.0")));
        assert_eq!(node[0].to_string(), "`nodejs>=18` (runtime_deps)");
    }

    #[test]
    fn the_python_runtime_named_alone_asks_for_python_3() {
        for dep in ["python", "python3"] {
            let m = manifest(&format!("ref: x\nversion: 1.0.0\nruntime_deps: [{dep}]\n"));
            let py = asks(&m, Runtime::Python);
            assert_eq!(py.len(), 1, "{dep}: {py:?}");
            assert!(py[0].met_by(&v("3.12.1")), "{dep}");
            assert!(!py[0].met_by(&v("2.7.18")), "{dep}");
        }
        let m = manifest("ref: x\nversion: 1.0.0\nruntime_deps: [nodejs]\n");
        assert!(asks(&m, Runtime::Node).is_empty(), "node at any version");
    }

    #[test]
    fn the_spellings_of_a_runtime_and_its_requirement_keys_are_folded() {
        let m = manifest(
            "ref: x\nversion: 1.0.0\nruntime_deps: [\"node@^20\"]\ndependencies:\n  node_version: \">=18\"\n  nodejs_version: \"<22\"\n",
        );
        let node = asks(&m, Runtime::Node);
        assert_eq!(node.len(), 3, "{node:?}");
        assert!(node.iter().all(|a| a.met_by(&v("20.1.0"))));
        assert!(!node.iter().all(|a| a.met_by(&v("22.0.0"))));
        assert!(asks(&m, Runtime::Python).is_empty());
    }

    #[test]
    fn a_pre_release_interpreter_compares_by_its_numbers() {
        let m = manifest("ref: x\nversion: 1.0.0\ndependencies:\n  python_version: \">=3.13\"\n");
        assert!(asks(&m, Runtime::Python)[0].met_by(&v("3.13.0rc1")));
    }

    #[test]
    fn an_unreadable_requirement_is_left_to_doctor() {
        let m = manifest(
            "ref: x\nversion: 1.0.0\npython_versions: [\"3\", \"x\"]\ndependencies:\n  python_version: \"not a req\"\n",
        );
        assert!(asks(&m, Runtime::Python).is_empty());
    }
}
