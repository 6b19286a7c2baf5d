//! A `sparse+https://` registry: `config.json`, then only the
//! `packs/<ref>.json` files a lookup needs, fetched in parallel (as many at
//! a time as the server's origin admits: every stream the server allows on
//! an HTTP/2 connection, on a second one when more are ready than the
//! first takes, or a moderate and adaptive number of HTTP/1.x connections,
//! see [`crate::http::origin`]), each cached and revalidated with its
//! ETag. On a cold cache `config.json` and the first pack files are
//! requested together; nothing is answered before `config.json` is
//! checked.
//!
//! This is the one place pack files are fetched: [`SparseHttp::versions`]
//! fetches (or revalidates) each ref's file once per run, however many
//! lookups ask for it at the same time, and answers a ref fetched earlier
//! in the run from the cache; resolution asks for refs one at a time as it needs them (see
//! `candidates`). A cached file that does not validate is never used: it
//! is fetched again in full. `--offline` uses the cached files only. `update` revalidates `config.json` and every
//! pack file already cached. Search, and did-you-mean when a ref was not
//! found, use the registry's optional full `index.json` when it serves one
//! (the site build writes it, one entry per ref), else the cached pack
//! files.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use knap_schema::index::Entry;
use tokio::task::JoinSet;
use url::Url;

use super::{Common, RegistryError, UpdateOutcome};
use crate::cache::DocMeta;
use crate::http::{Fetched, Fetcher};
use crate::index::parse::{read_sparse_pack_file, sparse_refs_in};
use crate::index::{check_index, parse_sparse_config, parse_sparse_pack, parse_trusted_index};
use crate::registry::trust::Trust;

/// One pack file's state in this run: fetched (or revalidated) into the
/// cache, `true`, or not served by the registry, `false`; filled once.
/// The versions themselves go to the lookup that fetched them; another
/// lookup of the same ref in the run reads them from the cache, so a run
/// keeps no second copy of every pack's versions.
type PackCell = OnceCell<bool>;

pub struct SparseHttp {
    pub common: Common,
    base: Url,
    fetcher: Fetcher,
    /// Pack files looked at in this run, each fetched once: `None` when
    /// the registry does not have it. A lookup that finds the cell being
    /// filled waits for it.
    seen: Mutex<HashMap<String, Arc<PackCell>>>,
    config_checked: Mutex<bool>,
    /// Held while `config.json` is first fetched, so it is fetched once.
    config_lock: tokio::sync::Mutex<()>,
}

/// What happened to one document: when it is new, what its check made
/// of it (so that a new file is parsed once, not again from the cache).
enum Got<T = ()> {
    Same,
    New(T),
    Absent,
}

impl SparseHttp {
    pub fn new(common: Common, base: Url, fetcher: Fetcher) -> Self {
        Self {
            common,
            base,
            fetcher,
            seen: Mutex::new(HashMap::new()),
            config_checked: Mutex::new(false),
            config_lock: tokio::sync::Mutex::new(()),
        }
    }

    fn url_of(&self, rel: &str) -> Url {
        self.base.join(rel).expect("a relative file name joins")
    }

    /// Conditional GET of one document into the cache; `check` validates
    /// a new body before it replaces the cached one.
    async fn refresh<T>(
        &self,
        rel: &str,
        check: impl Fn(&[u8]) -> Result<T, RegistryError>,
    ) -> Result<Got<T>, RegistryError> {
        self.refresh_with(rel, check, true).await
    }

