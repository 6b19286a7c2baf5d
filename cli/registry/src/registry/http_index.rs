//! A registry served as one `index.json` over `https://` (or loopback or
//! allowed `http://`). The cache holds the last good copy and its ETag and
//! Last-Modified, sent back as If-None-Match / If-Modified-Since, and the
//! copy split once per ref ([`super::by_ref`]), which is what lookups and
//! search read.

use std::sync::Mutex;

use sha2::{Digest, Sha256};
use url::Url;

use super::by_ref::{ByRef, Stamp};
use super::{Common, RegistryError, UpdateOutcome, View, index_url};
use crate::cache::DocMeta;
use crate::http::{Fetched, Fetcher, Validators};

const DOC: &str = "index.json";

pub struct HttpIndex {
    pub common: Common,
    url: Url,
    fetcher: Fetcher,
    loaded: Mutex<Option<View>>,
    /// Held while the cached copy is split, so that it is split once.
    splitting: tokio::sync::Mutex<()>,
}

/// The stamp of a copy of the document.
fn stamp_of(bytes: &[u8]) -> Stamp {
    let hash = Sha256::digest(bytes);
    Stamp {
        len: bytes.len() as u64,
        id: format!(
            "sha256:{}",
            hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
    }
}

impl HttpIndex {
    pub fn new(common: Common, url: Url, fetcher: Fetcher) -> Self {
        Self {
            common,
            url: index_url(&url),
            fetcher,
            loaded: Mutex::new(None),
            splitting: tokio::sync::Mutex::new(()),
        }
    }

    fn by_ref(&self) -> ByRef {
        ByRef::new(self.common.cache.path("refs"))
    }

    fn cache_error(&self, e: std::io::Error) -> RegistryError {
        RegistryError::Other {
            registry: self.common.name.clone(),
            message: format!(
                "cannot write the cache {}: {e}",
                self.common.cache.dir.display()
            ),
        }
    }

    pub async fn update(&self) -> Result<UpdateOutcome, RegistryError> {
        if let Some(t) = self.common.trust.clone() {
            return self.update_signed(&t).await;
        }
        let name = &self.common.name;
        let cached = self
            .common
            .cache
            .meta(DOC)
            .filter(|m| m.url == self.url.as_str());
        let mut validators = cached.as_ref().map(|m| Validators {
            etag: m.etag.clone(),
            last_modified: m.last_modified.clone(),
        });
        let fetched = loop {
            let f = self
                .fetcher
                .get(&self.url, validators.as_ref())
                .await
                .map_err(|e| RegistryError::Fetch {
                    registry: name.clone(),
                    source: e,
                })?;
            // A 304 is only an answer when there is a cached copy to keep.
            if matches!(f, Fetched::NotModified) && self.common.cache.read(DOC).is_none() {
                if validators.take().is_some() {
                    continue;
                }
                return Err(super::get::unconditional_304(name, &self.url));
            }
            break f;
        };
        match fetched {
            Fetched::NotModified => Ok(UpdateOutcome::NotModified {
                detail: "not modified (304)".into(),
            }),
            Fetched::NotFound => Err(RegistryError::Unavailable {
                registry: name.clone(),
                message: format!(
                    "{}: not found (404); check the URL with `knap registry list`",
                    self.url
                ),
            }),
            Fetched::Body {
                bytes,
                etag,
                last_modified,
            } => {
                let _one = self.splitting.lock().await;
                let stamp = stamp_of(&bytes);
                // Checked and split in one pass; the copy is stored only
                // if it is valid.
                let summary =
                    self.by_ref()
                        .split(name, self.url.as_str(), &bytes, &stamp, false)?;
                let meta = DocMeta {
                    url: self.url.to_string(),
                    etag,
                    last_modified,
                    commit: None,
                    sha256: Some(stamp.id.clone()),
                };
                self.common
                    .cache
                    .write(DOC, &bytes, &meta)
                    .map_err(|e| self.cache_error(e))?;
                *self.loaded.lock().expect("lock") = Some(View::ByRef(self.by_ref()));
                Ok(UpdateOutcome::Updated {
                    detail: summary.to_string(),
                })
            }
        }
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
        let bytes = super::get::get_signed(&self.fetcher, name, &hashed, &self.url).await?;
        trust.check(DOC, &bytes)?;
        let _one = self.splitting.lock().await;
        let stamp = stamp_of(&bytes);
        let summary = self
            .by_ref()
            .split(name, self.url.as_str(), &bytes, &stamp, false)?;
        let meta = DocMeta {
            url: self.url.to_string(),
            etag: None,
            last_modified: None,
            commit: None,
            sha256: Some(stamp.id.clone()),
        };
        self.common
            .cache
            .write(DOC, &bytes, &meta)
            .map_err(|e| self.cache_error(e))?;
        *self.loaded.lock().expect("lock") = Some(View::ByRef(self.by_ref()));
        Ok(UpdateOutcome::Updated {
            detail: format!("{summary}, {signed}"),
        })
    }

    /// The cached index (its per-ref cache); fetched first when there is no
    /// cached copy (and not offline), split again when the split is not
    /// that of the cached copy.
    pub async fn view(&self) -> Result<View, RegistryError> {
        if let Some(v) = self.loaded.lock().expect("lock").clone() {
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
            if let Some(v) = self.loaded.lock().expect("lock").clone() {
                return Ok(v);
            }
        }
        let len = std::fs::metadata(self.common.cache.path(DOC)).map(|m| m.len());
        let current = match (meta.and_then(|m| m.sha256), len) {
            (Some(id), Ok(len)) => self.by_ref().is_current(&Stamp { len, id }),
            _ => false,
        };
        if !current {
            return self.resplit(false).await;
        }
        let v = View::ByRef(self.by_ref());
        *self.loaded.lock().expect("lock") = Some(v.clone());
        Ok(v)
    }

    /// Splits the cached copy again (checking it again): for a cache
    /// written before the split existed, or a damaged split.
    pub async fn resplit(&self, damaged: bool) -> Result<View, RegistryError> {
        let _one = self.splitting.lock().await;
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
        let location = self.common.cache.path(DOC).display().to_string();
        self.by_ref()
            .split(name, &location, &bytes, &stamp, damaged)?;
        if meta.sha256.as_deref() != Some(stamp.id.as_str()) {
            meta.sha256 = Some(stamp.id);
            self.common
                .cache
                .write_meta(DOC, &meta)
                .map_err(|e| self.cache_error(e))?;
        }
        let v = View::ByRef(self.by_ref());
        *self.loaded.lock().expect("lock") = Some(v.clone());
        Ok(v)
    }
}
