//! Signed registries (formats.md section 7): the glue between a registry
//! kind and knap-trust's verifier.
//!
//! A registry whose configuration has `tuf_root` is verified before
//! anything from it is used: [`Trust::ensure`] runs TUF's update workflow
//! once per run (over this crate's HTTP fetcher, a local directory or the
//! files of a git commit), and [`Trust::check`] holds every index file to
//! its signed targets entry. A failure is exit 4 and the cached copy (the
//! last verified one) stays. `--offline` uses the last verified metadata and
//! says how old it is. The trusted versions live in the registry's cache
//! (`tuf/`), so a rollback is refused even across runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use knap_schema::config::RegistryConfig;
use knap_schema::progress::{Event, Reporter};
use knap_trust::verify::{DirFetch, Fetch, FetchError, Pin, TrustError, Verified, Verifier};
use url::Url;

use crate::http::{FetchError as HttpError, Fetched, Fetcher};
use crate::registry::RegistryError;

/// A registry's pin and trusted state.
#[derive(Debug)]
pub struct Trust {
    registry: String,
    pin: Pin,
    datastore: PathBuf,
    offline: bool,
    fetch: Option<Arc<dyn Fetch>>,
    /// Where warnings go.
    reporter: Arc<dyn Reporter>,
    current: Mutex<Option<Arc<Verified>>>,
    /// Serialises updates so one run verifies once.
    gate: tokio::sync::Mutex<()>,
}

/// Where a lock entry's metadata came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    pub root_key_ids: Vec<String>,
    pub targets_version: u64,
}

impl Trust {
    /// The pin of a configured registry, if it is signed.
    pub fn pin_of(cfg: &RegistryConfig) -> Result<Option<Pin>, RegistryError> {
        let Some(pin) = &cfg.tuf_root else {
            return Ok(None);
        };
        if let Some(hex) = pin.strip_prefix("sha256:") {
            return Ok(Some(Pin::Sha256(hex.to_ascii_lowercase())));
        }
        let limit = knap_trust::verify::SizeLimits::default().root;
        let bytes = knap_schema::fs::read(Path::new(pin), knap_schema::fs::Links::Follow, limit)
            .map_err(|e| RegistryError::Untrusted {
                registry: cfg.name.clone(),
                message: format!(
                    "cannot read its pinned root {pin}: {}; add the registry again with --root FILE",
                    e.reason()
                ),
            })?;
        Ok(Some(Pin::Root(bytes)))
    }

    pub fn new(
        registry: &str,
        pin: Pin,
        datastore: PathBuf,
        offline: bool,
        fetch: Option<Arc<dyn Fetch>>,
        reporter: Arc<dyn Reporter>,
    ) -> Self {
        Trust {
            registry: registry.to_owned(),
            pin,
            datastore,
            offline,
            fetch,
            reporter,
            current: Mutex::new(None),
            gate: tokio::sync::Mutex::new(()),
        }
    }

    /// The verified state of this run, if [`Trust::ensure`] succeeded.
    pub fn verified(&self) -> Option<Arc<Verified>> {
        self.current.lock().expect("lock").clone()
    }

    /// The verified state of this run, else the last one kept in the cache.
    pub fn provenance(&self) -> Option<Provenance> {
        let v = self.verified().or_else(|| {
            knap_trust::last_verified(&self.datastore, &self.pin)
                .ok()
                .flatten()
                .map(Arc::new)
        })?;
        Some(Provenance {
            root_key_ids: v.root_key_ids.clone(),
            targets_version: v.targets_version,
        })
    }

    /// Verifies the registry's metadata (once per run) with the fetcher it
    /// was made with.
    pub async fn ensure(&self) -> Result<Arc<Verified>, RegistryError> {
        let fetch = self.fetch.clone().ok_or_else(|| RegistryError::Other {
            registry: self.registry.clone(),
            message: "no way to read its TUF metadata".into(),
        })?;
        self.ensure_with(fetch).await
    }

    /// Verifies with `fetch` (a git registry reads the fetched commit's files).
    pub async fn ensure_with(&self, fetch: Arc<dyn Fetch>) -> Result<Arc<Verified>, RegistryError> {
        let _gate = self.gate.lock().await;
        if let Some(v) = self.verified() {
            return Ok(v);
        }
        let v = if self.offline {
            self.last_verified()?
        } else {
            let verifier = Verifier::new(fetch, self.pin.clone(), &self.datastore);
            Arc::new(verifier.update().await.map_err(|e| self.refused(e))?)
        };
        *self.current.lock().expect("lock") = Some(v.clone());
        Ok(v)
    }

