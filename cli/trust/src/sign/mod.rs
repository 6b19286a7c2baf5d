//! `knap-index sign`: write or update the TUF metadata of a registry
//! directory (a built site or the registry's git repository), formats.md
//! section 7.
//!
//! The directory's `tuf/` holds every root version (`N.root.json`), the
//! consistent snapshots `N.targets.json` and `N.snapshot.json`, and
//! `timestamp.json`; every target (`index.json`, `config.json`,
//! `packs/<ref>.json`) gets a `<sha256>.<name>` copy beside it, so a CDN
//! never mixes two publications. A role is re-signed (its version bumped)
//! only when its content changes, when its current signature no longer
//! verifies under the newest root (a key rotation), when less than half of
//! its validity is left, or when `--expires` names it. Files are written
//! atomically, `timestamp.json` last, so a reader never sees a timestamp that
//! names a snapshot not yet written.
//!
//! The modules: `current` (what `tuf/` and the registry directory hold
//! now), `renew` (when a role is kept and when it is signed again),
//! `rotation` (the root a request asks for, and signing a new root with the
//! old root's keys too), `write` (the files, in the order that keeps
//! readers safe, and the pruning of old copies). This module holds the
//! request, the report and the errors, and signs each role in turn.

mod current;
mod renew;
mod rotation;
mod write;

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU64;
use std::path::PathBuf;

use jiff::Timestamp;
use serde::Serialize;
use tough::TargetName;
use tough::editor::signed::SignedRole;
use tough::schema::{KeyHolder, Root, Target, Targets, Timestamp as TimestampRole};

use crate::hex;
use crate::keys::SigningKey;
use crate::layout::TUF_DIR;
use crate::role::Role;
use current::{Current, read, read_current, target_files};
use renew::{Policy, Renew, Reuse, metafile, names_one, next, same_targets, target_of};
use rotation::{desired_root, same_trust, sign_root};
use write::write_atomic;

pub(crate) use rotation::root_key_ids;

const SPEC_VERSION: &str = "1.0.0";

/// What to sign, with which keys.
#[derive(Debug, Clone)]
pub struct SignRequest {
    /// The registry directory: `index.json` at its top.
    pub dir: PathBuf,
    /// The keys of each role. A role left out keeps the keys of the current
    /// root (and then only roles whose keys are given can be re-signed).
    pub role_keys: BTreeMap<Role, Vec<SigningKey>>,
    /// Keys of the previous root that sign a new root version (rotation),
    /// when they are not among `role_keys`.
    pub old_root_keys: Vec<SigningKey>,
    /// Signature thresholds; default: the current root's, else 1.
    pub thresholds: BTreeMap<Role, u64>,
    /// Validity of newly signed files, in days; a role named here is re-signed.
    pub expires_days: BTreeMap<Role, u32>,
    /// Re-sign `timestamp.json` alone (the scheduled job).
    pub timestamp_only: bool,
    /// The signing time (now, except in tests that make expired metadata).
    pub now: Timestamp,
}

/// What a signing run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignReport {
    pub root_version: u64,
    pub targets_version: u64,
    pub snapshot_version: u64,
    pub timestamp_version: u64,
    /// The roles written by this run.
    pub resigned: Vec<Role>,
    pub targets: usize,
    pub root_key_ids: Vec<String>,
    pub timestamp_expires: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("cannot read or write {}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{dir} has no index.json: sign a built site or a registry repository")]
    NoIndex { dir: PathBuf },
    #[error("{path} is not valid TUF metadata: {reason}")]
    BadMetadata { path: PathBuf, reason: String },
    #[error(
        "the root chain in {dir} has a gap: {missing}.root.json is missing below {newest}.root.json"
    )]
    RootGap {
        dir: PathBuf,
        missing: u64,
        newest: u64,
    },
    #[error(
        "no keys for the {role} role, and {dir} has no root to take them from: pass --key or --role {role}=KEY"
    )]
    NoRoleKeys { role: Role, dir: PathBuf },
    #[error(
        "the {role} role needs re-signing ({why}) but none of its keys was given (key ids {key_ids}): pass --role {role}=KEY"
    )]
    MissingKey {
        role: Role,
        why: String,
        key_ids: String,
    },
    #[error("the {role} threshold {threshold} is above its {keys} key(s)")]
    Threshold {
        role: Role,
        threshold: u64,
        keys: usize,
    },
    #[error(
        "root version {new} must be signed by a threshold of the keys of root version {old} ({needed} of key ids {key_ids}); give them with --old-root-key"
    )]
    RotationUnsigned {
        old: u64,
        new: u64,
        needed: u64,
        key_ids: String,
    },
    #[error(
        "--timestamp-only needs an existing tuf/ with a root, a timestamp and its snapshot in {dir}; run a full sign first"
    )]
    NothingToRefresh { dir: PathBuf },
    #[error("signing the {role} role: {reason}")]
    Tough { role: Role, reason: String },
    #[error("cannot start the signing runtime: {0}")]
    Runtime(std::io::Error),
    /// A file of the site or of its `tuf/` that is not a regular file of
    /// bounded size (a FIFO, a device), or that cannot be read.
    #[error(transparent)]
    File(#[from] knap_schema::fs::FileError),
}

