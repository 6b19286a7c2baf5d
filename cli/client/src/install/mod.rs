//! The install pipeline that `knap install` and `knap upgrade` (and an
//! embedding program) share: stage direct packs, resolve against the
//! current `knap.lock` and [`Plan`] (`resolve`), fetch into staging
//! ([`fetch`]), commit, then build the root's pack environments
//! ([`envs`]).
//!
//! Locking: the root's exclusive lock is held only to recover the root,
//! read `knap.lock` and open a staging area ([`InstallRoot::new_staging`],
//! which other processes leave alone while it lives), and again to commit.
//! Staging direct packs, resolution and every download happen without it,
//! so a slow transfer never blocks another command. At commit, a
//! `knap.lock` that changed since planning (another install committed
//! meanwhile) is planned against again, fetching what the new plan needs
//! and reusing what was fetched, instead of being overwritten.
//!
//! A dry run that names no direct pack reads the root under its shared
//! lock and opens no staging area, so it writes nothing (`knap outdated`
//! runs the pipeline so, as a dry-run upgrade). A failed install into a
//! root that did not exist leaves no root behind
//! ([`InstallRoot::remove_if_unused`]).
//!
//! [`crate::Client`] is the entry point for a program that embeds knap.

pub mod envs;
pub mod fetch;
mod resolve;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use knap_installer::plan::{LockWouldChange, Plan};
use knap_installer::{InstallRoot, RootError, StagingDir};
use knap_registry::http::Downloader;
use knap_registry::http::HttpPolicy;
use knap_registry::index_set::{IndexSet, OpenError, Provided};
use knap_registry::registry::Env;
use knap_resolver::Upgrade;
use knap_schema::config::{Config, RegistryConfig};
use knap_schema::lock::{LockedPack, Lockfile};
use knap_schema::progress::{Event, Reporter};
use knap_schema::{ErrorKind as Kind, KnapError};
use knap_schema::{ErrorKind, PackRef};

use crate::sources::archive::{self, DEFAULT_DOWNLOAD_LIMIT};
use crate::sources::direct::{self, StagedDirect};
use crate::spec::{Direct, Spec};
use envs::{EnvOutcome, Skipped};
use fetch::{Job, Staged};

/// The installer variables that build environments from a bundle's
/// carried packages, and the temporary npm cache they name.
type CarriedEnvs = (
    Vec<(std::ffi::OsString, std::ffi::OsString)>,
    Option<tempfile::TempDir>,
);

/// What a restore puts back: the root's own `knap.lock`, or a bundle's.
#[derive(Clone, Copy)]
enum Restoring<'a> {
    Lock,
    Bundle(&'a crate::bundle::Bundle),
}

/// A restore plan made a bundle's: the packs the root's lock (`old`) has
/// and the bundle's does not are removed, and every install comes from
/// the bundle's archive of it.
fn from_bundle(
    plan: &mut Plan,
    bundle: &crate::bundle::Bundle,
    old: Option<&Lockfile>,
) -> Result<(), InstallError> {
    plan.remove = old
        .iter()
        .flat_map(|l| l.packs.iter())
        .filter(|p| bundle.lock.get(&p.pack_ref).is_none())
        .map(|p| p.pack_ref.clone())
        .collect();
    for i in &mut plan.install {
        let (file, checksum) = bundle
            .archives
            .get(&i.pack_ref)
            .expect("an open bundle holds every locked pack");
        let url = url::Url::from_file_path(file).map_err(|()| {
            KnapError::new(
                Kind::Other,
                format!("{}: not an absolute path", file.display()),
            )
        })?;
        i.sources = vec![knap_installer::Source::Archive {
            url,
            checksum: *checksum,
        }];
    }
    Ok(())
}

/// How many times a commit plans again because `knap.lock` kept changing.
const MAX_REPLANS: usize = 5;

