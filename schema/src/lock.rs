//! `knap.lock`: the state of an install root, replaced atomically.
//!
//! A lock is shared like `package-lock.json`, so it is untrusted input:
//! every ref, version, checksum, commit, dependency, URL and path in it is
//! a validated type or is checked as it is read, and a lock of a format
//! version this crate does not know is refused. A lock that reads is one
//! whose refs can name directories ([`PackRef::dir_in`]) safely.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use crate::dependency::Dependency;
use crate::ident::{Checksum, CommitId, PackRef};
use crate::requirement::Requirement;

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
    #[serde(deserialize_with = "lock_version")]
    pub version: u32,
    /// What the user asked for: ref to requirement (`*` for any version),
    /// kept as the user wrote it.
    #[serde(default, deserialize_with = "requested_map")]
    #[schemars(with = "BTreeMap<PackRef, String>")]
    pub requested: BTreeMap<PackRef, String>,
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

/// Reads `version`: 1, or an error saying what to do.
fn lock_version<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = u64::deserialize(d)?;
    if v == u64::from(LOCK_VERSION) {
        return Ok(LOCK_VERSION);
    }
    Err(serde::de::Error::custom(if v > u64::from(LOCK_VERSION) {
        format!(
            "knap.lock format version {v} is newer than this knap understands (it reads version {LOCK_VERSION}): upgrade knap to use this install root"
        )
    } else {
        format!("knap.lock format version {v} does not exist (the first is 1)")
    }))
}

/// Reads `requested`: each key a pack ref, each value a requirement.
fn requested_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<PackRef, String>, D::Error> {
    let map = BTreeMap::<PackRef, String>::deserialize(d)?;
    for (r, req) in &map {
        Requirement::parse(req).map_err(|e| serde::de::Error::custom(format!("`{r}`: {e}")))?;
    }
    Ok(map)
}

/// Reads a URL of a locked source: an absolute URL.
fn locked_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    url::Url::parse(&s)
        .map_err(|e| serde::de::Error::custom(format!("`{s}`: not an absolute URL: {e}")))?;
    if s.chars().any(char::is_control) {
        return Err(serde::de::Error::custom(format!(
            "{s:?}: control characters in a URL"
        )));
    }
    Ok(s)
}

/// Reads the directory of a locked path source: absolute, without `.` or
/// `..` components or control characters.
fn locked_path<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    let p = std::path::Path::new(&s);
    let plain = p.components().all(|c| {
        matches!(
            c,
            std::path::Component::RootDir
                | std::path::Component::Prefix(_)
                | std::path::Component::Normal(_)
        )
    });
    if !p.is_absolute() || !plain || s.chars().any(char::is_control) {
        return Err(serde::de::Error::custom(format!(
            "{s:?}: a path source must be an absolute directory path without `.` or `..` components"
        )));
    }
    Ok(s)
}

/// Whether `name` can name a configured registry: 1 to 64 lowercase
/// letters, digits, `-` and `_`, starting with a letter or digit.
pub fn is_valid_registry_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Reads the registry a pack came from: a valid registry name.
fn locked_registry<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    if let Some(name) = &s
        && !is_valid_registry_name(name)
    {
        return Err(serde::de::Error::custom(format!(
            "{name:?} is not a registry name (lowercase letters, digits, '-' and '_', at most 64)"
        )));
    }
    Ok(s)
}

/// Reads `installed_at`: an RFC 3339 time.
fn locked_time<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    crate::datetime::parse_rfc3339(&s)
        .map_err(|e| serde::de::Error::custom(format!("{s:?} is not an RFC 3339 time: {e}")))?;
    Ok(s)
}

/// Reads the root key ids of a signed provenance: lowercase hex, at most
/// 128 digits each (a SHA-512 is the longest TUF key id).
fn locked_key_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let ids = Vec::<String>::deserialize(d)?;
    for id in &ids {
        let hex = !id.is_empty()
            && id.len() <= 128
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex {
            return Err(serde::de::Error::custom(format!(
                "{id:?} is not a key id (lowercase hex, at most 128 digits)"
            )));
        }
    }
    Ok(ids)
}

