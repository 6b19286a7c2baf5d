//! Whether each pack's environment is the one `knap.lock` records: there
//! and complete (`missing` otherwise), built from the pack's current
//! dependency files and interpreter (`stale`), holding exactly the
//! recorded packages with each installed distribution's files matching
//! its `RECORD` (`changed`). The quick form (`knap env list`, `knap
//! doctor`) stops before reading the packages.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use knap_schema::env::{EnvDir, EnvPackage, LockedEnv, Runtime};
use knap_schema::lock::Lockfile;
use knap_schema::{Checksum, PackRef};
use serde::Serialize;

use crate::inventory;
use crate::plan::{EnvPlan, PlannedEnv};
use crate::store::EnvStore;

/// The state of one environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvState {
    /// As recorded.
    Ok,
    /// Not built, not recorded, or its directory is gone or incomplete.
    Missing,
    /// Built from other inputs than the pack's and interpreter's now.
    Stale,
    /// Holds other packages than recorded, or files that no longer match.
    Changed,
    /// Needed, but it cannot be built here (no interpreter, one that does
    /// not meet the pack's requirement, unreadable pack files).
    Unbuildable,
}

impl EnvState {
    pub fn word(self) -> &'static str {
        match self {
            EnvState::Ok => "ok",
            EnvState::Missing => "missing",
            EnvState::Stale => "stale",
            EnvState::Changed => "changed",
            EnvState::Unbuildable => "unbuildable",
        }
    }

    pub fn is_ok(self) -> bool {
        self == EnvState::Ok
    }
}

/// One environment's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct EnvCheck {
    pub pack: PackRef,
    /// `None` when the pack's files could not be read at all.
    pub runtime: Option<Runtime>,
    /// The interpreter's version the environment is (or would be) for.
    pub interpreter: Option<String>,
    /// The recorded environment's id, else the planned one's.
    pub id: Option<Checksum>,
    pub dir: Option<EnvDir>,
    pub path: Option<PathBuf>,
    pub state: EnvState,
    /// What is wrong, one line each.
    pub problems: Vec<String>,
}

/// Checks the environments `plan` covers against `lock`; `deep` also
/// reads the installed packages and their files.
pub fn check(plan: &EnvPlan, lock: &Lockfile, store: &EnvStore, deep: bool) -> Vec<EnvCheck> {
    let mut out = Vec::new();
    for p in &plan.envs {
        let recorded = lock
            .envs_of(&p.pack)
            .iter()
            .find(|e| e.runtime == p.runtime());
        out.push(one(p, recorded, store, deep));
    }
    for e in &plan.failed {
        out.push(EnvCheck {
            pack: e.pack().clone(),
            runtime: e.runtime(),
            interpreter: None,
            id: None,
            dir: None,
            path: None,
            state: EnvState::Unbuildable,
            problems: vec![knap_schema::report::chain_line(e)],
        });
    }
    // Recorded environments of runtimes the pack no longer has files for.
    for pack in &plan.packs {
        for e in lock.envs_of(pack) {
            let covered = plan
                .envs
                .iter()
                .any(|p| &p.pack == pack && p.runtime() == e.runtime);
            let failed = plan
                .failed
                .iter()
                .any(|f| f.pack() == pack && f.runtime().is_none_or(|r| r == e.runtime));
            if !covered && !failed {
                out.push(EnvCheck {
                    pack: pack.clone(),
                    runtime: Some(e.runtime),
                    interpreter: Some(e.interpreter.to_string()),
                    id: Some(e.id),
                    dir: Some(e.dir.clone()),
                    path: Some(store.env_path(pack, &e.dir)),
                    state: EnvState::Stale,
                    problems: vec![format!(
                        "the pack no longer has the dependency files of a {} environment",
                        e.runtime
                    )],
                });
            }
        }
    }
    out.sort_by(|a, b| (&a.pack, a.runtime).cmp(&(&b.pack, b.runtime)));
    out
}

fn one(p: &PlannedEnv, recorded: Option<&LockedEnv>, store: &EnvStore, deep: bool) -> EnvCheck {
    let mut c = EnvCheck {
        pack: p.pack.clone(),
        runtime: Some(p.runtime()),
        interpreter: Some(p.interpreter.version.to_string()),
        id: Some(p.id),
        dir: Some(p.dir.clone()),
        path: Some(p.path.clone()),
        state: EnvState::Ok,
        problems: Vec::new(),
    };
    let Some(rec) = recorded else {
        c.state = EnvState::Missing;
        c.problems.push(format!(
            "knap.lock records no {} environment for it",
            p.runtime()
        ));
        return c;
    };
    let path = store.env_path(&p.pack, &rec.dir);
    c.id = Some(rec.id);
    c.dir = Some(rec.dir.clone());
    c.interpreter = Some(rec.interpreter.to_string());
    c.path = Some(path.clone());
    let Some(on_disk) = EnvStore::read_record(&path, &rec.dir) else {
        c.state = EnvState::Missing;
        c.problems.push(format!(
            "{} is missing or incomplete (no valid {})",
            path.display(),
            knap_schema::env::ENV_RECORD_FILE
        ));
        return c;
    };
    if on_disk.id != rec.id {
        c.state = EnvState::Stale;
        c.problems.push(format!(
            "{} was built as {}, knap.lock records {}",
            path.display(),
            on_disk.id,
            rec.id
        ));
        return c;
    }
    if p.id != rec.id {
        c.state = EnvState::Stale;
        c.problems.push(format!(
            "built from other inputs: the pack's dependency files or the interpreter ({}) changed since (now {})",
            p.interpreter.describe(),
            p.id
        ));
        return c;
    }
    if deep {
        let problems = deep_check(p.runtime(), &path, &rec.packages, &on_disk.seed);
        if !problems.is_empty() {
            c.state = EnvState::Changed;
            c.problems = problems;
        }
    }
    c
}

/// The packages installed against those recorded (plus the seed), and
/// for Python each distribution's files against its `RECORD`.
fn deep_check(
    runtime: Runtime,
    path: &Path,
    recorded: &[EnvPackage],
    seed: &[EnvPackage],
) -> Vec<String> {
    let mut problems = Vec::new();
    let (installed, unreadable) = inventory::list(runtime, path);
    for u in &unreadable {
        problems.push(format!("{}: {}", u.path.display(), u.message));
    }
    let have: BTreeSet<&EnvPackage> = installed.iter().map(|i| &i.package).collect();
    let want: BTreeSet<&EnvPackage> = recorded.iter().chain(seed).collect();
    for p in want.difference(&have) {
        match installed.iter().find(|i| i.package.name == p.name) {
            Some(i) => problems.push(format!(
                "{} is {}, recorded {}",
                p.name, i.package.version, p.version
            )),
            None => problems.push(format!("{} {} is not installed", p.name, p.version)),
        }
    }
    for p in have.difference(&want) {
        if !want.iter().any(|w| w.name == p.name) {
            problems.push(format!(
                "{} {} is installed but not recorded",
                p.name, p.version
            ));
        }
    }
    if runtime == Runtime::Python {
        for sp in inventory::site_packages(path) {
            for dist in installed.iter().filter(|i| i.dir.starts_with(&sp)) {
                for m in inventory::check_record(path, &sp, dist) {
                    problems.push(format!("{}: {} {}", m.package, m.file, m.problem));
                }
            }
        }
    }
    problems
}