/// What to install and how.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The specs named (none: install what `knap.lock` says, unless
    /// upgrading).
    pub specs: Vec<Spec>,
    /// Resolve from this registry only.
    pub registry: Option<String>,
    /// Which locked versions may move (`knap upgrade`).
    pub upgrade: Upgrade,
    /// Fail when the lock would change.
    pub locked: bool,
    /// Plan only.
    pub dry_run: bool,
    /// Fetch and reinstall even what is installed.
    pub force: bool,
    /// The named packs only, not their dependencies.
    pub no_deps: bool,
    /// Parallel downloads.
    pub jobs: usize,
    /// The expected checksum of the one direct spec.
    pub checksum: Option<String>,
    /// Install an archive URL spec without a checksum.
    pub allow_unverified: bool,
    /// Build no pack environments after the commit (`--no-envs`); they
    /// are still planned, in [`Outcome::envs`]. The configuration's `envs
    /// = false` does the same for every install.
    pub no_envs: bool,
    /// How long one environment installer command may run (knap-envs'
    /// default, 30 minutes, when `None`).
    pub env_timeout: Option<std::time::Duration>,
}

/// Why an install failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Failed(#[from] KnapError),
    #[error(transparent)]
    Root(#[from] RootError),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Locked(#[from] LockWouldChange),
    /// No set of versions satisfies every requirement.
    #[error(transparent)]
    NoSolution(Box<knap_resolver::NoSolution>),
    /// No registry (or not the `--registry` one) lists a ref.
    #[error("no registry provides a pack named `{pack_ref}`")]
    NotListed {
        pack_ref: String,
        required_by: Vec<String>,
    },
}

impl InstallError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            InstallError::Failed(e) => e.kind,
            InstallError::Root(e) => e.kind(),
            InstallError::Open(e) => e.kind(),
            InstallError::Locked(e) => e.kind(),
            InstallError::NotListed { .. } | InstallError::NoSolution(_) => Kind::NotFound,
        }
    }
}

/// What an install did (or, for a dry run, would do).
#[derive(Debug)]
pub struct Outcome {
    pub root: PathBuf,
    pub dry_run: bool,
    /// `knap install` without SPEC: the lock restored.
    pub restore: bool,
    /// Without SPEC, there was no `knap.lock` to install from.
    pub no_lock: bool,
    /// The lock planned against (the newest one when planned again).
    pub old: Option<Lockfile>,
    pub plan: Plan,
    /// The packs installed, as the new lock records them.
    pub installed: Vec<LockedPack>,
    /// The old lock's versions that their registry now marks yanked.
    pub yanked_now: BTreeSet<(PackRef, semver::Version)>,
    /// How often `knap.lock` changed during the install and was planned
    /// against again.
    pub replans: usize,
    /// Who provides each ref the resolution looked up in a registry.
    pub providers: BTreeMap<PackRef, Arc<Provided>>,
    /// The pack environments the root's packs need, and what was built,
    /// after the commit (see [`envs`]). A failed build is here, not an
    /// error: the packs are installed.
    pub envs: EnvOutcome,
}

/// Installs into the root at `root` as `req` asks, reading the registries
/// through `registries` when given (already opened, and refreshed, by the
/// caller), else opening them when resolution needs them. A failed install
/// into a root that did not exist leaves no root behind.
pub(crate) async fn install(
    config: &Config,
    env: &Env,
    root: &Path,
    req: &Request,
    registries: Option<Arc<IndexSet>>,
) -> Result<Outcome, InstallError> {
    let existed = root.exists();
    let result = run(config, env, root, req, registries).await;
    if result.is_err() && !existed {
        InstallRoot::remove_if_unused(root);
    }
    result
}

