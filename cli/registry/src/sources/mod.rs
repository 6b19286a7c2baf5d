//! Fetching one pack's files from its install sources into a staging
//! directory: [`archive`] (download into a content-addressed cache, verify
//! the SHA-256, then extract safely), [`git`] (gix fetch of a pinned
//! commit, then a checkout of its tree without `.git`) and [`path`] (a copy
//! of a local pack directory).
//!
//! Every failure says which source failed and why, and carries the
//! [`Kind`] that decides the exit code when every source of a pack fails.

pub mod archive;
pub mod git;
pub mod path;

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

/// What a staged pack is: its manifest and its tree digest. A staged tree
/// whose `pack.yaml` cannot be read, or that holds anything but regular
/// files and directories, is an integrity error naming `what` it came from.
pub fn inspect(
    dest: &std::path::Path,
    what: &str,
) -> Result<(knap_schema::manifest::Manifest, String), SourceError> {
    let manifest = knap_schema::manifest::read_pack_dir(dest).map_err(|e| {
        // Named as the pack's own `pack.yaml`, not by the staging path.
        let staged = dest.join(knap_schema::manifest::MANIFEST_FILE);
        let text = e
            .to_string()
            .replacen(&staged.display().to_string(), "pack.yaml", 1);
        SourceError::integrity(format!("{what}: the pack's manifest is not valid: {text}"))
    })?;
    let tree = knap_schema::tree_digest(dest)
        .map_err(|e| SourceError::integrity(format!("{what}: {e}")))?
        .checksum;
    Ok((manifest, tree))
}
