//! `knap.lock`: the state of an install root, replaced atomically.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The `$schema` pointer written into every lock file.
pub const LOCK_SCHEMA_URL: &str =
    "https://raw.githubusercontent.com/knap-registry/knap/main/schema/json/lock.schema.json";
/// The lock format version this crate writes.
pub const LOCK_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "knap.lock")]
pub struct Lockfile {
    #[serde(rename = "$schema", default = "default_schema")]
    pub schema: String,
    /// Always 1.
    pub version: u32,
    /// What the user asked for: ref to requirement (`*` for any version).
    #[serde(default)]
    pub requested: BTreeMap<String, String>,
    /// Every installed pack, sorted by ref.
    #[serde(default)]
    pub packs: Vec<LockedPack>,
}

fn default_schema() -> String {
    LOCK_SCHEMA_URL.to_owned()
}

impl Default for Lockfile {
    fn default() -> Self {
        Self {
            schema: default_schema(),
            version: LOCK_VERSION,
            requested: BTreeMap::new(),
            packs: Vec::new(),
        }
    }
}

/// One installed pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LockedPack {
    #[serde(rename = "ref")]
    pub pack_ref: String,
    pub version: String,
    /// The registry that provided it; absent for a local or URL install.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    pub source: LockedSource,
    /// The pack tree digest of the installed files.
    #[schemars(regex(pattern = r"^sha256:[0-9a-f]{64}$"))]
    pub tree: String,
    /// The dependencies it was resolved with (`REF` or `REF@REQ`).
    #[serde(default)]
    pub dependencies: Vec<String>,
    /// RFC 3339.
    pub installed_at: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub yanked: bool,
    /// Set when the registry is signed (TUF): what its metadata was
    /// verified with when the pack was resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<SignedProvenance>,
}

/// The signed metadata a locked pack was resolved from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SignedProvenance {
    /// The key ids of the registry's root role (hex), sorted.
    pub root_key_ids: Vec<String>,
    /// The version of the registry's targets metadata.
    pub targets_version: u64,
}

/// Where an installed pack came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum LockedSource {
    Archive {
        url: String,
        checksum: String,
    },
    Git {
        url: String,
        #[serde(rename = "ref")]
        git_ref: String,
        checksum: String,
    },
    /// A local pack directory.
    Path {
        path: String,
    },
}

impl Lockfile {
    pub fn get(&self, pack_ref: &str) -> Option<&LockedPack> {
        self.packs.iter().find(|p| p.pack_ref == pack_ref)
    }

    /// Serialises in the stable, pretty-printed form written to disk.
    pub fn to_pretty_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("lock serialises");
        s.push('\n');
        s
    }
}
