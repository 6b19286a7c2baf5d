//! The JSON Schemas of knap's formats, generated from the Rust types.
//!
//! They are checked in under `schema/json/`; a test fails when the files
//! drift from the types (run it with `KNAP_BLESS=1` to rewrite them).

use serde_json::Value;

use crate::{config, index, lock, manifest, sparse};

/// Base URL of the published schemas.
pub const SCHEMA_BASE: &str =
    "https://raw.githubusercontent.com/knap-registry/knap/main/schema/json/";

/// Every schema: (file name under `schema/json/`, schema).
pub fn all() -> Vec<(&'static str, Value)> {
    let mut out = vec![
        (
            "index.schema.json",
            schemars::schema_for!(index::Index).to_value(),
        ),
        (
            "entry.schema.json",
            schemars::schema_for!(index::Entry).to_value(),
        ),
        (
            "pack-manifest.schema.json",
            schemars::schema_for!(manifest::ManifestSchema).to_value(),
        ),
        (
            "lock.schema.json",
            schemars::schema_for!(lock::Lockfile).to_value(),
        ),
        (
            "config.schema.json",
            schemars::schema_for!(config::Config).to_value(),
        ),
        (
            "sparse-config.schema.json",
            schemars::schema_for!(sparse::SparseConfig).to_value(),
        ),
        (
            "sparse-pack.schema.json",
            schemars::schema_for!(sparse::SparsePack).to_value(),
        ),
    ];
    for (name, schema) in &mut out {
        if let Value::Object(m) = schema {
            m.insert("$id".into(), Value::String(format!("{SCHEMA_BASE}{name}")));
        }
    }
    out
}

/// A schema as written to disk: pretty JSON with a final newline.
pub fn render(schema: &Value) -> String {
    let mut s = serde_json::to_string_pretty(schema).expect("schema serialises");
    s.push('\n');
    s
}