impl SignError {
    /// The exit-code class: metadata that is not valid or a root chain
    /// with a gap is an integrity failure (4); keys or a threshold that do
    /// not fit the request a usage error (2); the rest (I/O, signing
    /// itself) other (1).
    pub fn kind(&self) -> knap_schema::ErrorKind {
        use knap_schema::ErrorKind;
        match self {
            SignError::BadMetadata { .. } | SignError::RootGap { .. } => ErrorKind::Integrity,
            SignError::File(e) => e.kind(),
            SignError::NoRoleKeys { .. }
            | SignError::MissingKey { .. }
            | SignError::Threshold { .. }
            | SignError::RotationUnsigned { .. }
            | SignError::NothingToRefresh { .. } => ErrorKind::Usage,
            SignError::Io { .. }
            | SignError::NoIndex { .. }
            | SignError::Tough { .. }
            | SignError::Runtime(_) => ErrorKind::Other,
        }
    }
}

/// Signs, blocking the calling thread (knap-index has no async runtime).
pub fn sign_blocking(request: &SignRequest) -> Result<SignReport, SignError> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(SignError::Runtime)?
        .block_on(sign(request))
}

/// `--timestamp-only`: a new `timestamp.json` naming the same snapshot,
/// and the consistent-snapshot copies a rebuilt site lacks.
async fn sign_timestamp_only(
    request: &SignRequest,
    current: &Current,
    policy: &Policy<'_>,
) -> Result<SignReport, SignError> {
    let dir = &request.dir;
    let (Some(root), Some(old), Some(_)) = (
        current.roots.last(),
        current.timestamp.as_ref(),
        current.snapshot.as_ref(),
    ) else {
        return Err(SignError::NothingToRefresh { dir: dir.clone() });
    };
    let mut ts = TimestampRole::new(
        SPEC_VERSION.into(),
        next(old.signed.version),
        policy.expiry(Role::Timestamp),
    );
    ts.meta = old.signed.meta.clone();
    let signed = sign_role(
        ts,
        &root.signed,
        request,
        Role::Timestamp,
        "--timestamp-only",
    )
    .await?;
    let report = SignReport {
        root_version: root.signed.version.get(),
        targets_version: current
            .targets
            .as_ref()
            .map_or(0, |t| t.signed.version.get()),
        snapshot_version: current
            .snapshot
            .as_ref()
            .map_or(0, |s| s.signed.version.get()),
        timestamp_version: signed.signed().signed.version.get(),
        resigned: vec![Role::Timestamp],
        targets: current
            .targets
            .as_ref()
            .map_or(0, |t| t.signed.targets.len()),
        root_key_ids: root_key_ids(&root.signed),
        timestamp_expires: signed.signed().signed.expires.to_string(),
    };
    if let Some(targets) = &current.targets {
        write::restore_copies(dir, targets)?;
    }
    write_atomic(&dir.join(TUF_DIR).join("timestamp.json"), signed.buffer())?;
    Ok(report)
}

