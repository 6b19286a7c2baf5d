//! knap's transport layer, as a library: the client configuration
//! ([`config`]), the registry kinds ([`registry`]: the transports, local,
//! https index with conditional GET, sparse, git via gix, which load
//! bytes), index handling ([`index`]: parsing and validating what they
//! load, the per-ref split cache and its search table), the cache
//! ([`cache`]), the
//! set of registries in priority order ([`index_set`]: shadowing, fail
//! closed), HTTP ([`http`]: a registry's policy, conditional GET, downloads) and gix's HTTP
//! transport with that policy ([`git_transport`]), and the verification of
//! signed registries ([`registry::trust`], over knap-trust).
//!
//! Data flows formats (`knap_schema`) -> fetch ([`http`], [`registry`]) ->
//! the priority-shadowed view ([`index_set`]) that resolution reads
//! (`knap-client` hands it to the resolver). Nothing here knows about
//! installs: install sources and the install pipeline are `knap-client`'s.

pub mod cache;
pub mod config;
pub mod error;
pub mod git_transport;
pub mod http;
pub mod index;
pub mod index_set;
pub mod registry;
