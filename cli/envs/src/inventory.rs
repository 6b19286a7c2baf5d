//! What an environment holds, read from the files the installers wrote
//! (no installer runs): a venv's `*.dist-info` (`METADATA` for name and
//! version, `RECORD` for each installed file's hash), and a
//! `node_modules` tree's `package.json` files.
//!
//! Everything here is written by installers running packages' own code,
//! so it is untrusted: names and versions are validated types, and a
//! `RECORD` path that leaves the environment is reported, never read.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use base64::Engine;
use knap_schema::env::{EnvPackage, PackageName, PackageVersion, Runtime};
use sha2::{Digest, Sha256};

/// An installed distribution (Python) or package (Node.js).
#[derive(Debug, Clone)]
pub struct Installed {
    pub package: EnvPackage,
    /// Its metadata directory (`*.dist-info`) or package directory.
    pub dir: PathBuf,
}

/// What could not be read, by path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub path: PathBuf,
    pub message: String,
}

/// PEP 503's normalised name: lowercase, each run of `-`, `_`, `.` one `-`.
pub fn normalize_python_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('-');
        }
        sep = false;
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The `site-packages` directories of the venv at `env`.
pub fn site_packages(env: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for lib in ["lib", "lib64"] {
        let Ok(items) = std::fs::read_dir(env.join(lib)) else {
            continue;
        };
        for item in items.flatten() {
            let sp = item.path().join("site-packages");
            if item.file_name().to_string_lossy().starts_with("python")
                && sp.is_dir()
                && !out.iter().any(|o: &PathBuf| same_dir(o, &sp))
            {
                out.push(sp);
            }
        }
    }
    out.sort();
    out
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Every package installed in the environment at `env`, sorted, each once.
pub fn list(runtime: Runtime, env: &Path) -> (Vec<Installed>, Vec<Unreadable>) {
    let (mut found, bad) = match runtime {
        Runtime::Python => python(env),
        Runtime::Node => node(env),
    };
    found.sort_by(|a, b| a.package.cmp(&b.package));
    found.dedup_by(|a, b| a.package == b.package);
    (found, bad)
}

/// The packages alone.
pub fn packages(installed: &[Installed]) -> Vec<EnvPackage> {
    let set: BTreeSet<EnvPackage> = installed.iter().map(|i| i.package.clone()).collect();
    set.into_iter().collect()
}

fn package(name: &str, version: &str) -> Result<EnvPackage, String> {
    Ok(EnvPackage {
        name: PackageName::parse(name)?,
        version: PackageVersion::parse(version)?,
    })
}

fn python(env: &Path) -> (Vec<Installed>, Vec<Unreadable>) {
    let mut found = Vec::new();
    let mut bad = Vec::new();
    for sp in site_packages(env) {
        let Ok(items) = std::fs::read_dir(&sp) else {
            continue;
        };
        for item in items.flatten() {
            let dir = item.path();
            if !item.file_name().to_string_lossy().ends_with(".dist-info") || !dir.is_dir() {
                continue;
            }
            let meta = dir.join("METADATA");
            match read_small(&meta).and_then(|text| {
                let (name, version) = metadata_name_version(&text)
                    .ok_or_else(|| "no Name or Version header".to_owned())?;
                package(&normalize_python_name(&name), &version)
            }) {
                Ok(p) => found.push(Installed { package: p, dir }),
                Err(message) => bad.push(Unreadable {
                    path: meta,
                    message,
                }),
            }
        }
    }
    (found, bad)
}

/// Reads a metadata file of at most 16 MiB as text, through
/// `knap_schema::fs` (a FIFO is refused, not waited on).
fn read_small(path: &Path) -> Result<String, String> {
    knap_schema::fs::read_to_string(path, knap_schema::fs::Links::Follow, 16 << 20)
        .map_err(|e| e.reason())
}

/// `Name:` and `Version:` from the header block of a `METADATA` file.
fn metadata_name_version(text: &str) -> Option<(String, String)> {
    let mut name = None;
    let mut version = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Name:") {
            name.get_or_insert_with(|| v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("Version:") {
            version.get_or_insert_with(|| v.trim().to_owned());
        }
    }
    Some((name?, version?))
}

fn node(env: &Path) -> (Vec<Installed>, Vec<Unreadable>) {
    let mut found = Vec::new();
    let mut bad = Vec::new();
    let mut todo = vec![env.join("node_modules")];
    while let Some(nm) = todo.pop() {
        let Ok(items) = std::fs::read_dir(&nm) else {
            continue;
        };
        for item in items.flatten() {
            let name = item.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let path = item.path();
            if !item.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let dirs: Vec<PathBuf> = if name.starts_with('@') {
                std::fs::read_dir(&path)
                    .map(|i| {
                        i.flatten()
                            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                            .map(|e| e.path())
                            .collect()
                    })
                    .unwrap_or_default()
            } else {
                vec![path]
            };
            for dir in dirs {
                let pj = dir.join("package.json");
                let parsed = read_small(&pj).and_then(|text| {
                    let v: serde_json::Value =
                        serde_json::from_str(&text).map_err(|e| e.to_string())?;
                    let name = v["name"].as_str().ok_or("no `name`")?;
                    let version = v["version"].as_str().ok_or("no `version`")?;
                    package(name, version)
                });
                match parsed {
                    Ok(p) => found.push(Installed {
                        package: p,
                        dir: dir.clone(),
                    }),
                    Err(message) => bad.push(Unreadable { path: pj, message }),
                }
                todo.push(dir.join("node_modules"));
            }
        }
    }
    (found, bad)
}

/// A file of an installed distribution that no longer matches its `RECORD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The distribution.
    pub package: String,
    /// The file, as `RECORD` names it.
    pub file: String,
    /// `missing`, `changed`, or why it is not checked.
    pub problem: String,
}

