//! `knap env list | build [REF...] [--force] [--locked] | check [REF...] |
//! remove REF...`: the installed packs' environments (formats.md section
//! 8), through `knap_envs`.
//!
//! A build is planned under the root's shared lock (the packs' files stay
//! put while the plan reads them) and runs without the root's lock (each
//! pack's environments under their own lock), so that installs go on
//! meanwhile; then `knap.lock` records what was built under the exclusive
//! lock, for the packs that are still the version planned for, and
//! environments no lock names any more are removed
//! (`knap_client::install::envs`, which the install pipeline uses too).

use std::fmt;
use std::path::{Path, PathBuf};

use knap_client::install::envs;
use knap_envs::{BuildOptions, Builder, EnvCheck, EnvError, EnvState};
use knap_installer::state::installed_refs;
use knap_schema::lock::Lockfile;
use knap_schema::{ErrorKind as Kind, KnapError, PackRef};
use serde::Serialize;

use super::{Ctx, lock_of, root_err};
use crate::output::Style;

/// `knap env`'s subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum EnvCmd {
    /// Each installed pack's environments: runtime, interpreter, id, state.
    List,
    /// Build the environments of REFs (default: every installed pack) that
    /// are missing or built from other inputs.
    Build(BuildArgs),
    /// Check environments against knap.lock and their files (exit 4 when one
    /// is missing, stale or changed).
    Check {
        /// Packs to check (default: every installed pack).
        refs: Vec<String>,
    },
    /// Remove the environments of REFs.
    Remove {
        #[arg(required = true)]
        refs: Vec<String>,
    },
}

/// The flags of `knap env build`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// Packs to build for (default: every installed pack).
    pub refs: Vec<String>,
    /// Build again even when the environment exists (repairs a damaged one).
    #[arg(long)]
    pub force: bool,
    /// Install exactly the package versions knap.lock records.
    #[arg(long)]
    pub locked: bool,
    /// How many packs build at once.
    #[arg(long, short = 'j', value_name = "N", default_value_t = 4)]
    pub jobs: usize,
}

pub fn run(ctx: &Ctx, cmd: EnvCmd) -> anyhow::Result<()> {
    match cmd {
        EnvCmd::List => list(ctx),
        EnvCmd::Build(args) => build(ctx, &args),
        EnvCmd::Check { refs } => check(ctx, &refs),
        EnvCmd::Remove { refs } => remove(ctx, &refs),
    }
}

/// The environments directory of this root: `envs_dir`, else `<root>/.envs`.
pub fn envs_dir(ctx: &Ctx, root: &Path) -> PathBuf {
    envs::envs_dir(&ctx.config, root)
}

/// A builder with the configuration's interpreter and directory, the
/// installer deadline of `KNAP_ENV_TIMEOUT`.
pub fn builder(ctx: &Ctx, root: &Path, jobs: usize) -> anyhow::Result<Builder> {
    let s = envs::settings(&ctx.config, root, ctx.env.offline, jobs, ctx.env_timeout()?);
    Ok(Builder::new(s, ctx.env.reporter.clone()))
}

fn refs_of(lock: &Lockfile, names: &[String], root: &Path) -> anyhow::Result<Vec<PackRef>> {
    Ok(installed_refs(lock, names, root)?)
}

/// The quick states of the root's environments (for `list` and `doctor`).
pub fn states(
    ctx: &Ctx,
    root: &Path,
    lock: &Lockfile,
    refs: &[PackRef],
) -> anyhow::Result<Vec<EnvCheck>> {
    let b = builder(ctx, root, 1)?;
    let plan = b.plan(root, lock, refs);
    Ok(knap_envs::check::check(&plan, lock, b.store(), false))
}

fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let root_path = ctx.root_dir();
    let root = ctx.open_for_reading()?;
    let lock = lock_of(root.as_ref())?;
    let envs = states(ctx, &root_path, &lock, &[])?;
    ctx.print(&EnvListReport {
        envs_dir: envs_dir(ctx, &root_path),
        envs,
        deep: false,
    });
    Ok(())
}

fn check(ctx: &Ctx, names: &[String]) -> anyhow::Result<()> {
    let root_path = ctx.root_dir();
    let root = ctx.open_for_reading()?;
    let lock = lock_of(root.as_ref())?;
    let refs = refs_of(&lock, names, &root_path)?;
    let b = builder(ctx, &root_path, 1)?;
    let plan = b.plan(&root_path, &lock, &refs);
    let envs = knap_envs::check::check(&plan, &lock, b.store(), true);
    drop(root);
    let bad = envs.iter().filter(|e| !e.state.is_ok()).count();
    ctx.print(&EnvListReport {
        envs_dir: envs_dir(ctx, &root_path),
        envs,
        deep: true,
    });
    if bad > 0 {
        return Err(KnapError::new(
            Kind::Integrity,
            format!(
                "{bad} environment{} not as knap.lock records{}",
                if bad == 1 { " is" } else { "s are" },
                ctx.see_above()
            ),
        )
        .with_hint("`knap env build` builds missing and stale ones; `knap env build --force REF` repairs a changed one")
        .into());
    }
    Ok(())
}

