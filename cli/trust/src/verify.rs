//! The client side: verify a pinned registry's TUF metadata with tough
//! before anything from it is used (formats.md section 7).
//!
//! The caller supplies a [`Fetch`] (paths relative to the registry root,
//! each read bounded by a limit), so the HTTP policy (TLS, redirects,
//! tokens, retries) stays with the registry kinds and this crate has no HTTP
//! client. A [`Verifier`] follows the root chain from the pinned root (or
//! from the newest root it trusted before), checks signatures, thresholds
//! and expiry, refuses versions lower than those kept in its datastore, and
//! returns the [`Verified`] targets: the length and sha256 of every index
//! file.
//!
//! Fewer requests: `timestamp.json` is fetched once per update. When it is
//! byte for byte the one already verified, nothing can have changed on the
//! repository side except a new root; the probe for `N+1.root.json` is then
//! skipped (a new root is found at the next timestamp, at most one
//! timestamp period later). `N.snapshot.json` and `N.targets.json` are
//! immutable names under consistent snapshots: a copy verified before is
//! read from the datastore (tough checks it again against the hash the
//! newer file gives). A warm update where nothing changed sends one request.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tough::schema::{RoleType, Root, Signed};
use tough::{
    ExpirationEnforcement, Limits, RepositoryLoader, Transport, TransportError, TransportErrorKind,
    TransportStream, async_trait,
};
use url::Url;

use crate::hex;
use crate::role::Role;
use crate::sign::root_key_ids;

/// How a verifier reads the registry's files.
#[async_trait]
pub trait Fetch: Send + Sync + fmt::Debug {
    /// The bytes of `path` (relative to the registry root, e.g.
    /// `tuf/timestamp.json`), `None` when the registry does not have it.
    /// Must not read more than `limit` bytes: a longer file is
    /// [`FetchError::TooLarge`].
    async fn fetch(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>, FetchError>;
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    #[error("{path} is larger than the {limit} bytes allowed for it")]
    TooLarge { path: String, limit: u64 },
    #[error("{0}")]
    Failed(String),
}

/// Reads a registry from a local directory (a local registry or a git
/// clone's checkout).
#[derive(Debug, Clone)]
pub struct DirFetch {
    pub root: PathBuf,
}

#[async_trait]
impl Fetch for DirFetch {
    async fn fetch(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>, FetchError> {
        use std::io::Read;
        if path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return Err(FetchError::Failed(format!("unsafe path {path}")));
        }
        let full = self.root.join(path);
        let file = match std::fs::File::open(&full) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(FetchError::Failed(format!("{}: {e}", full.display()))),
        };
        let mut bytes = Vec::new();
        file.take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| FetchError::Failed(format!("{}: {e}", full.display())))?;
        if bytes.len() as u64 > limit {
            return Err(FetchError::TooLarge {
                path: path.into(),
                limit,
            });
        }
        Ok(Some(bytes))
    }
}

/// What the client trusts to start with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// A trusted root file's bytes (`--root FILE`).
    Root(Vec<u8>),
    /// The sha256 (64 lowercase hex) of the registry's `tuf/1.root.json`,
    /// checked when it is first fetched (`--root-sha256 HEX`).
    Sha256(String),
}

/// One verified target: what the index file must be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetInfo {
    pub length: u64,
    pub sha256: String,
}

/// The outcome of a verified update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    /// Target name (`index.json`, `packs/<ref>.json`) -> length and sha256.
    pub targets: BTreeMap<String, TargetInfo>,
    pub targets_version: u64,
    pub root_version: u64,
    /// The key ids of the root role, sorted.
    pub root_key_ids: Vec<String>,
    /// When the timestamp expires (RFC 3339).
    pub timestamp_expires: String,
    /// When this was verified (RFC 3339).
    pub verified_at: String,
}

impl Verified {
    pub fn target(&self, name: &str) -> Option<&TargetInfo> {
        self.targets.get(name)
    }

    /// Whether `bytes` are the verified content of the target `name`.
    pub fn check(&self, name: &str, bytes: &[u8]) -> Result<(), TrustError> {
        let Some(t) = self.targets.get(name) else {
            return Err(TrustError::NotATarget { name: name.into() });
        };
        let actual = hex::sha256(bytes);
        if t.length != bytes.len() as u64 || t.sha256 != actual {
            return Err(TrustError::TargetMismatch {
                name: name.into(),
                expected: format!("{} bytes, sha256 {}", t.length, t.sha256),
                actual: format!("{} bytes, sha256 {actual}", bytes.len()),
            });
        }
        Ok(())
    }

