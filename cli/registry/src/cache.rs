//! The per-registry cache: one directory per registry under the cache dir,
//! holding the last good copy of what was fetched and the validators
//! (ETag, Last-Modified) to revalidate it.
//!
//! Every file is written atomically (temp file in the same directory,
//! rename), and only after it validated, so a failed or invalid fetch
//! leaves the last good copy in place. The documents a fetch caches
//! ([`RegistryCache::write`]) are not fsynced: a run writes them by the
//! thousand (a sparse resolution, a git registry's sparse tree), four
//! fsyncs each cost more than the network on a real disk, and every read
//! of them is checked, so a copy a crash damaged is fetched again. The
//! rest ([`write_atomic`]: a whole index, a git registry's state, the
//! configuration) is also fsynced, file and directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Writes `bytes` to `path` atomically (`knap_schema::atomic`), creating
/// its directory first.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    Staged::write(path, bytes)?.commit()
}

/// Writes `bytes` to `path` atomically but not durably
/// (`knap_schema::atomic::replace_unsynced`), creating its directory
/// first: for the cached documents a fetch writes (see the module
/// documentation).
pub fn write_unsynced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    create_parent(path)?;
    knap_schema::atomic::replace_unsynced(path, bytes)
}

fn create_parent(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot create {}: {e}", dir.display()))
        })?;
    }
    Ok(())
}

/// The first half of [`write_atomic`]: `bytes` written and synced to a
/// temporary file next to `path`. [`Staged::commit`] puts it in place;
/// dropping it instead removes it. Lets a caller write while it is still
/// validating what it writes.
pub struct Staged(knap_schema::atomic::Staged);

impl Staged {
    pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<Self> {
        create_parent(path)?;
        knap_schema::atomic::Staged::write(path, bytes).map(Self)
    }

    /// Renames the file to its path and syncs the directory.
    pub fn commit(self) -> std::io::Result<()> {
        self.0.commit()
    }
}

/// The validators and provenance of one cached document.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DocMeta {
    /// Where the document was fetched from.
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// For git registries: the commit the document was read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// `sha256:HEX` of the document, for a whole index (which copy its
    /// per-ref cache was split from).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// Reads a file knap wrote into its cache: never through a link, never
/// blocking on a FIFO or device put there ([`knap_schema::fs`]). Its size
/// was bounded when it was fetched.
pub fn read_cached(path: &Path) -> Result<Vec<u8>, knap_schema::fs::FileError> {
    knap_schema::fs::read(path, knap_schema::fs::Links::Refuse, u64::MAX)
}

/// The cache directory of one registry.
#[derive(Debug, Clone)]
pub struct RegistryCache {
    pub dir: PathBuf,
}

impl RegistryCache {
    /// The directory for the registry `name` at `url`: the URL's hash is part
    /// of the name, so re-adding a name with another URL never reuses a
    /// stale cache.
    pub fn new(cache_root: &Path, name: &str, url: &str) -> Self {
        let hash = Sha256::digest(url.as_bytes());
        let short = knap_schema::hex::encode(&hash[..6]);
        Self {
            dir: cache_root
                .join("registries")
                .join(format!("{name}-{short}")),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Takes this registry's cache lock (`<dir>/.lock`, exclusive: a std
    /// file lock, as the install root's), waiting while another knap holds
    /// it; released when the file is dropped or the process ends, however
    /// it ends. Every fetch and update of a git registry's clone runs
    /// under it, so two processes never fetch into one repository at once,
    /// and what a fetch left behind when its process died can be removed
    /// safely. A link in place of the lock file is refused.
    pub fn lock(&self) -> std::io::Result<std::fs::File> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.dir.join(".lock");
        if path
            .symlink_metadata()
            .is_ok_and(|m| !m.file_type().is_file())
        {
            return Err(std::io::Error::other(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        f.lock()?;
        Ok(f)
    }

    /// Reads a cached document and its metadata, if both are there.
    pub fn read(&self, rel: &str) -> Option<(Vec<u8>, DocMeta)> {
        let body = read_cached(&self.path(rel)).ok()?;
        let meta = read_cached(&self.path(&format!("{rel}.meta.json")))
            .ok()
            .and_then(|m| serde_json::from_slice(&m).ok())
            .unwrap_or_default();
        Some((body, meta))
    }

    /// Only the metadata of a cached document.
    pub fn meta(&self, rel: &str) -> Option<DocMeta> {
        if !self.path(rel).exists() {
            return None;
        }
        read_cached(&self.path(&format!("{rel}.meta.json")))
            .ok()
            .and_then(|m| serde_json::from_slice(&m).ok())
    }

    /// Stores a validated document, then its metadata (atomically, not
    /// durably: see the module documentation).
    pub fn write(&self, rel: &str, body: &[u8], meta: &DocMeta) -> std::io::Result<()> {
        write_unsynced(&self.path(rel), body)?;
        self.write_meta(rel, meta)
    }

    /// Replaces only the metadata of a cached document.
    pub fn write_meta(&self, rel: &str, meta: &DocMeta) -> std::io::Result<()> {
        let m = serde_json::to_vec_pretty(meta).expect("meta serialises");
        write_unsynced(&self.path(&format!("{rel}.meta.json")), &m)
    }

    /// Removes a cached document (the registry no longer serves it).
    pub fn remove(&self, rel: &str) {
        let _ = std::fs::remove_file(self.path(rel));
        let _ = std::fs::remove_file(self.path(&format!("{rel}.meta.json")));
    }

    /// Removes the whole cache of this registry.
    pub fn clear(&self) -> std::io::Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_keeps_meta() {
        let d = tempfile::tempdir().unwrap();
        let c = RegistryCache::new(d.path(), "r", "https://h/");
        assert!(c.read("index.json").is_none());
        let m = DocMeta {
            url: "u".into(),
            etag: Some("\"e\"".into()),
            ..Default::default()
        };
        c.write("index.json", b"one", &m).unwrap();
        c.write("index.json", b"two", &m).unwrap();
        let (b, got) = c.read("index.json").unwrap();
        assert_eq!(b, b"two");
        assert_eq!(got, m);
        c.remove("index.json");
        assert!(c.read("index.json").is_none());
    }
}
