//! Fetching one pack's files from its install sources into a staging
//! directory: [`archive`] (download into a content-addressed cache, verify
//! the SHA-256, then extract safely) and [`git`] (gix fetch of a pinned
//! commit, then a checkout of its tree without `.git`).
//!
//! Every failure says which source failed and why, and carries the
//! [`Kind`] that decides the exit code when every source of a pack fails.

pub mod archive;
pub mod git;

use crate::error::Kind;

/// Why one source could not provide a pack.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    pub kind: Kind,
    pub message: String,
}

impl SourceError {
    pub fn integrity(message: impl Into<String>) -> Self {
        Self {
            kind: Kind::Integrity,
            message: message.into(),
        }
    }

    pub fn network(message: impl Into<String>) -> Self {
        Self {
            kind: Kind::Registry,
            message: message.into(),
        }
    }

    pub fn other(message: impl Into<String>) -> Self {
        Self {
            kind: Kind::Other,
            message: message.into(),
        }
    }
}
