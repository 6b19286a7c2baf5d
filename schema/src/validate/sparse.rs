//! The rules of the sparse layout's files: `config.json` and
//! `packs/<ref>.json`.

use super::*;

/// Validates a sparse `config.json`.
pub fn validate_sparse_config(c: &SparseConfig) -> Problems {
    let mut p = Problems::new();
    if c.format != SPARSE_FORMAT {
        p.error(
            "$.format",
            format!("must be \"{SPARSE_FORMAT}\", found \"{}\"", c.format),
        );
    }
    if c.registry_name.trim().is_empty() {
        p.error("$.registry_name", "must not be empty");
    }
    check_registry_url(&c.registry_url, "$.registry_url", Compat::Knap, &mut p);
    check_timestamp(&c.last_updated, "$.last_updated", &mut p);
    p
}

/// Validates a sparse `packs/<ref>.json`; `file_ref` is the ref its file
/// name says, when known.
pub fn validate_sparse_pack(s: &SparsePack, file_ref: Option<&str>) -> Problems {
    let mut p = Problems::new();
    if let Some(f) = file_ref
        && f != s.pack_ref
    {
        p.error(
            "$.ref",
            format!("`{}` does not match the file name `{f}.json`", s.pack_ref),
        );
    }
    for (i, e) in s.versions.iter().enumerate() {
        if e.pack_ref != s.pack_ref {
            p.error(
                format!("$.versions[{i}].ref"),
                format!("`{}` in the file of `{}`", e.pack_ref, s.pack_ref),
            );
        }
    }
    validate_entries(&s.versions, "$.versions", Compat::Knap, true, &mut p);
    p
}
