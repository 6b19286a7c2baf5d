//! What a pack asks of the interpreter of an environment, read from its
//! `pack.yaml`: `dependencies.python_version` (or `nodejs_version`),
//! StackStorm's `python_versions` (major versions), and `runtime_deps`
//! such as `python3`, `python>=3.9` or `nodejs>=18`.

use knap_schema::Manifest;
use knap_schema::Requirement;
use knap_schema::env::{InterpreterVersion, Runtime};

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

/// The names `runtime_deps` uses for each runtime, and the major version a
/// name implies (`python3` -> 3).
fn runtime_name(name: &str) -> Option<(Runtime, Option<u64>)> {
    match name.to_ascii_lowercase().as_str() {
        "python" => Some((Runtime::Python, None)),
        "python3" => Some((Runtime::Python, Some(3))),
        "python2" => Some((Runtime::Python, Some(2))),
        "node" | "nodejs" => Some((Runtime::Node, None)),
        _ => None,
    }
}

/// `nodejs>=18` -> (`nodejs`, `>=18`); `python3` -> (`python3`, None).
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

/// Everything `m` asks of the interpreter of `runtime`. A requirement that
/// cannot be read is left out (`knap doctor` reports it).
pub fn asks(m: &Manifest, runtime: Runtime) -> Vec<Ask> {
    let mut out = Vec::new();
    let keys: &[&str] = match runtime {
        Runtime::Python => &["python_version"],
        Runtime::Node => &["nodejs_version", "node_version"],
    };
    for (k, v) in m.dependencies.iter().flat_map(|d| &d.versions) {
        if let (true, Some(text)) = (keys.contains(&k.as_str()), v.as_str())
            && let Ok(r) = Requirement::parse(text)
        {
            out.push(Ask {
                field: format!("dependencies.{k}"),
                text: text.to_owned(),
                want: Want::Version(r),
            });
        }
    }
    if runtime == Runtime::Python
        && let Some(list) = &m.python_versions
    {
        let majors: Vec<u64> = list.iter().filter_map(|v| v.trim().parse().ok()).collect();
        if !majors.is_empty() && majors.len() == list.len() {
            out.push(Ask {
                field: "python_versions".into(),
                text: list.join(", "),
                want: Want::Majors(majors),
            });
        }
    }
    for dep in &m.runtime_deps {
        let (name, req) = split_runtime(dep);
        let Some((rt, major)) = runtime_name(name) else {
            continue;
        };
        if rt != runtime {
            continue;
        }
        if let Some(major) = major {
            out.push(Ask {
                field: "runtime_deps".into(),
                text: dep.clone(),
                want: Want::Majors(vec![major]),
            });
        }
        if let Some(r) = req.and_then(|r| Requirement::parse(r).ok()) {
            out.push(Ask {
                field: "runtime_deps".into(),
                text: dep.clone(),
                want: Want::Version(r),
            });
        }
    }
    out
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
    fn a_pre_release_interpreter_compares_by_its_numbers() {
        let m = manifest("ref: x\nversion: 1.0.0\ndependencies:\n  python_version: \">=3.13\"\n");
        assert!(asks(&m, Runtime::Python)[0].met_by(&v("3.13.0rc1")));
    }

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
}
