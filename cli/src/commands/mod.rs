//! The subcommands, each in its own module, sharing a [`Ctx`] built once
//! from the global flags.

pub mod bundle;
pub mod changes;
pub mod doctor;
pub mod env;
pub mod info;
pub mod install;
pub mod list;
pub mod mirror;
pub mod outdated;
pub mod registry;
pub mod search;
pub mod uninstall;
pub mod update;
pub mod upgrade;
pub mod verify;

use std::path::PathBuf;
use std::sync::Arc;

use knap_client::{Client, InstallError, Outcome, Request};

use knap_installer::{InstallRoot, RootError};
use knap_schema::config::Config;
use knap_schema::lock::Lockfile;
use knap_schema::progress::Event;

use knap_registry::index_set::IndexSet;
use knap_registry::registry::Env;
use knap_schema::KnapError;

/// What every command gets: the configuration and how to talk.
pub struct Ctx {
    pub config_path: PathBuf,
    pub config: Config,
    pub env: Env,
    pub json: bool,
    pub quiet: bool,
    /// `-v` count: 1 shows full URLs and the steps of an install.
    pub verbose: u8,
    /// `--root` / `KNAP_ROOT` (used by the install family).
    pub root: Option<PathBuf>,
}

impl Ctx {
    /// The install root (see `knap_registry::config::root_dir`).
    pub fn root_dir(&self) -> PathBuf {
        knap_registry::config::root_dir(self.root.as_deref(), &self.config)
    }

    /// Prints a command's typed report (see [`crate::output::print`]).
    pub fn print<R: serde::Serialize + std::fmt::Display + ?Sized>(&self, report: &R) {
        crate::output::print(report, self.json, self.quiet);
    }

    /// The deadline of one environment installer command,
    /// `KNAP_ENV_TIMEOUT` (seconds; knap-envs' 30 minutes when unset).
    pub fn env_timeout(&self) -> anyhow::Result<Option<std::time::Duration>> {
        Ok(knap_client::install::envs::timeout_from_env()?)
    }

    /// Where an error after a printed report sends the reader for the
    /// details: `" (see above)"` when the report was printed as text;
    /// nothing with `--json` (the details are in the document on stdout,
    /// not above the error) or `-q` (nothing was printed).
    pub fn see_above(&self) -> &'static str {
        if self.json || self.quiet {
            ""
        } else {
            " (see above)"
        }
    }

    /// Tells a warning as the libraries do, as an [`Event::Warning`]: on
    /// stderr unless `-q`, an event with `--progress json`.
    pub fn warn(&self, text: &str) {
        self.env.reporter.report(Event::Warning {
            message: text.to_owned(),
        });
    }
}

impl Ctx {
    /// Opens the root for a command that only reads it (a shared lock;
    /// recovering an interrupted commit when it can write); `None` when the
    /// root does not exist.
    pub fn open_for_reading(&self) -> anyhow::Result<Option<InstallRoot>> {
        let path = self.root_dir();
        let reporter = self.env.reporter.clone();
        InstallRoot::open_for_reading(&path, |p| {
            reporter.report(Event::WaitingForLock { root: p.to_owned() })
        })
        .map_err(root_err)
    }

    /// Opens the root to change it (creating it if needed).
    pub fn open_for_writing(&self) -> anyhow::Result<InstallRoot> {
        let path = self.root_dir();
        InstallRoot::open_reporting(&path, self.env.reporter.clone()).map_err(root_err)
    }

    /// Fetches fresh indices of every registry (unless `--offline`), so
    /// that a version comparison sees what was published since the last
    /// update (exit 5 when one cannot be refreshed: a stale answer would
    /// look like "up to date").
    pub async fn refresh(&self, set: &IndexSet) -> anyhow::Result<()> {
        if self.env.offline {
            return Ok(());
        }
        for reg in &set.registries {
            reg.update().await.map_err(|e| {
                KnapError::new(
                    e.kind(),
                    format!(
                        "cannot refresh registry `{}` (use --offline to compare against the cached indices)",
                        reg.name
                    ),
                )
                .caused_by(e)
            })?;
        }
        Ok(())
    }
}

impl Ctx {
    /// The library client of this run's configuration and environment.
    pub fn client(&self) -> Client {
        Client::new(self.config.clone(), self.env.clone())
    }

    /// Runs the install pipeline (`knap_client::install`) on the root,
    /// with the resolver reading the registries lazily (through
    /// `registries` when the command opened them already); a ref no
    /// registry lists gets the refs it may have meant.
    pub async fn install(
        &self,
        registries: Option<Arc<IndexSet>>,
        request: &Request,
    ) -> anyhow::Result<Outcome> {
        let root = self.root_dir();
        let client = self.client();
        let result = match registries {
            Some(set) => client.install_with(set, &root, request).await,
            None => client.install(&root, request).await,
        };
        match result {
            Ok(o) => Ok(o),
            Err(e) => Err(self.install_failed(e, request).await),
        }
    }

    /// Writes a bundle of `request`'s specs, resolved now
    /// (`knap_client::Client::create_bundle_of`), to `out`.
    pub async fn bundle_of(
        &self,
        request: &Request,
        out: &std::path::Path,
    ) -> anyhow::Result<knap_client::bundle::Created> {
        match self.client().create_bundle_of(request, out).await {
            Ok(c) => Ok(c),
            Err(e) => Err(self.install_failed(e, request).await),
        }
    }

    /// A failed install as the user is told it: a ref no registry lists
    /// gets the refs it may have meant.
    async fn install_failed(&self, e: InstallError, request: &Request) -> anyhow::Error {
        match e {
            InstallError::NotListed {
                pack_ref,
                required_by,
            } => knap_registry::index_set::suggest::not_listed(
                &self.config,
                &self.env,
                &pack_ref,
                &required_by,
                request.registry.as_deref(),
            )
            .await
            .into(),
            InstallError::Failed(e) => e.into(),
            InstallError::Root(e) => root_err(e),
            InstallError::Open(e) => e.into(),
            InstallError::Locked(e) => e.into(),
            InstallError::NoSolution(no) => anyhow::Error::new(*no),
        }
    }
}

impl Ctx {
    /// Installs the lock of the bundle at `bundle` into the root, from the
    /// bundle alone (`knap_client::Client::install_bundle`).
    pub async fn install_bundle(
        &self,
        bundle: &std::path::Path,
        request: &Request,
    ) -> anyhow::Result<Outcome> {
        match self
            .client()
            .install_bundle(&self.root_dir(), bundle, request)
            .await
        {
            Ok(o) => Ok(o),
            Err(InstallError::Root(e)) => Err(root_err(e)),
            Err(InstallError::NoSolution(no)) => Err(anyhow::Error::new(*no)),
            Err(InstallError::Failed(e)) => Err(e.into()),
            Err(InstallError::Open(e)) => Err(e.into()),
            Err(InstallError::Locked(e)) => Err(e.into()),
            Err(e @ InstallError::NotListed { .. }) => Err(e.into()),
        }
    }
}

/// An install root error, typed (`crate::report` knows its kind: integrity,
/// exit 4, for an invalid lock or tree, else other, exit 1).
pub fn root_err(e: RootError) -> anyhow::Error {
    e.into()
}

/// The root's lock, or an empty one when there is none.
pub fn lock_of(root: Option<&InstallRoot>) -> anyhow::Result<Lockfile> {
    match root {
        None => Ok(Lockfile::default()),
        Some(r) => Ok(r.read_lock().map_err(root_err)?.unwrap_or_default()),
    }
}
