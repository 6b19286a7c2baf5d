//! The trusted state of one registry, kept in its cache (`datastore`) and
//! keyed by the pin: everything trusted lives in `<datastore>/pin-<key>/`,
//! where the key is the sha256 of the pinned root (the pin file's bytes, or
//! the `--root-sha256` value). A pin changed in the configuration therefore
//! starts over from the new pin; nothing verified under another pin is read.
//!
//! Inside:
//!
//! - `roots/<N>.root.json`: each root verified after the pinned one. At the
//!   start of an update the chain is followed from the pinned root, each
//!   root checked again as TUF rotates roots (version `N+1`, signed by
//!   `N`'s root keys and its own, no key listed twice); the chain stops at
//!   the first file that is not the next root, so a root put into the
//!   cache by hand never overrides the pin.
//! - `pinned.root.json`: the registry's `tuf/1.root.json` once it matched
//!   a `--root-sha256` pin.
//! - `tough/`: tough's datastore (the timestamp, snapshot and targets last
//!   trusted: rollback protection across runs).
//! - `raw/`: the timestamp and the `N.snapshot.json` / `N.targets.json`
//!   verified (see the module documentation of `verify`).
//! - `verified.json`: the last [`Verified`] state (for `--offline`).
//!
//! Every read goes through [`knap_schema::fs`] without following links.

use std::path::{Path, PathBuf};

use tough::schema::{Root, Signed};

use super::error::TrustError;
use super::root;
use super::{Pin, Verified};

pub(super) const VERIFIED_FILE: &str = "verified.json";
pub(super) const PINNED_ROOT: &str = "pinned.root.json";
pub(super) const ROOTS_DIR: &str = "roots";
pub(super) const RAW_DIR: &str = "raw";
pub(super) const TOUGH_DIR: &str = "tough";

/// The largest file of the trusted state read (targets, the largest
/// metadata, are bounded by their own limit when fetched).
const MAX_STATE_FILE: u64 = 64 * 1024 * 1024;

/// The trusted state of one registry under one pin.
#[derive(Debug, Clone)]
pub(super) struct Store {
    /// The registry's datastore (every pin's state is below it).
    base: PathBuf,
    /// This pin's state.
    dir: PathBuf,
}

impl Pin {
    /// The key of this pin's trusted state: the sha256 of the pinned root.
    pub(super) fn key(&self) -> String {
        match self {
            Pin::Root(bytes) => crate::hex::sha256(bytes),
            Pin::Sha256(hex) => hex.to_ascii_lowercase(),
        }
    }
}

impl Store {
    pub(super) fn new(datastore: &Path, pin: &Pin) -> Self {
        Store {
            base: datastore.to_path_buf(),
            dir: datastore.join(format!("pin-{}", pin.key())),
        }
    }

    pub(super) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn err(&self, path: &Path, e: impl std::fmt::Display) -> TrustError {
        TrustError::Datastore {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    }

    pub(super) fn create(&self) -> Result<(), TrustError> {
        let tough = self.path(TOUGH_DIR);
        std::fs::create_dir_all(&tough).map_err(|e| self.err(&tough, e))
    }

    /// A file of the state, `None` when it is absent or unreadable.
    pub(super) fn read(&self, name: &str) -> Option<Vec<u8>> {
        knap_schema::fs::read(
            &self.path(name),
            knap_schema::fs::Links::Refuse,
            MAX_STATE_FILE,
        )
        .ok()
    }

    pub(super) fn write(&self, name: &str, bytes: &[u8]) -> Result<(), TrustError> {
        let path = self.path(name);
        let parent = path.parent().unwrap_or(&self.dir).to_path_buf();
        std::fs::create_dir_all(&parent).map_err(|e| self.err(&parent, e))?;
        knap_schema::atomic::write_atomic(&path, bytes).map_err(|e| self.err(&path, e))
    }

    /// The last verified state, if any.
    pub(super) fn verified(&self) -> Result<Option<Verified>, TrustError> {
        let path = self.path(VERIFIED_FILE);
        match knap_schema::fs::read(&path, knap_schema::fs::Links::Refuse, MAX_STATE_FILE) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| self.err(&path, e)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(self.err(&path, e.reason())),
        }
    }

    /// The newest root that chains from `pinned` through the roots kept in
    /// `roots/`, as bytes for tough: the pinned one when none does.
    pub(super) fn chained_root(&self, pinned: Signed<Root>, pinned_bytes: Vec<u8>) -> Vec<u8> {
        let (mut trusted, mut bytes) = (pinned, pinned_bytes);
        loop {
            let next_version = trusted.signed.version.get().saturating_add(1);
            let name = format!("{ROOTS_DIR}/{next_version}.root.json");
            let Some(next_bytes) = self.read(&name) else {
                return bytes;
            };
            match root::next_in_chain(&trusted, &next_bytes) {
                Ok(next) => (trusted, bytes) = (next, next_bytes),
                Err(_) => {
                    // Not the next root of this chain: never trusted, and
                    // dropped so that the chain can be stored again.
                    let _ = std::fs::remove_file(self.path(&name));
                    return bytes;
                }
            }
        }
    }

    /// Keeps the roots an update followed (`N.root.json` fetched and
    /// verified by tough).
    pub(super) fn keep_roots<'a>(
        &self,
        fetched: impl Iterator<Item = (&'a String, &'a Vec<u8>)>,
    ) -> Result<(), TrustError> {
        for (path, bytes) in fetched {
            if let Some(file) = path.strip_prefix("tuf/")
                && let Some(n) = file.strip_suffix(".root.json")
                && !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
            {
                self.write(&format!("{ROOTS_DIR}/{file}"), bytes)?;
            }
        }
        Ok(())
    }

    /// Removes what the datastore holds besides this pin's state: the
    /// states of earlier pins and the layout of a knap that kept no pin
    /// key. Best effort: what cannot be removed is never read anyway.
    pub(super) fn prune_others(&self) {
        let Ok(entries) = std::fs::read_dir(&self.base) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path == self.dir {
                continue;
            }
            let _ = match e.file_type() {
                Ok(t) if t.is_dir() => std::fs::remove_dir_all(&path),
                _ => std::fs::remove_file(&path),
            };
        }
    }
}

/// The last verified state kept in `datastore` for `pin`, if any (for
/// `--offline`). The state of another pin is never returned.
pub fn last_verified(datastore: &Path, pin: &Pin) -> Result<Option<Verified>, TrustError> {
    Store::new(datastore, pin).verified()
}
