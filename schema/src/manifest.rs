//! Tolerant reading of a pack's `pack.yaml`.
//!
//! Real manifests vary a lot (see `../shared/corpus/packs` and
//! `bad-pack-yaml`): this module accepts every spelling the format allows
//! (`label`/`name`, `keywords`/`meta.keywords`/`tags`, list- or object-form
//! `dependencies`, ...) and refuses what cannot be right (no `ref`, a YAML
//! float or a 4-part `version`, merge-conflict markers), naming `pack.yaml`
//! and the field in every error.

use std::fmt;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::dependency::{Dependencies, Dependency};
use crate::ident::{PackRef, check_ref};
use crate::problem::{Problems, at};

/// The name of the manifest file at a pack's root.
pub const MANIFEST_FILE: &str = "pack.yaml";

/// The largest `pack.yaml` read (its fields are bounded one by one too, by
/// [`MAX_TEXT_FIELD_BYTES`]; real manifests are a few KiB).
pub const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;

/// The longest text one manifest field (and one index entry field) may
/// hold: far above any real description, far below what would make an
/// index entry a burden to every client.
pub const MAX_TEXT_FIELD_BYTES: usize = 64 * 1024;

/// What knap reads from a `pack.yaml`, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub pack_ref: PackRef,
    pub version: semver::Version,
    pub label: String,
    pub description: String,
    pub author: Option<String>,
    pub email: Option<String>,
    pub license: String,
    /// De-duplicated and sorted.
    pub keywords: Vec<String>,
    pub runtime_deps: Vec<String>,
    /// `None` when the manifest has no `dependencies`.
    pub dependencies: Option<Dependencies>,
    pub homepage: Option<String>,
    pub use_case: Option<String>,
    /// `meta.repository_url`.
    pub repository_url: Option<String>,
    /// `meta.category`.
    pub category: Option<String>,
    /// StackStorm's `python_versions`: the Python major versions the pack
    /// supports, each as written (`"3"` and `3` both read `3`).
    pub python_versions: Option<Vec<String>>,
    /// StackStorm's `stackstorm_version` requirement, as written.
    pub stackstorm_version: Option<String>,
    /// Attune's `attune_version` requirement, as written.
    pub attune_version: Option<String>,
    /// Harmless oddities worth telling the author (near-miss field names).
    pub warnings: Vec<String>,
}

/// A `pack.yaml` that could not be read, or is not a valid manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: invalid pack manifest:\n{}", path.display(), Indented(problems))]
    Invalid { path: PathBuf, problems: Problems },
}

impl ManifestError {
    /// The problems found, empty for an I/O error.
    pub fn problems(&self) -> Option<&Problems> {
        match self {
            ManifestError::Invalid { problems, .. } => Some(problems),
            ManifestError::Io { .. } => None,
        }
    }
}

struct Indented<'a>(&'a Problems);
impl fmt::Display for Indented<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.errors().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "  - field `{}`: {}", p.path, p.message)?;
        }
        Ok(())
    }
}

/// Reads `<pack_dir>/pack.yaml`: a regular file inside the pack (a
/// symbolic link, a FIFO or a device is refused as the pack tree rules
/// refuse them, without reading it) of at most [`MAX_MANIFEST_BYTES`].
pub fn read_pack_dir(pack_dir: &Path) -> Result<Manifest, ManifestError> {
    let path = pack_dir.join(MANIFEST_FILE);
    let text = crate::fs::read(&path, crate::fs::Links::Refuse, MAX_MANIFEST_BYTES).map_err(
        |e| match e {
            crate::fs::FileError::Io { error, .. } => ManifestError::Io {
                path: path.clone(),
                source: error,
            },
            other => {
                let mut problems = Problems::new();
                problems.error("(file)", other.reason());
                ManifestError::Invalid {
                    path: path.clone(),
                    problems,
                }
            }
        },
    )?;
    parse(&text, &path)
}

/// Refuses a text over [`MAX_TEXT_FIELD_BYTES`], naming its field.
fn bounded(field: &str, s: &str, p: &mut Problems) -> bool {
    if s.len() > MAX_TEXT_FIELD_BYTES {
        p.error(
            field,
            format!(
                "is {} bytes long; a manifest field holds at most {MAX_TEXT_FIELD_BYTES} bytes",
                s.len()
            ),
        );
        return false;
    }
    true
}

