//! The pipeline's last step (formats.md §8): after an install or upgrade
//! commits, the pack environments of the root's packs are planned and,
//! unless the request (`--no-envs`) or the configuration (`envs = false`)
//! says not to, built with `knap_envs`, recorded in `knap.lock`, and the
//! environments no lock names any more removed.
//!
//! Locking: the plan reads the packs' dependency files under the root's
//! shared lock; the builds (minutes, with an installer's network traffic)
//! run under each pack's own environment lock and without the root's, so
//! that other commands, installs included, go on meanwhile; recording and
//! removing old environments take the root's exclusive lock again, and
//! record only what was built for a pack still at the version and tree it
//! was planned for. A failed build changes nothing of the pack's: the
//! installed packs stay committed and the pack's previous environment, the
//! one `knap.lock` names, stays in use.
//!
//! Whatever is skipped, the [`EnvOutcome`] says which environments the
//! root's packs need, so that a program that builds them itself (Attune's
//! workers) knows.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use knap_envs::{BuildOptions, Builder, Built, EnvError, PlannedEnv, Settings};
use knap_installer::{InstallRoot, RootError};
use knap_schema::PackRef;
use knap_schema::config::Config;
use knap_schema::env::{LockedEnv, Runtime};
use knap_schema::lock::Lockfile;
use knap_schema::progress::{Event, Reporter};

/// Why no environment was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Skipped {
    /// The request said so (`--no-envs`).
    NoEnvs,
    /// The configuration says so (`envs = false`).
    Config,
    /// A dry run: nothing was installed, so nothing is planned.
    DryRun,
}

/// An environment ready for its pack: built now, or already there.
#[derive(Debug, Clone)]
pub struct EnvReady {
    pub pack: PackRef,
    /// What `knap.lock` records of it.
    pub env: LockedEnv,
    /// `<envs_dir>/<ref>/<dir>`.
    pub path: PathBuf,
    /// The installer that built it now (`uv`, `pip`, `npm`); `None` when it
    /// was there already.
    pub installer: Option<&'static str>,
}

/// What the install did about pack environments.
#[derive(Debug, Default)]
pub struct EnvOutcome {
    /// Why nothing was built, if nothing was.
    pub skipped: Option<Skipped>,
    /// Where environments live (`envs_dir`, else `<root>/.envs`).
    pub envs_dir: PathBuf,
    /// Every environment the root's packs need, as planned after the
    /// commit (with its state then: current, unrecorded or to build):
    /// what a program that builds environments itself reads.
    pub needed: Vec<PlannedEnv>,
    /// The environments ready now, recorded in `knap.lock`.
    pub ready: Vec<EnvReady>,
    /// Environments that could not be planned (no interpreter, one that
    /// does not meet the pack's requirement) or built. When building was
    /// skipped, only the ones that could not be planned.
    pub failed: Vec<EnvError>,
    /// Environments left to the other process that was building them.
    pub busy: Vec<(PackRef, Runtime)>,
    /// Environment directories removed (no lock names them any more).
    pub removed: Vec<PathBuf>,
}

impl EnvOutcome {
    /// The outcome of a step that did not run.
    pub fn skipped(why: Skipped) -> Self {
        Self {
            skipped: Some(why),
            ..Self::default()
        }
    }

    /// The environments built now.
    pub fn built(&self) -> impl Iterator<Item = &EnvReady> {
        self.ready.iter().filter(|r| r.installer.is_some())
    }
}

/// How the step builds: what the request adds to the configuration.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub(crate) skip: bool,
    pub(crate) jobs: usize,
    pub(crate) timeout: Option<Duration>,
    /// Install the package versions `knap.lock` records (`--locked`, and
    /// `knap install` without SPEC restoring the lock).
    pub(crate) locked: bool,
    /// Variables for the installers on top of the configuration's (a
    /// bundle's carried packages: `knap_envs::carry::Offline`).
    pub(crate) installer_env: Vec<(std::ffi::OsString, std::ffi::OsString)>,
}

/// The environments directory of the root at `root`: `envs_dir`, else
/// `<root>/.envs`.
pub fn envs_dir(config: &Config, root: &Path) -> PathBuf {
    match &config.envs_dir {
        Some(d) => PathBuf::from(d),
        None => knap_envs::default_envs_dir(root),
    }
}

/// The build settings of the configuration (`envs_dir`, `python`) for the
/// root at `root`: `jobs` packs at once, each installer command stopped
/// after `timeout` (knap-envs' default when `None`), the installers'
/// offline flags when `offline`.
pub fn settings(
    config: &Config,
    root: &Path,
    offline: bool,
    jobs: usize,
    timeout: Option<Duration>,
) -> Settings {
    let mut s = Settings::new(envs_dir(config, root));
    s.python = config.python.as_ref().map(PathBuf::from);
    s.offline = offline;
    s.jobs = jobs.max(1);
    if let Some(t) = timeout {
        s.timeout = t;
    }
    s
}

