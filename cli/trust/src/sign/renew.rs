//! When a role is kept and when it is signed again: a role is re-signed
//! (its version bumped) when its content changes, when its signature no
//! longer verifies under the newest root, when less than half of its
//! validity is left, or when the request names its expiry.

use std::collections::HashMap;
use std::num::NonZeroU64;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use tough::TargetName;
use tough::editor::signed::SignedRole;
use tough::schema::decoded::Decoded;
use tough::schema::{Hashes, Metafile, Root, Signed, Snapshot, Target, Timestamp as TimestampRole};

use super::{SPEC_VERSION, SignError, SignRequest, sign_role};
use crate::role::Role;

/// The validity rules of one signing run.
pub(super) struct Policy<'a> {
    pub(super) request: &'a SignRequest,
}

impl Policy<'_> {
    /// The validity of a role signed now, in days.
    fn days(&self, role: Role) -> u32 {
        self.request
            .expires_days
            .get(&role)
            .copied()
            .unwrap_or(role.default_days())
    }

    /// When a role signed now expires. Whole seconds: TUF's date format is
    /// `YYYY-MM-DDTHH:MM:SSZ`, and the reference implementation refuses
    /// fractions.
    pub(super) fn expiry(&self, role: Role) -> Timestamp {
        let t = self.request.now + SignedDuration::from_hours(24 * i64::from(self.days(role)));
        Timestamp::from_second(t.as_second()).unwrap_or(t)
    }

    /// Whether a role expiring at `expires` must be re-signed now: less
    /// than half of its validity left, or its expiry named by the request.
    pub(super) fn stale(&self, role: Role, expires: Timestamp) -> bool {
        self.request.expires_days.contains_key(&role)
            || expires
                < self.request.now + SignedDuration::from_hours(12 * i64::from(self.days(role)))
    }
}

/// A role kept as it is, or signed anew.
pub(super) enum Reuse<T> {
    Kept(T),
    New(SignedRole<T>),
}

/// A role whose whole content is one other metadata file it names by
/// version, length and hash: the snapshot (naming targets) and the
/// timestamp (naming the snapshot).
pub(super) trait NamesOne: tough::schema::Role + Serialize + Clone {
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
pub(super) struct Renew<'a> {
    pub(super) root: &'a Root,
    pub(super) request: &'a SignRequest,
    pub(super) policy: &'a Policy<'a>,
}

/// The current `T` when it still names `want` as `name`, has not gone
/// stale and verifies under the root; else a new `T` (the next version)
/// naming it, signed (`why` says why, when a key is missing).
pub(super) async fn names_one<T: NamesOne>(
    current: Option<&Signed<T>>,
    name: &str,
    want: &Metafile,
    renew: &Renew<'_>,
    why: &str,
) -> Result<Reuse<T>, SignError> {
    if let Some(c) = current
        && same_meta(c.signed.meta(), name, want)
        && !renew.policy.stale(T::ROLE, c.signed.expires())
        && renew.root.verify_role(c).is_ok()
    {
        return Ok(Reuse::Kept(c.signed.clone()));
    }
    let version = current.map_or(NonZeroU64::MIN, |c| next(c.signed.version()));
    let (root, request) = (renew.root, renew.request);
    let mut role = T::new(version, renew.policy.expiry(T::ROLE));
    role.meta_mut().insert(name.into(), want.clone());
    Ok(Reuse::New(
        sign_role(role, root, request, T::ROLE, why).await?,
    ))
}

pub(super) fn next(v: NonZeroU64) -> NonZeroU64 {
    v.checked_add(1).unwrap_or(v)
}

pub(super) fn target_of(bytes: &[u8]) -> Target {
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

pub(super) fn metafile(version: NonZeroU64, bytes: &[u8]) -> Metafile {
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

pub(super) fn same_targets(
    a: &HashMap<TargetName, Target>,
    b: &HashMap<TargetName, Target>,
) -> bool {
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