async fn run(
    config: &Config,
    env: &Env,
    root: &Path,
    req: &Request,
    registries: Option<Arc<IndexSet>>,
) -> Result<Outcome, InstallError> {
    let (by_registry, directs) = split_specs(req)?;
    let (staging, snapshot) = if req.dry_run && directs.is_empty() {
        (None, read_snapshot(root, env)?)
    } else {
        let (staging, snapshot) = open_and_snapshot(root, env)?;
        (Some(staging), snapshot)
    };
    let mut pipeline = Pipeline {
        config,
        env,
        root,
        req,
        staging,
        registries,
        store: Arc::new(store(config, env)),
        fetched: Vec::new(),
    };
    if req.specs.is_empty() && req.upgrade == Upgrade::None {
        return pipeline.restore(Restoring::Lock, snapshot).await;
    }
    let staged_direct = pipeline.stage_directs(&directs, &by_registry).await?;
    let mut old = snapshot;
    let mut replans = 0;
    loop {
        let (plan, yanked_now, providers) = pipeline
            .resolve_and_plan(old.as_ref(), &by_registry, &staged_direct)
            .await?;
        let plan = if req.locked {
            plan.locked(old.as_ref())?
        } else {
            plan
        };
        let outcome = |plan, installed| Outcome {
            root: root.to_owned(),
            dry_run: req.dry_run,
            restore: false,
            no_lock: false,
            old: old.clone(),
            plan,
            installed,
            yanked_now: yanked_now.clone(),
            replans,
            providers: providers.clone(),
            envs: EnvOutcome::skipped(Skipped::DryRun),
        };
        if req.dry_run {
            return Ok(outcome(plan, Vec::new()));
        }
        let staged = pipeline.fetch(&plan, &staged_direct).await?;
        match pipeline.commit(&plan, old.as_ref(), staged)? {
            Committed::Done(installed) => {
                let mut done = outcome(plan, installed);
                done.envs = pipeline.build_envs(req.locked)?;
                return Ok(done);
            }
            Committed::LockChanged(newer) => {
                replans += 1;
                if replans > MAX_REPLANS {
                    return Err(lock_keeps_changing(root).into());
                }
                old = newer;
            }
        }
    }
}

/// Installs exactly the bundle's `knap.lock` into the root at `root` from
/// the bundle alone (no registry is opened): every locked pack not intact
/// on disk (all with `req.force`) is fetched from its bundled archive
/// (`file://`, checked against the bundle index's checksum) and must be
/// its locked tree; the packs of the root's lock that the bundle's lock
/// does not hold are removed. The new `knap.lock` is the bundle's, with
/// its original source URLs. A failed install into a root that did not
/// exist leaves no root behind.
pub(crate) async fn install_bundle(
    config: &Config,
    env: &Env,
    root: &Path,
    bundle: &crate::bundle::Bundle,
    req: &Request,
) -> Result<Outcome, InstallError> {
    let existed = root.exists();
    let result = async {
        // A dry run reads the root under its shared lock and writes nothing.
        let (staging, snapshot) = if req.dry_run {
            (None, read_snapshot(root, env)?)
        } else {
            let (staging, snapshot) = open_and_snapshot(root, env)?;
            (Some(staging), snapshot)
        };
        let pipeline = Pipeline {
            config,
            env,
            root,
            req,
            staging,
            registries: None,
            store: Arc::new(store(config, env)),
            fetched: Vec::new(),
        };
        pipeline.restore(Restoring::Bundle(bundle), snapshot).await
    }
    .await;
    if result.is_err() && !existed {
        InstallRoot::remove_if_unused(root);
    }
    result
}

fn lock_keeps_changing(root: &Path) -> KnapError {
    KnapError::new(
        Kind::Other,
        format!(
            "{}: knap.lock changed {MAX_REPLANS} times while this install fetched its packs (other installs into the same root); nothing was installed by this one: run it again",
            root.display()
        ),
    )
}

/// The registry refs and the direct packs a request names, with its flags
/// checked against them.
/// The registry refs (with their requirements) a request names.
type RegistrySpecs = Vec<(PackRef, String)>;

