//! A registry served as one `index.json` over `https://` (or loopback or
//! allowed `http://`): this transport fetches the document, revalidating
//! the cached copy with its ETag and Last-Modified (If-None-Match /
//! If-Modified-Since), and hands it to the per-ref split cache
//! ([`SplitCache`]), which checks it and is what lookups and search read.
//! The cache keeps the last good copy.

use sha2::{Digest, Sha256};
use url::Url;

use super::{Common, RegistryError, UpdateOutcome, index_url};
use crate::cache::DocMeta;
use crate::http::{Fetched, Fetcher};
use crate::index::split::Stamp;
use crate::index::{Copy, SplitCache, View};

const DOC: &str = "index.json";

pub struct HttpIndex {
    pub common: Common,
    url: Url,
    fetcher: Fetcher,
    split: SplitCache,
}

/// The stamp of a copy of the document.
fn stamp_of(bytes: &[u8]) -> Stamp {
    Stamp {
        len: bytes.len() as u64,
        id: knap_schema::digest::format_sha256(&Sha256::digest(bytes)),
    }
}

impl HttpIndex {
    pub fn new(common: Common, url: Url, fetcher: Fetcher) -> Self {
        let split = SplitCache::new(common.cache.path("refs"));
        Self {
            common,
            url: index_url(&url),
            fetcher,
            split,
        }
    }

    pub async fn update(&self) -> Result<UpdateOutcome, RegistryError> {
        if let Some(t) = self.common.trust.clone() {
            return self.update_signed(&t).await;
        }
        let name = &self.common.name;
        let validators = self.common.validators(DOC, &self.url);
        let cache = &self.common.cache;
        let fetched = self
            .fetcher
            .revalidate(&self.url, validators, || cache.read(DOC).is_some())
            .await
            .map_err(|e| RegistryError::fetch(name, e))?;
        match fetched {
            Fetched::NotModified => Ok(UpdateOutcome::NotModified {
                detail: "not modified (304)".into(),
            }),
            Fetched::NotFound => Err(RegistryError::NotFound {
                registry: name.clone(),
                url: self.url.to_string(),
                sparse: false,
            }),
            Fetched::Body {
                bytes,
                etag,
                last_modified,
            } => {
                let summary = self.store(bytes, etag, last_modified).await?;
                Ok(UpdateOutcome::Updated {
                    detail: summary.to_string(),
                })
            }
        }
    }

    /// Checks and splits a new copy, then caches it (only if it is valid).
    async fn store(
        &self,
        bytes: Vec<u8>,
        etag: Option<String>,
        last_modified: Option<String>,
    ) -> Result<crate::index::IndexSummary, RegistryError> {
        let copy = Copy {
            stamp: stamp_of(&bytes),
            location: self.url.to_string(),
            bytes,
        };
        let meta = DocMeta {
            url: self.url.to_string(),
            etag,
            last_modified,
            commit: None,
            sha256: Some(copy.stamp.id.clone()),
        };
        self.split
            .split_new(&self.common.name, &copy, || {
                self.common
                    .cache
                    .write(DOC, &copy.bytes, &meta)
                    .map_err(|e| self.common.cache_error(e))
            })
            .await
    }

    /// A signed registry: the verified metadata names `index.json` by hash,
    /// so a matching cached copy needs no request; a new one is fetched by
    /// its consistent-snapshot name (`<sha256>.index.json`, the plain name
    /// if the host has none) and must match.
    async fn update_signed(
        &self,
        trust: &crate::registry::trust::Trust,
    ) -> Result<UpdateOutcome, RegistryError> {
        let name = &self.common.name;
        let v = trust.ensure().await?;
        let signed = format!("signed, targets version {}", v.targets_version);
        if trust.cached_matches(DOC, &self.common.cache.path(DOC)) {
            return Ok(UpdateOutcome::NotModified { detail: signed });
        }
        let info = v.target(DOC).ok_or_else(|| RegistryError::Untrusted {
            registry: name.clone(),
            message: "its signed targets do not list index.json".into(),
        })?;
        let hashed = self
            .url
            .join(&knap_trust::hashed_name(DOC, &info.sha256))
            .expect("a file name joins");
        let bytes = self
            .fetcher
            .get_signed(&hashed, &self.url)
            .await
            .map_err(|e| RegistryError::fetch(name, e))?
            .ok_or_else(|| RegistryError::not_served(name, &self.url))?;
        trust.check(DOC, &bytes)?;
        let summary = self.store(bytes, None, None).await?;
        Ok(UpdateOutcome::Updated {
            detail: format!("{summary}, {signed}"),
        })
    }

    /// The cached index (its per-ref cache); fetched first when there is no
    /// cached copy (and not offline), split again when the split is not
    /// that of the cached copy.
    pub async fn view(&self) -> Result<View, RegistryError> {
        if let Some(v) = self.split.loaded() {
            return Ok(v);
        }
        let name = &self.common.name;
        let meta = self.common.cache.meta(DOC);
        if meta.is_none() {
            if self.common.offline {
                return Err(RegistryError::Unavailable {
                    registry: name.clone(),
                    message: format!(
                        "no cached copy of {} and --offline; run `knap update {name}` while online",
                        self.url
                    ),
                });
            }
            self.common
                .first_fetch(self.url.as_str(), self.update())
                .await?;
            if let Some(v) = self.split.loaded() {
                return Ok(v);
            }
        }
        let len = std::fs::metadata(self.common.cache.path(DOC)).map(|m| m.len());
        let current = match (meta.and_then(|m| m.sha256), len) {
            (Some(id), Ok(len)) => Some(Stamp { len, id }),
            _ => None,
        };
        self.split.view(name, current, || self.cached_copy()).await
    }

    /// Splits the cached copy again (checking it again): for a cache
    /// written before the split existed, or a damaged split.
    pub async fn resplit(&self, damaged: bool) -> Result<View, RegistryError> {
        self.split
            .resplit(&self.common.name, damaged, || self.cached_copy())
            .await
    }

    /// The cached copy, its metadata brought up to date with its stamp.
    fn cached_copy(&self) -> Result<Copy, RegistryError> {
        let name = &self.common.name;
        let (bytes, mut meta) =
            self.common
                .cache
                .read(DOC)
                .ok_or_else(|| RegistryError::Unavailable {
                    registry: name.clone(),
                    message: format!("no cached copy of {}; run `knap update {name}`", self.url),
                })?;
        let stamp = stamp_of(&bytes);
        if meta.sha256.as_deref() != Some(stamp.id.as_str()) {
            meta.sha256 = Some(stamp.id.clone());
            self.common
                .cache
                .write_meta(DOC, &meta)
                .map_err(|e| self.common.cache_error(e))?;
        }
        Ok(Copy {
            location: self.common.cache.path(DOC).display().to_string(),
            bytes,
            stamp,
        })
    }
}