    fn last_verified(&self) -> Result<Arc<Verified>, RegistryError> {
        let v = knap_trust::last_verified(&self.datastore, &self.pin)
            .map_err(|e| self.refused(e))?
            .ok_or_else(|| RegistryError::Unavailable {
                registry: self.registry.clone(),
                message: "no verified copy of its signed metadata and --offline; run `knap update` while online".into(),
            })?;
        let age = v.age_seconds().map_or("an unknown time".into(), human_age);
        self.reporter.report(Event::Warning {
            message: format!(
                "registry `{}`: --offline: using the signed metadata verified {age} ago (targets version {}, timestamp expires {})",
                self.registry, v.targets_version, v.timestamp_expires
            ),
        });
        Ok(Arc::new(v))
    }

    fn refused(&self, e: TrustError) -> RegistryError {
        if e.is_unreachable() {
            RegistryError::Unavailable {
                registry: self.registry.clone(),
                message: format!("{e}"),
            }
        } else {
            RegistryError::Untrusted {
                registry: self.registry.clone(),
                message: format!("signed metadata refused: {e}{}", self.kept()),
            }
        }
    }

    /// "; the last verified copy is kept" when there is one for this pin
    /// (never for a pin that nothing was verified with yet).
    fn kept(&self) -> &'static str {
        match knap_trust::last_verified(&self.datastore, &self.pin) {
            Ok(Some(_)) => "; the last verified copy is kept",
            _ => "",
        }
    }

    /// Whether `bytes` are the signed content of `rel`; needs [`Trust::ensure`] first.
    pub fn check(&self, rel: &str, bytes: &[u8]) -> Result<(), RegistryError> {
        let v = self.verified().ok_or_else(|| RegistryError::Untrusted {
            registry: self.registry.clone(),
            message: format!("{rel} was read before the signed metadata was verified"),
        })?;
        v.check(rel, bytes).map_err(|e| RegistryError::Untrusted {
            registry: self.registry.clone(),
            message: format!("{e}{}", self.kept()),
        })
    }

    /// Whether the cached copy of `rel` at `path` is the signed one.
    pub fn cached_matches(&self, rel: &str, path: &Path) -> bool {
        match (self.verified(), crate::cache::read_cached(path)) {
            (Some(v), Ok(bytes)) => v.check(rel, &bytes).is_ok(),
            _ => false,
        }
    }
}

fn human_age(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s} seconds"),
        s if s < 7200 => format!("{} minutes", s / 60),
        s if s < 172_800 => format!("{} hours", s / 3600),
        s => format!("{} days", s / 86400),
    }
}

/// The TUF files of a registry over HTTP, with this crate's fetcher (its
/// TLS, redirect and token policy), each read bounded.
#[derive(Clone)]
pub struct HttpFetch {
    pub fetcher: Fetcher,
    /// The registry's base, ending in `/`.
    pub base: Url,
}

impl std::fmt::Debug for HttpFetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HttpFetch({})", self.base)
    }
}

#[knap_trust::async_trait]
impl Fetch for HttpFetch {
    async fn fetch(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>, FetchError> {
        let url = self
            .base
            .join(path)
            .map_err(|e| FetchError::Failed(format!("{path}: {e}")))?;
        match self.fetcher.limited(limit).get(&url, None).await {
            Ok(Fetched::Body { bytes, .. }) => Ok(Some(bytes)),
            Ok(Fetched::NotFound) => Ok(None),
            Ok(Fetched::NotModified) => Err(FetchError::Failed(format!(
                "{url}: 304 to an unconditional request"
            ))),
            Err(HttpError::TooLarge { limit, .. }) => Err(FetchError::TooLarge {
                path: path.into(),
                limit,
            }),
            Err(e) => Err(FetchError::Failed(knap_schema::report::chain_line(&e))),
        }
    }
}

/// The TUF files of one git commit, read from its tree.
#[derive(Debug, Clone, Default)]
pub struct MemFetch(pub BTreeMap<String, Vec<u8>>);

#[knap_trust::async_trait]
impl Fetch for MemFetch {
    async fn fetch(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>, FetchError> {
        match self.0.get(path) {
            Some(b) if b.len() as u64 > limit => Err(FetchError::TooLarge {
                path: path.into(),
                limit,
            }),
            Some(b) => Ok(Some(b.clone())),
            None => Ok(None),
        }
    }
}

/// A local registry directory.
pub fn dir_fetch(root: &Path) -> Arc<dyn Fetch> {
    Arc::new(DirFetch {
        root: root.to_path_buf(),
    })
}
