//! The sparse layout: `config.json` plus one `packs/<ref>.json` per ref, so
//! that a client fetches only the refs a resolution needs.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ident::PackRef;
use crate::index::Entry;

/// The value of `format` in a sparse `config.json`.
pub const SPARSE_FORMAT: &str = "knap-sparse-1";

/// `config.json` at the root of a sparse registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SparseConfig {
    /// Always "knap-sparse-1".
    pub format: String,
    pub registry_name: String,
    pub registry_url: String,
    pub last_updated: String,
    /// What the registry is for, in a sentence or two (shown on its site).
    /// It lives here and not in `index.json`, whose Attune form admits no
    /// field beyond Attune's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Map<String, Value>,
}

/// `packs/<ref>.json`: every version of one ref.
// Its ref is a `PackRef`, validated as it is read, like each entry's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SparsePack {
    #[serde(rename = "ref")]
    pub pack_ref: PackRef,
    pub versions: Vec<Entry>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Map<String, Value>,
}
