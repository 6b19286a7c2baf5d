//! One interface over every kind of registry, so that resolution never cares
//! where an index came from.
//!
//! A [`Registry`] answers [`Registry::versions`] for a batch of refs (a
//! sparse registry fetches only those refs' files, in parallel; a whole
//! index reads them from its per-ref cache, [`crate::index::split`]), gives
//! the search table ([`Registry::search_rows`]), and refreshes its cache
//! ([`Registry::update`]). The transports load bytes; parsing, validating
//! and caching what they load is [`crate::index`]'s:
//!
//! - [`local`]: a directory or `index.json` on disk (`file://` or a path);
//! - [`http_index`]: `https://` to an `index.json`, cached with validators;
//! - [`sparse`]: `sparse+https://`, `config.json` plus `packs/<ref>.json`;
//! - [`git`]: `git+https://` or `git+file://`, a shallow gix clone.
//!
//! Whole indices and sparse files are validated (`crate::index`) before
//! they are cached; an invalid document is refused and the last good copy
//! kept.

pub mod git;
pub mod http_index;
pub mod local;
pub mod sparse;
pub mod trust;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use knap_schema::config::RegistryConfig;
use knap_schema::index::Entry;
use knap_schema::progress::{Event, Reporter};
use knap_schema::urls::RegistryLocation;
use url::Url;

use crate::cache::RegistryCache;
pub use crate::error::RegistryError;
use crate::http::{Fetcher, HttpPolicy, HttpSettings, Validators};
use crate::index::search::{Found, SearchRow};
use crate::index::{View, rows_of};
use crate::registry::trust::{HttpFetch, Trust};

impl Common {
    /// The validators of the cached copy of `rel`, if it was fetched from
    /// `url` (a conditional GET sends them back).
    pub(crate) fn validators(&self, rel: &str, url: &Url) -> Option<Validators> {
        self.cache
            .meta(rel)
            .filter(|m| m.url == url.as_str())
            .map(|m| Validators {
                etag: m.etag,
                last_modified: m.last_modified,
            })
    }

    /// The registry's cache could not be written.
    pub(crate) fn cache_error(&self, e: std::io::Error) -> RegistryError {
        RegistryError::Other {
            registry: self.name.clone(),
            message: format!("cannot write the cache {}: {e}", self.cache.dir.display()),
        }
    }

    /// Tells the run's reporter a warning ([`Event::Warning`]).
    pub(crate) fn warn(&self, message: String) {
        self.reporter.report(Event::Warning { message });
    }

    /// Runs `fetch`, the first fetch of the index at `url` that a lookup
    /// needs (no cached copy yet), between the events that
    /// [`Registry::update`] reports around its own fetch.
    pub(crate) async fn first_fetch<T>(
        &self,
        url: &str,
        fetch: impl std::future::Future<Output = T>,
    ) -> T {
        self.reporter.report(Event::FetchingIndex {
            registry: self.name.clone(),
            url: url.to_owned(),
        });
        let out = fetch.await;
        self.reporter.report(Event::IndexFetched {
            registry: self.name.clone(),
        });
        out
    }
}

/// What `update` did.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum UpdateOutcome {
    /// A new copy was fetched and validated.
    Updated { detail: String },
    /// The server said the cached copy is current (304, or the same commit).
    NotModified { detail: String },
    /// A local registry: read and validated in place.
    Local { detail: String },
}

/// Settings shared by every registry of one run.
#[derive(Debug, Clone)]
pub struct Env {
    pub cache_root: PathBuf,
    pub offline: bool,
    pub http: HttpSettings,
    pub global_ca_file: Option<PathBuf>,
    /// Where fetches report their progress.
    pub reporter: Arc<dyn Reporter>,
}

/// One configured registry.
pub struct Registry {
    pub name: String,
    pub priority: i64,
    /// The configured location (for progress events).
    url: String,
    transport: Transport,
}

enum Transport {
    Local(local::LocalIndex),
    Http(http_index::HttpIndex),
    Sparse(Arc<sparse::SparseHttp>),
    Git(git::GitIndex),
}

/// What the transports share: the registry's name, cache and mode, and
/// where to report progress.
#[derive(Debug, Clone)]
pub struct Common {
    pub name: String,
    pub cache: RegistryCache,
    pub offline: bool,
    pub reporter: Arc<dyn Reporter>,
    /// Set for a signed (pinned) registry: everything read from it is
    /// verified first.
    pub trust: Option<Arc<Trust>>,
    /// The largest index document read, from any transport
    /// (`KNAP_MAX_INDEX_SIZE`).
    pub max_size: u64,
}