/// Checks each file of `dist` (a `*.dist-info` under `site_packages`, in
/// the environment `env`) against the sha256 its `RECORD` holds. Files
/// without a hash (the `RECORD` itself, `.pyc` caches) are not checked.
pub fn check_record(env: &Path, site_packages: &Path, dist: &Installed) -> Vec<Mismatch> {
    let record = dist.dir.join("RECORD");
    let name = dist.package.name.to_string();
    let mismatch = |file: &str, problem: String| Mismatch {
        package: name.clone(),
        file: file.to_owned(),
        problem,
    };
    let text = match read_small(&record) {
        Ok(t) => t,
        Err(e) => return vec![mismatch("RECORD", format!("cannot be read: {e}"))],
    };
    let mut out = Vec::new();
    for line in text.lines() {
        let fields = csv_fields(line);
        let (Some(file), Some(hash)) = (fields.first(), fields.get(1)) else {
            continue;
        };
        let Some(b64) = hash.strip_prefix("sha256=") else {
            continue;
        };
        let Some(path) = inside(env, site_packages, file) else {
            out.push(mismatch(
                file,
                "names a file outside the environment".into(),
            ));
            continue;
        };
        match hash_file(&path) {
            Ok(got) if got == b64 => {}
            Ok(_) => out.push(mismatch(file, "changed".into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                out.push(mismatch(file, "missing".into()))
            }
            Err(e) => out.push(mismatch(file, format!("cannot be read: {e}"))),
        }
    }
    out
}

/// `base/rel` with `..` resolved lexically, when it stays inside `env`.
fn inside(env: &Path, base: &Path, rel: &str) -> Option<PathBuf> {
    let rel = Path::new(rel);
    if rel.is_absolute() {
        return None;
    }
    let mut out = base.to_path_buf();
    for c in rel.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            _ => return None,
        }
    }
    out.starts_with(env).then_some(out)
}

fn hash_file(path: &Path) -> std::io::Result<String> {
    // Through `knap_schema::fs`: an installed file that is a FIFO is a
    // mismatch, not a wait.
    let (mut f, _) = knap_schema::fs::open(path, knap_schema::fs::Links::Follow)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h.finalize()))
}

/// The fields of one CSV line (`RECORD`): commas, and double quotes
/// around a field that holds one.
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise_as_pep_503_says() {
        assert_eq!(normalize_python_name("Zope.Interface"), "zope-interface");
        assert_eq!(normalize_python_name("a__b-.c"), "a-b-c");
    }

    #[test]
    fn record_lines_split_like_csv() {
        assert_eq!(
            csv_fields("\"a,b.py\",sha256=x,3"),
            vec!["a,b.py", "sha256=x", "3"]
        );
        assert_eq!(csv_fields("a.py,,"), vec!["a.py", "", ""]);
    }

    #[test]
    fn a_record_path_cannot_leave_the_environment() {
        let env = Path::new("/e");
        let sp = Path::new("/e/lib/python3.11/site-packages");
        assert_eq!(
            inside(env, sp, "../../../bin/x"),
            Some(PathBuf::from("/e/bin/x"))
        );
        assert_eq!(inside(env, sp, "../../../../etc/passwd"), None);
        assert_eq!(inside(env, sp, "/etc/passwd"), None);
    }

    #[test]
    fn metadata_headers_stop_at_the_body() {
        let t = "Metadata-Version: 2.1\nName: Foo_Bar\nVersion: 1.0\n\nName: body\n";
        assert_eq!(
            metadata_name_version(t),
            Some(("Foo_Bar".into(), "1.0".into()))
        );
    }
}
