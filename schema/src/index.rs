//! `index.json`: a registry's list of pack versions and where to get them.
//!
//! A superset of the Attune index format. Every struct keeps the fields it
//! does not know in `extra`, so tools that rewrite an index (update, merge)
//! carry unknown fields through untouched.

use std::cmp::Ordering;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The version of the index format this crate writes.
pub const INDEX_FORMAT_VERSION: &str = "1.0";

/// A whole index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(
    title = "knap index",
    description = "A knap registry index (index.json): a superset of the Attune pack index."
)]
pub struct Index {
    #[schemars(length(min = 1))]
    pub registry_name: String,
    /// Where the registry is published (its home page or index location).
    #[schemars(url)]
    pub registry_url: String,
    /// Always "1.0".
    #[schemars(extend("const" = "1.0"))]
    pub version: String,
    /// RFC 3339 time of the last change.
    #[schemars(extend("format" = "date-time"))]
    pub last_updated: String,
    /// Every published version, sorted by ref then by semver precedence.
    pub packs: Vec<Entry>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Map<String, Value>,
}

/// One version of one pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(
    title = "knap index entry",
    description = "One version of one pack, as listed in an index."
)]
pub struct Entry {
    #[serde(rename = "ref")]
    #[schemars(regex(pattern = r"^[a-z][a-z0-9_-]*$"), length(max = 64))]
    pub pack_ref: String,
    #[schemars(length(min = 1))]
    pub label: String,
    pub description: String,
    /// A SemVer 2.0 version.
    pub version: String,
    #[schemars(length(min = 1))]
    pub author: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[schemars(length(min = 1))]
    pub license: String,
    pub keywords: Vec<String>,
    pub runtime_deps: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_case: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependencies: Option<Dependencies>,
    #[schemars(length(min = 1))]
    pub install_sources: Vec<InstallSource>,
    pub contents: Contents,
    /// Never chosen by a fresh resolution; still installable from a lock.
    #[serde(default, skip_serializing_if = "is_false")]
    pub yanked: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Map<String, Value>>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Map<String, Value>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Where a pack version can be installed from, tried in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum InstallSource {
    /// A git repository at a pinned commit; `checksum` is the pack tree digest.
    Git(GitSource),
    /// An archive (.tar.gz, .tgz, .tar, .zip); `checksum` is the SHA-256 of its bytes.
    Archive(ArchiveSource),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GitSource {
    pub url: String,
    /// A 40-hex lowercase commit SHA.
    #[serde(rename = "ref")]
    #[schemars(regex(pattern = r"^[0-9a-f]{40}$"))]
    pub git_ref: String,
    #[schemars(regex(pattern = r"^sha256:[0-9a-f]{64}$"))]
    pub checksum: String,
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ArchiveSource {
    /// Absolute, or relative to the index's own location.
    pub url: String,
    #[schemars(regex(pattern = r"^sha256:[0-9a-f]{64}$"))]
    pub checksum: String,
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Map<String, Value>,
}

impl InstallSource {
    pub fn url(&self) -> &str {
        match self {
            InstallSource::Git(g) => &g.url,
            InstallSource::Archive(a) => &a.url,
        }
    }

    pub fn checksum(&self) -> &str {
        match self {
            InstallSource::Git(g) => &g.checksum,
            InstallSource::Archive(a) => &a.checksum,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            InstallSource::Git(_) => "git",
            InstallSource::Archive(_) => "archive",
        }
    }
}

/// Requirements of a pack: other packs (`REF` or `REF@REQ`) and
/// `*_version` requirements on the platform (`python_version`, ...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Dependencies {
    #[serde(default)]
    pub packs: Vec<String>,
    /// `attune_version`, `python_version`, `nodejs_version`, ...
    #[serde(flatten)]
    pub versions: Map<String, Value>,
}

/// The component summary of a pack.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Contents {
    #[serde(default)]
    pub actions: Vec<Component>,
    #[serde(default)]
    pub sensors: Vec<Component>,
    #[serde(default)]
    pub triggers: Vec<Component>,
    #[serde(default)]
    pub rules: Vec<Component>,
    #[serde(default)]
    pub workflows: Vec<Component>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Component {
    #[schemars(length(min = 1))]
    pub name: String,
    pub description: String,
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Map<String, Value>,
}

impl Entry {
    /// The parsed version, if it is valid SemVer.
    pub fn semver(&self) -> Option<semver::Version> {
        semver::Version::parse(&self.version).ok()
    }

    /// The order of entries in an index: by ref, then by semver precedence
    /// (unparsable versions last, by text).
    pub fn index_order(a: &Entry, b: &Entry) -> Ordering {
        a.pack_ref
            .cmp(&b.pack_ref)
            .then_with(|| Self::index_order_parsed(a, a.semver().as_ref(), b, b.semver().as_ref()))
    }

    /// [`Entry::index_order`] with the versions already parsed (`None`:
    /// not valid SemVer).
    pub fn index_order_parsed(
        a: &Entry,
        va: Option<&semver::Version>,
        b: &Entry,
        vb: Option<&semver::Version>,
    ) -> Ordering {
        a.pack_ref.cmp(&b.pack_ref).then_with(|| match (va, vb) {
            (Some(x), Some(y)) => x.cmp_precedence(y).then_with(|| x.cmp(y)),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => a.version.cmp(&b.version),
        })
    }

    /// Same `(ref, version)`: semver equality, so `1.0.0+a` and `1.0.0+b`
    /// are different versions only in build metadata and count as the same.
    pub fn same_version(&self, other: &Entry) -> bool {
        self.pack_ref == other.pack_ref
            && match (self.semver(), other.semver()) {
                (Some(x), Some(y)) => x.cmp_precedence(&y) == Ordering::Equal,
                _ => self.version == other.version,
            }
    }
}

impl Index {
    /// A new, empty index.
    pub fn new(name: &str, url: &str, now: &str) -> Self {
        Self {
            registry_name: name.to_owned(),
            registry_url: url.to_owned(),
            version: INDEX_FORMAT_VERSION.to_owned(),
            last_updated: now.to_owned(),
            packs: Vec::new(),
            extra: Map::new(),
        }
    }

    /// Sorts entries into index order.
    pub fn sort(&mut self) {
        self.packs.sort_by(Entry::index_order);
    }

    /// Every version of one ref, in index order.
    pub fn versions<'a>(&'a self, pack_ref: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.packs.iter().filter(move |e| e.pack_ref == pack_ref)
    }
}

/// Why a document could not be read as an index or entry at all.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ParseError {
    /// JSON path of the offending value (`$` for the document).
    pub path: String,
    pub message: String,
}

/// Reads JSON into `T`, reporting the JSON path of a type error.
pub fn from_json_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ParseError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(located)
}

/// Reads a JSON value into `T`, reporting the JSON path of a type error.
pub fn from_json_value<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, ParseError> {
    serde_path_to_error::deserialize(value).map_err(located)
}

/// A deserialisation error with its JSON path (`$` for the document).
fn located<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> ParseError {
    let path = e.path().to_string();
    ParseError {
        path: if path == "." || path.is_empty() {
            "$".to_owned()
        } else {
            format!("$.{path}")
        },
        message: e.into_inner().to_string(),
    }
}