fn split_specs(req: &Request) -> Result<(RegistrySpecs, Vec<Direct>), KnapError> {
    let mut by_registry = Vec::new();
    let mut directs = Vec::new();
    for s in &req.specs {
        match s {
            Spec::Registry { dep, req } => by_registry.push((dep.pack.clone(), req.clone())),
            Spec::Direct(d) => directs.push(d.clone()),
        }
    }
    if let Some(c) = &req.checksum {
        if directs.len() != 1 {
            return Err(KnapError::usage(
                "--checksum goes with exactly one SPEC that is a path, an archive URL or a git URL; install such packs one at a time",
            ));
        }
        archive::checksum_hex(c).map_err(|e| KnapError::usage(format!("--checksum: {e}")))?;
    }
    if req.allow_unverified && !directs.iter().any(|d| matches!(d, Direct::ArchiveUrl(_))) {
        return Err(KnapError::usage(
            "--allow-unverified goes with an archive URL SPEC (https://...); registry packs, paths and git commits are always verified",
        ));
    }
    Ok((by_registry, directs))
}

/// Under the root's exclusive lock (released on return): recovers the
/// root, opens a staging area for this install and reads `knap.lock`.
fn open_and_snapshot(root: &Path, env: &Env) -> Result<(StagingDir, Option<Lockfile>), RootError> {
    let r = InstallRoot::open_reporting(root, env.reporter.clone())?;
    let staging = r.new_staging()?;
    let lock = r.read_lock()?;
    Ok((staging, lock))
}

/// For a dry run that stages nothing: `knap.lock` read under the root's
/// shared lock (released on return); nothing when there is no root.
fn read_snapshot(root: &Path, env: &Env) -> Result<Option<Lockfile>, RootError> {
    let reporter = env.reporter.clone();
    let r = InstallRoot::open_for_reading(root, |p| {
        reporter.report(Event::WaitingForLock { root: p.to_owned() })
    })?;
    match r {
        Some(r) => r.read_lock(),
        None => Ok(None),
    }
}

/// The archive store of the configuration's limits.
pub(crate) fn store(config: &Config, env: &Env) -> archive::Store {
    let limits = config.limits.clone().unwrap_or_default();
    let defaults = knap_installer::Limits::default();
    archive::Store {
        cache_root: env.cache_root.clone(),
        max_download: limits.download_size.unwrap_or(DEFAULT_DOWNLOAD_LIMIT),
        limits: knap_installer::Limits {
            max_total_bytes: limits.extracted_size.unwrap_or(defaults.max_total_bytes),
            max_entries: limits.entries.unwrap_or(defaults.max_entries),
        },
    }
}

/// The HTTP policy of a registry's sources: the registry's own (its CA
/// files plus the global ones, its `allow_http`, its token for its origin
/// only); the defaults for a direct source or a registry no longer
/// configured.
pub(crate) fn source_policy(env: &Env, cfg: Option<&RegistryConfig>) -> HttpPolicy {
    HttpPolicy::for_registry(&env.http, env.global_ca_file.as_deref(), cfg)
}

pub(crate) fn downloader_for(
    env: &Env,
    cfg: Option<&RegistryConfig>,
) -> Result<Downloader, KnapError> {
    Downloader::new(&source_policy(env, cfg))
        .map_err(|e| crate::sources::fetch_failed("cannot set up HTTP for downloads", e))
}

/// The packs on disk among the lock's (their directories present).
fn present(root: &Path, old: Option<&Lockfile>) -> BTreeSet<PackRef> {
    old.iter()
        .flat_map(|l| l.packs.iter())
        .filter(|p| p.pack_ref.dir_in(root).is_dir())
        .map(|p| p.pack_ref.clone())
        .collect()
}

enum Committed {
    Done(Vec<LockedPack>),
    /// `knap.lock` is not the one planned against any more.
    LockChanged(Option<Lockfile>),
}

/// One install's state across its steps.
struct Pipeline<'a> {
    config: &'a Config,
    env: &'a Env,
    root: &'a Path,
    req: &'a Request,
    /// Where packs are fetched; none for a dry run that stages nothing.
    staging: Option<StagingDir>,
    /// The registries, when the caller opened them.
    registries: Option<Arc<IndexSet>>,
    store: Arc<archive::Store>,
    /// Every pack fetched so far (reused when planning again).
    fetched: Vec<Staged>,
}

