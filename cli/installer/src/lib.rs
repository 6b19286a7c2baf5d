//! knap's install safety core, modelled on uv's `uv-installer`.
//!
//! - [`extract`]: detect an archive's format from its bytes and stream it
//!   into a fresh staging directory, refusing every unsafe entry;
//! - [`checksum`]: [`verify_sha256`] checks a downloaded file against its
//!   index checksum.
//! - [`pack_archive`]: the reproducible pack archive (the same tree, the
//!   same bytes) that `knap-index pack` writes for authors and bundles
//!   write for git sources.
//! - [`root`]: an install root (formats.md §5) changed by transactions that
//!   a crash at any point cannot leave half-done: a process-wide lock, a
//!   journal, renames, an atomically replaced `knap.lock`, and recovery
//!   whenever the root is opened.
//! - [`plan`]: what an install, upgrade, restore or uninstall will do, as
//!   a value computed from the resolution, the old `knap.lock` and what is
//!   on disk ([`Plan`]); [`state`]: the dependency graph and provenance
//!   `knap.lock` records.
//! - [`record`]: the per-file record (path, size, SHA-256) of every
//!   installed pack, written in the same commit as `knap.lock`, and the
//!   parallel scan that recomputes a pack's tree digest and names every
//!   changed, added or missing file (`knap verify`).

pub mod checksum;
pub mod extract;
pub mod pack_archive;
pub mod plan;
pub mod record;
pub mod root;
pub mod state;

pub use checksum::{ChecksumError, verify_sha256};
pub use extract::{ArchiveFormat, ExtractError, Extracted, Limits, detect_format, extract};
pub use plan::{Chosen, Inputs, Install, LockChange, LockWouldChange, Origin, Plan, Source};
pub use record::{Diff, FileRecord, Scan, ScanError, compare, scan, scan_tree};
pub use root::{InstallRoot, Recovery, RootError, StagingDir, Step};