/// Parses the bytes of a `pack.yaml`; `path` is only used in messages.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Manifest, ManifestError> {
    let invalid = |problems: Problems| ManifestError::Invalid {
        path: path.to_owned(),
        problems,
    };
    let one = |field: &str, msg: String| {
        let mut p = Problems::new();
        p.error(field, msg);
        invalid(p)
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(one("(file)", "is not UTF-8 text".into()));
    };
    if let Some(line) = conflict_marker_line(text) {
        return Err(one(
            "(file)",
            format!(
                "contains git merge-conflict markers (line {line}); resolve the conflict and commit the result"
            ),
        ));
    }
    if text.trim().is_empty() {
        return Err(one(
            "(file)",
            "is empty; a pack manifest needs at least `ref` and `version`".into(),
        ));
    }
    let doc: Value = match serde_saphyr::from_str(text) {
        Ok(v) => v,
        Err(e) => return Err(one("(file)", format!("is not valid YAML: {e}"))),
    };
    let Value::Object(map) = doc else {
        return Err(one(
            "(file)",
            format!("must be a YAML mapping of fields, found {}", kind(&doc)),
        ));
    };
    from_map(&map).map_err(invalid)
}

fn conflict_marker_line(text: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            l.starts_with("<<<<<<< ")
                || l == "<<<<<<<"
                || l.starts_with(">>>>>>> ")
                || l == "======="
        })
        .map(|i| i + 1)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Fields knap reads, for near-miss warnings.
const READ_FIELDS: &[&str] = &[
    "ref",
    "version",
    "label",
    "name",
    "description",
    "author",
    "email",
    "license",
    "keywords",
    "tags",
    "runtime_deps",
    "dependencies",
    "homepage",
    "use_case",
    "meta",
];

/// Fields other tools read, which are never near-misses.
const OTHER_KNOWN: &[&str] = &[
    "system",
    "enabled",
    "conf_schema",
    "config",
    "python_versions",
    "stackstorm_version",
    "attune_version",
    "contributors",
    "testing",
];