/// The environment deadline this process was given in `KNAP_ENV_TIMEOUT`
/// (seconds, as the `KNAP_HTTP_*` times take them), for a binary to put
/// into its [`crate::Request`]; `None` when unset.
pub fn timeout_from_env() -> Result<Option<Duration>, knap_registry::http::EnvVarError> {
    knap_registry::http::seconds_from_env("KNAP_ENV_TIMEOUT")
}

/// Runs the step on the root at `root` after a commit.
pub(crate) fn after_commit(
    config: &Config,
    root: &Path,
    offline: bool,
    reporter: Arc<dyn Reporter>,
    step: Step,
) -> Result<EnvOutcome, RootError> {
    let skipped = if step.skip {
        Some(Skipped::NoEnvs)
    } else if !config.builds_envs() {
        Some(Skipped::Config)
    } else {
        None
    };
    let mut settings = settings(config, root, offline, step.jobs, step.timeout);
    settings.installer_env.extend(step.installer_env);
    let builder = Builder::new(settings, reporter.clone());
    // The packs' files stay put while the plan reads them.
    let (planned_lock, plan) = {
        let r = InstallRoot::open_for_reading(root, |p| {
            reporter.report(Event::WaitingForLock { root: p.to_owned() })
        })?;
        let lock = match &r {
            Some(r) => r.read_lock()?.unwrap_or_default(),
            None => Lockfile::default(),
        };
        let plan = builder.plan(root, &lock, &[]);
        (lock, plan)
    };
    let mut out = EnvOutcome {
        skipped,
        envs_dir: builder.settings().envs_dir.clone(),
        needed: plan.envs.clone(),
        ..EnvOutcome::default()
    };
    if skipped.is_some() {
        out.failed = plan.failed;
        return Ok(out);
    }
    let results = builder.build(
        plan,
        BuildOptions {
            force: false,
            locked: step.locked,
            // Another process (an install, `knap env build`) is building
            // it: this install does not wait for it.
            skip_busy: true,
        },
    );
    let mut built = Vec::new();
    for r in results {
        match r {
            Ok(b) => built.push(b),
            Err(EnvError::Busy { pack, runtime }) => out.busy.push((pack, runtime)),
            Err(e) => out.failed.push(e),
        }
    }
    let root = InstallRoot::open_reporting(root, reporter.clone())?;
    let (lock, recorded) = record(&root, &planned_lock, &built)?;
    out.ready = recorded;
    drop(built);
    out.removed = collect_garbage(&builder, &lock, &*reporter);
    Ok(out)
}

/// Under the root's exclusive lock (`root`): records `built` in its
/// `knap.lock` for the packs still at the version and tree `planned`
/// says (another install may have replaced one meanwhile: its environment
/// is then left for the garbage). Returns the lock now in force and what
/// was recorded.
pub fn record(
    root: &InstallRoot,
    planned: &Lockfile,
    built: &[Built],
) -> Result<(Lockfile, Vec<EnvReady>), RootError> {
    let old = root.read_lock()?.unwrap_or_default();
    let same: Vec<&Built> = built
        .iter()
        .filter(|b| {
            matches!((old.get(&b.pack), planned.get(&b.pack)),
                (Some(now), Some(then)) if now.version == then.version && now.tree == then.tree)
        })
        .collect();
    let mut lock = old.clone();
    knap_envs::record(&mut lock, same.iter().copied());
    if lock != old {
        root.commit(Vec::new(), Vec::new(), &lock)?;
    }
    let ready = same
        .into_iter()
        .map(|b| EnvReady {
            pack: b.pack.clone(),
            env: b.env.clone(),
            path: b.path.clone(),
            installer: b.installer,
        })
        .collect();
    Ok((lock, ready))
}

/// Removes the environments `lock` (the root's, read under its exclusive
/// lock, which the caller holds) no longer names, and half-built ones; a
/// failure to remove one is a warning (the install it follows is done).
fn collect_garbage(builder: &Builder, lock: &Lockfile, reporter: &dyn Reporter) -> Vec<PathBuf> {
    match builder.store().collect_garbage(lock) {
        Ok(removed) => removed,
        Err(e) => {
            reporter.report(Event::Warning {
                message: format!(
                    "cannot remove old environments in {}: {e}",
                    builder.store().path().display()
                ),
            });
            Vec::new()
        }
    }
}

/// After a commit that removed packs (`knap uninstall`), under the root's
/// exclusive lock (the caller holds it): removes the environments that
/// `lock`, the one just committed, no longer names. Runs whatever `envs`
/// says: an environment knap built for a pack that is gone is garbage.
pub fn remove_unused(
    config: &Config,
    root: &Path,
    lock: &Lockfile,
    reporter: Arc<dyn Reporter>,
) -> Vec<PathBuf> {
    let builder = Builder::new(settings(config, root, true, 1, None), reporter.clone());
    collect_garbage(&builder, lock, &*reporter)
}