pub async fn sign(request: &SignRequest) -> Result<SignReport, SignError> {
    let dir = &request.dir;
    let tuf = dir.join(TUF_DIR);
    if !dir.join("index.json").is_file() {
        return Err(SignError::NoIndex { dir: dir.clone() });
    }
    let current = read_current(dir)?;
    let policy = Policy { request };
    if request.timestamp_only {
        return sign_timestamp_only(request, &current, &policy).await;
    }
    let mut written: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    let mut resigned = Vec::new();

    // 1. The root: a new version when its keys, thresholds or expiry change.
    let old_root = current.roots.last().map(|r| &r.signed);
    let desired = desired_root(request, old_root, policy.expiry(Role::Root))?;
    let root = match old_root {
        Some(old) if same_trust(old, &desired) && !policy.stale(Role::Root, old.expires) => {
            old.clone()
        }
        _ => {
            let mut new_root = desired;
            new_root.version = old_root.map_or(NonZeroU64::MIN, |o| next(o.version));
            let signed = sign_root(new_root, old_root, request).await?;
            let root = signed.signed().signed.clone();
            written.push((
                tuf.join(format!("{}.root.json", root.version)),
                signed.buffer().clone(),
            ));
            resigned.push(Role::Root);
            root
        }
    };

    // 2. Targets: every index file, by length and sha256.
    let files = target_files(dir)?;
    let mut wanted: HashMap<TargetName, Target> = HashMap::new();
    for (name, bytes) in &files {
        let target_name = TargetName::new(name.as_str()).map_err(|e| SignError::Tough {
            role: Role::Targets,
            reason: e.to_string(),
        })?;
        wanted.insert(target_name, target_of(bytes));
    }
    let targets_role = match &current.targets {
        Some(t)
            if same_targets(&t.signed.targets, &wanted)
                && !policy.stale(Role::Targets, t.signed.expires)
                && root.verify_role(t).is_ok() =>
        {
            Reuse::Kept(t.signed.clone())
        }
        _ => {
            let version = current
                .targets
                .as_ref()
                .map_or(NonZeroU64::MIN, |t| next(t.signed.version));
            let mut t = Targets::new(SPEC_VERSION.into(), version, policy.expiry(Role::Targets));
            t.targets = wanted.clone();
            let why = if current.targets.is_none() {
                "first signing"
            } else {
                "its content, keys or expiry changed"
            };
            Reuse::New(sign_role(t, &root, request, Role::Targets, why).await?)
        }
    };
    let targets_meta = match &targets_role {
        Reuse::Kept(t) => {
            let path = tuf.join(format!("{}.targets.json", t.version));
            let bytes = read(&path)?;
            metafile(t.version, &bytes)
        }
        Reuse::New(s) => {
            let t = &s.signed().signed;
            written.push((
                tuf.join(format!("{}.targets.json", t.version)),
                s.buffer().clone(),
            ));
            resigned.push(Role::Targets);
            metafile(t.version, s.buffer())
        }
    };
    let targets_version = targets_meta.version;

    // 3. Snapshot: names the targets version.
    let snapshot_meta = match names_one(
        current.snapshot.as_ref(),
        "targets.json",
        &targets_meta,
        &Renew {
            root: &root,
            request,
            policy: &policy,
        },
        "the targets or keys changed",
    )
    .await?
    {
        Reuse::Kept(s) => {
            let path = tuf.join(format!("{}.snapshot.json", s.version));
            metafile(s.version, &read(&path)?)
        }
        Reuse::New(signed) => {
            let version = signed.signed().signed.version;
            written.push((
                tuf.join(format!("{version}.snapshot.json")),
                signed.buffer().clone(),
            ));
            resigned.push(Role::Snapshot);
            metafile(version, signed.buffer())
        }
    };

    // 4. Timestamp: names the snapshot.
    let (timestamp_version, timestamp_expires) = match names_one(
        current.timestamp.as_ref(),
        "snapshot.json",
        &snapshot_meta,
        &Renew {
            root: &root,
            request,
            policy: &policy,
        },
        "the snapshot or keys changed",
    )
    .await?
    {
        Reuse::Kept(t) => (t.version.get(), t.expires),
        Reuse::New(signed) => {
            written.push((tuf.join("timestamp.json"), signed.buffer().clone()));
            resigned.push(Role::Timestamp);
            let t = &signed.signed().signed;
            (t.version.get(), t.expires)
        }
    };

    write::publish(
        dir,
        &files,
        written,
        current.targets.as_ref(),
        snapshot_meta.version,
        targets_version,
    )?;

    Ok(SignReport {
        root_version: root.version.get(),
        targets_version: targets_version.get(),
        snapshot_version: snapshot_meta.version.get(),
        timestamp_version,
        resigned,
        targets: files.len(),
        root_key_ids: root_key_ids(&root),
        timestamp_expires: timestamp_expires.to_string(),
    })
}

fn sources_for(request: &SignRequest, role: Role) -> Vec<Box<dyn tough::key_source::KeySource>> {
    request
        .role_keys
        .get(&role)
        .into_iter()
        .flatten()
        .map(SigningKey::source)
        .collect()
}

async fn sign_role<T: tough::schema::Role + Serialize>(
    role_file: T,
    root: &Root,
    request: &SignRequest,
    role: Role,
    why: &str,
) -> Result<SignedRole<T>, SignError> {
    let sources = sources_for(request, role);
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let holder = KeyHolder::Root(root.clone());
    let missing = || SignError::MissingKey {
        role,
        why: why.to_string(),
        key_ids: root
            .roles
            .get(&role.tough())
            .map(|r| {
                r.keyids
                    .iter()
                    .map(|k| hex::encode(k))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default(),
    };
    if sources.is_empty() {
        return Err(missing());
    }
    SignedRole::new(role_file, &holder, &sources, &rng)
        .await
        .map_err(|e| match e {
            tough::error::Error::SigningKeysNotFound { .. }
            | tough::error::Error::KeysNotFoundInRoot { .. } => missing(),
            e => SignError::Tough {
                role,
                reason: e.to_string(),
            },
        })
}