fn from_map(map: &Map<String, Value>) -> Result<Manifest, Problems> {
    let mut p = Problems::new();
    let mut warnings = Vec::new();
    let meta = map.get("meta").and_then(Value::as_object);

    let pack_ref = match map.get("ref") {
        None | Some(Value::Null) => {
            let hint = match map.get("name").and_then(Value::as_str) {
                Some(n) if check_ref(n).is_ok() => format!(" (add `ref: {n}`)"),
                _ => String::new(),
            };
            p.error(
                "ref",
                format!("is required: the pack's unique identifier{hint}"),
            );
            None
        }
        Some(Value::String(s)) => match PackRef::parse(s) {
            Ok(r) => Some(r),
            Err(e) => {
                p.error("ref", e.reason);
                None
            }
        },
        Some(other) => {
            p.error("ref", format!("must be a string, found {}", kind(other)));
            None
        }
    };

    let version = match map.get("version") {
        None | Some(Value::Null) => {
            p.error(
                "version",
                "is required: a SemVer 2.0 version such as \"1.0.0\"",
            );
            None
        }
        Some(Value::Number(n)) => {
            p.error(
                "version",
                format!("is the YAML number {n}, not a version; write a quoted SemVer 2.0 string with three parts, such as \"{}\"", pad_version(&n.to_string())),
            );
            None
        }
        Some(Value::String(s)) => match check_version(s) {
            Ok(v) => Some(v),
            Err(e) => {
                p.error("version", e);
                None
            }
        },
        Some(other) => {
            p.error(
                "version",
                format!("must be a string, found {}", kind(other)),
            );
            None
        }
    };

    let label = string_field(map, "label", &mut p)
        .or_else(|| string_field(map, "name", &mut p))
        .or_else(|| pack_ref.as_ref().map(|r| r.to_string()))
        .unwrap_or_default();
    let description = string_field(map, "description", &mut p).unwrap_or_default();
    let author = string_field(map, "author", &mut p);
    let email = string_field(map, "email", &mut p);
    let license = string_field(map, "license", &mut p)
        .or_else(|| meta.and_then(|m| meta_string(m, "license", &mut p)))
        .unwrap_or_else(|| "NOASSERTION".to_owned());
    let homepage = string_field(map, "homepage", &mut p)
        .or_else(|| meta.and_then(|m| meta_string(m, "documentation_url", &mut p)));
    let use_case = string_field(map, "use_case", &mut p)
        .or_else(|| meta.and_then(|m| meta_string(m, "use_case", &mut p)));
    let repository_url = meta.and_then(|m| meta_string(m, "repository_url", &mut p));
    let category = meta.and_then(|m| meta_string(m, "category", &mut p));

    let mut keywords = if map.contains_key("keywords") {
        string_list(map.get("keywords"), "keywords", &mut p)
    } else if let Some(k) = meta.and_then(|m| m.get("keywords")) {
        string_list(Some(k), "meta.keywords", &mut p)
    } else {
        string_list(map.get("tags"), "tags", &mut p)
    };
    keywords.sort();
    keywords.dedup();

    let runtime_deps = string_list(map.get("runtime_deps"), "runtime_deps", &mut p);
    // Platform requirements other tools own: read leniently (a value of
    // another shape is a warning, never a reason to refuse the pack).
    let python_versions = match map.get("python_versions") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) => (i, s.clone()),
                    other => (i, other.to_string()),
                })
                .filter(|(i, s)| bounded(&at("python_versions", *i), s, &mut p))
                .map(|(_, s)| s)
                .collect(),
        ),
        Some(other) => {
            warnings.push(format!(
                "pack.yaml: `python_versions` must be a list of major versions, found {}; it is ignored",
                kind(other)
            ));
            None
        }
    };
    let [stackstorm_version, attune_version] = ["stackstorm_version", "attune_version"].map(|k| {
        match map.get(k) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => bounded(k, s, &mut p).then(|| s.clone()),
            Some(other) => {
                warnings.push(format!(
                    "pack.yaml: `{k}` must be a version requirement string, found {}; it is ignored",
                    kind(other)
                ));
                None
            }
        }
    });
    let dependencies = dependencies(map.get("dependencies"), &mut p, &mut warnings);

    for k in map.keys() {
        if READ_FIELDS.contains(&k.as_str()) || OTHER_KNOWN.contains(&k.as_str()) {
            continue;
        }
        if let Some(near) = READ_FIELDS
            .iter()
            .find(|f| k.len() >= 3 && edit_distance(k, f) <= 1)
        {
            warnings.push(format!(
                "pack.yaml: unknown field `{k}` is ignored (did you mean `{near}`?)"
            ));
        }
    }

    if p.has_errors() {
        return Err(p);
    }
    Ok(Manifest {
        pack_ref: pack_ref.expect("checked above"),
        version: version.expect("checked above"),
        label,
        description,
        author,
        email,
        license,
        keywords,
        runtime_deps,
        dependencies,
        homepage,
        use_case,
        repository_url,
        category,
        python_versions,
        stackstorm_version,
        attune_version,
        warnings,
    })
}

/// Checks a manifest version string, naming the usual mistakes.
pub fn check_version(s: &str) -> Result<semver::Version, String> {
    let core = s.split(['-', '+']).next().unwrap_or(s);
    let parts = core.split('.').count();
    if parts != 3
        && core
            .split('.')
            .all(|x| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!(
            "`{s}` has {parts} part{}; a SemVer 2.0 version has exactly three (MAJOR.MINOR.PATCH)",
            if parts == 1 { "" } else { "s" }
        ));
    }
    semver::Version::parse(s).map_err(|e| format!("`{s}` is not a SemVer 2.0 version: {e}"))
}

fn pad_version(s: &str) -> String {
    match s.split('.').count() {
        1 => format!("{s}.0.0"),
        2 => format!("{s}.0"),
        _ => s.to_owned(),
    }
}

fn string_field(map: &Map<String, Value>, field: &str, p: &mut Problems) -> Option<String> {
    match map.get(field)? {
        Value::Null => None,
        Value::String(s) => bounded(field, s, p).then(|| s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        other => {
            p.error(field, format!("must be a string, found {}", kind(other)));
            None
        }
    }
}

fn meta_string(meta: &Map<String, Value>, field: &str, p: &mut Problems) -> Option<String> {
    let s = meta.get(field).and_then(Value::as_str)?;
    bounded(&format!("meta.{field}"), s, p).then(|| s.to_owned())
}

fn string_list(v: Option<&Value>, field: &str, p: &mut Problems) -> Vec<String> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => {
            if bounded(field, s, p) {
                vec![s.clone()]
            } else {
                Vec::new()
            }
        }
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) if bounded(&at(field, i), s, p) => out.push(s.clone()),
                    Value::String(_) => {}
                    Value::Number(n) => out.push(n.to_string()),
                    other => p.error(
                        at(field, i),
                        format!("must be a string, found {}", kind(other)),
                    ),
                }
            }
            out
        }
        Some(other) => {
            p.error(
                field,
                format!("must be a list of strings, found {}", kind(other)),
            );
            Vec::new()
        }
    }
}

