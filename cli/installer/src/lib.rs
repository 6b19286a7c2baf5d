//! knap's install safety core, modelled on uv's `uv-installer`.
//!
//! - [`extract`]: detect an archive's format from its bytes and stream it
//!   into a fresh staging directory, refusing every unsafe entry;
//!   [`verify_sha256`] checks a downloaded file against its index checksum.

pub mod extract;

pub use extract::{
    ArchiveFormat, ChecksumError, ExtractError, Extracted, Limits, detect_format, extract,
    verify_sha256,
};
