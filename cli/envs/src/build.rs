//! Building planned environments: several packs at once (`jobs`), each
//! pack under its lock, each environment in its final directory, checked
//! against the recorded versions when locked, and marked complete by its
//! `.knap-env.json`, written last. A failed build removes what it wrote
//! and leaves every other environment (the one the pack used before)
//! alone; a forced rebuild of a complete environment (`knap env build
//! --force`, in the same id-named directory: venvs are not relocatable)
//! first moves it aside whole and puts it back if the rebuild fails.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use knap_schema::PackRef;
use knap_schema::env::{EnvPackage, EnvRecord, LockedEnv};
use knap_schema::lock::Lockfile;
use knap_schema::progress::{Event, Reporter};

use crate::error::EnvError;
use crate::installers::Job;
use crate::inventory;
use crate::plan::{self, EnvPlan, PlannedEnv};
use crate::store::{EnvStore, PackLock};
use crate::toolchain::Toolchain;

/// The default directory of environments: `<root>/.envs`.
pub fn default_envs_dir(root: &Path) -> PathBuf {
    root.join(".envs")
}

/// How environments are built.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where environments live (`envs_dir`; see [`default_envs_dir`]).
    pub envs_dir: PathBuf,
    /// The configured Python interpreter (`python`), a path or a name on
    /// `PATH`; `python3` when `None`.
    pub python: Option<PathBuf>,
    /// The `PATH` programs are looked for on and installers run with (the
    /// process's when `None`).
    pub path: Option<OsString>,
    /// Variables set for the installers on top of knap's own environment
    /// (an embedding program's index settings, say); everything else,
    /// the user's index settings included, passes through.
    pub installer_env: Vec<(OsString, OsString)>,
    /// Pass the installers' own offline flags.
    pub offline: bool,
    /// How many packs build at once.
    pub jobs: usize,
    /// How long one installer command may run.
    pub timeout: Duration,
}

impl Settings {
    /// The defaults: `python3` and the process's `PATH`, online, four
    /// packs at once, 30 minutes per installer command.
    pub fn new(envs_dir: impl Into<PathBuf>) -> Self {
        Self {
            envs_dir: envs_dir.into(),
            python: None,
            path: None,
            installer_env: Vec::new(),
            offline: false,
            jobs: 4,
            timeout: Duration::from_secs(30 * 60),
        }
    }
}

/// What one build is asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuildOptions {
    /// Build again even when a complete environment with the same id
    /// exists (to repair a damaged one).
    pub force: bool,
    /// Install exactly the versions `knap.lock` records, failing (naming
    /// the package) when one cannot be had.
    pub locked: bool,
    /// Leave a pack whose environments another process holds (is
    /// building) to it ([`EnvError::Busy`]) instead of waiting for it.
    pub skip_busy: bool,
}

/// An environment ready for use.
#[derive(Debug)]
pub struct Built {
    pub pack: PackRef,
    /// What `knap.lock` is to record.
    pub env: LockedEnv,
    pub path: PathBuf,
    /// The installer that built it now; `None` when it was already there.
    pub installer: Option<&'static str>,
    /// The pack's lock, held until every `Built` of it is dropped, so
    /// that no other process removes the environment as garbage before
    /// the caller records it in `knap.lock`.
    _held: Arc<PackLock>,
}

impl Built {
    /// Whether it was built now (else it was already there).
    pub fn built_now(&self) -> bool {
        self.installer.is_some()
    }
}

/// Plans and builds environments with one toolchain, reporting progress.
pub struct Builder {
    settings: Settings,
    tools: Toolchain,
    store: EnvStore,
    reporter: Arc<dyn Reporter>,
}

