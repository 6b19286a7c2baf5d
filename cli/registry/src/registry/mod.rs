//! One interface over every kind of registry, so that resolution never cares
//! where an index came from.
//!
//! A [`Registry`] answers [`Registry::versions`] for a batch of refs (a
//! sparse registry fetches only those refs' files, in parallel; a whole
//! index reads them from its per-ref cache, [`by_ref`]), gives the search
//! table ([`Registry::search_rows`]), and refreshes its cache
//! ([`Registry::update`]). The transports:
//!
//! - [`local`]: a directory or `index.json` on disk (`file://` or a path);
//! - [`http_index`]: `https://` to an `index.json`, cached with validators;
//! - [`sparse`]: `sparse+https://`, `config.json` plus `packs/<ref>.json`;
//! - [`git`]: `git+https://` or `git+file://`, a shallow gix clone.
//!
//! Whole indices and sparse files are validated with `knap_schema::validate`
//! before they are cached; an invalid document is refused and the last good
//! copy kept.

pub mod by_ref;
mod get;
pub mod git;
pub mod http_index;
pub mod local;
pub mod sparse;
pub mod trust;
pub mod whole;

pub use whole::{IndexSummary, check_index, parse_index};

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use knap_schema::config::RegistryConfig;
use knap_schema::index::Entry;
use knap_schema::progress::{Event, Reporter};
use knap_schema::sparse::{SparseConfig, SparsePack};
use knap_schema::urls::RegistryLocation;
use knap_schema::validate::{validate_sparse_config, validate_sparse_pack};
use knap_schema::{Index, PackRef, Problems};
use url::Url;

use crate::cache::RegistryCache;
use crate::error::Kind;
use crate::http::{FetchError, Fetcher, HttpSettings};
use crate::net::HttpPolicy;
use crate::registry::trust::{HttpFetch, Trust};

/// Why a registry could not answer. A cause is carried only as the
/// `#[source]`, never repeated in the error's own text: the binary tells
/// the chain, each cause once.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registry `{registry}`")]
    Fetch {
        registry: String,
        #[source]
        source: FetchError,
    },
    #[error(
        "registry `{registry}`: {location} is not a valid index:\n{problems}\nthe last good copy (if any) is kept; report this to the registry's maintainer"
    )]
    Invalid {
        registry: String,
        location: String,
        problems: String,
    },
    #[error("registry `{registry}`: {message}")]
    Unavailable { registry: String, message: String },
    /// A signed registry whose metadata or files failed verification.
    #[error("registry `{registry}`: {message}")]
    Untrusted { registry: String, message: String },
    #[error("registry `{registry}`: {message}")]
    Other { registry: String, message: String },
}

impl RegistryError {
    pub fn kind(&self) -> Kind {
        match self {
            RegistryError::Fetch {
                source: FetchError::TooLarge { .. },
                ..
            } => Kind::Integrity,
            RegistryError::Fetch {
                source: FetchError::Setup(_),
                ..
            } => Kind::Other,
            RegistryError::Fetch { .. } | RegistryError::Unavailable { .. } => Kind::Registry,
            RegistryError::Invalid { .. } | RegistryError::Untrusted { .. } => Kind::Integrity,
            RegistryError::Other { .. } => Kind::Other,
        }
    }
}

