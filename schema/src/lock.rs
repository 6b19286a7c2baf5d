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
use crate::env::LockedEnv;
use crate::ident::{Checksum, CommitId, PackRef};
use crate::requirement::Requirement;

/// The `$schema` pointer written into every lock file.
pub const LOCK_SCHEMA_URL: &str =
    "https://raw.githubusercontent.com/knap-registry/knap/main/schema/json/lock.schema.json";
/// The lock format version this crate writes.
pub const LOCK_VERSION: u32 = 1;

/// The state of an install root: what was asked for, every installed
/// pack, and the environments each pack uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(from = "disk::Lock", into = "disk::Lock")]
pub struct Lockfile {
    pub schema: String,
    /// Always 1.
    pub version: u32,
    /// What the user asked for: ref to requirement (`*` for any version),
    /// kept as the user wrote it.
    pub requested: BTreeMap<PackRef, String>,
    /// Every installed pack, sorted by ref.
    pub packs: Vec<LockedPack>,
    /// The environments each pack uses (formats.md section 8). On disk
    /// they sit in the pack's entry (`packs[].envs`); here they are keyed
    /// by ref, so that an install that re-creates a pack's entry keeps the
    /// environment the pack uses until a new one is recorded. Written only
    /// for refs that `packs` lists.
    pub envs: BTreeMap<PackRef, Vec<LockedEnv>>,
}

/// `knap.lock` as it is written: each pack's `envs` inside its entry.
mod disk {
    use std::collections::BTreeMap;

    use schemars::JsonSchema;
    use serde::de::{DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
    use serde::{Deserialize, Deserializer, Serialize};

    use super::{LockedPack, default_schema, lock_version, requested_map};
    use crate::env::LockedEnv;
    use crate::ident::PackRef;

    #[derive(Serialize, Deserialize, JsonSchema)]
    #[schemars(title = "knap.lock")]
    pub struct Lock {
        #[serde(rename = "$schema", default = "default_schema")]
        schema: String,
        /// Always 1.
        #[serde(deserialize_with = "lock_version")]
        version: u32,
        /// What the user asked for: ref to requirement (`*` for any
        /// version), kept as the user wrote it.
        #[serde(default, deserialize_with = "requested_map")]
        #[schemars(with = "BTreeMap<PackRef, String>")]
        requested: BTreeMap<PackRef, String>,
        /// Every installed pack, sorted by ref.
        #[serde(default)]
        packs: Vec<Pack>,
    }

    /// One installed pack and its environments.
    #[derive(Serialize, JsonSchema)]
    #[schemars(rename = "LockedPack")]
    pub(super) struct Pack {
        #[serde(flatten)]
        pack: LockedPack,
        /// The pack's environments, at most one per runtime.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        envs: Vec<LockedEnv>,
    }

    impl From<Lock> for super::Lockfile {
        fn from(l: Lock) -> Self {
            let mut envs = BTreeMap::new();
            let packs = l
                .packs
                .into_iter()
                .map(|p| {
                    if !p.envs.is_empty() {
                        envs.insert(p.pack.pack_ref.clone(), p.envs);
                    }
                    p.pack
                })
                .collect();
            Self {
                schema: l.schema,
                version: l.version,
                requested: l.requested,
                packs,
                envs,
            }
        }
    }

    impl From<super::Lockfile> for Lock {
        fn from(mut l: super::Lockfile) -> Self {
            let packs = l
                .packs
                .into_iter()
                .map(|pack| Pack {
                    envs: l.envs.remove(&pack.pack_ref).unwrap_or_default(),
                    pack,
                })
                .collect();
            Self {
                schema: l.schema,
                version: l.version,
                requested: l.requested,
                packs,
            }
        }
    }

    /// Reads a pack's entry: `envs` is taken out of the map as it streams
    /// past, every other key goes to [`LockedPack`]'s own reader (so an
    /// error keeps its JSON path), and the environments are checked.
    impl<'de> Deserialize<'de> for Pack {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Pack;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a locked pack (an object)")
                }
                fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Pack, A::Error> {
                    use serde::de::Error;
                    let mut envs: Option<Vec<LockedEnv>> = None;
                    let pack = LockedPack::deserialize(
                        serde::de::value::MapAccessDeserializer::new(WithoutEnvs {
                            map,
                            envs: &mut envs,
                        }),
                    )?;
                    let envs = envs.unwrap_or_default();
                    let mut seen = Vec::new();
                    for (i, e) in envs.iter().enumerate() {
                        e.check()
                            .map_err(|m| A::Error::custom(format!("envs[{i}]: {m}")))?;
                        if seen.contains(&e.runtime) {
                            return Err(A::Error::custom(format!(
                                "envs[{i}]: a second {} environment; a pack has at most one per runtime",
                                e.runtime
                            )));
                        }
                        seen.push(e.runtime);
                    }
                    Ok(Pack { pack, envs })
                }
            }
            d.deserialize_map(V)
        }
    }

    /// A pack entry's keys without `envs`, which it stores aside.
    struct WithoutEnvs<'a, A> {
        map: A,
        envs: &'a mut Option<Vec<LockedEnv>>,
    }

    impl<'de, A: MapAccess<'de>> MapAccess<'de> for WithoutEnvs<'_, A> {
        type Error = A::Error;

        fn next_key_seed<K: DeserializeSeed<'de>>(
            &mut self,
            seed: K,
        ) -> Result<Option<K::Value>, A::Error> {
            loop {
                let Some(key) = self.map.next_key::<String>()? else {
                    return Ok(None);
                };
                if key == "envs" {
                    if self.envs.is_some() {
                        return Err(serde::de::Error::duplicate_field("envs"));
                    }
                    *self.envs = Some(self.map.next_value()?);
                    continue;
                }
                return seed.deserialize(key.into_deserializer()).map(Some);
            }
        }

        fn next_value_seed<V: DeserializeSeed<'de>>(
            &mut self,
            seed: V,
        ) -> Result<V::Value, A::Error> {
            self.map.next_value_seed(seed)
        }
    }
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
            envs: BTreeMap::new(),
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

