//! The client side: verify a pinned registry's TUF metadata with tough
//! before anything from it is used (formats.md section 7).
//!
//! The caller supplies a [`Fetch`] (paths relative to the registry root,
//! each read bounded by a limit), so the HTTP policy (TLS, redirects,
//! tokens, retries) stays with the registry kinds and this crate has no HTTP
//! client. A [`Verifier`] starts from the pinned root, or from the newest
//! root that chains from it through rotations it verified before (checked
//! again each time: `store`), follows the registry's root chain from there,
//! checks signatures, thresholds (counting distinct public keys: `root`)
//! and expiry, refuses versions lower than those kept in its trusted state,
//! and returns the [`Verified`] targets: the length and sha256 of every
//! index file. The trusted state is keyed by the pin, so a new pin starts
//! over.
//!
//! Fewer requests: `timestamp.json` is fetched once per update. When it is
//! byte for byte the one already verified, nothing can have changed on the
//! repository side except a new root; the probe for `N+1.root.json` is then
//! skipped (a new root is found at the next timestamp, at most one
//! timestamp period later). `N.snapshot.json` and `N.targets.json` are
//! immutable names under consistent snapshots: a copy verified before is
//! read from the trusted state (tough checks it again against the hash the
//! newer file gives). A warm update where nothing changed sends one request.
//!
//! Modules: `fetch` (how files are read), `root` (what a root must be),
//! `store` (the trusted state), `transport` (tough's view of the fetch),
//! `error` (what went wrong, told in TUF's terms).

mod error;
mod fetch;
mod root;
mod store;
mod transport;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tough::{ExpirationEnforcement, Limits, RepositoryLoader};
use url::Url;

use crate::hex;
use crate::sign::root_key_ids;

pub use error::TrustError;
pub use fetch::{DirFetch, Fetch, FetchError};
pub use root::{RootInfo, inspect_root};
pub use store::last_verified;

use error::{explain, fetch_error};
use store::{PINNED_ROOT, RAW_DIR, Store, TOUGH_DIR, VERIFIED_FILE};
use transport::{Adapter, State, is_versioned};

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

/// Verifies one registry, keeping what it trusts in `datastore`, under a
/// directory of the pin's own (see `store`).
#[derive(Debug, Clone)]
pub struct Verifier {
    fetch: Arc<dyn Fetch>,
    pin: Pin,
    store: Store,
    limits: SizeLimits,
}

impl Verifier {
    pub fn new(fetch: Arc<dyn Fetch>, pin: Pin, datastore: impl Into<PathBuf>) -> Self {
        let store = Store::new(&datastore.into(), &pin);
        Verifier {
            fetch,
            pin,
            store,
            limits: SizeLimits::default(),
        }
    }

    #[must_use]
    pub fn limits(mut self, limits: SizeLimits) -> Self {
        self.limits = limits;
        self
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

    /// The pinned root's bytes: the pin itself, or the registry's
    /// `tuf/1.root.json` when it has the pinned sha256.
    async fn pinned_bytes(&self) -> Result<Vec<u8>, TrustError> {
        match &self.pin {
            Pin::Root(bytes) => Ok(bytes.clone()),
            Pin::Sha256(expected) => {
                let expected = expected.to_ascii_lowercase();
                if let Some(b) = self.store.read(PINNED_ROOT)
                    && hex::sha256(&b) == expected
                {
                    return Ok(b);
                }
                let b = self
                    .fetch_required("tuf/1.root.json", self.limits.root)
                    .await?;
                let actual = hex::sha256(&b);
                if actual != expected {
                    return Err(TrustError::Fingerprint { expected, actual });
                }
                self.store.write(PINNED_ROOT, &b)?;
                Ok(b)
            }
        }
    }

    /// The root to start from: the newest one that chains from the pin
    /// through rotations verified before, else the pinned one.
    async fn trusted_root(&self) -> Result<Vec<u8>, TrustError> {
        let bytes = self.pinned_bytes().await?;
        let pinned = root::pinned(&bytes)?;
        Ok(self.store.chained_root(pinned, bytes))
    }

    /// Fetches, verifies and returns the registry's targets; on success the
    /// trusted state holds the new state, on failure it is unchanged
    /// except for what tough had already verified.
    pub async fn update(&self) -> Result<Verified, TrustError> {
        self.store.create()?;
        let root = self.trusted_root().await?;
        let timestamp = self
            .fetch_required("tuf/timestamp.json", self.limits.timestamp)
            .await?;
        let unchanged = self
            .store
            .read(&format!("{RAW_DIR}/timestamp.json"))
            .is_some_and(|old| old == timestamp);
        let state = Arc::new(Mutex::new(State::new(timestamp.clone(), unchanged)));
        let transport = Adapter {
            fetch: self.fetch.clone(),
            raw: self.store.path(RAW_DIR),
            limits: self.limits,
            state: state.clone(),
        };
        let base = Url::parse("knap-tuf://registry/").expect("a constant URL");
        let metadata = base.join("tuf/").expect("a constant URL");
        let loaded = RepositoryLoader::new(&root, metadata, base)
            .transport(transport)
            .datastore(self.store.path(TOUGH_DIR))
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
            Err(e) => return Err(explain(e, &state, &root)),
        };
        // A root file refused before tough saw it was "no newer root" to
        // tough; the registry's chain is broken all the same.
        if let Some(e) = state.root_refused {
            return Err(e);
        }
        // The roots followed now chain from the pin: the next update starts
        // from the newest.
        self.store.keep_roots(state.fetched.iter())?;
        // Keep the raw metadata verified now: the next update compares the
        // timestamp with it and reads unchanged snapshots and targets here.
        self.store
            .write(&format!("{RAW_DIR}/timestamp.json"), &timestamp)?;
        for (name, bytes) in &state.fetched {
            if let Some(file) = name.strip_prefix("tuf/")
                && is_versioned(file)
            {
                self.store.write(&format!("{RAW_DIR}/{file}"), bytes)?;
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
        let json = serde_json::to_vec_pretty(&verified).map_err(|e| TrustError::Datastore {
            path: self.store.path(VERIFIED_FILE),
            reason: e.to_string(),
        })?;
        self.store.write(VERIFIED_FILE, &json)?;
        // What earlier pins trusted is never read again.
        self.store.prune_others();
        Ok(verified)
    }
}