impl Registry {
    /// Sets up the registry from its configuration (no I/O beyond reading
    /// CA files).
    pub fn open(cfg: &RegistryConfig, env: &Env) -> Result<Self, RegistryError> {
        let name = cfg.name.clone();
        let location = RegistryLocation::parse(&cfg.url, cfg.allow_http).map_err(|m| {
            RegistryError::Other {
                registry: name.clone(),
                message: m,
            }
        })?;
        let mut common = Common {
            name: name.clone(),
            cache: RegistryCache::new(&env.cache_root, &cfg.name, &cfg.url),
            offline: env.offline,
            reporter: env.reporter.clone(),
            trust: None,
            max_size: env.http.max_size,
        };
        let pin = Trust::pin_of(cfg)?;
        let datastore = common.cache.path("tuf");
        let trust = |fetch: Option<Arc<dyn knap_trust::Fetch>>| {
            pin.clone().map(|p| {
                Arc::new(Trust::new(
                    &name,
                    p,
                    datastore.clone(),
                    env.offline,
                    fetch,
                    env.reporter.clone(),
                ))
            })
        };
        // One policy for the index and (see `HttpPolicy::for_registry`) the
        // install sources: the token for the registry's own origin only.
        let policy = HttpPolicy::for_registry(&env.http, env.global_ca_file.as_deref(), Some(cfg));
        let fetcher = || -> Result<Fetcher, RegistryError> {
            Fetcher::new(policy.clone(), env.reporter.clone()).map_err(|e| RegistryError::Fetch {
                registry: name.clone(),
                source: e,
            })
        };
        let transport = match location {
            RegistryLocation::Local(p) => {
                let dir = if p.is_dir() {
                    p.clone()
                } else {
                    p.parent().map(Path::to_path_buf).unwrap_or_default()
                };
                common.trust = trust(Some(crate::registry::trust::dir_fetch(&dir)));
                Transport::Local(local::LocalIndex::new(common, p))
            }
            RegistryLocation::Http(u) => {
                let f = fetcher()?;
                let base = index_url(&u).join(".").expect("a directory of a URL");
                common.trust = trust(Some(Arc::new(HttpFetch {
                    fetcher: f.clone(),
                    base,
                })));
                Transport::Http(http_index::HttpIndex::new(common, u, f))
            }
            RegistryLocation::Sparse(u) => {
                let f = fetcher()?;
                common.trust = trust(Some(Arc::new(HttpFetch {
                    fetcher: f.clone(),
                    base: u.clone(),
                })));
                Transport::Sparse(Arc::new(sparse::SparseHttp::new(common, u, f)))
            }
            RegistryLocation::Git(u) => {
                common.trust = trust(None);
                Transport::Git(git::GitIndex::new(common, u, policy))
            }
        };
        Ok(Self {
            name,
            priority: cfg.priority,
            url: cfg.url.clone(),
            transport,
        })
    }

    fn common(&self) -> &Common {
        match &self.transport {
            Transport::Local(l) => &l.common,
            Transport::Http(h) => &h.common,
            Transport::Sparse(s) => &s.common,
            Transport::Git(g) => &g.common,
        }
    }

    /// Whether the registry is signed (pinned with `tuf_root`).
    pub fn is_signed(&self) -> bool {
        self.common().trust.is_some()
    }

    /// For a signed registry: the root key ids and targets version verified
    /// in this run, else the last ones kept in the cache.
    pub fn provenance(&self) -> Option<crate::registry::trust::Provenance> {
        self.common().trust.as_ref()?.provenance()
    }

    /// A local signed registry is verified whenever it is read.
    async fn verify_local(&self) -> Result<(), RegistryError> {
        if let Transport::Local(l) = &self.transport
            && let Some(t) = &l.common.trust
        {
            t.ensure().await?;
        }
        Ok(())
    }

    /// Fetches or refreshes the index (network), keeping the last good copy
    /// on any failure.
    pub async fn update(&self) -> Result<UpdateOutcome, RegistryError> {
        if let Transport::Local(l) = &self.transport {
            self.verify_local().await?;
            return l.update().await;
        }
        if self.is_offline() {
            return Err(RegistryError::Unavailable {
                registry: self.name.clone(),
                message: "cannot update while --offline".into(),
            });
        }
        let (reporter, registry) = (&self.common().reporter, self.name.clone());
        reporter.report(Event::FetchingIndex {
            registry: registry.clone(),
            url: self.url.clone(),
        });
        let outcome = match &self.transport {
            Transport::Local(_) => unreachable!("handled above"),
            Transport::Http(h) => h.update().await,
            Transport::Sparse(s) => s.update().await,
            Transport::Git(g) => g.update().await,
        };
        reporter.report(Event::IndexFetched { registry });
        outcome
    }

    fn is_offline(&self) -> bool {
        !matches!(self.transport, Transport::Local(_)) && self.common().offline
    }

