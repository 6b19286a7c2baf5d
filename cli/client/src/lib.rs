//! knap's install pipeline, as a library: the one crate a program that
//! installs packs (the `knap` binary, or an embedding program such as
//! Attune's API server) depends on.
//!
//! - [`spec`]: the install-SPEC grammar (a registry ref, or a pack named
//!   by where it is);
//! - [`sources`]: fetching one pack's files from an install source into
//!   staging (archive download and extraction, git checkout, local copy)
//!   and staging direct packs before resolution;
//! - [`candidates`]: the resolver's lazy view of the registries;
//! - [`install`]: the pipeline `knap install` and `knap upgrade` share
//!   (stage direct packs, resolve against `knap.lock` (`install::resolve`),
//!   plan, fetch (`install::fetch`), commit, then build the pack
//!   environments (`install::envs`, with `knap_envs`); a dry run stops at
//!   the plan);
//! - [`bundle`]: a root's exact packs as an offline registry (`knap bundle
//!   create`), installed from it alone (`knap install --bundle`);
//! - [`mirror`]: a registry and its archives copied into a directory
//!   (`knap mirror`), with `copy` the archive writing both share;
//! - [`Client`]: the short embedding API over all of it.
//!
//! Data flows registries (`knap_registry`, which knows nothing of
//! installs) -> resolution (`knap_resolver`, through [`candidates::Lazy`])
//! -> plan and commit (`knap_installer`), with [`sources`] fetching what
//! the plan installs -> pack environments (`knap_envs`), recorded in the
//! lock.

pub mod bundle;
pub mod candidates;
mod client;
pub(crate) mod copy;
pub mod held_back;
pub mod install;
pub mod mirror;
pub mod sources;
pub mod spec;

pub use client::Client;
pub use install::{InstallError, Outcome, Request};
// What an embedding program needs besides, so that it depends on this
// crate alone.
pub use knap_registry::registry::Env;
pub use knap_schema::config::{Config, RegistryConfig};
pub use knap_schema::progress::{Event, Reporter};
