//! knap's transport layer, as a library: the client configuration
//! ([`config`]), the registry kinds ([`registry`]: local, https index with
//! conditional GET, sparse, git via gix), the index cache ([`cache`]), the
//! set of registries in priority order ([`index_set`]: shadowing, fail
//! closed), HTTP ([`http`]) and fetching install sources ([`sources`]:
//! archive download, git checkout, local path), and the verification of
//! signed registries ([`registry::trust`], over knap-trust), and the install
//! pipeline that stages, resolves, plans, fetches and commits ([`install`]).
//!
//! Data flows formats (`knap_schema`) -> fetch ([`http`], [`registry`]) ->
//! the priority-shadowed view ([`index_set`]) that resolution reads, handed
//! to `knap_resolver` as [`candidates::Lazy`] (looked up on demand).

pub mod cache;
pub mod candidates;
pub mod config;
pub mod error;
pub mod git_transport;
pub mod http;
pub mod index_set;
pub mod install;
pub mod net;
pub mod registry;
pub mod sources;

pub use install::Registries;
