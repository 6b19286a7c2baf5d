//! The public entry point for a program that embeds knap (Attune's API
//! server installs packs without shelling out to `knap`): a [`Client`]
//! holds the configuration and the environment of one program, opens the
//! configured registries, and installs into any root through the same
//! pipeline `knap install` runs, with the [`Reporter`] of the [`Env`]
//! receiving every progress event and warning.
//!
//! ```no_run
//! # async fn f(config: knap_schema::config::Config, env: knap_registry::registry::Env) -> Result<(), Box<dyn std::error::Error>> {
//! use knap_client::{Client, Request, spec};
//! let client = Client::open(config, env)?;
//! let request = Request { specs: vec![spec::parse("hello@^1")?], jobs: 4, ..Request::default() };
//! let outcome = client.install(std::path::Path::new("/srv/packs"), &request).await?;
//! for p in &outcome.installed { println!("{} {}", p.pack_ref, p.version); }
//! # Ok(()) }
//! ```
//!
//! [`Reporter`]: knap_schema::progress::Reporter

use std::path::Path;
use std::sync::Arc;

use knap_registry::index_set::{IndexSet, OpenError};
use knap_registry::registry::Env;
use knap_schema::config::Config;

use crate::install::{InstallError, Outcome, Request};

/// The configuration and environment of one program, and its registries
/// in priority order (see [`IndexSet`]).
#[derive(Debug, Clone)]
pub struct Client {
    config: Config,
    env: Env,
}

impl Client {
    /// Checks the configuration's registries (their locations, pins and
    /// names; at least one) and keeps them for installs.
    pub fn open(config: Config, env: Env) -> Result<Self, OpenError> {
        let client = Self::new(config, env);
        client.registries(None)?;
        Ok(client)
    }

    /// A client without checking its registries first (a program that may
    /// install only packs named by where they are needs none). Makes
    /// rustls's `ring` provider the process's default when the program has
    /// installed none (knap's HTTP client needs one).
    pub fn new(config: Config, env: Env) -> Self {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        Self { config, env }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn env(&self) -> &Env {
        &self.env
    }

    /// The configured registries (only `pin` when given), opened for one
    /// run: each keeps what it read for as long as the set lives.
    pub fn registries(&self, pin: Option<&str>) -> Result<IndexSet, OpenError> {
        IndexSet::open(&self.config, &self.env, pin)
    }

    /// Installs as `request` asks into the root at `root` (created if
    /// needed): resolves against its `knap.lock`, plans
    /// ([`knap_installer::Plan`]), fetches and verifies into staging and
    /// commits ([`knap_installer::InstallRoot::commit`]), then builds the
    /// pack environments of the root's packs ([`crate::install::envs`];
    /// `request.no_envs` or the configuration's `envs = false` skip the
    /// builds, and [`Outcome::envs`] still names every environment the
    /// packs need, for a program that builds them itself), reporting to
    /// the environment's reporter (the resolver reads the registries
    /// through [`crate::candidates::Lazy`]). A `dry_run` request stops at
    /// the plan. Must run on a multi-threaded tokio runtime.
    pub async fn install(&self, root: &Path, request: &Request) -> Result<Outcome, InstallError> {
        crate::install::install(&self.config, &self.env, root, request, None).await
    }

    /// [`Client::install`], reading the registries through `registries`
    /// (opened with [`Client::registries`] and, say, refreshed) instead of
    /// opening them again: what they have read is not read twice.
    pub async fn install_with(
        &self,
        registries: Arc<IndexSet>,
        root: &Path,
        request: &Request,
    ) -> Result<Outcome, InstallError> {
        crate::install::install(&self.config, &self.env, root, request, Some(registries)).await
    }

    /// Writes a bundle of `request`'s specs resolved now against the
    /// configured registries (formats.md §9, `knap bundle create SPEC...`):
    /// they are installed, without their environments, into a temporary
    /// root, which is then bundled as [`Client::create_bundle`] bundles a
    /// root, and removed. The user's root is not touched.
    pub async fn create_bundle_of(
        &self,
        request: &Request,
        out: &Path,
    ) -> Result<crate::bundle::Created, InstallError> {
        let tmp = tempfile::tempdir().map_err(|e| {
            knap_schema::KnapError::other("cannot create a temporary root to resolve into")
                .caused_by(e)
        })?;
        let root = tmp.path().join("root");
        let request = Request {
            no_envs: true,
            dry_run: false,
            ..request.clone()
        };
        self.install(&root, &request).await?;
        Ok(crate::bundle::create(&self.config, &self.env, &root, out).await?)
    }

    /// Writes the bundle of the root at `root` (its `knap.lock`) to the
    /// new directory `out` ([`crate::bundle::create`]).
    pub async fn create_bundle(
        &self,
        root: &Path,
        out: &Path,
    ) -> Result<crate::bundle::Created, knap_schema::KnapError> {
        crate::bundle::create(&self.config, &self.env, root, out).await
    }

    /// Mirrors `registry` (a configured registry's name, or a registry URL
    /// or path) into `out` ([`crate::mirror::mirror`]).
    pub async fn mirror(
        &self,
        registry: &str,
        out: &Path,
        request: &crate::mirror::Request,
    ) -> Result<crate::mirror::Mirrored, knap_schema::KnapError> {
        let cfg = crate::mirror::registry_config(&self.config, &self.env, registry).await?;
        crate::mirror::mirror(&self.config, &self.env, &cfg, out, request).await
    }

    /// Installs exactly the lock of the bundle at `bundle` (a directory or
    /// a tar of one) into the root at `root`, from the bundle alone: no
    /// registry is read. Of `request`, `force`, `jobs`, `dry_run`,
    /// `no_envs` and `env_timeout` apply.
    pub async fn install_bundle(
        &self,
        root: &Path,
        bundle: &Path,
        request: &Request,
    ) -> Result<Outcome, InstallError> {
        let limits = crate::install::store(&self.config, &self.env).limits;
        let limits = knap_installer::Limits {
            // A bundle holds many packs: each may be as large as one
            // archive download may be.
            max_total_bytes: limits.max_total_bytes.saturating_mul(64),
            max_entries: limits.max_entries.saturating_mul(64),
        };
        let opened = crate::bundle::Bundle::open(bundle, limits)?;
        crate::install::install_bundle(&self.config, &self.env, root, &opened, request).await
    }
}
