//! A registry served as one `index.json` over `https://` (or loopback or
//! allowed `http://`). The cache holds the last good copy and its ETag and
//! Last-Modified, sent back as If-None-Match / If-Modified-Since.

use std::sync::{Arc, Mutex};

use url::Url;

use super::{
    Common, RegistryError, UpdateOutcome, View, index_url, parse_index, parse_trusted_index,
};
use crate::cache::DocMeta;
use crate::http::{Fetched, Fetcher, Validators};

const DOC: &str = "index.json";

pub struct HttpIndex {
    pub common: Common,
    url: Url,
    fetcher: Fetcher,
    loaded: Mutex<Option<View>>,
}

impl HttpIndex {
    pub fn new(common: Common, url: Url, fetcher: Fetcher) -> Self {
        Self {
            common,
            url: index_url(&url),
            fetcher,
            loaded: Mutex::new(None),
        }
    }

    pub async fn update(&self) -> Result<UpdateOutcome, RegistryError> {
        let name = &self.common.name;
        let cached = self
            .common
            .cache
            .meta(DOC)
            .filter(|m| m.url == self.url.as_str());
        let validators = cached.as_ref().map(|m| Validators {
            etag: m.etag.clone(),
            last_modified: m.last_modified.clone(),
        });
        let fetched = self
            .fetcher
            .get(&self.url, validators.as_ref())
            .await
            .map_err(|e| RegistryError::Fetch {
                registry: name.clone(),
                source: e,
            })?;
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
                let index = parse_index(name, self.url.as_str(), &bytes)?;
                let meta = DocMeta {
                    url: self.url.to_string(),
                    etag,
                    last_modified,
                    commit: None,
                };
                self.common
                    .cache
                    .write(DOC, &bytes, &meta)
                    .map_err(|e| RegistryError::Other {
                        registry: name.clone(),
                        message: format!(
                            "cannot write the cache {}: {e}",
                            self.common.cache.dir.display()
                        ),
                    })?;
                let detail = super::summary(&index);
                *self.loaded.lock().expect("lock") = Some(View::Whole(Arc::new(index)));
                Ok(UpdateOutcome::Updated { detail })
            }
        }
    }

    /// The cached index; fetched first when there is no cached copy (and
    /// not offline).
    pub async fn view(&self) -> Result<View, RegistryError> {
        if let Some(v) = self.loaded.lock().expect("lock").clone() {
            return Ok(v);
        }
        let name = &self.common.name;
        if self.common.cache.read(DOC).is_none() {
            if self.common.offline {
                return Err(RegistryError::Unavailable {
                    registry: name.clone(),
                    message: format!(
                        "no cached copy of {} and --offline; run `knap update {name}` while online",
                        self.url
                    ),
                });
            }
            self.update().await?;
            if let Some(v) = self.loaded.lock().expect("lock").clone() {
                return Ok(v);
            }
        }
        let (bytes, _) = self
            .common
            .cache
            .read(DOC)
            .ok_or_else(|| RegistryError::Unavailable {
                registry: name.clone(),
                message: format!("no cached copy of {}; run `knap update {name}`", self.url),
            })?;
        let index = parse_trusted_index(
            name,
            &self.common.cache.path(DOC).display().to_string(),
            &bytes,
        )?;
        let v = View::Whole(Arc::new(index));
        *self.loaded.lock().expect("lock") = Some(v.clone());
        Ok(v)
    }
}