impl Common {
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
            pin.clone()
                .map(|p| Arc::new(Trust::new(&name, p, datastore.clone(), env.offline, fetch)))
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
            return l.update();
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
            Transport::Local(l) => l.view()?,
            Transport::Http(h) => h.view().await?,
            Transport::Git(g) => g.view().await?,
            Transport::Sparse(s) => return s.versions(refs).await,
        };
        match view.versions(&self.name, refs) {
            // A per-ref cache file that does not validate is never used:
            // the cached index is split again (and checked again) instead.
            Err(RegistryError::Invalid { location, .. }) if matches!(view, View::ByRef(_)) => {
                tracing::warn!("{location}: the cached copy is damaged; splitting the index again");
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
            Transport::Local(_) | Transport::Sparse(_) => {
                unreachable!("only whole indices fetched over the network have a per-ref cache")
            }
        }
    }

    /// What search looks at: one row per ref this registry lists. A whole
    /// index reads its search table; a sparse registry without an
    /// `index.json` gives the refs it has cached.
    pub async fn search_rows(&self) -> Result<Vec<by_ref::SearchRow>, RegistryError> {
        Ok(self.search("", false).await?.rows)
    }

    /// The rows that match `q` (lowercase; empty matches every row), and
    /// every ref this registry lists when `want_refs` (to report shadows).
    /// A whole index parses only the rows of its search table that may
    /// match.
    pub async fn search(&self, q: &str, want_refs: bool) -> Result<by_ref::Found, RegistryError> {
        self.verify_local().await?;
        let view = match &self.transport {
            Transport::Local(l) => l.view()?,
            Transport::Http(h) => h.view().await?,
            Transport::Git(g) => g.view().await?,
            Transport::Sparse(s) => {
                return Ok(by_ref::Found::of(rows_of(s.all().await?), q, want_refs));
            }
        };
        match view.search(&self.name, q, want_refs) {
            Err(RegistryError::Invalid { location, .. }) if matches!(view, View::ByRef(_)) => {
                tracing::warn!("{location}: the cached copy is damaged; splitting the index again");
                self.resplit().await?.search(&self.name, q, want_refs)
            }
            other => other,
        }
    }

    /// For a git registry: how many versions of its cached commit name an
    /// install source by a relative URL, which nothing serves (counted by
    /// the update's check, so this reads no index).
    pub fn git_relative_sources(&self) -> Option<usize> {
        match &self.transport {
            Transport::Git(g) => Some(g.relative_sources()),
            _ => None,
        }
    }

    /// True when [`Registry::search_rows`] reads only what a lookup reads
    /// anyway (a whole index, a git or local registry); on a sparse registry
    /// it fetches a whole `index.json`, which no lookup needs.
    pub fn lists_refs_cheaply(&self) -> bool {
        !matches!(self.transport, Transport::Sparse(_))
    }
}

/// The search rows of a list of entries.
fn rows_of(entries: Vec<Entry>) -> Vec<by_ref::SearchRow> {
    let mut by: BTreeMap<PackRef, Vec<by_ref::Fields>> = BTreeMap::new();
    for e in entries {
        by.entry(e.pack_ref.clone()).or_default().push(e.into());
    }
    by.values().filter_map(by_ref::SearchRow::of).collect()
}

/// A whole index held in memory, its entries grouped by ref once.
#[derive(Debug)]
pub struct WholeIndex {
    by_ref: HashMap<PackRef, Vec<Entry>>,
    pub summary: IndexSummary,
}

impl WholeIndex {
    pub fn new(index: Index) -> Self {
        let summary = IndexSummary::of(&index);
        let mut by_ref: HashMap<PackRef, Vec<Entry>> = HashMap::new();
        for e in index.packs {
            by_ref.entry(e.pack_ref.clone()).or_default().push(e);
        }
        Self { by_ref, summary }
    }
}

/// A readable index: a whole `index.json` in memory, a sparse directory on
/// disk, or the per-ref cache of a whole index.
#[derive(Debug, Clone)]
pub enum View {
    Whole(Arc<WholeIndex>),
    /// A sparse layout read in place, its pack files bounded by the size
    /// limit (`KNAP_MAX_INDEX_SIZE`).
    SparseDir(PathBuf, u64),
    ByRef(by_ref::ByRef),
}

impl View {
    fn versions(
        &self,
        registry: &str,
        refs: &[String],
    ) -> Result<BTreeMap<String, Vec<Entry>>, RegistryError> {
        let mut out = BTreeMap::new();
        match self {
            View::Whole(index) => {
                for r in refs {
                    if let Some(v) = index.by_ref.get(r.as_str()) {
                        out.insert(r.clone(), v.clone());
                    }
                }
            }
            View::ByRef(b) => {
                for r in refs {
                    if let Some(v) = b.versions(registry, r)? {
                        out.insert(r.clone(), v);
                    }
                }
            }
            View::SparseDir(dir, limit) => {
                for r in refs {
                    if let Some(v) = read_sparse_pack_file_limited(registry, dir, r, *limit)? {
                        out.insert(r.clone(), v);
                    }
                }
            }
        }
        Ok(out)
    }

