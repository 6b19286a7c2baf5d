//! Where the TUF files sit in a registry directory, and which index files
//! are its targets.

/// The metadata directory, beside `index.json`.
pub const TUF_DIR: &str = "tuf";

/// Whether `name` (a '/'-separated path relative to the registry root) is
/// one of the files a signed registry protects: `index.json`,
/// `config.json` or `packs/<ref>.json`.
pub fn is_target_name(name: &str) -> bool {
    match name {
        "index.json" | "config.json" => true,
        _ => name
            .strip_prefix("packs/")
            .and_then(|f| f.strip_suffix(".json"))
            .is_some_and(knap_schema::ident::is_valid_ref),
    }
}

/// The consistent-snapshot name of a target: `<sha256>.<basename>` in the
/// target's own directory (`packs/<hash>.x.json`), as TUF clients fetch it.
pub fn hashed_name(name: &str, sha256_hex: &str) -> String {
    match name.rsplit_once('/') {
        Some((dir, base)) => format!("{dir}/{sha256_hex}.{base}"),
        None => format!("{sha256_hex}.{name}"),
    }
}
