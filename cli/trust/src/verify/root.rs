//! The rules a root must meet before knap trusts it: self-signed by a
//! threshold of its own root keys, every public key listed once (tough
//! counts signatures by key id, so one key under two ids would meet a
//! threshold of two alone), and, for a root after the pinned one, signed
//! by a threshold of the previous root's keys with the next version
//! number: the rotation rule of TUF 5.3.4 and 5.3.5, the same checks tough
//! makes when it follows the chain itself.

use std::collections::HashMap;

use tough::schema::key::Key;
use tough::schema::{Root, Signed};

use super::error::TrustError;
use crate::sign::root_key_ids;

/// What a trusted root file says, once it is known to be a self-signed root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootInfo {
    pub version: u64,
    pub root_key_ids: Vec<String>,
}

/// Checks that `bytes` are a TUF root signed by a threshold of its own root
/// keys, listing every public key once (what `--root FILE` must be).
pub fn inspect_root(bytes: &[u8]) -> Result<RootInfo, TrustError> {
    let root = pinned(bytes)?;
    Ok(RootInfo {
        version: root.signed.version.get(),
        root_key_ids: root_key_ids(&root.signed),
    })
}

/// The pinned root, parsed and checked (self-signed, no key listed twice).
pub(super) fn pinned(bytes: &[u8]) -> Result<Signed<Root>, TrustError> {
    let root: Signed<Root> = serde_json::from_slice(bytes).map_err(|e| TrustError::PinnedRoot {
        reason: format!("not a TUF root.json ({e})"),
    })?;
    root.signed
        .verify_role(&root)
        .map_err(|e| TrustError::PinnedRoot {
            reason: format!("not signed by its own root keys ({e})"),
        })?;
    distinct(&root.signed, "the pinned root")?;
    Ok(root)
}

/// The public key material of a key, whatever its key id.
fn public(key: &Key) -> &[u8] {
    match key {
        Key::Rsa { keyval, .. } => keyval.public.as_ref(),
        Key::Ed25519 { keyval, .. } => keyval.public.as_ref(),
        Key::Ecdsa { keyval, .. } | Key::EcdsaOld { keyval, .. } => keyval.public.as_ref(),
    }
}

/// Refuses a root whose `keys` list one public key under two key ids.
fn distinct(root: &Root, what: &str) -> Result<(), TrustError> {
    let mut seen: HashMap<&[u8], String> = HashMap::new();
    let mut ids: Vec<(String, &Key)> = root
        .keys
        .iter()
        .map(|(id, key)| (crate::hex::encode(id), key))
        .collect();
    ids.sort_by(|a, b| a.0.cmp(&b.0));
    for (id, key) in ids {
        if let Some(first) = seen.insert(public(key), id.clone()) {
            return Err(TrustError::DuplicateKey {
                what: what.to_owned(),
                first,
                second: id,
            });
        }
    }
    Ok(())
}

/// [`distinct`] for a root file fetched from the registry (`path`), before
/// tough counts its signatures. A file that is not a root is left to
/// tough, which says so.
pub(super) fn distinct_keys(bytes: &[u8], path: &str) -> Result<(), TrustError> {
    match serde_json::from_slice::<Signed<Root>>(bytes) {
        Ok(root) => distinct(&root.signed, path),
        Err(_) => Ok(()),
    }
}

/// The root after `trusted` in a chain, if `bytes` are one: version
/// `trusted + 1`, signed by a threshold of `trusted`'s root keys and of its
/// own, every key listed once.
pub(super) fn next_in_chain(trusted: &Signed<Root>, bytes: &[u8]) -> Result<Signed<Root>, String> {
    let next: Signed<Root> = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let want = trusted.signed.version.get().saturating_add(1);
    if next.signed.version.get() != want {
        return Err(format!("holds version {}, not {want}", next.signed.version));
    }
    trusted
        .signed
        .verify_role(&next)
        .map_err(|e| format!("not signed by the keys of version {}: {e}", want - 1))?;
    next.signed
        .verify_role(&next)
        .map_err(|e| format!("not signed by its own keys: {e}"))?;
    distinct(&next.signed, "the root").map_err(|e| e.to_string())?;
    Ok(next)
}