fn build(ctx: &Ctx, args: &BuildArgs) -> anyhow::Result<()> {
    let root_path = ctx.root_dir();
    let b = builder(ctx, &root_path, args.jobs)?;
    // Planned under the shared lock (the packs' files stay put), built
    // without it.
    let root = ctx.open_for_reading()?;
    let planned_lock = lock_of(root.as_ref())?;
    let refs = refs_of(&planned_lock, &args.refs, &root_path)?;
    let plan = b.plan(&root_path, &planned_lock, &refs);
    drop(root);
    let results = b.build(
        plan,
        BuildOptions {
            force: args.force,
            locked: args.locked,
            // Asked for by name: wait for another process building it.
            skip_busy: false,
        },
    );
    let mut rows = Vec::new();
    let mut built = Vec::new();
    let mut failed: Vec<EnvError> = Vec::new();
    for r in results {
        match r {
            Ok(b) => {
                rows.push(BuildRow {
                    pack: b.pack.to_string(),
                    runtime: Some(b.env.runtime.to_string()),
                    dir: Some(b.path.clone()),
                    result: if b.built_now() { "built" } else { "current" },
                    installer: b.installer,
                    packages: b.env.packages.len(),
                    error: None,
                });
                built.push(b);
            }
            Err(e) => {
                rows.push(BuildRow {
                    pack: e.pack().to_string(),
                    runtime: e.runtime().map(|r| r.to_string()),
                    dir: None,
                    result: "failed",
                    installer: None,
                    packages: 0,
                    error: Some(knap_schema::report::chain_line(&e)),
                });
                failed.push(e);
            }
        }
    }
    let mut removed = Vec::new();
    if root_path.exists() {
        let root = ctx.open_for_writing()?;
        let (lock, _) = envs::record(&root, &planned_lock, &built).map_err(root_err)?;
        drop(built);
        removed = b
            .store()
            .collect_garbage(&lock)
            .map_err(|e| KnapError::other("cannot remove old environments").caused_by(e))?;
    }
    ctx.print(&EnvBuildReport {
        envs_dir: b.settings().envs_dir.clone(),
        envs: rows,
        removed,
    });
    failures(failed)
}

/// The error of environments that could not be built (none: success):
/// one is its own error (its kind and hint are `crate::report`'s to
/// find), several one error listing each.
pub fn failures(mut failed: Vec<EnvError>) -> anyhow::Result<()> {
    match failed.len() {
        0 => Ok(()),
        1 => Err(failed.remove(0).into()),
        n => {
            let kind = if failed.iter().all(|e| e.kind() == failed[0].kind()) {
                failed[0].kind()
            } else {
                Kind::Other
            };
            let text: Vec<String> = failed
                .iter()
                .map(|e| knap_schema::report::chain_line(e))
                .collect();
            Err(KnapError::new(
                kind,
                format!("{n} environments could not be built:\n{}", text.join("\n")),
            )
            .with_hint("the packs stay installed and their previous environments in use; fix the causes, then `knap env build REF`")
            .into())
        }
    }
}

fn remove(ctx: &Ctx, names: &[String]) -> anyhow::Result<()> {
    let root_path = ctx.root_dir();
    let b = builder(ctx, &root_path, 1)?;
    let root = ctx.open_for_writing()?;
    let old = root.read_lock().map_err(root_err)?.unwrap_or_default();
    let mut refs = Vec::new();
    for n in names {
        let r: PackRef = n
            .parse()
            .map_err(|e| KnapError::usage(format!("`{n}`: {e}")))?;
        let known = old.get(n).is_some() || b.store().pack_dir(&r).exists();
        if !known {
            return Err(KnapError::not_found(format!(
                "`{n}` has no environment and is not installed in {}",
                root_path.display()
            ))
            .into());
        }
        refs.push(r);
    }
    let mut lock = old.clone();
    let mut removed = Vec::new();
    for r in &refs {
        let io = |e: std::io::Error| {
            KnapError::other(format!("`{r}`: cannot remove its environments")).caused_by(e)
        };
        let held = b.store().lock(r).map_err(io)?;
        removed.extend(b.store().remove_pack(r, &held).map_err(io)?);
        lock.envs.remove(r);
    }
    if lock != old {
        root.commit(Vec::new(), Vec::new(), &lock)
            .map_err(root_err)?;
    }
    ctx.print(&EnvBuildReport {
        envs_dir: b.settings().envs_dir.clone(),
        envs: Vec::new(),
        removed,
    });
    Ok(())
}

