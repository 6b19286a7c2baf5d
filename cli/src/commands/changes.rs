//! The reports of the commands that change a root (`install`, `upgrade`,
//! `uninstall`): what was installed, kept and removed (`Serialize` is the
//! `--json` document, `Display` the text), and the `--dry-run` plan.

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;

use knap_client::Outcome;
use knap_client::install::envs::{EnvOutcome, Skipped};
use knap_envs::{EnvError, Planned};
use knap_installer::plan::{Needed, Plan};
use knap_schema::PackRef;
use serde::Serialize;

use crate::output::Style;

/// A ref and its version.
#[derive(Debug, Serialize)]
struct Pack {
    #[serde(rename = "ref")]
    pack_ref: PackRef,
    version: semver::Version,
}

/// One pack installed, and the version it replaced.
#[derive(Debug)]
struct Moved {
    pack_ref: PackRef,
    version: semver::Version,
    was: Option<semver::Version>,
    /// The replaced version is yanked now.
    was_yanked: bool,
}

/// What a change did to the root.
#[derive(Debug, Serialize)]
pub struct ChangeReport {
    root: PathBuf,
    installed: Vec<Pack>,
    unchanged: Vec<Pack>,
    removed: Vec<PackRef>,
    #[serde(skip)]
    moved: Vec<Moved>,
    /// The text when there was nothing to change at all.
    #[serde(skip)]
    note: Option<String>,
    /// The pack environments, when a pack needs one or something was
    /// removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    envs: Option<EnvsReport>,
}

/// What an install did about the root's pack environments.
#[derive(Debug, Serialize)]
struct EnvsReport {
    /// Why none was built (`no_envs`, `config`), if none was.
    skipped: Option<Skipped>,
    envs_dir: PathBuf,
    /// Every environment the root's packs need, as planned after the
    /// commit: `current`, `unrecorded` (built, not yet in knap.lock) or
    /// `build`.
    needed: Vec<NeededEnv>,
    /// Built now.
    built: Vec<BuiltEnv>,
    /// Could not be planned or built (the packs stay installed).
    failed: Vec<FailedEnv>,
    /// Left to another knap process that was building them.
    busy: Vec<BusyEnv>,
    /// Environment directories removed (no lock names them any more).
    removed: Vec<PathBuf>,
}

#[derive(Debug, Serialize)]
struct NeededEnv {
    pack: PackRef,
    runtime: String,
    interpreter: String,
    dir: PathBuf,
    /// The dependency files it is built from, at the pack's root.
    files: Vec<&'static str>,
    state: Planned,
}

#[derive(Debug, Serialize)]
struct BuiltEnv {
    pack: PackRef,
    runtime: String,
    dir: PathBuf,
    installer: &'static str,
    packages: usize,
}

#[derive(Debug, Serialize)]
struct BusyEnv {
    pack: PackRef,
    runtime: String,
}

#[derive(Debug, Serialize)]
struct FailedEnv {
    pack: PackRef,
    runtime: Option<String>,
    message: String,
}

impl EnvsReport {
    /// `None` when no pack needs an environment and nothing was removed.
    fn of(o: &EnvOutcome) -> Option<Self> {
        if o.skipped == Some(Skipped::DryRun)
            || (o.needed.is_empty() && o.failed.is_empty() && o.removed.is_empty())
        {
            return None;
        }
        Some(Self {
            skipped: o.skipped,
            envs_dir: o.envs_dir.clone(),
            needed: o
                .needed
                .iter()
                .map(|e| NeededEnv {
                    pack: e.pack.clone(),
                    runtime: e.runtime().to_string(),
                    interpreter: e.interpreter.version.to_string(),
                    dir: e.path.clone(),
                    files: e.inputs.files.iter().map(|(n, _)| *n).collect(),
                    state: e.state,
                })
                .collect(),
            built: o
                .built()
                .map(|b| BuiltEnv {
                    pack: b.pack.clone(),
                    runtime: b.env.runtime.to_string(),
                    dir: b.path.clone(),
                    installer: b.installer.unwrap_or("-"),
                    packages: b.env.packages.len(),
                })
                .collect(),
            failed: o
                .failed
                .iter()
                .map(|e| FailedEnv {
                    pack: e.pack().clone(),
                    runtime: e.runtime().map(|r| r.to_string()),
                    message: knap_schema::report::chain_line(e),
                })
                .collect(),
            busy: o
                .busy
                .iter()
                .map(|(pack, runtime)| BusyEnv {
                    pack: pack.clone(),
                    runtime: runtime.to_string(),
                })
                .collect(),
            removed: o.removed.clone(),
        })
    }
}