    /// [`Self::refresh`]; without `conditional`, a full GET whatever is
    /// cached.
    async fn refresh_with<T>(
        &self,
        rel: &str,
        check: impl Fn(&[u8]) -> Result<T, RegistryError>,
        conditional: bool,
    ) -> Result<Got<T>, RegistryError> {
        let url = self.url_of(rel);
        let validators = conditional
            .then(|| self.common.validators(rel, &url))
            .flatten();
        let cache = &self.common.cache;
        let fetched = self
            .fetcher
            .revalidate(&url, validators, || cache.read(rel).is_some())
            .await
            .map_err(|e| RegistryError::fetch(&self.common.name, e))?;
        match fetched {
            Fetched::NotModified => Ok(Got::Same),
            Fetched::NotFound => {
                self.common.cache.remove(rel);
                Ok(Got::Absent)
            }
            Fetched::Body {
                bytes,
                etag,
                last_modified,
            } => {
                let made = check(&bytes)?;
                let meta = DocMeta {
                    url: url.to_string(),
                    etag,
                    last_modified,
                    commit: None,
                    sha256: None,
                };
                self.common
                    .cache
                    .write(rel, &bytes, &meta)
                    .map_err(|e| RegistryError::Other {
                        registry: self.common.name.clone(),
                        message: format!(
                            "cannot write the cache {}: {e}",
                            self.common.cache.dir.display()
                        ),
                    })?;
                Ok(Got::New(made))
            }
        }
    }

    /// A signed registry's file: a cached copy whose hash matches the
    /// verified targets is used without a request; a file the targets do
    /// not list is absent; anything fetched must match its entry.
    async fn fetch_signed<T>(
        &self,
        trust: &Trust,
        rel: &str,
        check: impl Fn(&[u8]) -> Result<T, RegistryError>,
    ) -> Result<Got<T>, RegistryError> {
        if trust.cached_matches(rel, &self.common.cache.path(rel)) {
            return Ok(Got::Same);
        }
        let Some(info) = trust.verified().and_then(|v| v.target(rel).cloned()) else {
            self.common.cache.remove(rel);
            return Ok(Got::Absent);
        };
        if self.common.offline {
            return Err(self.no_cache());
        }
        let plain = self.url_of(rel);
        let hashed = self.url_of(&knap_trust::hashed_name(rel, &info.sha256));
        let bytes = self
            .fetcher
            .get_signed(&hashed, &plain)
            .await
            .map_err(|e| RegistryError::fetch(&self.common.name, e))?
            .ok_or_else(|| RegistryError::not_served(&self.common.name, &plain))?;
        trust.check(rel, &bytes)?;
        let made = check(&bytes)?;
        let meta = DocMeta {
            url: plain.to_string(),
            etag: None,
            last_modified: None,
            commit: None,
            sha256: Some(format!("sha256:{}", info.sha256)),
        };
        self.common
            .cache
            .write(rel, &bytes, &meta)
            .map_err(|e| RegistryError::Other {
                registry: self.common.name.clone(),
                message: format!(
                    "cannot write the cache {}: {e}",
                    self.common.cache.dir.display()
                ),
            })?;
        Ok(Got::New(made))
    }

    async fn refresh_config(&self) -> Result<Got, RegistryError> {
        let name = self.common.name.clone();
        let url = self.url_of("config.json").to_string();
        let check = |b: &[u8]| parse_sparse_config(&name, &url, b).map(|_| ());
        let got = match self.common.trust.clone() {
            Some(t) => {
                t.ensure().await?;
                self.fetch_signed(&t, "config.json", check).await?
            }
            None => self.refresh("config.json", check).await?,
        };
        if let Got::Absent = got {
            return Err(RegistryError::NotFound {
                registry: name,
                url,
                sparse: true,
            });
        }
        *self.config_checked.lock().expect("lock") = true;
        Ok(got)
    }

    /// Makes sure a valid `config.json` is cached (fetching it only when
    /// there is none).
    async fn ensure_config(&self) -> Result<(), RegistryError> {
        let _one_at_a_time = self.config_lock.lock().await;
        if let Some(t) = self.common.trust.clone() {
            t.ensure().await?;
            if *self.config_checked.lock().expect("lock") {
                return Ok(());
            }
            return self.refresh_config().await.map(|_| ());
        }
        if *self.config_checked.lock().expect("lock")
            || self.common.cache.read("config.json").is_some()
        {
            return Ok(());
        }
        if self.common.offline {
            return Err(self.no_cache());
        }
        self.refresh_config().await.map(|_| ())
    }

