//! The check of a downloaded file against its index checksum.

use std::io;
use std::path::{Path, PathBuf};

use knap_schema::Checksum;

/// Why a file's checksum did not verify.
#[derive(Debug, thiserror::Error)]
pub enum ChecksumError {
    #[error("checksum mismatch for {}: expected {expected}, got {actual}", path.display())]
    Mismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("`{expected}` is not a checksum; expected `sha256:` and 64 lowercase hex digits")]
    Malformed { expected: String },
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Checks that `file`'s SHA-256 is `expected` (`sha256:<64 lowercase hex>`).
pub fn verify_sha256(file: &Path, expected: &str) -> Result<(), ChecksumError> {
    let want = Checksum::parse(expected).map_err(|_| ChecksumError::Malformed {
        expected: expected.to_owned(),
    })?;
    let actual = knap_schema::digest::sha256_file(file).map_err(|source| ChecksumError::Io {
        path: file.to_owned(),
        source,
    })?;
    if want == actual {
        Ok(())
    } else {
        Err(ChecksumError::Mismatch {
            path: file.to_owned(),
            expected: expected.to_owned(),
            actual,
        })
    }
}