impl fmt::Display for EnvsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let style = Style::of(f);
        for b in &self.built {
            writeln!(
                f,
                "{} the {} environment of {} with {} ({})",
                style.green("built"),
                b.runtime,
                b.pack,
                b.installer,
                crate::output::count(b.packages, "package", "packages")
            )?;
        }
        for r in &self.removed {
            writeln!(f, "removed the environment {}", r.display())?;
        }
        for b in &self.busy {
            writeln!(
                f,
                "the {} environment of {} is being built by another knap process",
                b.runtime, b.pack
            )?;
        }
        if let Some(why) = self.skipped {
            let todo: Vec<String> = self
                .needed
                .iter()
                .filter(|e| e.state != Planned::Current)
                .map(|e| format!("{} ({})", e.pack, e.runtime))
                .collect();
            if !todo.is_empty() {
                let why = match why {
                    Skipped::NoEnvs => "--no-envs",
                    _ => "envs = false",
                };
                writeln!(
                    f,
                    "environments not built ({why}): {}; `knap env build` builds them",
                    todo.join(", ")
                )?;
            }
        }
        Ok(())
    }
}

/// What a change would do (`--dry-run`).
#[derive(Debug, Serialize)]
pub struct PlanReport {
    dry_run: bool,
    root: PathBuf,
    #[serde(flatten)]
    plan: Plan,
    /// Planned from the lock alone (`knap install` without SPEC).
    #[serde(skip)]
    restore: bool,
}

/// `install` or `upgrade`: a change, or its plan.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum InstallReport {
    Done(ChangeReport),
    Planned(PlanReport),
}

impl ChangeReport {
    /// The report of an install or upgrade, and the environments that
    /// failed to build (the caller's error once the report is printed).
    pub fn of_install(mut o: Outcome) -> (InstallReport, Vec<EnvError>) {
        if o.dry_run && !o.no_lock {
            let report = InstallReport::Planned(PlanReport {
                dry_run: true,
                root: o.root,
                plan: o.plan,
                restore: o.restore,
            });
            return (report, Vec::new());
        }
        let envs = EnvsReport::of(&o.envs);
        let failed = match o.envs.skipped {
            None => std::mem::take(&mut o.envs.failed),
            Some(_) => Vec::new(),
        };
        let note = o.no_lock.then(|| {
            format!(
                "no knap.lock in {}: nothing to install (name packs to install: `knap install REF`)",
                o.root.display()
            )
        });
        let installed_refs: BTreeSet<&PackRef> = o.installed.iter().map(|p| &p.pack_ref).collect();
        let mut unchanged: Vec<Pack> = o
            .plan
            .keep
            .iter()
            .filter(|p| !installed_refs.contains(&p.pack_ref))
            .map(|p| Pack {
                pack_ref: p.pack_ref.clone(),
                version: p.version.clone(),
            })
            .collect();
        unchanged.sort_by(|a, b| a.pack_ref.cmp(&b.pack_ref));
        let moved = o
            .installed
            .iter()
            .map(|p| {
                let was = o
                    .old
                    .as_ref()
                    .and_then(|l| l.get(&p.pack_ref))
                    .map(|x| x.version.clone());
                Moved {
                    pack_ref: p.pack_ref.clone(),
                    version: p.version.clone(),
                    was_yanked: was
                        .as_ref()
                        .is_some_and(|w| o.yanked_now.contains(&(p.pack_ref.clone(), w.clone()))),
                    was,
                }
            })
            .collect();
        let report = InstallReport::Done(ChangeReport {
            installed: o
                .installed
                .iter()
                .map(|p| Pack {
                    pack_ref: p.pack_ref.clone(),
                    version: p.version.clone(),
                })
                .collect(),
            root: o.root,
            unchanged,
            removed: o.plan.remove,
            moved,
            note,
            envs,
        });
        (report, failed)
    }

