//! `knap outdated`: for every installed pack, the version `knap upgrade`
//! would move it to (WANTED: the newest that the recorded requirements
//! allow, from the upgrade's `knap_installer::Plan`, resolved exactly as
//! `knap upgrade` resolves) and the newest version its registry publishes
//! (LATEST). Refreshes the indices first (unless `--offline`); changes
//! nothing, and reads the root (under a shared lock) before any network
//! request.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use knap_installer::plan::{Chosen, Inputs, Origin, Plan};
use knap_registry::index_set::{IndexSet, Provided};
use knap_registry::install::fetch::entry_sources;
use knap_registry::sources::direct::{WithPinned, entry_of_locked, refs_to_look_up};
use knap_resolver::Upgrade;
use knap_schema::PackRef;
use knap_schema::config::Config;
use knap_schema::index::Entry;
use knap_schema::lock::Lockfile;
use serde::Serialize;

use super::{Ctx, lock_of};
use crate::output::{Style, table};

/// One row of the report.
#[derive(Debug, Serialize)]
struct Row {
    #[serde(rename = "ref")]
    pack_ref: String,
    current: String,
    wanted: Option<String>,
    latest: Option<String>,
    registry: Option<String>,
    outdated: bool,
    /// The installed version is yanked in its registry.
    yanked: bool,
}

/// What `knap outdated` found.
#[derive(Debug, Serialize)]
pub struct OutdatedReport {
    root: PathBuf,
    packs: Vec<Row>,
    resolution_error: Option<String>,
}

fn newer(v: &Option<String>, current: &str) -> bool {
    let cur = semver::Version::parse(current).ok();
    v.as_deref()
        .and_then(|v| semver::Version::parse(v).ok())
        .zip(cur)
        .is_some_and(|(v, c)| v > c)
}

/// The newest version a registry lists that is not yanked; pre-releases
/// only when the installed version is one.
fn latest(entries: &[Entry], current: &semver::Version) -> Option<String> {
    let pre_ok = !current.pre.is_empty();
    entries
        .iter()
        .filter(|e| !e.yanked)
        .map(|e| &e.version)
        .filter(|v| pre_ok || v.pre.is_empty())
        .max()
        .map(|v| v.to_string())
}

pub async fn run(ctx: &Ctx) -> anyhow::Result<()> {
    let root_path = ctx.root_dir();
    // The root is read (and its shared lock released) before any request.
    let lock = {
        let root = ctx.open_for_reading()?;
        lock_of(root.as_ref())?
    };
    if lock.packs.is_empty() {
        ctx.print(&OutdatedReport {
            root: root_path,
            packs: Vec::new(),
            resolution_error: None,
        });
        return Ok(());
    }
    let set = IndexSet::open(&ctx.config, &ctx.env, None)?;
    ctx.refresh(&set).await?;
    let (provided, pinned) = lookup(&set, &lock).await?;
    let candidates = WithPinned {
        registries: &provided,
        pinned: &pinned,
    };
    let (wanted, resolution_error) = match upgrade_plan(&ctx.config, &candidates, &provided, &lock)
    {
        Ok(plan) => (wanted_versions(&plan), None),
        Err(e) => (BTreeMap::new(), Some(e)),
    };
    let packs: Vec<Row> = lock
        .packs
        .iter()
        .map(|p| {
            let prov = provided.get(p.pack_ref.as_str()).and_then(|x| x.as_ref());
            let direct = p.registry.is_none();
            let mut row = Row {
                pack_ref: p.pack_ref.to_string(),
                current: p.version.to_string(),
                wanted: wanted.get(&p.pack_ref).cloned(),
                latest: prov
                    .filter(|_| !direct)
                    .and_then(|x| latest(&x.entries, &p.version)),
                registry: prov.filter(|_| !direct).map(|x| x.registry.clone()),
                outdated: false,
                yanked: !direct
                    && prov.is_some_and(|x| {
                        x.entries.iter().any(|e| e.yanked && e.version == p.version)
                    }),
            };
            row.outdated =
                row.yanked || newer(&row.wanted, &row.current) || newer(&row.latest, &row.current);
            row
        })
        .collect();
    if let Some(e) = &resolution_error {
        ctx.warn(&format!(
            "the installed requirements cannot be resolved any more, so WANTED is unknown: {e}"
        ));
    }
    for r in packs.iter().filter(|r| r.yanked) {
        ctx.warn(&match &r.wanted {
            Some(w) if w != &r.current => format!(
                "{} {} is yanked: `knap upgrade {}` moves it to {w}",
                r.pack_ref, r.current, r.pack_ref
            ),
            _ => format!(
                "{} {} is yanked and no other version meets its requirement: give a new one, `knap upgrade {}@REQ`",
                r.pack_ref, r.current, r.pack_ref
            ),
        });
    }
    ctx.print(&OutdatedReport {
        root: root_path,
        packs,
        resolution_error,
    });
    Ok(())
}

