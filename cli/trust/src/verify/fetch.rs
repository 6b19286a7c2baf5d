//! How a verifier reads a registry's files: the [`Fetch`] the caller
//! supplies (so the HTTP policy stays with the registry kinds and this
//! crate holds no HTTP client), and [`DirFetch`] for a registry that is a
//! local directory or a git checkout.

use std::fmt;
use std::path::PathBuf;

use tough::async_trait;

/// How a verifier reads the registry's files.
#[async_trait]
pub trait Fetch: Send + Sync + fmt::Debug {
    /// The bytes of `path` (relative to the registry root, e.g.
    /// `tuf/timestamp.json`), `None` when the registry does not have it.
    /// Must not read more than `limit` bytes: a longer file is
    /// [`FetchError::TooLarge`].
    async fn fetch(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>, FetchError>;
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    #[error("{path} is larger than the {limit} bytes allowed for it")]
    TooLarge { path: String, limit: u64 },
    /// The registry holds something that is not a file there (a FIFO, a
    /// device, a directory): refused without reading it.
    #[error("{path} {reason}")]
    NotAFile { path: String, reason: String },
    #[error("{0}")]
    Failed(String),
}

/// Reads a registry from a local directory (a local registry or a git
/// clone's checkout), through [`knap_schema::fs`]: a FIFO or device there
/// is refused, never waited on.
#[derive(Debug, Clone)]
pub struct DirFetch {
    pub root: PathBuf,
}

#[async_trait]
impl Fetch for DirFetch {
    async fn fetch(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>, FetchError> {
        use knap_schema::fs::{FileError, Links, read};
        if path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return Err(FetchError::Failed(format!("unsafe path {path}")));
        }
        let full = self.root.join(path);
        match read(&full, Links::Follow, limit) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(FileError::TooLarge { limit, .. }) => Err(FetchError::TooLarge {
                path: path.into(),
                limit,
            }),
            Err(e @ FileError::Io { .. }) => Err(FetchError::Failed(e.to_string())),
            Err(e) => Err(FetchError::NotAFile {
                path: path.into(),
                reason: e.reason(),
            }),
        }
    }
}
