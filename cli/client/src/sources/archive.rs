//! Archive sources: stream the download (or copy a `file://` source) into
//! the content-addressed cache `<cache>/archives/sha256/<hex>` under a size
//! limit, verify its SHA-256 against the index BEFORE anything is
//! extracted, then extract it with `knap_installer::extract` (which refuses
//! every unsafe entry).
//!
//! A cached archive whose bytes still match its name is reused without a
//! download.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use knap_installer::Limits;
use knap_registry::http::{Downloader, FetchError};
use knap_schema::progress::Reporter;
use sha2::{Digest, Sha256};
use url::Url;

use knap_schema::KnapError;

/// The default largest archive download (256 MiB).
pub const DEFAULT_DOWNLOAD_LIMIT: u64 = 256 * 1024 * 1024;

/// Where verified archives are kept: `<cache>/archives/sha256/`.
pub fn cache_dir(cache_root: &Path) -> PathBuf {
    cache_root.join("archives").join("sha256")
}

/// The 64 hex digits of a well-formed `sha256:HEX` checksum.
pub fn checksum_hex(checksum: &str) -> Result<&str, KnapError> {
    checksum
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .ok_or_else(|| {
            KnapError::integrity(format!(
                "`{checksum}` is not a checksum; expected `sha256:` and 64 lowercase hex digits"
            ))
        })
}

/// Where archives are cached and how large they may be.
#[derive(Debug, Clone)]
pub struct Store {
    /// The cache root (`<cache>`; archives go to `<cache>/archives/sha256/`).
    pub cache_root: PathBuf,
    /// The largest download, in bytes.
    pub max_download: u64,
    /// Bounds on what an archive may expand to.
    pub limits: Limits,
}

/// Fetches the archive at `url` into the cache, verifies it against
/// `checksum`, and extracts it into `dest` (which must not exist).
pub async fn fetch_and_extract(
    downloader: &Downloader,
    store: &Store,
    url: &Url,
    checksum: &str,
    dest: &Path,
    reporter: &dyn Reporter,
) -> Result<(), KnapError> {
    let cached = fetch_verified(
        downloader,
        url,
        checksum,
        &store.cache_root,
        store.max_download,
        reporter,
    )
    .await?;
    extract_cached(cached, url, dest, store.limits).await
}

/// Extracts a verified archive from the cache into `dest` (which must not
/// exist); an unsafe entry is an integrity error and leaves no `dest`.
pub async fn extract_cached(
    cached: PathBuf,
    url: &Url,
    dest: &Path,
    limits: Limits,
) -> Result<(), KnapError> {
    let dest = dest.to_owned();
    let url_text = url.to_string();
    tokio::task::spawn_blocking(move || {
        knap_installer::extract(&cached, &dest, &limits).map_err(|e| {
            let _ = std::fs::remove_dir_all(&dest);
            let message = if e.is_safety_violation() {
                format!("unsafe archive refused: {url_text}")
            } else {
                format!("{url_text}: cannot extract the archive")
            };
            let hint = e.hint();
            let err = KnapError::new(e.kind(), message).caused_by(e);
            match hint {
                Some(h) => err.with_hint(h),
                None => err,
            }
        })
    })
    .await
    .expect("the extract task panicked")
    .map(|_| ())
}

/// The path of the verified archive in the cache, downloading it first if
/// it is not there.
pub async fn fetch_verified(
    downloader: &Downloader,
    url: &Url,
    checksum: &str,
    cache_root: &Path,
    max_download: u64,
    reporter: &dyn Reporter,
) -> Result<PathBuf, KnapError> {
    let hex = checksum_hex(checksum)?;
    let target = cache_dir(cache_root).join(hex);
    if target.is_file() && knap_installer::verify_sha256(&target, checksum).is_ok() {
        tracing::debug!("{url}: using the cached {}", target.display());
        return Ok(target);
    }
    download(
        downloader,
        url,
        Some(checksum),
        cache_root,
        max_download,
        reporter,
    )
    .await
    .map(|(path, _)| path)
}

/// Downloads (or copies, for `file://`) the archive at `url` into the cache
/// under the download limit, hashing it on the way. With `expected`, a
/// different SHA-256 is an integrity error and nothing is kept; without it
/// (a source the user chose to trust) the archive is kept under the hash
/// it has. Returns the cached path and the archive's `sha256:` checksum.
pub async fn download(
    downloader: &Downloader,
    url: &Url,
    expected: Option<&str>,
    cache_root: &Path,
    max_download: u64,
    reporter: &dyn Reporter,
) -> Result<(PathBuf, String), KnapError> {
    if let Some(c) = expected {
        checksum_hex(c)?;
    }
    let dir = cache_dir(cache_root);
    std::fs::create_dir_all(&dir)
        .map_err(|e| KnapError::other(format!("cannot create {}", dir.display())).caused_by(e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)
        .map_err(|e| KnapError::other(format!("cannot write in {}", dir.display())).caused_by(e))?;
    let mut hasher = Sha256::new();
    let too_large = || {
        KnapError::integrity(format!(
            "{url}: the archive is larger than the download limit of {max_download} bytes (raise `limits.download_size` in the configuration)"
        ))
    };
    let write_err = |e: std::io::Error| KnapError::other("cannot write the download").caused_by(e);
    if url.scheme() == "file" {
        let path = url
            .to_file_path()
            .map_err(|()| KnapError::other(format!("{url}: not a local file URL")))?;
        let (mut file, _) =
            knap_schema::fs::open(&path, knap_schema::fs::Links::Follow).map_err(|e| match e {
                knap_schema::fs::FileError::Io { error, .. } => {
                    KnapError::registry(format!("{url}: cannot open it")).caused_by(error)
                }
                other => KnapError::integrity(format!("{url}: {}", other.reason())),
            })?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| KnapError::registry(format!("{url}: cannot read it")).caused_by(e))?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > max_download {
                return Err(too_large());
            }
            hasher.update(&buf[..n]);
            tmp.write_all(&buf[..n]).map_err(write_err)?;
        }
    } else {
        let net = |e: FetchError| crate::sources::fetch_failed(format!("cannot download {url}"), e);
        let mut body = downloader.get(url, reporter).await.map_err(net)?;
        if body.declared_len().is_some_and(|n| n > max_download) {
            return Err(too_large());
        }
        let mut total = 0u64;
        while let Some(chunk) = body.chunk().await.map_err(net)? {
            total += chunk.len() as u64;
            if total > max_download {
                return Err(too_large());
            }
            hasher.update(&*chunk);
            tmp.write_all(&chunk).map_err(write_err)?;
        }
    }
    let actual = knap_schema::digest::format_sha256(&hasher.finalize());
    if let Some(checksum) = expected
        && actual != checksum
    {
        return Err(KnapError::integrity(format!(
            "checksum mismatch for {url}: expected {checksum}, the download is {actual}; nothing was extracted (the archive changed after its checksum was published, or the checksum is wrong: tell whoever published it)"
        )));
    }
    tmp.flush().map_err(write_err)?;
    let target = dir.join(&actual["sha256:".len()..]);
    tmp.persist(&target)
        .map_err(|e| KnapError::other(format!("cannot store {}: {}", target.display(), e.error)))?;
    Ok((target, actual))
}