impl Builder {
    /// A relative `envs_dir` is taken from the current directory now
    /// (installers run in the pack's directory).
    pub fn new(mut settings: Settings, reporter: Arc<dyn Reporter>) -> Self {
        if let Ok(abs) = std::path::absolute(&settings.envs_dir) {
            settings.envs_dir = abs;
        }
        Self {
            tools: Toolchain::new(
                settings.path.clone(),
                settings.python.clone(),
                settings.installer_env.clone(),
            ),
            store: EnvStore::new(settings.envs_dir.clone()),
            settings,
            reporter,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn store(&self) -> &EnvStore {
        &self.store
    }

    pub fn toolchain(&self) -> &Toolchain {
        &self.tools
    }

    /// The environments `packs` (every locked pack when empty) of the root
    /// at `root` need (see [`plan::plan`]).
    pub fn plan(&self, root: &Path, lock: &Lockfile, packs: &[PackRef]) -> EnvPlan {
        let root = std::path::absolute(root).unwrap_or_else(|_| root.to_owned());
        plan::plan(&root, lock, packs, &self.tools, &self.store)
    }

    /// Builds what `plan` says, `jobs` packs at once: one result per
    /// planned environment (in plan order), then the plan's own failures.
    pub fn build(&self, plan: EnvPlan, opts: BuildOptions) -> Vec<Result<Built, EnvError>> {
        let mut groups: Vec<Vec<(usize, PlannedEnv)>> = Vec::new();
        for (i, e) in plan.envs.into_iter().enumerate() {
            match groups.iter_mut().find(|g| g[0].1.pack == e.pack) {
                Some(g) => g.push((i, e)),
                None => groups.push(vec![(i, e)]),
            }
        }
        let queue = Mutex::new(groups.into_iter());
        let results = Mutex::new(Vec::new());
        let workers = self.settings.jobs.max(1);
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    loop {
                        let next = queue.lock().expect("queue lock").next();
                        let Some(group) = next else { break };
                        let done = self.build_pack(group, opts);
                        results.lock().expect("results lock").extend(done);
                    }
                });
            }
        });
        let mut results = results.into_inner().expect("results lock");
        results.sort_by_key(|(i, _)| *i);
        let mut out: Vec<Result<Built, EnvError>> = results.into_iter().map(|(_, r)| r).collect();
        for e in plan.failed {
            self.reporter.report(Event::EnvFailed {
                pack: e.pack().to_string(),
                runtime: e.runtime().map(|r| r.to_string()).unwrap_or_default(),
                message: knap_schema::report::chain_line(&e),
            });
            out.push(Err(e));
        }
        out
    }

    /// The environments of one pack, under its lock.
    fn build_pack(
        &self,
        group: Vec<(usize, PlannedEnv)>,
        opts: BuildOptions,
    ) -> Vec<(usize, Result<Built, EnvError>)> {
        let pack = group[0].1.pack.clone();
        let locks = self.store.path().join(".locks");
        let taken = if opts.skip_busy {
            self.store.try_lock(&pack)
        } else {
            self.store.lock(&pack).map(Some)
        };
        let held = match taken.and_then(|l| match l {
            Some(l) => self.store.recover(&pack, &l).map(|_| Some(l)),
            None => Ok(None),
        }) {
            Ok(Some(l)) => Arc::new(l),
            Ok(None) => {
                return group
                    .into_iter()
                    .map(|(i, env)| {
                        let runtime = env.runtime();
                        (
                            i,
                            Err(EnvError::Busy {
                                pack: env.pack,
                                runtime,
                            }),
                        )
                    })
                    .collect();
            }
            Err(e) => {
                return group
                    .into_iter()
                    .map(|(i, _)| {
                        (
                            i,
                            Err(EnvError::io(&pack, "lock the environments of", &locks)(
                                std::io::Error::new(e.kind(), e.to_string()),
                            )),
                        )
                    })
                    .collect();
            }
        };
        group
            .into_iter()
            .map(|(i, env)| (i, self.build_one(&env, opts, &held)))
            .collect()
    }

    fn build_one(
        &self,
        env: &PlannedEnv,
        opts: BuildOptions,
        held: &Arc<PackLock>,
    ) -> Result<Built, EnvError> {
        let pinned: Option<&[EnvPackage]> = if opts.locked || env.recorded_same_id {
            env.recorded.as_deref()
        } else {
            None
        };
        let ready = |record: EnvRecord, installer| Built {
            pack: env.pack.clone(),
            env: record.locked_env(),
            path: env.path.clone(),
            installer,
            _held: held.clone(),
        };
        // Looked at again under the lock: another process may have built
        // it meanwhile.
        if !opts.force
            && let Some(r) = EnvStore::read_record(&env.path, &env.dir)
            && r.id == env.id
            && pinned.is_none_or(|p| p == r.packages)
        {
            return Ok(ready(r, None));
        }
        let remove = |path: &Path| {
            self.store
                .remove_dir(&env.pack, path)
                .map_err(EnvError::io(&env.pack, "remove", path))
        };
        // A complete environment rebuilt (`--force`) stays whole aside
        // until its replacement is complete, and comes back if that fails.
        let previous = match EnvStore::read_record(&env.path, &env.dir) {
            Some(_) => self
                .store
                .set_aside(&env.pack, &env.path, held)
                .map_err(EnvError::io(&env.pack, "move aside", &env.path))?,
            None => None,
        };
        remove(&env.path)?;
        let parent = self.store.pack_dir(&env.pack);
        std::fs::create_dir_all(&parent).map_err(EnvError::io(&env.pack, "create", &parent))?;
        let job = Job {
            pack: &env.pack,
            pack_dir: &env.pack_dir,
            inputs: &env.inputs,
            path: &env.path,
            interpreter: &env.interpreter,
            tools: &self.tools,
            offline: self.settings.offline,
            timeout: self.settings.timeout,
            pinned,
        };
        let installer = job.installer();
        self.reporter.report(Event::EnvBuilding {
            pack: env.pack.to_string(),
            runtime: env.runtime().to_string(),
            dir: env.path.clone(),
            installer: installer.to_owned(),
        });
        let result = job
            .build()
            .and_then(|done| self.finish(env, pinned, done.installer, done.seed));
        match result {
            Ok(record) => {
                if let Some(aside) = &previous
                    && let Err(r) = self.store.remove_dir(&env.pack, aside)
                {
                    self.reporter.report(Event::Warning {
                        message: format!("{}: cannot remove {}: {r}", env.pack, aside.display()),
                    });
                }
                self.reporter.report(Event::EnvBuilt {
                    pack: env.pack.to_string(),
                    runtime: env.runtime().to_string(),
                    dir: env.path.clone(),
                    packages: record.packages.len(),
                });
                Ok(ready(record, Some(installer)))
            }
            Err(e) => {
                let cleaned = match &previous {
                    Some(aside) => self
                        .store
                        .put_back(&env.pack, aside, &env.path, held)
                        .map_err(EnvError::io(&env.pack, "put back", &env.path)),
                    None => remove(&env.path),
                };
                if let Err(r) = cleaned {
                    self.reporter.report(Event::Warning {
                        message: knap_schema::report::chain_line(&r),
                    });
                }
                self.reporter.report(Event::EnvFailed {
                    pack: env.pack.to_string(),
                    runtime: env.runtime().to_string(),
                    message: knap_schema::report::chain_line(&e),
                });
                Err(e)
            }
        }
    }

    /// Lists what the build installed, checks it against the pins, and
    /// writes the record that makes the environment complete.
    fn finish(
        &self,
        env: &PlannedEnv,
        pinned: Option<&[EnvPackage]>,
        installer: &'static str,
        seed: Vec<EnvPackage>,
    ) -> Result<EnvRecord, EnvError> {
        let (installed, unreadable) = inventory::list(env.runtime(), &env.path);
        for u in unreadable {
            self.reporter.report(Event::Warning {
                message: format!(
                    "{}: {}: {}; not recorded",
                    env.pack,
                    u.path.display(),
                    u.message
                ),
            });
        }
        let packages: Vec<EnvPackage> = inventory::packages(&installed)
            .into_iter()
            .filter(|p| !seed.contains(p))
            .collect();
        if let Some(pins) = pinned {
            for want in pins {
                if !packages.contains(want) {
                    let found = packages
                        .iter()
                        .find(|p| p.name == want.name)
                        .map(|p| p.version.to_string());
                    return Err(EnvError::Locked {
                        pack: env.pack.clone(),
                        runtime: env.runtime(),
                        package: want.name.to_string(),
                        wanted: want.version.to_string(),
                        found,
                    });
                }
            }
        }
        let record = EnvRecord {
            id: env.id,
            runtime: env.runtime(),
            interpreter: env.interpreter.version.clone(),
            platform: env.interpreter.platform.clone(),
            installer: installer.to_owned(),
            locked: pinned.is_some(),
            seed,
            packages,
        };
        EnvStore::write_record(&env.path, &record).map_err(EnvError::io(
            &env.pack,
            "write",
            env.path.join(knap_schema::env::ENV_RECORD_FILE),
        ))?;
        Ok(record)
    }
}

/// Records `built` environments in `lock` (each replacing the pack's
/// environment of the same runtime), and forgets the environments of
/// packs the lock no longer lists.
pub fn record<'a>(lock: &mut Lockfile, built: impl IntoIterator<Item = &'a Built>) {
    for b in built {
        if lock.get(&b.pack).is_none() {
            continue;
        }
        let envs = lock.envs.entry(b.pack.clone()).or_default();
        envs.retain(|e| e.runtime != b.env.runtime);
        envs.push(b.env.clone());
        envs.sort_by_key(|e| e.runtime);
    }
    let installed: Vec<PackRef> = lock.packs.iter().map(|p| p.pack_ref.clone()).collect();
    lock.envs.retain(|r, _| installed.contains(r));
}
