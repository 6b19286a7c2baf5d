//! The root: the keys and thresholds a request asks for, whether they
//! differ from the current root's, and signing a new root version, with
//! the previous root's keys too when it rotates (TUF 5.3.4).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::num::NonZeroU64;

use jiff::Timestamp;
use tough::editor::signed::SignedRole;
use tough::schema::decoded::{Decoded, Hex};
use tough::schema::key::Key;
use tough::schema::{KeyHolder, RoleKeys, Root};

use super::{SPEC_VERSION, SignError, SignRequest};
use crate::hex;
use crate::keys::SigningKey;
use crate::layout::TUF_DIR;
use crate::role::Role;

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
pub(super) fn desired_root(
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
pub(super) fn same_trust(a: &Root, b: &Root) -> bool {
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

/// Signs a new root with its own root keys and, for a rotation, with the
/// previous root's: both thresholds must be met (TUF 5.3.4).
pub(super) async fn sign_root(
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
