//! The short public entry point for a program that embeds knap (Attune's
//! API server installs packs without shelling out to `knap`): open the
//! configured registries once, then install into any root through the
//! same pipeline `knap install` runs, with the [`Reporter`] of the
//! [`Env`] receiving every progress event.
//!
//! ```no_run
//! # async fn f(config: knap_schema::config::Config, env: knap_registry::registry::Env) -> Result<(), Box<dyn std::error::Error>> {
//! use knap_registry::install::{Registries, Request};
//! use knap_registry::sources::direct;
//! let registries = Registries::open(config, env)?;
//! let request = Request { specs: vec![direct::parse("hello@^1")?], jobs: 4, ..Request::default() };
//! let outcome = registries.install(std::path::Path::new("/srv/packs"), &request).await?;
//! for p in &outcome.installed { println!("{} {}", p.pack_ref, p.version); }
//! # Ok(()) }
//! ```
//!
//! [`Reporter`]: knap_schema::progress::Reporter

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use knap_resolver::Candidates;
use knap_schema::ErrorKind;
use knap_schema::config::Config;
use knap_schema::index::Entry;
use tokio::runtime::Handle;

use super::{InstallError, Outcome, Providers, Request};
use crate::index_set::{IndexSet, OpenError, Provided};
use crate::registry::{Env, RegistryError};

/// The configured registries, in priority order (see [`IndexSet`]).
pub struct Registries {
    config: Config,
    env: Env,
}

impl Registries {
    /// Checks the configuration's registries (their locations, pins and
    /// names) and keeps them for installs. Makes rustls's `ring` provider
    /// the process's default when the program has installed none (knap's
    /// HTTP client needs one).
    pub fn open(config: Config, env: Env) -> Result<Self, OpenError> {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        IndexSet::open(&config, &env, None)?;
        Ok(Self { config, env })
    }

    /// Installs as `request` asks into the root at `root` (created if
    /// needed): resolves against its `knap.lock`, plans
    /// ([`knap_installer::Plan`]), fetches and verifies into staging and
    /// commits ([`knap_installer::InstallRoot::commit`]), reporting to the
    /// environment's reporter. Must run on a multi-threaded tokio runtime.
    pub async fn install(&self, root: &Path, request: &Request) -> Result<Outcome, InstallError> {
        super::install(&self.config, &self.env, root, request, OnDemand::new).await
    }
}

/// A lookup that failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct LookupError(Arc<RegistryError>);

/// The resolver's view of the registries: each ref looked up the first
/// time the resolver asks (blocking on the runtime; resolution runs in
/// `block_in_place`), refs pinned to a direct pack never.
pub struct OnDemand {
    set: Option<Arc<IndexSet>>,
    pinned: BTreeMap<String, Entry>,
    runtime: Handle,
    found: Mutex<HashMap<String, Option<Provided>>>,
}

impl OnDemand {
    /// Must be created on the runtime.
    pub fn new(set: Option<Arc<IndexSet>>, pinned: BTreeMap<String, Entry>) -> Self {
        Self {
            set,
            pinned,
            runtime: Handle::current(),
            found: Mutex::new(HashMap::new()),
        }
    }
}

impl Candidates for OnDemand {
    type Error = LookupError;

    fn versions(&self, pack_ref: &str) -> Result<Vec<Entry>, Self::Error> {
        if let Some(e) = self.pinned.get(pack_ref) {
            return Ok(vec![e.clone()]);
        }
        if let Some(p) = self.found.lock().expect("lock").get(pack_ref) {
            return Ok(p.as_ref().map(|p| p.entries.clone()).unwrap_or_default());
        }
        let Some(set) = &self.set else {
            return Ok(Vec::new());
        };
        let wanted = pack_ref.to_owned();
        let mut found = self
            .runtime
            .block_on(set.lookup(std::slice::from_ref(&wanted)))
            .map_err(|e| LookupError(Arc::new(e)))?;
        let p = found.remove(pack_ref);
        let entries = p.as_ref().map(|p| p.entries.clone()).unwrap_or_default();
        self.found.lock().expect("lock").insert(wanted, p);
        Ok(entries)
    }
}

impl Providers for OnDemand {
    fn provider(&self, pack_ref: &str) -> Option<Provided> {
        self.found
            .lock()
            .expect("lock")
            .get(pack_ref)
            .cloned()
            .flatten()
    }

    fn error_kind(error: &Self::Error) -> ErrorKind {
        error.0.kind()
    }
}
