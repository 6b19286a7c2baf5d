//! The JSON Schemas of knap's formats, generated from the Rust types.
//!
//! They are checked in under `schema/json/`; a test fails when the files
//! drift from the types (run it with `KNAP_BLESS=1` to rewrite them).

use serde_json::Value;

use crate::{config, env, index, lock, manifest, sparse};

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
            "env-record.schema.json",
            schemars::schema_for!(env::EnvRecord).to_value(),
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
        drop_null(schema);
        if let Value::Object(m) = schema {
            m.insert("$id".into(), Value::String(format!("{SCHEMA_BASE}{name}")));
        }
    }
    out
}

/// knap omits absent optional fields and never writes `null`, so the
/// schemas say so: `"type": [T, "null"]` becomes `"type": T`, and
/// `anyOf: [S, {"type": "null"}]` becomes `S`.
fn drop_null(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(types)) = m.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let t = types.remove(0);
                    m.insert("type".into(), t);
                }
            }
            if let Some(Value::Array(any)) = m.get("anyOf")
                && any.len() == 2
                && let Some(other) = any
                    .iter()
                    .find(|s| s.get("type").is_none_or(|t| t != "null"))
                && any
                    .iter()
                    .any(|s| s.get("type").is_some_and(|t| t == "null"))
            {
                let other = other.clone();
                m.remove("anyOf");
                if let Value::Object(o) = other {
                    m.extend(o);
                }
            }
            m.values_mut().for_each(drop_null);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_null),
        _ => {}
    }
}

/// A schema as written to disk: pretty JSON with a final newline.
pub fn render(schema: &Value) -> String {
    let mut s = serde_json::to_string_pretty(schema).expect("schema serialises");
    s.push('\n');
    s
}