/// One installed pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LockedPack {
    #[serde(rename = "ref")]
    pub pack_ref: PackRef,
    /// A SemVer 2.0 version.
    #[schemars(with = "String")]
    pub version: semver::Version,
    /// The registry that provided it; absent for a local or URL install.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "locked_registry"
    )]
    pub registry: Option<String>,
    pub source: LockedSource,
    /// The pack tree digest of the installed files.
    pub tree: Checksum,
    /// The dependencies it was resolved with (`REF` or `REF@REQ`).
    #[serde(default)]
    pub dependencies: Vec<Dependency>,
    /// RFC 3339.
    #[serde(deserialize_with = "locked_time")]
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
    #[serde(deserialize_with = "locked_key_ids")]
    pub root_key_ids: Vec<String>,
    /// The version of the registry's targets metadata.
    pub targets_version: u64,
}

/// Where an installed pack came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum LockedSource {
    Archive {
        #[serde(deserialize_with = "locked_url")]
        url: String,
        checksum: Checksum,
    },
    Git {
        #[serde(deserialize_with = "locked_url")]
        url: String,
        #[serde(rename = "ref")]
        git_ref: CommitId,
        checksum: Checksum,
    },
    /// A local pack directory.
    Path {
        #[serde(deserialize_with = "locked_path")]
        path: String,
    },
}

impl LockedSource {
    /// The checksum the source was verified with (none for a path).
    pub fn checksum(&self) -> Option<&Checksum> {
        match self {
            LockedSource::Archive { checksum, .. } | LockedSource::Git { checksum, .. } => {
                Some(checksum)
            }
            LockedSource::Path { .. } => None,
        }
    }
}

impl Lockfile {
    pub fn get(&self, pack_ref: &str) -> Option<&LockedPack> {
        self.packs.iter().find(|p| p.pack_ref == pack_ref)
    }

    /// What was asked for, as dependencies of the root (an error only for
    /// a requirement put into `requested` without being checked: a lock
    /// that was read has valid ones).
    pub fn requested_dependencies(
        &self,
    ) -> Result<Vec<Dependency>, crate::requirement::RequirementError> {
        self.requested
            .iter()
            .map(|(r, req)| Ok(Dependency::new(r.clone(), Requirement::parse(req)?)))
            .collect()
    }

    /// Serialises in the stable, pretty-printed form written to disk.
    pub fn to_pretty_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("lock serialises");
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock_with(pack: serde_json::Value) -> Result<Lockfile, serde_json::Error> {
        serde_json::from_value(serde_json::json!({"version": 1, "packs": [pack]}))
    }

    fn pack() -> serde_json::Value {
        serde_json::json!({
            "ref": "hello",
            "version": "1.0.0",
            "registry": "example",
            "source": {"type": "archive", "url": "https://h/a.tar.gz",
                       "checksum": format!("sha256:{}", "a".repeat(64))},
            "tree": format!("sha256:{}", "b".repeat(64)),
            "installed_at": "2026-12-01T12:00:00Z",
            "signed": {"root_key_ids": ["0123abcd"], "targets_version": 3}
        })
    }

    #[test]
    fn a_valid_pack_reads() {
        let lock = lock_with(pack()).expect("valid lock");
        assert_eq!(lock.packs[0].registry.as_deref(), Some("example"));
    }

    #[test]
    fn registry_installed_at_and_key_ids_are_checked_as_they_are_read() {
        let bad: [(&str, serde_json::Value); 6] = [
            ("registry", serde_json::json!("../evil")),
            ("registry", serde_json::json!("Upper")),
            ("registry", serde_json::json!("a\u{1b}[31m")),
            ("installed_at", serde_json::json!("yesterday")),
            ("installed_at", serde_json::json!("2026-12-01T12:00:00Z\n")),
            (
                "signed",
                serde_json::json!({"root_key_ids": ["\u{1b}]0;x"], "targets_version": 1}),
            ),
        ];
        for (field, value) in bad {
            let mut p = pack();
            p[field] = value.clone();
            let err = lock_with(p).expect_err(&format!("{field} = {value} must be refused"));
            assert!(
                !err.to_string().is_empty(),
                "{field}: the error says what is wrong"
            );
        }
    }
}
