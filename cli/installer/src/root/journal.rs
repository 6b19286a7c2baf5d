//! The journal of a commit in progress (`.knap/journal.json`): the swaps
//! it makes and the SHA-256 of the `knap.lock` it writes. It is read back
//! after a crash, so it is as untrusted as any file in the root: its
//! format version and every staged path are checked as it is read.

use std::path::{Path, PathBuf};

use knap_schema::PackRef;
use serde::{Deserialize, Serialize};

use super::layout::PRIVATE;
use super::{InstallRoot, RootError};

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Journal {
    #[serde(deserialize_with = "journal_version")]
    pub(super) version: u32,
    /// `sha256:` of the new knap.lock's bytes.
    pub(super) new_lock_sha256: String,
    /// Packs replaced or added: ref and staged dir relative to the root.
    pub(super) swaps: Vec<Swap>,
    /// Packs removed.
    pub(super) removed: Vec<PackRef>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Swap {
    #[serde(rename = "ref")]
    pub(super) pack_ref: PackRef,
    #[serde(deserialize_with = "staged_path")]
    pub(super) staged: PathBuf,
}

/// Reads a journal's staged directory: relative, under `.knap/staging/`,
/// plain components only (the journal is read back after a crash, and is
/// as untrusted as any file in the root).
fn staged_path<'de, D: serde::Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
    let p = PathBuf::deserialize(d)?;
    if is_staged_path(&p) {
        Ok(p)
    } else {
        Err(serde::de::Error::custom(format!(
            "{}: a staged directory must be under {PRIVATE}/staging/",
            p.display()
        )))
    }
}

/// Whether `p` (relative to the root) names a directory inside
/// `.knap/staging/`: plain components only. The one rule for what a
/// journal may name, used when it is written and when it is read.
pub(super) fn is_staged_path(p: &Path) -> bool {
    p.components()
        .all(|c| matches!(c, std::path::Component::Normal(_)))
        && p.starts_with(Path::new(PRIVATE).join("staging"))
        && p.components().count() > 2
}

/// The journal format this crate writes and reads.
pub(super) const JOURNAL_VERSION: u32 = 1;

/// Reads a journal's `version`: only [`JOURNAL_VERSION`] (a journal of
/// another format is not replayed).
fn journal_version<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = u32::deserialize(d)?;
    if v == JOURNAL_VERSION {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!(
            "journal format version {v} is not the one this knap writes ({JOURNAL_VERSION})"
        )))
    }
}

impl InstallRoot {
    /// The journal of an interrupted commit, `None` when there is none; an
    /// unreadable one is [`RootError::InvalidJournal`].
    pub(super) fn read_journal(&self) -> Result<Option<Journal>, RootError> {
        let path = self.journal_path();
        let Some(bytes) = super::read_managed(&path, |message| RootError::InvalidJournal {
            path: path.clone(),
            message,
        })?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| RootError::InvalidJournal {
                path,
                message: e.to_string(),
            })
    }
}