fn dependencies(
    v: Option<&Value>,
    p: &mut Problems,
    warnings: &mut Vec<String>,
) -> Option<Dependencies> {
    let mut deps = Dependencies::default();
    let packs = match v? {
        Value::Null => return None,
        Value::Array(items) => Some((items.as_slice(), "dependencies".to_owned())),
        Value::Object(obj) => {
            for (k, val) in obj {
                if k == "packs" {
                    continue;
                }
                match val {
                    Value::String(v) if k.ends_with("_version") => {
                        if bounded(&format!("dependencies.{k}"), v, p) {
                            deps.versions.insert(k.clone(), val.clone());
                        }
                    }
                    _ => warnings.push(format!(
                        "pack.yaml: `dependencies.{k}` is not a `*_version` requirement and is ignored"
                    )),
                }
            }
            match obj.get("packs") {
                None | Some(Value::Null) => None,
                Some(Value::Array(items)) => {
                    Some((items.as_slice(), "dependencies.packs".to_owned()))
                }
                Some(other) => {
                    p.error(
                        "dependencies.packs",
                        format!(
                            "must be a list of `REF` or `REF@REQ` strings, found {}",
                            kind(other)
                        ),
                    );
                    None
                }
            }
        }
        other => {
            p.error("dependencies", format!("must be a list of `REF` or `REF@REQ` strings or a mapping with `packs`, found {}", kind(other)));
            return None;
        }
    };
    if let Some((items, field)) = packs {
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) if !bounded(&at(&field, i), s, p) => {}
                Value::String(s) => match Dependency::parse(s) {
                    Ok(d) => deps.packs.push(d.to_string()),
                    Err(e) => p.error(at(&field, i), e.to_string()),
                },
                other => p.error(
                    at(&field, i),
                    format!("must be a `REF` or `REF@REQ` string, found {}", kind(other)),
                ),
            }
        }
    }
    Some(deps)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The `pack.yaml` fields knap reads, as a JSON Schema document (for
/// editors and linters). Reading itself is more tolerant and more precise
/// than a schema can say: see [`parse`].
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "knap pack manifest (pack.yaml)")]
pub struct ManifestSchema {
    #[serde(rename = "ref")]
    #[schemars(regex(pattern = r"^[a-z][a-z0-9_-]*$"), length(max = 64))]
    pub pack_ref: String,
    /// A quoted SemVer 2.0 version with exactly three parts.
    #[schemars(regex(pattern = r"^[0-9]+\.[0-9]+\.[0-9]+(?:[-+][0-9A-Za-z.+-]+)?$"))]
    pub version: String,
    pub label: Option<String>,
    /// Used as the label when `label` is absent.
    pub name: Option<String>,
    pub description: Option<String>,
    pub author: Option<String>,
    pub email: Option<String>,
    pub license: Option<String>,
    pub keywords: Option<Vec<String>>,
    /// Used as keywords when neither `keywords` nor `meta.keywords` is set.
    pub tags: Option<Vec<String>>,
    pub runtime_deps: Option<Vec<String>>,
    pub dependencies: Option<ManifestDependencies>,
    pub homepage: Option<String>,
    pub use_case: Option<String>,
    pub meta: Option<ManifestMeta>,
}

/// `dependencies`: a list of `REF`/`REF@REQ`, or a mapping.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ManifestDependencies {
    List(Vec<String>),
    Object(Dependencies),
}