    fn no_cache(&self) -> RegistryError {
        let name = &self.common.name;
        RegistryError::Unavailable {
            registry: name.clone(),
            message: format!(
                "no cached copy of {} and --offline; run `knap update {name}` while online",
                self.base
            ),
        }
    }

    fn cached_pack(&self, pack_ref: &str) -> Result<Option<Vec<Entry>>, RegistryError> {
        read_sparse_pack_file(&self.common.name, &self.common.cache.dir, pack_ref)
    }

    /// Fetches (or revalidates) one pack file; falls back to the cached
    /// copy when the registry cannot be reached.
    async fn fetch_pack(
        self: Arc<Self>,
        pack_ref: String,
    ) -> Result<Option<Vec<Entry>>, RegistryError> {
        let rel = format!("packs/{pack_ref}.json");
        let name = self.common.name.clone();
        let url = self.url_of(&rel).to_string();
        let r = pack_ref.clone();
        let check = |b: &[u8]| parse_sparse_pack(&name, &url, b, &r).map(|p| p.versions);
        if let Some(t) = self.common.trust.clone() {
            return match self.fetch_signed(&t, &rel, check).await? {
                Got::Absent => Ok(None),
                Got::New(versions) => Ok(Some(versions)),
                Got::Same => self.cached_pack(&pack_ref),
            };
        }
        if self.common.offline {
            return self.cached_pack(&pack_ref);
        }
        match self.refresh(&rel, &check).await {
            Ok(Got::Absent) => Ok(None),
            Ok(Got::New(versions)) => Ok(Some(versions)),
            Ok(Got::Same) => match self.cached_pack(&pack_ref) {
                // The server says the cached copy is current, but the copy
                // does not validate (damaged on disk): never used, fetched
                // again in full.
                Err(RegistryError::Invalid { location, .. }) => {
                    self.common.warn(format!(
                        "{location}: the cached copy is damaged; fetching it again"
                    ));
                    self.common.cache.remove(&rel);
                    match self.refresh_with(&rel, &check, false).await? {
                        Got::Absent => Ok(None),
                        Got::New(versions) => Ok(Some(versions)),
                        Got::Same => self.cached_pack(&pack_ref),
                    }
                }
                other => other,
            },
            Err(e @ RegistryError::Fetch { .. }) => match self.cached_pack(&pack_ref)? {
                Some(v) => {
                    self.common.warn(format!(
                        "{}; using the cached copy of `{pack_ref}`",
                        knap_schema::report::chain_line(&e)
                    ));
                    Ok(Some(v))
                }
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// Every version of each of `refs`, fetching their files in parallel.
    /// Nothing is answered before `config.json` is checked; but when it is
    /// still to be fetched (a cold cache), the pack files are requested
    /// along with it rather than one round trip after it, unless the
    /// registry is signed (its files are checked against metadata that
    /// comes first).
    pub async fn versions(
        self: &Arc<Self>,
        refs: &[String],
    ) -> Result<BTreeMap<String, Vec<Entry>>, RegistryError> {
        if self.common.trust.is_some() || self.common.offline {
            self.ensure_config().await?;
            return self.pack_versions(refs).await;
        }
        let (config, packs) = tokio::join!(self.ensure_config(), self.pack_versions(refs));
        config?;
        packs
    }

    /// [`Self::versions`] without `config.json`.
    async fn pack_versions(
        self: &Arc<Self>,
        refs: &[String],
    ) -> Result<BTreeMap<String, Vec<Entry>>, RegistryError> {
        let mut out = BTreeMap::new();
        let mut todo: Vec<&String> = refs
            .iter()
            .filter(|r| knap_schema::ident::is_valid_ref(r))
            .collect();
        todo.sort();
        todo.dedup();
        let mut set = JoinSet::new();
        for r in todo {
            let cell = Arc::clone(
                self.seen
                    .lock()
                    .expect("lock")
                    .entry(r.clone())
                    .or_default(),
            );
            let me = Arc::clone(self);
            let r = r.clone();
            set.spawn(async move {
                let mut fetched = None;
                let got = match cell
                    .get_or_try_init(|| async {
                        fetched = Arc::clone(&me).fetch_pack(r.clone()).await?;
                        Ok(fetched.is_some())
                    })
                    .await
                {
                    Ok(true) => match fetched {
                        Some(v) => Ok(Some(v)),
                        None => me.cached_pack(&r),
                    },
                    Ok(false) => Ok(None),
                    Err(e) => Err(e),
                };
                (r, got)
            });
        }
        let mut first_err = None;
        while let Some(joined) = set.join_next().await {
            let (r, got) = joined.expect("a fetch task panicked");
            match got {
                Ok(v) => {
                    if let Some(v) = v {
                        out.insert(r, v);
                    }
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// Revalidates `config.json` and every cached pack file.
    pub async fn update(self: &Arc<Self>) -> Result<UpdateOutcome, RegistryError> {
        let got = self.refresh_config().await?;
        let cached = sparse_refs_in(&self.common.cache.path("packs"));
        let n = cached.len();
        self.versions(&cached).await?;
        let detail = format!("sparse layout, {n} cached pack files revalidated");
        Ok(match got {
            Got::Same => UpdateOutcome::NotModified { detail },
            _ => UpdateOutcome::Updated { detail },
        })
    }

    /// Everything listed, for search: the optional `index.json` when the
    /// registry serves one, else the cached pack files.
    pub async fn all(self: &Arc<Self>) -> Result<Vec<Entry>, RegistryError> {
        if let Some(packs) = self.full_index(true).await? {
            return Ok(packs);
        }
        let name = &self.common.name;
        self.common.warn(format!(
            "registry `{name}` serves no index.json; search covers only the packs looked up before"
        ));
        let mut out = Vec::new();
        for r in sparse_refs_in(&self.common.cache.path("packs")) {
            out.extend(self.cached_pack(&r)?.unwrap_or_default());
        }
        Ok(out)
    }

    /// The refs this registry lists, for did-you-mean: those of the site's
    /// `index.json` (the Attune form the site build writes, one entry per
    /// ref), else those of the cached pack files. Best effort and quiet: a
    /// suggestion never fails or warns, and it costs this one document only
    /// when a ref was not found.
    pub async fn names(self: &Arc<Self>) -> Vec<String> {
        let mut names: Vec<String> = match self.full_index(false).await {
            Ok(Some(packs)) => packs.into_iter().map(|e| e.pack_ref.to_string()).collect(),
            _ => Vec::new(),
        };
        names.extend(sparse_refs_in(&self.common.cache.path("packs")));
        names.sort();
        names.dedup();
        names
    }

    /// The optional full `index.json`, fetched or revalidated (verified on
    /// a signed registry) and read from the cache; `None` when the registry
    /// serves none. A failed fetch falls back to the cached copy, with a
    /// warning when `warn`.
    async fn full_index(self: &Arc<Self>, warn: bool) -> Result<Option<Vec<Entry>>, RegistryError> {
        self.ensure_config().await?;
        let name = self.common.name.clone();
        if let Some(t) = self.common.trust.clone() {
            let url = self.url_of("index.json").to_string();
            self.fetch_signed(&t, "index.json", |b| {
                check_index(&name, &url, b).map(|_| ())
            })
            .await?;
        } else if !self.common.offline {
            let url = self.url_of("index.json").to_string();
            match self
                .refresh("index.json", |b| check_index(&name, &url, b).map(|_| ()))
                .await
            {
                Ok(_) => {}
                Err(e @ RegistryError::Fetch { .. }) => {
                    if warn {
                        self.common.warn(format!(
                            "{}; searching the cached files only",
                            knap_schema::report::chain_line(&e)
                        ));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        match self.common.cache.read("index.json") {
            Some((bytes, _)) => {
                let loc = self.common.cache.path("index.json").display().to_string();
                Ok(Some(parse_trusted_index(&name, &loc, &bytes)?.packs))
            }
            None => Ok(None),
        }
    }
}