/// `knap env list` and `knap env check`.
#[derive(Debug, Serialize)]
pub struct EnvListReport {
    envs_dir: PathBuf,
    envs: Vec<EnvCheck>,
    /// Whether packages and files were read (`check`).
    #[serde(skip)]
    deep: bool,
}

/// `id12` of an id.
fn short(c: &EnvCheck) -> String {
    c.id.map(|i| i.hex()[..12].to_owned())
        .unwrap_or_else(|| "-".into())
}

/// The state in colour.
pub fn state_word(s: &Style, state: EnvState) -> String {
    match state {
        EnvState::Ok => s.green("ok"),
        EnvState::Missing | EnvState::Stale => s.yellow(state.word()),
        _ => s.red(state.word()),
    }
}

impl fmt::Display for EnvListReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = Style::of(f);
        if self.envs.is_empty() {
            return write!(
                f,
                "no installed pack needs an environment (none has a requirements.txt or package.json)"
            );
        }
        let rows: Vec<[String; 5]> = self
            .envs
            .iter()
            .map(|e| {
                [
                    e.pack.to_string(),
                    e.runtime.map_or("-".into(), |r| r.to_string()),
                    e.interpreter.clone().unwrap_or_else(|| "-".into()),
                    short(e),
                    state_word(&s, e.state),
                ]
            })
            .collect();
        let header = ["PACK", "RUNTIME", "INTERPRETER", "ID", "STATE"].map(String::from);
        crate::output::table(f, &header, &rows)?;
        for e in self.envs.iter().filter(|e| !e.problems.is_empty()) {
            for p in &e.problems {
                writeln!(f, "{}: {p}", e.pack)?;
            }
        }
        let bad = self.envs.iter().filter(|e| !e.state.is_ok()).count();
        write!(
            f,
            "{} in {}: {} ok, {bad} not{}",
            crate::output::count(self.envs.len(), "environment", "environments"),
            self.envs_dir.display(),
            self.envs.len() - bad,
            if self.deep {
                " (packages and files checked)"
            } else {
                ""
            }
        )
    }
}

/// `knap env build` and `knap env remove`.
#[derive(Debug, Serialize)]
pub struct EnvBuildReport {
    envs_dir: PathBuf,
    envs: Vec<BuildRow>,
    /// Environment directories removed (no lock names them, or asked for).
    removed: Vec<PathBuf>,
}

/// One environment of `knap env build`.
#[derive(Debug, Serialize)]
struct BuildRow {
    pack: String,
    runtime: Option<String>,
    dir: Option<PathBuf>,
    /// `built`, `current` (nothing to do) or `failed`.
    result: &'static str,
    installer: Option<&'static str>,
    packages: usize,
    error: Option<String>,
}

impl fmt::Display for EnvBuildReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = Style::of(f);
        if !self.envs.is_empty() {
            let rows: Vec<[String; 4]> = self
                .envs
                .iter()
                .map(|r| {
                    let result = match r.result {
                        "built" => s.green(&format!(
                            "built with {} ({})",
                            r.installer.unwrap_or("-"),
                            crate::output::count(r.packages, "package", "packages")
                        )),
                        "current" => format!(
                            "current ({})",
                            crate::output::count(r.packages, "package", "packages")
                        ),
                        _ => s.red("failed"),
                    };
                    [
                        r.pack.clone(),
                        r.runtime.clone().unwrap_or_else(|| "-".into()),
                        r.dir
                            .as_ref()
                            .map_or("-".into(), |d| d.display().to_string()),
                        result,
                    ]
                })
                .collect();
            let header = ["PACK", "RUNTIME", "ENVIRONMENT", "RESULT"].map(String::from);
            crate::output::table(f, &header, &rows)?;
        }
        for r in &self.removed {
            writeln!(f, "removed {}", r.display())?;
        }
        let built = self.envs.iter().filter(|r| r.result == "built").count();
        let failed = self.envs.iter().filter(|r| r.result == "failed").count();
        if self.envs.is_empty() && self.removed.is_empty() {
            write!(f, "nothing to do: no installed pack needs an environment")
        } else {
            write!(
                f,
                "{built} built, {} current, {failed} failed, {} removed",
                self.envs.len() - built - failed,
                self.removed.len()
            )
        }
    }
}
