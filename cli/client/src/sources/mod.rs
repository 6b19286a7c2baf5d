//! Fetching one pack's files from its install sources into a staging
//! directory: [`archive`] (download into a content-addressed cache, verify
//! the SHA-256, then extract safely), [`git`] (gix fetch of a pinned
//! commit, then a checkout of its tree without `.git`) and [`path`] (a copy
//! of a local pack directory), and [`direct`] (staging the packs an install
//! SPEC names by where they are, before resolution).
//!
//! Every failure says which source failed and why, and carries the
//! [`Kind`] that decides the exit code when every source of a pack fails.

pub mod archive;
pub mod direct;
pub mod git;
pub mod path;

use knap_registry::error::Kind;

/// Why one source could not provide a pack: its kind, a message naming
/// the source, and the cause (told on its own line, or with
/// `knap_schema::report::chain_line` where several failures are listed).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    pub kind: Kind,
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl SourceError {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    pub fn integrity(message: impl Into<String>) -> Self {
        Self::new(Kind::Integrity, message)
    }

    pub fn network(message: impl Into<String>) -> Self {
        Self::new(Kind::Registry, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Kind::NotFound, message)
    }

    pub fn other(message: impl Into<String>) -> Self {
        Self::new(Kind::Other, message)
    }

    /// The same error caused by `source`.
    pub fn caused_by(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The kind of a failed HTTP request: a refused or impossible setup is
    /// "other", a size limit an integrity failure, the rest the network's.
    pub fn from_fetch(message: impl Into<String>, e: knap_registry::http::FetchError) -> Self {
        Self::new(e.kind(), message).caused_by(e)
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

impl From<SourceError> for knap_registry::error::KnapError {
    fn from(e: SourceError) -> Self {
        Self {
            kind: e.kind,
            message: e.message,
            hint: None,
            source: e.source,
        }
    }
}
