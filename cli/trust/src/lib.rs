//! knap-trust: the TUF layer of a knap registry (formats.md section 7), on
//! both sides, with `tough` doing every signature and every check.
//!
//! - [`keys`]: ed25519 signing keys, read from a file or an environment
//!   variable (never from a command-line argument).
//! - [`sign`]: what `knap-index sign` does: write or update `tuf/` beside the
//!   index files it protects (root chain, targets, snapshot, timestamp,
//!   consistent-snapshot copies).
//! - [`verify`]: what the client does before it uses anything from a pinned
//!   registry: follow the root chain from the pinned root, check signatures,
//!   thresholds, expiry and rollback with a datastore in the cache, and hand
//!   back the verified targets. The caller supplies the fetching
//!   ([`verify::Fetch`]), so the HTTP policy stays in the registry crate and
//!   this crate holds no HTTP client.

pub mod keys;
pub mod role;
pub mod sign;
pub mod verify;

mod hex;
mod layout;

pub use keys::{KeyError, KeySpec, SigningKey};
pub use layout::{TUF_DIR, hashed_name, is_target_name};
pub use role::Role;
pub use sign::{SignError, SignReport, SignRequest};
/// `#[async_trait]`, for implementing [`Fetch`] outside this crate.
pub use tough::async_trait;
pub use verify::{
    DirFetch, Fetch, FetchError, Pin, SizeLimits, TargetInfo, TrustError, Verified, Verifier,
    last_verified,
};
