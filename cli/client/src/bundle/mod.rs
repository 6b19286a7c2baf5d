//! Bundles (formats.md §9): an install root's exact packs carried to a
//! machine without network access. A bundle is a directory that is itself
//! a local registry:
//!
//! ```text
//! DIR/index.json                        knap form, exactly the locked versions,
//!                                       one relative archive source each
//! DIR/archives/<ref>-<version>.tar.gz   the archive the locked source offered,
//!                                       or the reproducible pack archive of a
//!                                       git or path source
//! DIR/knap.lock                         the lock the bundle reproduces
//! DIR/bundle.json                       {"created", "knap", "registries", "packs"}
//! DIR/envs/                             the packages the lock records for the
//!                                       root's environments (knap_envs::carry)
//! ```
//!
//! [`create()`] writes one from a root's `knap.lock`; [`Bundle::open`]
//! reads one (a directory, or a tar of one extracted with the hardened
//! extraction of pack archives) and checks that it holds every pack its
//! lock names; `knap_client::install` installs it
//! ([`crate::Client::install_bundle`]). The trust anchor is the bundle's
//! `knap.lock`: every archive is checked against the bundle's index
//! checksum, and every installed tree against the lock's tree digest.
//!
//! An index entry comes from the pack's registry when that registry is
//! configured and lists the locked version (its metadata kept, its
//! sources replaced by the bundled archive); a pack installed from a
//! direct source (a path, an archive URL, a git commit) has no registry
//! entry, so its entry is made from the installed pack's `pack.yaml`
//! (`Entry::from_manifest`, as `knap-index entry` does), with the lock's
//! dependencies.

mod create;
mod open;

pub use create::{BundledPack, Created, PackedFrom, create};
pub use open::Bundle;

use knap_schema::PackRef;

/// `bundle.json`: what made the bundle and from where.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleInfo {
    /// RFC 3339 time of creation.
    pub created: String,
    /// The knap version that wrote it.
    pub knap: String,
    /// The registries the bundled packs came from.
    pub registries: Vec<BundleRegistry>,
    /// How many packs it holds.
    pub packs: usize,
}

/// One registry a bundled pack came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleRegistry {
    pub name: String,
    /// Its URL (credentials hidden); empty when it is no longer configured.
    pub url: String,
    /// Whether the lock records signed provenance for its packs.
    pub signed: bool,
}

/// The bundle file names.
pub const INDEX_FILE: &str = "index.json";
pub const LOCK_FILE: &str = "knap.lock";
pub const INFO_FILE: &str = "bundle.json";
pub const ARCHIVES_DIR: &str = "archives";
/// The packages of the root's environments (`envs/python`: wheels; `envs/node`:
/// an npm cache and its registry's URL), when the root has environments.
pub const ENVS_DIR: &str = "envs";

/// `archives/<ref>-<version>.tar.gz`, relative to the bundle: joined only
/// from a validated ref and a SemVer version.
pub fn archive_name(pack_ref: &PackRef, version: &semver::Version) -> String {
    format!("{ARCHIVES_DIR}/{pack_ref}-{version}.tar.gz")
}
