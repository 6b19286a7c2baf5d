//! `index.json`: a registry's list of pack versions and where to get them.
//!
//! A superset of the Attune index format. Every struct keeps the fields it
//! does not know in `extra`, so tools that rewrite an index (update, merge)
//! carry unknown fields through untouched.
//!
//! Reading is hand-written (the `de` module) rather than derived: a derived
//! `#[serde(flatten)]` buffers each struct into serde's generic content tree
//! before building it, which made loading a large index allocate every
//! string twice.

use std::cmp::Ordering;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::ident::PackRef;

mod de;

/// The version of the index format this crate writes.
pub const INDEX_FORMAT_VERSION: &str = "1.0";

/// A whole index.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
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
    /// Every published version, sorted by ref, then newest first.
    pub packs: Vec<Entry>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Map<String, Value>,
}

/// One version of one pack. Its ref and version are read validated: an
/// index holding an invalid one is refused where it is read, with the JSON
/// path of the value and, for a version, the entry's ref.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(
    title = "knap index entry",
    description = "One version of one pack, as listed in an index."
)]
pub struct Entry {
    #[serde(rename = "ref")]
    pub pack_ref: PackRef,
    #[schemars(length(min = 1))]
    pub label: String,
    pub description: String,
    /// A SemVer 2.0 version.
    #[schemars(with = "String")]
    pub version: semver::Version,
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
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum InstallSource {
    /// A git repository at a pinned commit; `checksum` is the pack tree digest.
    Git(GitSource),
    /// An archive (.tar.gz, .tgz, .tar, .zip); `checksum` is the SHA-256 of its bytes.
    Archive(ArchiveSource),
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
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

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
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

/// An entry's requirements (defined beside [`crate::dependency::Dependency`],
/// shared with `pack.yaml`).
pub use crate::dependency::Dependencies;

/// The component summary of a pack.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
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

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Component {
    #[schemars(length(min = 1))]
    pub name: String,
    pub description: String,
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Map<String, Value>,
}

impl Entry {
    /// The entry a pack's `pack.yaml` describes, with no install sources
    /// and empty contents (the caller adds those): the one mapping from
    /// manifest fields to index fields, used by `knap-index entry` and by
    /// the client for a pack installed directly. `meta.category` holds the
    /// manifest's category, if any.
    pub fn from_manifest(m: &crate::manifest::Manifest) -> Entry {
        let mut meta = Map::new();
        if let Some(c) = &m.category {
            meta.insert("category".into(), Value::String(c.clone()));
        }
        Entry {
            pack_ref: m.pack_ref.clone(),
            label: m.label.clone(),
            description: m.description.clone(),
            version: m.version.clone(),
            author: m.author.clone().unwrap_or_default(),
            email: m.email.clone(),
            homepage: m.homepage.clone(),
            repository: m.repository_url.clone(),
            license: m.license.clone(),
            keywords: m.keywords.clone(),
            runtime_deps: m.runtime_deps.clone(),
            use_case: m.use_case.clone(),
            dependencies: m.dependencies.clone(),
            install_sources: Vec::new(),
            contents: Contents::default(),
            yanked: false,
            meta: (!meta.is_empty()).then_some(meta),
            extra: Map::new(),
        }
    }

    /// The order of entries in an index: by ref, then newest first by
    /// semver precedence (then by build metadata). Newest first because
    /// Attune's client takes the first entry of a ref, so even an Attune
    /// client reading a multi-version index gets the newest.
    pub fn index_order(a: &Entry, b: &Entry) -> Ordering {
        index_order_of_parts(&a.pack_ref, &a.version, &b.pack_ref, &b.version)
    }

    /// A key equal for two entries exactly when [`same_version`] holds:
    /// the ref and the version without build metadata.
    ///
    /// [`same_version`]: Self::same_version
    pub fn version_key(&self) -> (PackRef, semver::Version) {
        let mut v = self.version.clone();
        v.build = semver::BuildMetadata::EMPTY;
        (self.pack_ref.clone(), v)
    }

    /// Same `(ref, version)`: semver equality, so `1.0.0+a` and `1.0.0+b`
    /// are different versions only in build metadata and count as the same.
    pub fn same_version(&self, other: &Entry) -> bool {
        self.pack_ref == other.pack_ref
            && self.version.cmp_precedence(&other.version) == Ordering::Equal
    }
}

/// [`Entry::index_order`] on the parts it looks at: the refs and the
/// versions.
pub fn index_order_of_parts(
    a_ref: &str,
    a_version: &semver::Version,
    b_ref: &str,
    b_version: &semver::Version,
) -> Ordering {
    a_ref.cmp(b_ref).then_with(|| {
        b_version
            .cmp_precedence(a_version)
            .then_with(|| b_version.cmp(a_version))
    })
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