    fn search(
        &self,
        registry: &str,
        q: &str,
        want_refs: bool,
    ) -> Result<by_ref::Found, RegistryError> {
        let rows = match self {
            View::Whole(index) => {
                let mut rows: Vec<by_ref::SearchRow> = index
                    .by_ref
                    .values()
                    .filter_map(|es| {
                        let f: Vec<by_ref::Fields> = es.iter().cloned().map(Into::into).collect();
                        by_ref::SearchRow::of(&f)
                    })
                    .collect();
                rows.sort_by(|a, b| a.pack_ref.cmp(&b.pack_ref));
                rows
            }
            View::SparseDir(dir, limit) => {
                let mut out = Vec::new();
                for r in sparse_refs_in(&dir.join("packs")) {
                    out.extend(
                        read_sparse_pack_file_limited(registry, dir, &r, *limit)?
                            .unwrap_or_default(),
                    );
                }
                rows_of(out)
            }
            View::ByRef(b) => return b.search(registry, q, want_refs),
        };
        Ok(by_ref::Found::of(rows, q, want_refs))
    }
}

/// The refs that have a `<ref>.json` in a `packs/` directory.
pub(crate) fn sparse_refs_in(dir: &Path) -> Vec<String> {
    let mut refs: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let r = name.strip_suffix(".json")?;
            knap_schema::ident::is_valid_ref(r).then(|| r.to_owned())
        })
        .collect();
    refs.sort();
    refs
}

/// Reads and validates `packs/<ref>.json` under `dir`; `None` when absent.
/// (A pack file knap wrote to its cache: it was bounded when it was
/// fetched; a local registry's own files go through
/// [`read_sparse_pack_file_limited`].)
pub(crate) fn read_sparse_pack_file(
    registry: &str,
    dir: &Path,
    pack_ref: &str,
) -> Result<Option<Vec<Entry>>, RegistryError> {
    read_sparse_pack_file_limited(registry, dir, pack_ref, u64::MAX)
}

/// [`read_sparse_pack_file`], refusing a file larger than `limit` bytes
/// before it is read (`KNAP_MAX_INDEX_SIZE`, exit 4).
pub(crate) fn read_sparse_pack_file_limited(
    registry: &str,
    dir: &Path,
    pack_ref: &str,
    limit: u64,
) -> Result<Option<Vec<Entry>>, RegistryError> {
    if !knap_schema::ident::is_valid_ref(pack_ref) {
        return Ok(None);
    }
    let path = dir.join("packs").join(format!("{pack_ref}.json"));
    match read_limited(registry, &path, limit)? {
        Ok(bytes) => parse_sparse_pack(registry, &path.display().to_string(), &bytes, pack_ref)
            .map(|p| Some(p.versions)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RegistryError::Other {
            registry: registry.to_owned(),
            message: format!("cannot read {}: {e}", path.display()),
        }),
    }
}

pub(crate) fn format_problems(p: &Problems) -> String {
    let errors: Vec<String> = p.errors().map(|e| format!("  {e}")).collect();
    let shown = errors.len().min(20);
    let mut s = errors[..shown].join("\n");
    if errors.len() > shown {
        s.push_str(&format!("\n  ... and {} more", errors.len() - shown));
    }
    s
}

pub(crate) fn invalid(registry: &str, location: &str, problems: String) -> RegistryError {
    RegistryError::Invalid {
        registry: registry.to_owned(),
        location: location.to_owned(),
        problems,
    }
}

/// `bytes` as text; a document that is not UTF-8 is invalid.
pub(crate) fn utf8_text<'a>(
    registry: &str,
    location: &str,
    bytes: &'a [u8],
) -> Result<&'a str, RegistryError> {
    std::str::from_utf8(bytes)
        .map_err(|_| invalid(registry, location, "  $: not UTF-8 text".into()))
}