/// The `meta` fields knap falls back on.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct ManifestMeta {
    pub license: Option<String>,
    pub keywords: Option<Vec<String>>,
    pub documentation_url: Option<String>,
    pub repository_url: Option<String>,
    pub use_case: Option<String>,
    pub category: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Manifest, ManifestError> {
        parse(s.as_bytes(), Path::new("pack.yaml"))
    }

    #[test]
    fn fallbacks() {
        let m = parse_str(
            "ref: x\nversion: \"1.2.3\"\nname: X Pack\nmeta:\n  license: MIT\n  keywords: [b, a, b]\n  documentation_url: https://d\ntags: [z]\n",
        )
        .unwrap();
        assert_eq!(m.label, "X Pack");
        assert_eq!(m.license, "MIT");
        assert_eq!(m.keywords, vec!["a", "b"]);
        assert_eq!(m.homepage.as_deref(), Some("https://d"));
        assert!(m.dependencies.is_none());
    }

    #[test]
    fn platform_versions_are_read_and_a_wrong_shape_is_only_a_warning() {
        let m = parse_str(
            "ref: x\nversion: 1.0.0\npython_versions: [\"3\", 2]\nstackstorm_version: \">=3.0\"\nattune_version: \"^1\"\n",
        )
        .unwrap();
        assert_eq!(m.python_versions, Some(vec!["3".into(), "2".into()]));
        assert_eq!(m.stackstorm_version.as_deref(), Some(">=3.0"));
        assert_eq!(m.attune_version.as_deref(), Some("^1"));
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
        let m =
            parse_str("ref: x\nversion: 1.0.0\npython_versions: 3\nattune_version: [1]\n").unwrap();
        assert_eq!(m.python_versions, None);
        assert_eq!(m.attune_version, None);
        assert_eq!(m.warnings.len(), 2, "{:?}", m.warnings);
        assert!(
            m.warnings[1].contains("`attune_version`"),
            "{:?}",
            m.warnings
        );
    }

    #[test]
    fn dependency_forms_normalise() {
        let m = parse_str("ref: x\nversion: 1.0.0\ndependencies: [core, \"aws@^2.1\"]\n").unwrap();
        assert_eq!(m.dependencies.unwrap().packs, vec!["core", "aws@^2.1"]);
        let m = parse_str(
            "ref: x\nversion: 1.0.0\ndependencies:\n  packs: [core]\n  python_version: \">=3.9\"\n",
        )
        .unwrap();
        let d = m.dependencies.unwrap();
        assert_eq!(d.packs, vec!["core"]);
        assert_eq!(d.versions["python_version"], ">=3.9");
        let m = parse_str("ref: x\nversion: 1.0.0\ndependencies: {}\n").unwrap();
        assert_eq!(m.dependencies.unwrap().packs, Vec::<String>::new());
    }

    #[test]
    fn version_errors_say_why() {
        let e = parse_str("ref: x\nversion: 0.2\n").unwrap_err().to_string();
        assert!(e.contains("version") && e.contains("YAML number"), "{e}");
        let e = parse_str("ref: x\nversion: 0.0.1.0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("4 parts"), "{e}");
    }

    #[test]
    fn near_miss_warns() {
        let m = parse_str("ref: x\nversion: 1.0.0\nmail: a@b\n").unwrap();
        assert!(
            m.warnings
                .iter()
                .any(|w| w.contains("`mail`") && w.contains("`email`"))
        );
    }

    #[test]
    fn every_text_field_is_bounded_naming_it() {
        let ok = "x".repeat(MAX_TEXT_FIELD_BYTES);
        let over = "x".repeat(MAX_TEXT_FIELD_BYTES + 1);
        let m = parse_str(&format!("ref: x\nversion: 1.0.0\ndescription: {ok}\n")).unwrap();
        assert_eq!(m.description.len(), MAX_TEXT_FIELD_BYTES);
        for (yaml, field) in [
            (format!("description: {over}"), "description"),
            (format!("label: {over}"), "label"),
            (format!("email: {over}"), "email"),
            (format!("homepage: {over}"), "homepage"),
            (format!("keywords: [a, {over}]"), "keywords[1]"),
            (format!("tags: {over}"), "tags"),
            (format!("runtime_deps: [{over}]"), "runtime_deps[0]"),
            (
                format!("meta: {{repository_url: {over}}}"),
                "meta.repository_url",
            ),
            (
                format!("python_versions: [\"{over}\"]"),
                "python_versions[0]",
            ),
            (format!("attune_version: \"{over}\""), "attune_version"),
            (format!("dependencies: [\"{over}\"]"), "dependencies[0]"),
            (
                format!("dependencies: {{st2_version: \"{over}\"}}"),
                "dependencies.st2_version",
            ),
        ] {
            let e = parse_str(&format!("ref: x\nversion: 1.0.0\n{yaml}\n"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!("field `{field}`")) && e.contains("at most 65536 bytes"),
                "{field}: {}",
                &e[..e.len().min(300)]
            );
        }
    }
}
