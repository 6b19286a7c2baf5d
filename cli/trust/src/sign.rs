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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tough::TargetName;
use tough::editor::signed::SignedRole;
use tough::schema::decoded::{Decoded, Hex};
use tough::schema::key::Key;
use tough::schema::{
    Hashes, KeyHolder, Metafile, RoleKeys, Root, Signed, Snapshot, Target, Targets,
    Timestamp as TimestampRole,
};

use crate::hex;
use crate::keys::SigningKey;
use crate::layout::{TUF_DIR, hashed_name, is_target_name};
use crate::role::Role;

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
}

/// Signs, blocking the calling thread (knap-index has no async runtime).
pub fn sign_blocking(request: &SignRequest) -> Result<SignReport, SignError> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(SignError::Runtime)?
        .block_on(sign(request))
}

/// The metadata already in `tuf/`.
struct Current {
    roots: Vec<Signed<Root>>,
    timestamp: Option<Signed<TimestampRole>>,
    snapshot: Option<Signed<Snapshot>>,
    targets: Option<Signed<Targets>>,
}

pub async fn sign(request: &SignRequest) -> Result<SignReport, SignError> {
    let dir = &request.dir;
    let tuf = dir.join(TUF_DIR);
    if !dir.join("index.json").is_file() {
        return Err(SignError::NoIndex { dir: dir.clone() });
    }
    let current = read_current(dir)?;
    let days = |role: Role| {
        request
            .expires_days
            .get(&role)
            .copied()
            .unwrap_or(role.default_days())
    };
    // Whole seconds: TUF's date format is `YYYY-MM-DDTHH:MM:SSZ`, and the
    // reference implementation refuses fractions.
    let expiry = |role: Role| {
        let t = request.now + SignedDuration::from_hours(24 * i64::from(days(role)));
        Timestamp::from_second(t.as_second()).unwrap_or(t)
    };
    // Re-sign a role whose file has less than half of its validity left.
    let stale = |role: Role, expires: Timestamp| {
        request.expires_days.contains_key(&role)
            || expires < request.now + SignedDuration::from_hours(12 * i64::from(days(role)))
    };
    let mut written: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    let mut resigned = Vec::new();

    if request.timestamp_only {
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
            expiry(Role::Timestamp),
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
        // A rebuilt site lacks the consistent-snapshot copies: restore those
        // of files that are still what the current targets say.
        if let Some(targets) = &current.targets {
            for (name, bytes) in target_files(dir)? {
                let hash = hex::sha256(&bytes);
                let listed = TargetName::new(name.as_str()).ok().and_then(|n| {
                    targets
                        .signed
                        .targets
                        .get(&n)
                        .map(|t| hex::encode(&t.hashes.sha256))
                });
                let copy = dir.join(hashed_name(&name, &hash));
                if listed.as_deref() == Some(hash.as_str()) && !copy.is_file() {
                    write_atomic(&copy, &bytes)?;
                }
            }
        }
        write_atomic(&tuf.join("timestamp.json"), signed.buffer())?;
        return Ok(report);
    }

    // 1. The root: a new version when its keys, thresholds or expiry change.
    let old_root = current.roots.last().map(|r| &r.signed);
    let desired = desired_root(request, old_root, expiry(Role::Root))?;
    let root = match old_root {
        Some(old) if same_trust(old, &desired) && !stale(Role::Root, old.expires) => old.clone(),
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
                && !stale(Role::Targets, t.signed.expires)
                && root.verify_role(t).is_ok() =>
        {
            Reuse::Kept(t.signed.clone())
        }
        _ => {
            let version = current
                .targets
                .as_ref()
                .map_or(NonZeroU64::MIN, |t| next(t.signed.version));
            let mut t = Targets::new(SPEC_VERSION.into(), version, expiry(Role::Targets));
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
            stale: &stale,
            expires: expiry(Role::Snapshot),
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
            stale: &stale,
            expires: expiry(Role::Timestamp),
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

    // Write: target copies, then metadata, timestamp last.
    for (name, bytes) in &files {
        let copy = dir.join(hashed_name(name, &hex::sha256(bytes)));
        if !copy.is_file() {
            write_atomic(&copy, bytes)?;
        }
    }
    written.sort_by_key(|(p, _)| p.ends_with("timestamp.json"));
    for (path, bytes) in &written {
        write_atomic(path, bytes)?;
    }
    prune(
        dir,
        &files,
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

enum Reuse<T> {
    Kept(T),
    New(SignedRole<T>),
}

/// A role whose whole content is one other metadata file it names by
/// version, length and hash: the snapshot (naming targets) and the
/// timestamp (naming the snapshot).
trait NamesOne: tough::schema::Role + Serialize + Clone {
    const ROLE: Role;
    fn new(version: NonZeroU64, expires: Timestamp) -> Self;
    fn meta(&self) -> &HashMap<String, Metafile>;
    fn meta_mut(&mut self) -> &mut HashMap<String, Metafile>;
}

/// The two tough types have the same fields under these names.
macro_rules! names_one {
    ($ty:ty, $role:expr) => {
        impl NamesOne for $ty {
            const ROLE: Role = $role;
            fn new(version: NonZeroU64, expires: Timestamp) -> Self {
                <$ty>::new(SPEC_VERSION.into(), version, expires)
            }
            fn meta(&self) -> &HashMap<String, Metafile> {
                &self.meta
            }
            fn meta_mut(&mut self) -> &mut HashMap<String, Metafile> {
                &mut self.meta
            }
        }
    };
}
names_one!(Snapshot, Role::Snapshot);
names_one!(TimestampRole, Role::Timestamp);

/// What [`names_one`] needs to decide and sign.
struct Renew<'a, S: Fn(Role, Timestamp) -> bool> {
    root: &'a Root,
    request: &'a SignRequest,
    /// Whether a role expiring then must be re-signed now.
    stale: &'a S,
    /// When a role signed now expires.
    expires: Timestamp,
}

/// The current `T` when it still names `want` as `name`, has not gone
/// stale and verifies under the root; else a new `T` (the next version)
/// naming it, signed (`why` says why, when a key is missing).
async fn names_one<T: NamesOne, S: Fn(Role, Timestamp) -> bool>(
    current: Option<&Signed<T>>,
    name: &str,
    want: &Metafile,
    renew: &Renew<'_, S>,
    why: &str,
) -> Result<Reuse<T>, SignError> {
    if let Some(c) = current
        && same_meta(c.signed.meta(), name, want)
        && !(renew.stale)(T::ROLE, c.signed.expires())
        && renew.root.verify_role(c).is_ok()
    {
        return Ok(Reuse::Kept(c.signed.clone()));
    }
    let version = current.map_or(NonZeroU64::MIN, |c| next(c.signed.version()));
    let (root, request) = (renew.root, renew.request);
    let mut role = T::new(version, renew.expires);
    role.meta_mut().insert(name.into(), want.clone());
    Ok(Reuse::New(
        sign_role(role, root, request, T::ROLE, why).await?,
    ))
}

fn next(v: NonZeroU64) -> NonZeroU64 {
    v.checked_add(1).unwrap_or(v)
}

pub(crate) fn root_key_ids(root: &Root) -> Vec<String> {
    let mut ids: Vec<String> = root
        .roles
        .get(&Role::Root.tough())
        .map(|r| r.keyids.iter().map(|k| hex::encode(k)).collect())
        .unwrap_or_default();
    ids.sort();
    ids
}

/// The root that the request asks for (version and signatures still to set).
fn desired_root(
    request: &SignRequest,
    old: Option<&Root>,
    expires: Timestamp,
) -> Result<Root, SignError> {
    let mut keys: HashMap<Decoded<Hex>, Key> = HashMap::new();
    let mut roles = HashMap::new();
    for role in Role::ALL {
        let (ids, threshold_default): (Vec<Decoded<Hex>>, u64) =
            match request.role_keys.get(&role).filter(|k| !k.is_empty()) {
                Some(given) => {
                    let mut ids = Vec::new();
                    for k in given {
                        let id = key_id_of(k.public(), role)?;
                        keys.insert(id.clone(), k.public().clone());
                        if !ids.contains(&id) {
                            ids.push(id);
                        }
                    }
                    let default = old
                        .and_then(|o| o.roles.get(&role.tough()))
                        .map_or(1, |r| r.threshold.get());
                    (ids, default.min(given.len() as u64).max(1))
                }
                None => {
                    let Some(o) = old else {
                        return Err(SignError::NoRoleKeys {
                            role,
                            dir: request.dir.clone(),
                        });
                    };
                    let r = o
                        .roles
                        .get(&role.tough())
                        .ok_or_else(|| SignError::BadMetadata {
                            path: request.dir.join(TUF_DIR),
                            reason: format!("the newest root has no {role} role"),
                        })?;
                    for id in &r.keyids {
                        if let Some(k) = o.keys.get(id) {
                            keys.insert(id.clone(), k.clone());
                        }
                    }
                    (r.keyids.clone(), r.threshold.get())
                }
            };
        let threshold = request
            .thresholds
            .get(&role)
            .copied()
            .unwrap_or(threshold_default);
        if threshold == 0 || threshold > ids.len() as u64 {
            return Err(SignError::Threshold {
                role,
                threshold,
                keys: ids.len(),
            });
        }
        roles.insert(
            role.tough(),
            RoleKeys {
                keyids: ids,
                threshold: NonZeroU64::new(threshold).unwrap_or(NonZeroU64::MIN),
                _extra: HashMap::new(),
            },
        );
    }
    Ok(Root {
        spec_version: SPEC_VERSION.into(),
        consistent_snapshot: true,
        version: NonZeroU64::MIN,
        expires,
        keys,
        roles,
        _extra: HashMap::new(),
    })
}

fn key_id_of(key: &Key, role: Role) -> Result<Decoded<Hex>, SignError> {
    key.key_id().map_err(|e| SignError::Tough {
        role,
        reason: e.to_string(),
    })
}

/// Whether two roots give the same keys and thresholds to every role.
fn same_trust(a: &Root, b: &Root) -> bool {
    let roles = |r: &Root| -> BTreeMap<String, (BTreeSet<Vec<u8>>, u64)> {
        r.roles
            .iter()
            .map(|(t, k)| {
                (
                    t.to_string(),
                    (
                        k.keyids.iter().map(|i| i.to_vec()).collect(),
                        k.threshold.get(),
                    ),
                )
            })
            .collect()
    };
    a.consistent_snapshot == b.consistent_snapshot && roles(a) == roles(b)
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

/// Signs a new root with its own root keys and, for a rotation, with the
/// previous root's: both thresholds must be met (TUF 5.3.4).
async fn sign_root(
    new_root: Root,
    old: Option<&Root>,
    request: &SignRequest,
) -> Result<SignedRole<Root>, SignError> {
    let mut all: Vec<&SigningKey> = request.role_keys.values().flatten().collect();
    all.extend(request.old_root_keys.iter());
    let sources: Vec<_> = all.iter().map(|k| k.source()).collect();
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let tough_err = |e: tough::error::Error| SignError::Tough {
        role: Role::Root,
        reason: e.to_string(),
    };
    let mut signed = SignedRole::new(
        new_root.clone(),
        &KeyHolder::Root(new_root.clone()),
        &sources,
        &rng,
    )
    .await
    .map_err(tough_err)?;
    if let Err(e) = new_root.verify_role(signed.signed()) {
        let r = &new_root.roles[&Role::Root.tough()];
        return Err(SignError::MissingKey {
            role: Role::Root,
            why: format!(
                "root version {} is signed by its own keys ({e})",
                new_root.version
            ),
            key_ids: r
                .keyids
                .iter()
                .map(|k| hex::encode(k))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    if let Some(old) = old {
        let r = &old.roles[&Role::Root.tough()];
        let unsigned = || SignError::RotationUnsigned {
            old: old.version.get(),
            new: new_root.version.get(),
            needed: r.threshold.get(),
            key_ids: r
                .keyids
                .iter()
                .map(|k| hex::encode(k))
                .collect::<Vec<_>>()
                .join(", "),
        };
        let by_old = match SignedRole::new(
            new_root.clone(),
            &KeyHolder::Root(old.clone()),
            &sources,
            &rng,
        )
        .await
        {
            Ok(s) => s,
            Err(tough::error::Error::KeysNotFoundInRoot { .. }) => return Err(unsigned()),
            Err(e) => return Err(tough_err(e)),
        };
        signed = signed
            .add_old_signatures(by_old.signed().signatures.clone())
            .map_err(tough_err)?;
        if old.verify_role(signed.signed()).is_err() {
            return Err(unsigned());
        }
    }
    Ok(signed)
}

fn target_of(bytes: &[u8]) -> Target {
    use sha2::{Digest, Sha256};
    Target {
        length: bytes.len() as u64,
        hashes: Hashes {
            sha256: Decoded::from(Sha256::digest(bytes).to_vec()),
            _extra: HashMap::new(),
        },
        custom: HashMap::new(),
        _extra: HashMap::new(),
    }
}

fn metafile(version: NonZeroU64, bytes: &[u8]) -> Metafile {
    use sha2::{Digest, Sha256};
    Metafile {
        length: Some(bytes.len() as u64),
        hashes: Some(Hashes {
            sha256: Decoded::from(Sha256::digest(bytes).to_vec()),
            _extra: HashMap::new(),
        }),
        version,
        _extra: HashMap::new(),
    }
}

fn same_targets(a: &HashMap<TargetName, Target>, b: &HashMap<TargetName, Target>) -> bool {
    a.len() == b.len()
        && a.iter().all(|(n, t)| {
            b.get(n)
                .is_some_and(|u| u.length == t.length && u.hashes.sha256 == t.hashes.sha256)
        })
}

fn same_meta(meta: &HashMap<String, Metafile>, name: &str, want: &Metafile) -> bool {
    meta.len() == 1
        && meta.get(name).is_some_and(|m| {
            m.version == want.version
                && m.length == want.length
                && m.hashes.as_ref().map(|h| &h.sha256) == want.hashes.as_ref().map(|h| &h.sha256)
        })
}

/// The registry's index files, by target name, with their bytes.
fn target_files(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, SignError> {
    let mut files = vec![("index.json".to_string(), read(&dir.join("index.json"))?)];
    let config = dir.join("config.json");
    if config.is_file() {
        files.push(("config.json".into(), read(&config)?));
    }
    let packs = dir.join("packs");
    if packs.is_dir() {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&packs).map_err(|source| SignError::Io {
            path: packs.clone(),
            source,
        })? {
            let entry = entry.map_err(|source| SignError::Io {
                path: packs.clone(),
                source,
            })?;
            if let Some(name) = entry.file_name().to_str() {
                let target = format!("packs/{name}");
                if is_target_name(&target) && entry.file_type().is_ok_and(|t| t.is_file()) {
                    names.push(target);
                }
            }
        }
        names.sort();
        for name in names {
            let bytes = read(&dir.join(&name))?;
            files.push((name, bytes));
        }
    }
    Ok(files)
}

fn read(path: &Path) -> Result<Vec<u8>, SignError> {
    std::fs::read(path).map_err(|source| SignError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn parse<T: DeserializeOwned>(path: &Path) -> Result<T, SignError> {
    let bytes = read(path)?;
    serde_json::from_slice(&bytes).map_err(|e| SignError::BadMetadata {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn read_current(dir: &Path) -> Result<Current, SignError> {
    let tuf = dir.join(TUF_DIR);
    let mut versions = Vec::new();
    if tuf.is_dir() {
        for entry in std::fs::read_dir(&tuf).map_err(|source| SignError::Io {
            path: tuf.clone(),
            source,
        })? {
            let entry = entry.map_err(|source| SignError::Io {
                path: tuf.clone(),
                source,
            })?;
            if let Some(v) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".root.json"))
                .and_then(|v| v.parse::<u64>().ok())
            {
                versions.push(v);
            }
        }
    }
    versions.sort_unstable();
    let mut roots = Vec::new();
    for (i, v) in versions.iter().enumerate() {
        if *v != i as u64 + 1 {
            return Err(SignError::RootGap {
                dir: tuf.clone(),
                missing: i as u64 + 1,
                newest: *versions.last().unwrap_or(v),
            });
        }
        let path = tuf.join(format!("{v}.root.json"));
        let root: Signed<Root> = parse(&path)?;
        if root.signed.version.get() != *v {
            return Err(SignError::BadMetadata {
                path,
                reason: format!("it says version {}", root.signed.version),
            });
        }
        roots.push(root);
    }
    let ts_path = tuf.join("timestamp.json");
    let timestamp: Option<Signed<TimestampRole>> = if ts_path.is_file() {
        Some(parse(&ts_path)?)
    } else {
        None
    };
    let snapshot: Option<Signed<Snapshot>> = match timestamp
        .as_ref()
        .and_then(|t| t.signed.meta.get("snapshot.json"))
    {
        Some(m) => Some(parse(&tuf.join(format!("{}.snapshot.json", m.version)))?),
        None => None,
    };
    let targets: Option<Signed<Targets>> = match snapshot
        .as_ref()
        .and_then(|s| s.signed.meta.get("targets.json"))
    {
        Some(m) => Some(parse(&tuf.join(format!("{}.targets.json", m.version)))?),
        None => None,
    };
    Ok(Current {
        roots,
        timestamp,
        snapshot,
        targets,
    })
}

/// Removes consistent-snapshot files older than the previous publication:
/// the current and the previous ones stay, for readers mid-update.
fn prune(
    dir: &Path,
    files: &[(String, Vec<u8>)],
    previous: Option<&Signed<Targets>>,
    snapshot: NonZeroU64,
    targets: NonZeroU64,
) -> Result<(), SignError> {
    let mut keep: BTreeSet<String> = files
        .iter()
        .map(|(n, b)| hashed_name(n, &hex::sha256(b)))
        .collect();
    if let Some(prev) = previous {
        for (name, t) in &prev.signed.targets {
            keep.insert(hashed_name(name.raw(), &hex::encode(&t.hashes.sha256)));
        }
    }
    for sub in ["", "packs"] {
        let d = if sub.is_empty() {
            dir.to_path_buf()
        } else {
            dir.join(sub)
        };
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let Some((hash, rest)) = name.split_once('.') else {
                continue;
            };
            let rel = if sub.is_empty() {
                name.clone()
            } else {
                format!("{sub}/{name}")
            };
            let plain = if sub.is_empty() {
                rest.to_string()
            } else {
                format!("{sub}/{rest}")
            };
            if crate::hex::is_sha256_hex(hash) && is_target_name(&plain) && !keep.contains(&rel) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    let tuf = dir.join(TUF_DIR);
    let Ok(entries) = std::fs::read_dir(&tuf) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        for (suffix, current) in [(".snapshot.json", snapshot), (".targets.json", targets)] {
            if let Some(v) = name
                .strip_suffix(suffix)
                .and_then(|v| v.parse::<u64>().ok())
                && v + 1 < current.get()
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    Ok(())
}

/// [`knap_schema::atomic::write_atomic`] (temporary file in the same
/// directory, fsync, rename, directory fsync), creating the directory
/// first, with the path in the error.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SignError> {
    let io = |source| SignError::Io {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).map_err(io)?;
    knap_schema::atomic::write_atomic(path, bytes).map_err(io)
}