    /// Seconds since this was verified (for `--offline` messages).
    pub fn age_seconds(&self) -> Option<i64> {
        let at: jiff::Timestamp = self.verified_at.parse().ok()?;
        Some((jiff::Timestamp::now() - at).get_seconds())
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum TrustError {
    #[error(
        "the registry serves no TUF metadata ({path} is missing), but it is pinned: a signed registry never downgrades to unsigned"
    )]
    NoMetadata { path: String },
    #[error("tuf/1.root.json has sha256 {actual}, but the registry is pinned to {expected}")]
    Fingerprint { expected: String, actual: String },
    #[error("the pinned root is not a valid TUF root: {reason}")]
    PinnedRoot { reason: String },
    #[error(
        "the {role} metadata expired at {expired} (a frozen or stale registry: its operator must re-sign it)"
    )]
    Expired { role: String, expired: String },
    #[error(
        "the {role} metadata offered is version {offered}, older than version {trusted} already trusted (rollback)"
    )]
    Rollback {
        role: String,
        trusted: u64,
        offered: u64,
    },
    #[error(
        "the {role} metadata is version {fetched}, but version {expected} was expected (files of two publications mixed)"
    )]
    VersionMismatch {
        role: String,
        expected: u64,
        fetched: u64,
    },
    #[error("the {role} metadata is not signed by a threshold of its trusted keys: {reason}")]
    Signature { role: String, reason: String },
    #[error("{what} does not match what the signed metadata says: {reason}")]
    HashMismatch { what: String, reason: String },
    #[error("{path} is larger than the {limit} bytes allowed for it (endless data)")]
    TooLarge { path: String, limit: u64 },
    #[error("cannot fetch {path}: {reason}")]
    Fetch { path: String, reason: String },
    #[error("{name} differs from its signed targets entry: expected {expected}, got {actual}")]
    TargetMismatch {
        name: String,
        expected: String,
        actual: String,
    },
    #[error("{name} is not listed in the registry's signed targets")]
    NotATarget { name: String },
    #[error("the {role} metadata is invalid: {reason}")]
    Metadata { role: String, reason: String },
    #[error("the trust cache {path}: {reason}")]
    Datastore { path: PathBuf, reason: String },
}

impl TrustError {
    /// A network or host failure (exit 5) rather than a refusal (exit 4).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, TrustError::Fetch { .. })
    }
}

/// Size limits per metadata file (endless-data protection).
#[derive(Debug, Clone, Copy)]
pub struct SizeLimits {
    pub root: u64,
    pub timestamp: u64,
    pub snapshot: u64,
    pub targets: u64,
}

impl Default for SizeLimits {
    fn default() -> Self {
        SizeLimits {
            root: 512 * 1024,
            timestamp: 64 * 1024,
            snapshot: 1024 * 1024,
            targets: 64 * 1024 * 1024,
        }
    }
}

/// Verifies one registry, keeping what it trusts in `datastore`.
#[derive(Debug, Clone)]
pub struct Verifier {
    fetch: Arc<dyn Fetch>,
    pin: Pin,
    datastore: PathBuf,
    limits: SizeLimits,
}

const VERIFIED_FILE: &str = "verified.json";
const PINNED_ROOT: &str = "pinned.root.json";
const RAW_DIR: &str = "raw";
const TOUGH_DIR: &str = "tough";

/// What a trusted root file says, once it is known to be a self-signed root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootInfo {
    pub version: u64,
    pub root_key_ids: Vec<String>,
}

/// Checks that `bytes` are a TUF root signed by a threshold of its own root
/// keys (what `--root FILE` must be).
pub fn inspect_root(bytes: &[u8]) -> Result<RootInfo, TrustError> {
    let root: Signed<Root> = serde_json::from_slice(bytes).map_err(|e| TrustError::PinnedRoot {
        reason: format!("not a TUF root.json ({e})"),
    })?;
    root.signed
        .verify_role(&root)
        .map_err(|e| TrustError::PinnedRoot {
            reason: format!("not signed by its own root keys ({e})"),
        })?;
    Ok(RootInfo {
        version: root.signed.version.get(),
        root_key_ids: root_key_ids(&root.signed),
    })
}