    /// Nothing was installed because nothing is (`knap upgrade` in an
    /// empty root); `note` says so.
    pub fn nothing(root: PathBuf, note: String) -> Self {
        ChangeReport {
            root,
            installed: Vec::new(),
            unchanged: Vec::new(),
            removed: Vec::new(),
            moved: Vec::new(),
            note: Some(note),
            envs: None,
        }
    }
}

impl fmt::Display for ChangeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let style = Style::of(f);
        if let Some(n) = &self.note {
            return writeln!(f, "{n}");
        }
        for m in &self.moved {
            let (r, v) = (&m.pack_ref, &m.version);
            match &m.was {
                Some(was) if was > v => {
                    let why = if m.was_yanked {
                        format!(" ({was} was yanked)")
                    } else {
                        String::new()
                    };
                    writeln!(f, "{} {r} {was} -> {v}{why}", style.yellow("downgraded"))?
                }
                Some(was) if was < v => {
                    writeln!(f, "{} {r} {was} -> {v}", style.green("upgraded"))?
                }
                _ => writeln!(f, "{} {r} {v}", style.green("installed"))?,
            }
        }
        for r in &self.removed {
            writeln!(f, "removed {r}")?;
        }
        if self.moved.is_empty() && self.removed.is_empty() {
            writeln!(
                f,
                "nothing to do: {} packs up to date in {}",
                self.unchanged.len(),
                self.root.display()
            )?;
        }
        if let Some(e) = &self.envs {
            e.fmt(f)?;
        }
        Ok(())
    }
}

impl fmt::Display for PlanReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let style = Style::of(f);
        for i in &self.plan.install {
            if self.restore {
                writeln!(
                    f,
                    "would install {} {} (from knap.lock)",
                    i.pack_ref, i.version
                )?;
                continue;
            }
            let from = match (&i.registry, i.source_text()) {
                (Some(r), _) => format!("`{r}`"),
                (None, Some(src)) => src,
                (None, None) => "knap.lock's source".to_owned(),
            };
            let prev = match &i.replaces {
                Some(p) => format!(" (replacing {})", p.version),
                None => String::new(),
            };
            writeln!(
                f,
                "would install {} {} from {from}{prev}",
                i.pack_ref, i.version
            )?;
        }
        if !self.restore {
            for p in &self.plan.keep {
                writeln!(
                    f,
                    "unchanged {} {}",
                    p.pack_ref,
                    style.dim(&p.version.to_string())
                )?;
            }
        }
        for r in &self.plan.remove {
            writeln!(f, "would remove {r}")?;
        }
        if self.plan.changes_no_pack() {
            writeln!(f, "nothing to do")?;
        }
        Ok(())
    }
}

impl fmt::Display for InstallReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstallReport::Done(r) => r.fmt(f),
            InstallReport::Planned(p) => p.fmt(f),
        }
    }
}

/// What `knap uninstall` removed (or, with `--dry-run`, would remove).
#[derive(Debug, Serialize)]
pub struct UninstallReport {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    pub root: PathBuf,
    #[serde(rename = "remove", skip_serializing_if = "is_false_ref")]
    pub remove: Option<Vec<PackRef>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed: Option<Vec<PackRef>>,
    pub left_without_dependency: Vec<Needed>,
    /// Environment directories removed with their packs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed_envs: Vec<PathBuf>,
    /// The refs named (the others were removed as no longer needed).
    #[serde(skip)]
    pub targets: BTreeSet<PackRef>,
}

fn is_false_ref(v: &Option<Vec<PackRef>>) -> bool {
    v.is_none()
}

impl fmt::Display for UninstallReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let style = Style::of(f);
        let why = |r: &PackRef| {
            if self.targets.contains(r) {
                ""
            } else {
                " (no longer needed)"
            }
        };
        for r in self.remove.iter().flatten() {
            writeln!(f, "would remove {r}{}", why(r))?;
        }
        for r in self.removed.iter().flatten() {
            writeln!(f, "{} {r}{}", style.green("removed"), why(r))?;
        }
        for d in &self.removed_envs {
            writeln!(f, "removed the environment {}", d.display())?;
        }
        Ok(())
    }
}