impl Pipeline<'_> {
    fn reporter(&self) -> Arc<dyn Reporter> {
        self.env.reporter.clone()
    }

    /// The staging area (a pipeline that stages or fetches has one).
    fn staging(&self) -> &StagingDir {
        self.staging
            .as_ref()
            .expect("a pipeline that stages or fetches opened a staging area")
    }

    /// `knap install` without SPEC (`Restoring::Lock`), or `install
    /// --bundle` (`Restoring::Bundle`): fetch what the lock names and is
    /// not intact on disk, from its locked source (or the bundle's
    /// archive), to its locked tree; then its environments at their locked
    /// versions. Planned again when `knap.lock` changed meanwhile.
    async fn restore(
        mut self,
        from: Restoring<'_>,
        snapshot: Option<Lockfile>,
    ) -> Result<Outcome, InstallError> {
        let mut old = snapshot;
        let mut replans = 0;
        loop {
            let lock: Cow<'_, Lockfile> = match (from, &old) {
                (Restoring::Bundle(b), _) => Cow::Borrowed(&b.lock),
                (Restoring::Lock, Some(l)) => Cow::Owned(l.clone()),
                (Restoring::Lock, None) => return self.no_lock(replans),
            };
            let intact = {
                let r = InstallRoot::open_for_reading(self.root, |_| {})?;
                lock.packs
                    .iter()
                    .filter(|p| r.as_ref().is_some_and(|r| r.is_intact(p)))
                    .map(|p| p.pack_ref.clone())
                    .collect()
            };
            let mut plan = Plan::restore(&lock, &intact, self.req.force);
            if let Restoring::Bundle(bundle) = from {
                from_bundle(&mut plan, bundle, old.as_ref())?;
            }
            let outcome = |plan, installed| Outcome {
                root: self.root.to_owned(),
                dry_run: self.req.dry_run,
                restore: true,
                no_lock: false,
                old: old.clone(),
                plan,
                installed,
                yanked_now: BTreeSet::new(),
                replans,
                providers: BTreeMap::new(),
                envs: EnvOutcome::skipped(Skipped::DryRun),
            };
            if self.req.dry_run {
                return Ok(outcome(plan, Vec::new()));
            }
            let mut staged = self.fetch(&plan, &BTreeMap::new()).await?;
            if let Restoring::Bundle(_) = from {
                // The lock keeps the locked sources (portable), not the
                // bundle's files.
                for s in &mut staged {
                    let locked = lock
                        .get(&s.pack.pack_ref)
                        .expect("every install is a locked pack");
                    s.pack.source = locked.source.clone();
                    s.pack.tree = locked.tree;
                }
            }
            match self.commit_to(&plan, old.as_ref(), Some(&lock), staged)? {
                Committed::Done(installed) => {
                    let mut done = outcome(plan, installed);
                    // A bundle's environments from the packages it
                    // carries, when it carries them: no index is asked.
                    let (installer_env, _npm_cache) = match from {
                        Restoring::Lock => (Vec::new(), None),
                        Restoring::Bundle(bundle) => self.carried_envs(bundle)?,
                    };
                    done.envs = self.build_envs_with(true, installer_env)?;
                    return Ok(done);
                }
                Committed::LockChanged(newer) => {
                    replans += 1;
                    if replans > MAX_REPLANS {
                        return Err(lock_keeps_changing(self.root).into());
                    }
                    old = newer;
                }
            }
        }
    }

    /// A restore of a root that has no `knap.lock`: nothing to do, but an
    /// error under `--locked`.
    fn no_lock(&self, replans: usize) -> Result<Outcome, InstallError> {
        if self.req.locked {
            return Err(KnapError::not_found(
                "--locked: the root has no knap.lock; install packs by name first",
            )
            .into());
        }
        Ok(Outcome {
            root: self.root.to_owned(),
            dry_run: self.req.dry_run,
            restore: true,
            no_lock: true,
            old: None,
            plan: Plan::restore(&Lockfile::default(), &BTreeSet::new(), false),
            installed: Vec::new(),
            yanked_now: BTreeSet::new(),
            replans,
            providers: BTreeMap::new(),
            envs: EnvOutcome::skipped(Skipped::DryRun),
        })
    }

    /// The installer variables that build environments from the packages
    /// `bundle` carries (`knap_envs::carry::Offline`), with the temporary
    /// npm cache they name, to be kept until the build ends; none when it
    /// carries none.
    fn carried_envs(&self, bundle: &crate::bundle::Bundle) -> Result<CarriedEnvs, InstallError> {
        let carried = bundle.dir.join(crate::bundle::ENVS_DIR);
        if !carried.is_dir() {
            return Ok((Vec::new(), None));
        }
        let cache = tempfile::tempdir()
            .map_err(|e| KnapError::other("cannot create a temporary npm cache").caused_by(e))?;
        let settings = envs::settings(
            self.config,
            self.root,
            true,
            self.req.jobs,
            self.req.env_timeout,
        );
        let offline = knap_envs::carry::Offline::prepare(&settings, &carried, cache.path())
            .map_err(|e| {
                KnapError::new(
                    Kind::Integrity,
                    format!(
                        "cannot read the environments' packages in {}",
                        carried.display()
                    ),
                )
                .caused_by(e)
            })?;
        Ok((offline.installer_env(), Some(cache)))
    }

    /// Stages the direct packs (only their pack.yaml says what they are).
    async fn stage_directs(
        &self,
        directs: &[Direct],
        by_registry: &[(PackRef, String)],
    ) -> Result<BTreeMap<PackRef, StagedDirect>, InstallError> {
        let mut staged: BTreeMap<PackRef, StagedDirect> = BTreeMap::new();
        if directs.is_empty() {
            return Ok(staged);
        }
        let downloader = downloader_for(self.env, None)?;
        let git_http = source_policy(self.env, None);
        for d in directs {
            let stager = direct::Stager {
                staging_dir: self.staging().new_dir()?,
                downloader: &downloader,
                store: &self.store,
                checksum: self.req.checksum.as_deref(),
                allow_unverified: self.req.allow_unverified,
                git_http: &git_http,
                reporter: &*self.env.reporter,
            };
            let s = direct::stage(d, &stager).await?;
            let r = s.pack.pack_ref.clone();
            if staged.contains_key(&r) || by_registry.iter().any(|(b, _)| *b == r) {
                return Err(KnapError::usage(format!(
                    "`{r}` is named twice on the command line ({}); install one of them",
                    d.describe()
                ))
                .into());
            }
            staged.insert(r, s);
        }
        Ok(staged)
    }

    /// Fetches what the plan installs and was not fetched (or staged)
    /// already; returns every install of the plan, staged.
    async fn fetch(
        &mut self,
        plan: &Plan,
        staged_direct: &BTreeMap<PackRef, StagedDirect>,
    ) -> Result<Vec<Staged>, InstallError> {
        let mut ready: Vec<Option<Staged>> = Vec::new();
        let mut jobs = Vec::new();
        let mut slots = Vec::new();
        let mut downloaders: BTreeMap<Option<String>, Downloader> = BTreeMap::new();
        let mirrors = Arc::new(crate::sources::mirror::Mirrors::new(self.config, self.env)?);
        for i in &plan.install {
            if let Some(pack) = &i.staged {
                let s = staged_direct
                    .get(&i.pack_ref)
                    .expect("a staged install is a staged direct pack");
                ready.push(Some(Staged {
                    pack: LockedPack {
                        dependencies: i.dependencies.clone(),
                        ..pack.clone()
                    },
                    dest: s.dest.clone(),
                }));
                continue;
            }
            // Fetched before a re-plan: the same pack from one of its
            // sources (and to its locked tree, if it has one).
            let reuse = self.fetched.iter().find(|s| {
                s.pack.pack_ref == i.pack_ref
                    && s.pack.version == i.version
                    && s.pack.registry == i.registry
                    && i.expect_tree.is_none_or(|t| t == s.pack.tree)
                    && i.sources
                        .iter()
                        .any(|x| x.locked().as_ref() == Some(&s.pack.source))
            });
            if let Some(s) = reuse {
                ready.push(Some(Staged {
                    pack: LockedPack {
                        dependencies: i.dependencies.clone(),
                        signed: i.signed.clone(),
                        yanked: i.yanked,
                        ..s.pack.clone()
                    },
                    dest: s.dest.clone(),
                }));
                continue;
            }
            let cfg = i
                .registry
                .as_ref()
                .and_then(|n| self.config.registries.iter().find(|c| &c.name == n));
            let downloader = match downloaders.get(&i.registry) {
                Some(d) => d.clone(),
                None => {
                    let d = downloader_for(self.env, cfg)?;
                    downloaders.insert(i.registry.clone(), d.clone());
                    d
                }
            };
            slots.push(ready.len());
            ready.push(None);
            jobs.push(Job {
                install: i.clone(),
                downloader,
                git_http: source_policy(self.env, cfg),
                mirrors: mirrors.clone(),
            });
        }
        let new = fetch::run_jobs(
            self.staging(),
            jobs,
            self.req.jobs,
            self.store.clone(),
            self.reporter(),
        )
        .await?;
        for (slot, s) in slots.into_iter().zip(new) {
            self.fetched.push(s.clone());
            ready[slot] = Some(s);
        }
        Ok(ready
            .into_iter()
            .map(|s| s.expect("every install is staged"))
            .collect())
    }

    /// After the commit: the root's pack environments (see [`envs`]),
    /// built with the versions `knap.lock` records when `locked`.
    fn build_envs(&self, locked: bool) -> Result<EnvOutcome, InstallError> {
        self.build_envs_with(locked, Vec::new())
    }

    /// [`Self::build_envs`], the installers given `installer_env` too.
    fn build_envs_with(
        &self,
        locked: bool,
        installer_env: Vec<(std::ffi::OsString, std::ffi::OsString)>,
    ) -> Result<EnvOutcome, InstallError> {
        let step = envs::Step {
            skip: self.req.no_envs,
            jobs: self.req.jobs,
            timeout: self.req.env_timeout,
            locked,
            installer_env,
        };
        let (config, root, offline) = (self.config, self.root, self.env.offline);
        let reporter = self.reporter();
        Ok(tokio::task::block_in_place(|| {
            envs::after_commit(config, root, offline, reporter, step)
        })?)
    }

    /// Under the root's exclusive lock: commits the plan with its fetched
    /// packs when `knap.lock` is still `old`, else returns the lock it
    /// now is (nothing changed).
    fn commit(
        &self,
        plan: &Plan,
        old: Option<&Lockfile>,
        staged: Vec<Staged>,
    ) -> Result<Committed, InstallError> {
        self.commit_to(plan, old, old, staged)
    }

    /// [`Self::commit`], the new lock taking what it does not plan
    /// (`schema`, the environments) from `base` instead of `old`.
    fn commit_to(
        &self,
        plan: &Plan,
        old: Option<&Lockfile>,
        base: Option<&Lockfile>,
        staged: Vec<Staged>,
    ) -> Result<Committed, InstallError> {
        let root = InstallRoot::open_reporting(self.root, self.reporter())?;
        let now = root.read_lock()?;
        if now.as_ref() != old {
            tracing::info!("knap.lock changed while this install fetched; planning again");
            return Ok(Committed::LockChanged(now));
        }
        let packs: Vec<LockedPack> = staged.iter().map(|s| s.pack.clone()).collect();
        let new_lock = plan.new_lock(base, &packs);
        if staged.is_empty() && plan.remove.is_empty() && old == Some(&new_lock) {
            tracing::debug!("nothing changed; knap.lock is left as it is");
        } else {
            let new_packs = staged
                .into_iter()
                .map(|s| (s.pack.pack_ref, s.dest))
                .collect();
            root.commit(new_packs, plan.remove.clone(), &new_lock)?;
        }
        Ok(Committed::Done(packs))
    }
}