impl fmt::Display for OutdatedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let style = Style::of(f);
        if self.packs.is_empty() {
            return writeln!(f, "no packs installed in {}", self.root.display());
        }
        let outdated: Vec<[String; 5]> = self
            .packs
            .iter()
            .filter(|r| r.outdated)
            .map(|r| {
                [
                    r.pack_ref.clone(),
                    if r.yanked {
                        format!("{} (yanked)", r.current)
                    } else {
                        r.current.clone()
                    },
                    r.wanted.clone().unwrap_or_else(|| "-".into()),
                    r.latest.clone().unwrap_or_else(|| "-".into()),
                    r.registry.clone().unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        if outdated.is_empty() {
            return match self.packs.len() {
                1 => writeln!(f, "the installed pack is up to date"),
                n => writeln!(f, "all {n} installed packs are up to date"),
            };
        }
        let header = ["REF", "CURRENT", "WANTED", "LATEST", "REGISTRY"].map(String::from);
        table(f, &header, &outdated)?;
        // The hint about LATEST only when some LATEST is beyond its WANTED.
        let beyond = self
            .packs
            .iter()
            .any(|r| r.outdated && r.latest.is_some() && r.latest != r.wanted);
        let hint = if beyond {
            "`knap upgrade` installs WANTED; for LATEST beyond it, give a new requirement: `knap upgrade REF@REQ`"
        } else {
            "`knap upgrade` installs WANTED"
        };
        writeln!(f, "{}", style.dim(hint))
    }
}

/// The index entries of every ref the lock involves, and the lock's direct
/// packs as pinned candidates.
async fn lookup(
    set: &IndexSet,
    lock: &Lockfile,
) -> anyhow::Result<(BTreeMap<String, Option<Provided>>, BTreeMap<String, Entry>)> {
    let pinned: BTreeMap<String, Entry> = lock
        .packs
        .iter()
        .filter(|p| p.registry.is_none())
        .map(|p| (p.pack_ref.to_string(), entry_of_locked(p)))
        .collect();
    let refs = refs_to_look_up(
        lock.requested
            .keys()
            .chain(lock.packs.iter().map(|p| &p.pack_ref))
            .map(PackRef::as_str),
        &pinned,
    );
    let provided = if refs.is_empty() {
        BTreeMap::new()
    } else {
        set.lookup_with_dependencies(&refs).await?
    };
    Ok((provided, pinned))
}

/// The plan of `knap upgrade` (everything), against the lock.
fn upgrade_plan(
    config: &Config,
    candidates: &WithPinned<'_>,
    provided: &BTreeMap<String, Option<Provided>>,
    lock: &Lockfile,
) -> Result<Plan, String> {
    let roots = lock
        .requested_dependencies()
        .map_err(|e| format!("knap.lock `requested`: {e}"))?;
    let options = knap_resolver::Options {
        lock: Some(lock.clone()),
        upgrade: Upgrade::All,
        no_deps: false,
    };
    let resolved =
        knap_resolver::resolve(candidates, &roots, &options).map_err(|e| e.to_string())?;
    let mut chosen = Vec::new();
    for r in resolved {
        let e = candidates.entry(&r.pack_ref, &r.version).ok_or_else(|| {
            format!(
                "no index entry for the resolved {} {}",
                r.pack_ref, r.version
            )
        })?;
        let (pack_ref, version) = (e.pack_ref.clone(), e.version.clone());
        let origin = match provided.get(e.pack_ref.as_str()).and_then(|p| p.as_ref()) {
            Some(p) if !candidates.pinned.contains_key(e.pack_ref.as_str()) => Origin::Registry {
                sources: config
                    .registries
                    .iter()
                    .find(|c| c.name == p.registry)
                    .map(|cfg| entry_sources(cfg, e))
                    .unwrap_or_default(),
                registry: p.registry.clone(),
                signed: None,
            },
            _ => Origin::Locked,
        };
        chosen.push(Chosen {
            pack_ref,
            version,
            dependencies: r.dependencies,
            yanked: e.yanked,
            origin,
        });
    }
    let present: BTreeSet<PackRef> = lock.packs.iter().map(|p| p.pack_ref.clone()).collect();
    Ok(Plan::resolved(
        chosen,
        lock.requested.clone(),
        Inputs {
            old: Some(lock),
            present: &present,
            force: false,
        },
    ))
}

/// The version the plan leaves each ref at: installed or kept.
fn wanted_versions(plan: &Plan) -> BTreeMap<PackRef, String> {
    plan.install
        .iter()
        .map(|i| (i.pack_ref.clone(), i.version.to_string()))
        .chain(
            plan.keep
                .iter()
                .map(|p| (p.pack_ref.clone(), p.version.to_string())),
        )
        .collect()
}
