//! What can go wrong when a registry is verified ([`TrustError`]), and
//! how tough's errors are told in those terms: the role, the versions, the
//! file and what was wrong with it.

use std::path::PathBuf;

use tough::TransportErrorKind;
use tough::schema::RoleType;

use super::fetch::FetchError;
use super::transport::State;
use crate::role::Role;

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
    /// A root listing one public key under two key ids: tough counts key
    /// ids, so that key alone would meet a threshold of two.
    #[error(
        "{what} lists one public key under two key ids ({first} and {second}): a threshold would count that one key twice, so the root is refused"
    )]
    DuplicateKey {
        what: String,
        first: String,
        second: String,
    },
    /// `N.root.json` holding another version than `N`.
    #[error(
        "{file} holds root version {holds}, not the version its name gives: the registry's root chain is broken (a misnamed or replayed root file), so the root trusted now (version {trusted}) stays"
    )]
    RootFileVersion {
        file: String,
        holds: u64,
        trusted: u64,
    },
    #[error("{path} {reason}")]
    NotAFile { path: String, reason: String },
}

impl TrustError {
    /// A network or host failure (exit 5) rather than a refusal (exit 4).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, TrustError::Fetch { .. })
    }
}

pub(super) fn fetch_error(path: &str, e: FetchError) -> TrustError {
    match e {
        FetchError::TooLarge { path, limit } => TrustError::TooLarge { path, limit },
        FetchError::NotAFile { path, reason } => TrustError::NotAFile { path, reason },
        FetchError::Failed(reason) => TrustError::Fetch {
            path: path.into(),
            reason,
        },
    }
}

/// Turns tough's error into one that names the role and what was wrong.
pub(super) fn explain(e: tough::error::Error, state: &State, root: &[u8]) -> TrustError {
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
        // `N+1.root.json` holding another version: not a rollback of
        // anything trusted, but a root file that is not what its name says.
        E::OlderMetadata {
            role: RoleType::Root,
            current_version,
            new_version,
            ..
        } => TrustError::RootFileVersion {
            file: format!("tuf/{}.root.json", current_version.saturating_add(1)),
            holds: new_version,
            trusted: current_version,
        },
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
