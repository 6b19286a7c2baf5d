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

use std::path::Path;

use knap_schema::config::Config;

use super::{InstallError, Outcome, Request};
use crate::index_set::{IndexSet, OpenError};
use crate::registry::Env;

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
    /// environment's reporter (the resolver reads the registries through
    /// [`crate::candidates::Lazy`]). Must run on a multi-threaded tokio
    /// runtime.
    pub async fn install(&self, root: &Path, request: &Request) -> Result<Outcome, InstallError> {
        super::install(
            &self.config,
            &self.env,
            root,
            request,
            crate::candidates::Lazy::new,
        )
        .await
    }
}
