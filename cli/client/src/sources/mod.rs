//! Fetching one pack's files from its install sources into a staging
//! directory: [`archive`] (download into a content-addressed cache, verify
//! the SHA-256, then extract safely), [`git`] (gix fetch of a pinned
//! commit, then a checkout of its tree without `.git`) and [`path`] (a copy
//! of a local pack directory), and [`direct`] (staging the packs an install
//! SPEC names by where they are, before resolution).
//!
//! Every failure is a `KnapError` that says which source failed and why,
//! with the kind that decides the exit code when every source of a pack
//! fails.

pub mod archive;
pub mod direct;
pub mod git;
pub mod mirror;
pub mod path;

use knap_registry::http::FetchError;
use knap_schema::KnapError;
use knap_schema::report::chain_line;

/// A failed HTTP request of a source: its kind is the request's (a refused
/// or impossible setup is "other", a size limit an integrity failure, the
/// rest the network's), the failure itself the cause.
pub fn fetch_failed(message: impl Into<String>, e: FetchError) -> KnapError {
    let hint = e.hint();
    let err = KnapError::new(e.kind(), message).caused_by(e);
    match hint {
        Some(h) => err.with_hint(h),
        None => err,
    }
}

/// What a staged pack is: its manifest and its tree digest. A staged tree
/// whose `pack.yaml` cannot be read, or that holds anything but regular
/// files and directories, is an integrity error naming `what` it came from.
pub fn inspect(
    dest: &std::path::Path,
    what: &str,
) -> Result<(knap_schema::manifest::Manifest, String), KnapError> {
    let manifest = knap_schema::manifest::read_pack_dir(dest).map_err(|e| {
        // Named as the pack's own `pack.yaml`, not by the staging path.
        let staged = dest.join(knap_schema::manifest::MANIFEST_FILE);
        let text = chain_line(&e).replacen(&staged.display().to_string(), "pack.yaml", 1);
        KnapError::integrity(format!("{what}: the pack's manifest is not valid: {text}"))
    })?;
    let tree = knap_schema::tree_digest(dest)
        .map_err(|e| KnapError::integrity(format!("{what}: {}", chain_line(&e))))?
        .checksum;
    Ok((manifest, tree))
}