/// Parses a cached whole index that validated when it was stored.
pub fn parse_trusted_index(
    registry: &str,
    location: &str,
    bytes: &[u8],
) -> Result<Index, RegistryError> {
    serde_json::from_slice(bytes).map_err(|e| {
        invalid(
            registry,
            location,
            format!("  $: {e} (the cached copy is damaged; run `knap update {registry}`)"),
        )
    })
}

/// Parses and validates a sparse `config.json`.
pub fn parse_sparse_config(
    registry: &str,
    location: &str,
    bytes: &[u8],
) -> Result<SparseConfig, RegistryError> {
    let text = utf8_text(registry, location, bytes)?;
    let c: SparseConfig = knap_schema::index::from_json_str(text)
        .map_err(|e| invalid(registry, location, format!("  error: {e}")))?;
    let p = validate_sparse_config(&c);
    if p.has_errors() {
        return Err(invalid(registry, location, format_problems(&p)));
    }
    Ok(c)
}

/// Parses and validates a sparse `packs/<ref>.json`.
pub fn parse_sparse_pack(
    registry: &str,
    location: &str,
    bytes: &[u8],
    pack_ref: &str,
) -> Result<SparsePack, RegistryError> {
    let text = utf8_text(registry, location, bytes)?;
    let p: SparsePack = knap_schema::index::from_json_str(text)
        .map_err(|e| invalid(registry, location, format!("  error: {e}")))?;
    let problems = validate_sparse_pack(&p, Some(pack_ref));
    if problems.has_errors() {
        return Err(invalid(registry, location, format_problems(&problems)));
    }
    Ok(p)
}

/// `<url>index.json` for a URL ending in `/`, else the URL itself.
pub fn index_url(u: &Url) -> Url {
    if u.path().ends_with('/') {
        u.join("index.json").expect("joining a file name")
    } else {
        u.clone()
    }
}

pub(crate) fn summary(index: &WholeIndex) -> String {
    index.summary.to_string()
}

/// A document over the size limit (`KNAP_MAX_INDEX_SIZE`), from a local or
/// git registry (HTTP fetches report [`FetchError::TooLarge`]).
pub(crate) fn too_large(registry: &str, location: &str, size: u64, limit: u64) -> RegistryError {
    RegistryError::Fetch {
        registry: registry.to_owned(),
        source: FetchError::TooLarge {
            url: format!("{location} ({size} bytes)"),
            limit,
        },
    }
}

/// Reads the file at `path`, refusing it (before reading it) when it is
/// larger than `limit` bytes.
pub(crate) fn read_limited(
    registry: &str,
    path: &Path,
    limit: u64,
) -> Result<std::io::Result<Vec<u8>>, RegistryError> {
    use std::io::Read;
    // Never blocks: a FIFO or device is refused (exit 4) before any read.
    let (file, meta) = match knap_schema::fs::open(path, knap_schema::fs::Links::Follow) {
        Ok(f) => f,
        Err(knap_schema::fs::FileError::Io { error, .. }) => return Ok(Err(error)),
        Err(e) => {
            let location = path.display().to_string();
            return Err(invalid(registry, &location, format!("  $: {}", e.reason())));
        }
    };
    let size = meta.len();
    if size > limit {
        return Err(too_large(
            registry,
            &path.display().to_string(),
            size,
            limit,
        ));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    // A file that grows while it is read still stops at the limit.
    match file.take(limit.saturating_add(1)).read_to_end(&mut bytes) {
        Ok(_) if bytes.len() as u64 > limit => Err(too_large(
            registry,
            &path.display().to_string(),
            bytes.len() as u64,
            limit,
        )),
        Ok(_) => Ok(Ok(bytes)),
        Err(e) => Ok(Err(e)),
    }
}

/// `1 pack`, `2 packs`, `0 packs`: for the reports of `update`.
pub(crate) fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}