/// The last verified state kept in `datastore`, if any (for `--offline`).
pub fn last_verified(datastore: &Path) -> Result<Option<Verified>, TrustError> {
    let path = datastore.join(VERIFIED_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| TrustError::Datastore {
                path,
                reason: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(TrustError::Datastore {
            path,
            reason: e.to_string(),
        }),
    }
}

impl Verifier {
    pub fn new(fetch: Arc<dyn Fetch>, pin: Pin, datastore: impl Into<PathBuf>) -> Self {
        Verifier {
            fetch,
            pin,
            datastore: datastore.into(),
            limits: SizeLimits::default(),
        }
    }

    #[must_use]
    pub fn limits(mut self, limits: SizeLimits) -> Self {
        self.limits = limits;
        self
    }

    fn store_err(&self, path: &Path, e: impl fmt::Display) -> TrustError {
        TrustError::Datastore {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), TrustError> {
        let path = self.datastore.join(name);
        let parent = path.parent().unwrap_or(&self.datastore).to_path_buf();
        std::fs::create_dir_all(&parent).map_err(|e| self.store_err(&parent, e))?;
        knap_schema::atomic::write_atomic(&path, bytes).map_err(|e| self.store_err(&path, e))
    }

    fn read_store(&self, name: &str) -> Option<Vec<u8>> {
        std::fs::read(self.datastore.join(name)).ok()
    }

    async fn fetch_required(&self, path: &str, limit: u64) -> Result<Vec<u8>, TrustError> {
        match self.fetch.fetch(path, limit).await {
            Ok(Some(b)) if b.len() as u64 <= limit => Ok(b),
            Ok(Some(_)) => Err(TrustError::TooLarge {
                path: path.into(),
                limit,
            }),
            Ok(None) => Err(TrustError::NoMetadata { path: path.into() }),
            Err(e) => Err(fetch_error(path, e)),
        }
    }

    /// The root to start from: the newest one verified before, else the pin.
    async fn trusted_root(&self) -> Result<Vec<u8>, TrustError> {
        let pinned = match &self.pin {
            Pin::Root(bytes) => bytes.clone(),
            Pin::Sha256(expected) => {
                let expected = expected.to_ascii_lowercase();
                match self.read_store(PINNED_ROOT) {
                    Some(b) if hex::sha256(&b) == expected => b,
                    _ => {
                        let b = self
                            .fetch_required("tuf/1.root.json", self.limits.root)
                            .await?;
                        let actual = hex::sha256(&b);
                        if actual != expected {
                            return Err(TrustError::Fingerprint { expected, actual });
                        }
                        self.write(PINNED_ROOT, &b)?;
                        b
                    }
                }
            }
        };
        let pinned_root: Signed<Root> =
            serde_json::from_slice(&pinned).map_err(|e| TrustError::PinnedRoot {
                reason: e.to_string(),
            })?;
        let cached = self
            .read_store(&format!("{TOUGH_DIR}/root.json"))
            .and_then(|b| Some((serde_json::from_slice::<Signed<Root>>(&b).ok()?, b)));
        Ok(match cached {
            Some((root, bytes))
                if root.signed.version >= pinned_root.signed.version
                    && root.signed.verify_role(&root).is_ok() =>
            {
                bytes
            }
            _ => pinned,
        })
    }

    /// Fetches, verifies and returns the registry's targets; on success the
    /// datastore holds the new trusted state, on failure it is unchanged
    /// except for what tough had already verified.
    pub async fn update(&self) -> Result<Verified, TrustError> {
        std::fs::create_dir_all(self.datastore.join(TOUGH_DIR))
            .map_err(|e| self.store_err(&self.datastore, e))?;
        let root = self.trusted_root().await?;
        let timestamp = self
            .fetch_required("tuf/timestamp.json", self.limits.timestamp)
            .await?;
        let unchanged = self
            .read_store(&format!("{RAW_DIR}/timestamp.json"))
            .is_some_and(|old| old == timestamp);
        let state = Arc::new(Mutex::new(State {
            timestamp: timestamp.clone(),
            skip_root_probe: unchanged,
            fetched: BTreeMap::new(),
            error: None,
        }));
        let transport = Adapter {
            fetch: self.fetch.clone(),
            raw: self.datastore.join(RAW_DIR),
            limits: self.limits,
            state: state.clone(),
        };
        let base = Url::parse("knap-tuf://registry/").expect("a constant URL");
        let metadata = base.join("tuf/").expect("a constant URL");
        let loaded = RepositoryLoader::new(&root, metadata, base)
            .transport(transport)
            .datastore(self.datastore.join(TOUGH_DIR))
            .expiration_enforcement(ExpirationEnforcement::Safe)
            .limits(Limits {
                max_root_size: self.limits.root,
                max_targets_size: self.limits.targets,
                max_timestamp_size: self.limits.timestamp,
                max_snapshot_size: self.limits.snapshot,
                max_root_updates: 1024,
            })
            .load()
            .await;
        let state = state
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone());
        let repo = match loaded {
            Ok(r) => r,
            Err(e) => return Err(self.explain(e, &state, &root)),
        };
        // Keep the raw metadata verified now: the next update compares the
        // timestamp with it and reads unchanged snapshots and targets here.
        self.write(&format!("{RAW_DIR}/timestamp.json"), &timestamp)?;
        for (name, bytes) in &state.fetched {
            if let Some(file) = name.strip_prefix("tuf/")
                && is_versioned(file)
            {
                self.write(&format!("{RAW_DIR}/{file}"), bytes)?;
            }
        }
        let targets = repo
            .targets()
            .signed
            .targets
            .iter()
            .map(|(name, t)| {
                (
                    name.raw().to_string(),
                    TargetInfo {
                        length: t.length,
                        sha256: hex::encode(&t.hashes.sha256),
                    },
                )
            })
            .collect();
        let verified = Verified {
            targets,
            targets_version: repo.targets().signed.version.get(),
            root_version: repo.root().signed.version.get(),
            root_key_ids: root_key_ids(&repo.root().signed),
            timestamp_expires: repo.timestamp().signed.expires.to_string(),
            verified_at: jiff::Timestamp::now().to_string(),
        };
        let json =
            serde_json::to_vec_pretty(&verified).map_err(|e| self.store_err(&self.datastore, e))?;
        self.write(VERIFIED_FILE, &json)?;
        Ok(verified)
    }

    /// Turns tough's error into one that names the role and what was wrong.
    fn explain(&self, e: tough::error::Error, state: &State, root: &[u8]) -> TrustError {
        use tough::error::Error as E;
        if let Some(err) = &state.error {
            return err.clone();
        }
        let role_name =
            |r: RoleType| Role::of(r).map_or("delegated targets".to_string(), |r| r.to_string());
        match e {
            E::ExpiredMetadata { role, .. } => {
                let bytes = match role {
                    RoleType::Timestamp => Some(state.timestamp.clone()),
                    RoleType::Root => state
                        .fetched
                        .iter()
                        .rev()
                        .find(|(n, _)| n.ends_with(".root.json"))
                        .map(|(_, b)| b.clone())
                        .or_else(|| Some(root.to_vec())),
                    RoleType::Snapshot => last_named(state, ".snapshot.json"),
                    _ => last_named(state, ".targets.json"),
                };
                TrustError::Expired {
                    role: role_name(role),
                    expired: bytes
                        .as_deref()
                        .and_then(expires_of)
                        .unwrap_or_else(|| "an unknown time".into()),
                }
            }
            E::OlderMetadata {
                role,
                current_version,
                new_version,
                ..
            } => TrustError::Rollback {
                role: role_name(role),
                trusted: current_version,
                offered: new_version,
            },
            E::OlderSnapshotInTimestamp {
                snapshot_new,
                snapshot_old,
                ..
            } => TrustError::Rollback {
                role: "snapshot".into(),
                trusted: snapshot_old,
                offered: snapshot_new,
            },
            E::SnapshotRoleRollback {
                role,
                old_role_version,
                new_role_version,
                ..
            } => TrustError::Rollback {
                role,
                trusted: old_role_version,
                offered: new_role_version,
            },
            E::VersionMismatch {
                role,
                fetched,
                expected,
                ..
            } => TrustError::VersionMismatch {
                role: role_name(role),
                expected,
                fetched,
            },
            E::VerifyMetadata { role, source, .. } => TrustError::Signature {
                role: role_name(role),
                reason: source.to_string(),
            },
            E::VerifyTrustedMetadata { source, .. } => TrustError::PinnedRoot {
                reason: source.to_string(),
            },
            E::ParseTrustedMetadata { source, .. } => TrustError::PinnedRoot {
                reason: source.to_string(),
            },
            E::ParseMetadata { role, source, .. } => TrustError::Metadata {
                role: role_name(role),
                reason: source.to_string(),
            },
            E::HashMismatch {
                context,
                calculated,
                expected,
                ..
            } => TrustError::HashMismatch {
                what: context,
                reason: format!("sha256 {calculated}, the signed metadata says {expected}"),
            },
            E::MaxSizeExceeded {
                max_size,
                specifier,
                ..
            } => TrustError::TooLarge {
                path: specifier.to_string(),
                limit: max_size,
            },
            E::Transport { url, source, .. } => {
                let path = url.path().trim_start_matches('/').to_string();
                if source.kind() == TransportErrorKind::FileNotFound {
                    TrustError::Metadata {
                        role: path.clone(),
                        reason: format!("{path} is missing from the registry"),
                    }
                } else {
                    // Our fetch succeeded (its failures are in `state.error`):
                    // tough's own check of the stream failed (hash, length).
                    use std::error::Error as _;
                    TrustError::HashMismatch {
                        what: path,
                        reason: source
                            .source()
                            .map_or_else(|| source.to_string(), |s| s.to_string()),
                    }
                }
            }
            other => TrustError::Metadata {
                role: "tuf".into(),
                reason: other.to_string(),
            },
        }
    }
}

fn last_named(state: &State, suffix: &str) -> Option<Vec<u8>> {
    state
        .fetched
        .iter()
        .rev()
        .find(|(n, _)| n.ends_with(suffix))
        .map(|(_, b)| b.clone())
}

fn expires_of(bytes: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    v.get("signed")?
        .get("expires")?
        .as_str()
        .map(str::to_string)
}

fn fetch_error(path: &str, e: FetchError) -> TrustError {
    match e {
        FetchError::TooLarge { path, limit } => TrustError::TooLarge { path, limit },
        FetchError::Failed(reason) => TrustError::Fetch {
            path: path.into(),
            reason,
        },
    }
}

/// `N.snapshot.json` or `N.targets.json`: immutable under consistent snapshots.
fn is_versioned(file: &str) -> bool {
    file.split_once('.').is_some_and(|(v, rest)| {
        !v.is_empty()
            && v.bytes().all(|b| b.is_ascii_digit())
            && (rest == "snapshot.json" || rest == "targets.json")
    })
}

#[derive(Debug, Clone)]
struct State {
    timestamp: Vec<u8>,
    skip_root_probe: bool,
    /// Every file fetched from the registry in this update, by path.
    fetched: BTreeMap<String, Vec<u8>>,
    /// The first fetch failure that is not "not found" (tough may hide it).
    error: Option<TrustError>,
}

/// tough's transport over the caller's [`Fetch`], with the datastore's
/// verified copies of immutable metadata.
#[derive(Debug, Clone)]
struct Adapter {
    fetch: Arc<dyn Fetch>,
    raw: PathBuf,
    limits: SizeLimits,
    state: Arc<Mutex<State>>,
}

fn stream(bytes: Vec<u8>) -> TransportStream {
    Box::pin(futures_util::stream::once(async move {
        Ok::<_, TransportError>(tough::Bytes::from(bytes))
    }))
}

#[async_trait]
impl Transport for Adapter {
    async fn fetch(&self, url: Url) -> Result<TransportStream, TransportError> {
        let path = url.path().trim_start_matches('/').to_string();
        let file = path.strip_prefix("tuf/").unwrap_or("");
        let not_found = || TransportError::new(TransportErrorKind::FileNotFound, url.as_str());
        {
            let state = self.state.lock().map_err(|_| not_found())?;
            if path == "tuf/timestamp.json" {
                return Ok(stream(state.timestamp.clone()));
            }
            if file.ends_with(".root.json") && state.skip_root_probe {
                return Err(not_found());
            }
        }
        if is_versioned(file)
            && let Ok(bytes) = std::fs::read(self.raw.join(file))
        {
            return Ok(stream(bytes));
        }
        let limit = if file.ends_with(".root.json") {
            self.limits.root
        } else if file.ends_with("snapshot.json") {
            self.limits.snapshot
        } else {
            self.limits.targets
        };
        let result = self.fetch.fetch(&path, limit).await;
        let mut state = self.state.lock().map_err(|_| not_found())?;
        match result {
            Ok(Some(bytes)) if bytes.len() as u64 <= limit => {
                state.fetched.insert(path, bytes.clone());
                Ok(stream(bytes))
            }
            Ok(Some(_)) => {
                let e = TrustError::TooLarge { path, limit };
                state.error.get_or_insert(e.clone());
                Err(TransportError::new_with_cause(
                    TransportErrorKind::Other,
                    url.as_str(),
                    e,
                ))
            }
            Ok(None) => Err(not_found()),
            Err(e) => {
                let e = fetch_error(&path, e);
                // A root probe that fails is "no newer root" for tough; a
                // failure anywhere else is the registry's.
                if !file.ends_with(".root.json") {
                    state.error.get_or_insert(e.clone());
                }
                Err(TransportError::new_with_cause(
                    TransportErrorKind::Other,
                    url.as_str(),
                    e,
                ))
            }
        }
    }
}