/// Reads a URL of a locked source: an absolute URL without credentials
/// (knap would send them; the message names the field, never the secret).
fn locked_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    let u = url::Url::parse(&s).map_err(|e| {
        serde::de::Error::custom(format!(
            "`{}`: not an absolute URL: {e}",
            crate::text::escape(&crate::urls::redact_userinfo(&s))
        ))
    })?;
    if crate::urls::has_userinfo(&u) {
        return Err(serde::de::Error::custom(
            "a URL with credentials (user:password@) is not allowed; use a registry token instead",
        ));
    }
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

    /// The environments `pack_ref` uses (none when it is not installed).
    pub fn envs_of(&self, pack_ref: &str) -> &[LockedEnv] {
        match self.get(pack_ref) {
            Some(p) => self.envs.get(&p.pack_ref).map_or(&[], Vec::as_slice),
            None => &[],
        }
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

    fn env() -> serde_json::Value {
        let id = crate::Checksum::of(b"env");
        serde_json::json!({
            "runtime": "python", "interpreter": "3.11.7", "id": id.to_string(),
            "dir": format!("python-3.11-{}", &id.hex()[..12]),
            "packages": [{"name": "requests", "version": "2.32.3"}]
        })
    }

    #[test]
    fn envs_sit_in_their_pack_on_disk_and_by_ref_in_memory() {
        let mut p = pack();
        p["envs"] = serde_json::json!([env()]);
        let lock = lock_with(p).expect("valid lock");
        let envs = lock.envs_of("hello");
        assert_eq!(envs.len(), 1);
        assert_eq!(envs[0].packages[0].name.as_str(), "requests");
        let text = lock.to_pretty_json();
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["packs"][0]["envs"][0]["dir"], env()["dir"]);
        assert_eq!(crate::json::from_json_str::<Lockfile>(&text).unwrap(), lock);
        // An environment of a pack no longer installed is not written.
        let mut gone = lock.clone();
        gone.packs.clear();
        assert!(!gone.to_pretty_json().contains("envs"));
        // No envs: nothing written, as before.
        assert!(!lock_with(pack()).unwrap().to_pretty_json().contains("envs"));
    }

    #[test]
    fn envs_are_checked_as_they_are_read() {
        let bad: [(&str, serde_json::Value); 6] = [
            ("dir", serde_json::json!("../../etc")),
            ("dir", serde_json::json!("python-3.11-000000000000")),
            ("runtime", serde_json::json!("ruby")),
            ("interpreter", serde_json::json!("3.12.1")),
            (
                "packages",
                serde_json::json!([{"name": "--index-url", "version": "1"}]),
            ),
            (
                "packages",
                serde_json::json!([{"name": "a", "version": "1 ; rm"}]),
            ),
        ];
        for (field, value) in bad {
            let mut e = env();
            e[field] = value.clone();
            let mut p = pack();
            p["envs"] = serde_json::json!([e]);
            let text = serde_json::json!({"version": 1, "packs": [p]}).to_string();
            let err = crate::json::from_json_str::<Lockfile>(&text)
                .expect_err(&format!("{field} = {value} must be refused"));
            assert!(err.to_string().contains("packs"), "{field}: {err}");
        }
        let mut p = pack();
        p["envs"] = serde_json::json!([env(), env()]);
        let err = lock_with(p).unwrap_err().to_string();
        assert!(err.contains("at most one"), "{err}");
    }

    #[test]
    fn a_bad_pack_field_keeps_its_json_path() {
        let mut p = pack();
        p["envs"] = serde_json::json!([env()]);
        p["registry"] = serde_json::json!("../evil");
        let text = serde_json::json!({"version": 1, "packs": [p]}).to_string();
        let err = crate::json::from_json_str::<Lockfile>(&text).unwrap_err();
        assert!(err.to_string().contains("packs[0].registry"), "{err}");
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