    /// Every version of each of `refs` that this registry lists; refs it
    /// does not list are absent from the map.
    pub async fn versions(
        &self,
        refs: &[String],
    ) -> Result<BTreeMap<String, Vec<Entry>>, RegistryError> {
        self.verify_local().await?;
        let view = match &self.transport {
            Transport::Local(l) => l.view().await?,
            Transport::Http(h) => h.view().await?,
            Transport::Git(g) => g.view().await?,
            Transport::Sparse(s) => return s.versions(refs).await,
        };
        match view.versions(&self.name, refs) {
            // A per-ref cache file that does not validate is never used:
            // the cached index is split again (and checked again) instead.
            Err(RegistryError::Invalid { location, .. }) if matches!(view, View::ByRef(_)) => {
                self.common().warn(format!(
                    "{location}: the cached copy is damaged; splitting the index again"
                ));
                self.resplit().await?.versions(&self.name, refs)
            }
            other => other,
        }
    }

    /// The per-ref cache of a whole index, found damaged, split again from
    /// the cached document.
    async fn resplit(&self) -> Result<View, RegistryError> {
        match &self.transport {
            Transport::Http(h) => h.resplit(true).await,
            Transport::Git(g) => g.resplit(true).await,
            Transport::Local(l) => l.resplit().await,
            Transport::Sparse(_) => unreachable!("a sparse registry has no per-ref split"),
        }
    }

    /// What search looks at: one row per ref this registry lists. A whole
    /// index reads its search table; a sparse registry without an
    /// `index.json` gives the refs it has cached.
    pub async fn search_rows(&self) -> Result<Vec<SearchRow>, RegistryError> {
        Ok(self.search("", false).await?.rows)
    }

    /// The rows that match `q` (lowercase; empty matches every row), and
    /// every ref this registry lists when `want_refs` (to report shadows).
    /// A whole index parses only the rows of its search table that may
    /// match.
    pub async fn search(&self, q: &str, want_refs: bool) -> Result<Found, RegistryError> {
        self.verify_local().await?;
        let view = match &self.transport {
            Transport::Local(l) => l.view().await?,
            Transport::Http(h) => h.view().await?,
            Transport::Git(g) => g.view().await?,
            Transport::Sparse(s) => {
                return Ok(Found::of(rows_of(s.all().await?), q, want_refs));
            }
        };
        match view.search(&self.name, q, want_refs) {
            Err(RegistryError::Invalid { location, .. }) if matches!(view, View::ByRef(_)) => {
                self.common().warn(format!(
                    "{location}: the cached copy is damaged; splitting the index again"
                ));
                self.resplit().await?.search(&self.name, q, want_refs)
            }
            other => other,
        }
    }

    /// The refs this registry lists, for did-you-mean; best effort (a
    /// registry that cannot be read lists none). A whole index reads its
    /// search table; a sparse registry the list of names its site
    /// publishes (its `index.json`), else the refs it has cached.
    pub async fn names(&self) -> Vec<String> {
        match &self.transport {
            Transport::Sparse(s) => s.names().await,
            _ => self
                .search_rows()
                .await
                .map(|rows| rows.into_iter().map(|r| r.pack_ref).collect())
                .unwrap_or_default(),
        }
    }
}

/// The `sparse+` URL to read a registry configured as a plain `https://…/`
/// site root with, when that site has the sparse layout (a `config.json`
/// of the sparse format beside its `index.json`): such a site's
/// `index.json` is the Attune form, the newest version of each pack only,
/// so read as a whole index it would hide every older version. `None` for
/// any other URL or when the site has no sparse `config.json`; a
/// `config.json` that cannot be fetched is the registry's failure (it
/// would not be read either).
pub async fn sparse_site_url(
    cfg: &RegistryConfig,
    env: &Env,
) -> Result<Option<String>, RegistryError> {
    let Ok(RegistryLocation::Http(u)) = RegistryLocation::parse(&cfg.url, cfg.allow_http) else {
        return Ok(None);
    };
    if !u.path().ends_with('/') || env.offline {
        return Ok(None);
    }
    let policy = HttpPolicy::for_registry(&env.http, env.global_ca_file.as_deref(), Some(cfg));
    let fetch = |e| RegistryError::fetch(&cfg.name, e);
    let fetcher = Fetcher::new(policy, env.reporter.clone()).map_err(fetch)?;
    let url = u.join("config.json").expect("a file name joins");
    match fetcher.get(&url, None).await.map_err(fetch)? {
        crate::http::Fetched::Body { bytes, .. } => {
            Ok(
                crate::index::parse_sparse_config(&cfg.name, url.as_str(), &bytes)
                    .ok()
                    .map(|_| format!("sparse+{u}")),
            )
        }
        _ => Ok(None),
    }
}

/// `<url>index.json` for a URL ending in `/`, else the URL itself.
pub fn index_url(u: &Url) -> Url {
    if u.path().ends_with('/') {
        u.join("index.json").expect("joining a file name")
    } else {
        u.clone()
    }
}
