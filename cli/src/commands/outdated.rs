//! `knap outdated`: for every installed pack, the version `knap upgrade`
//! would move it to (WANTED: the newest that the recorded requirements
//! allow, from the plan of the install pipeline run as a dry-run upgrade
//! of everything, exactly what `knap upgrade` would do) and the newest
//! version its registry publishes (LATEST). Refreshes the indices first
//! (unless `--offline`); changes nothing, and reads the root (under a
//! shared lock) before any network request.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use knap_client::{InstallError, Request};
use knap_installer::plan::Plan;
use knap_registry::index_set::IndexSet;
use knap_resolver::Upgrade;
use knap_schema::PackRef;
use knap_schema::index::Entry;
use serde::Serialize;

use super::{Ctx, lock_of};
use crate::output::{Style, table};

/// One row of the report.
#[derive(Debug, Serialize)]
struct Row {
    #[serde(rename = "ref")]
    pack_ref: String,
    current: semver::Version,
    wanted: Option<semver::Version>,
    latest: Option<semver::Version>,
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

fn newer(v: &Option<semver::Version>, current: &semver::Version) -> bool {
    v.as_ref().is_some_and(|v| v > current)
}

/// The newest version a registry lists that is not yanked; pre-releases
/// only when the installed version is one.
fn latest(entries: &[Entry], current: &semver::Version) -> Option<semver::Version> {
    let pre_ok = !current.pre.is_empty();
    entries
        .iter()
        .filter(|e| !e.yanked)
        .map(|e| &e.version)
        .filter(|v| pre_ok || v.pre.is_empty())
        .max()
        .cloned()
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
    let set = Arc::new(IndexSet::open(&ctx.config, &ctx.env, None)?);
    ctx.refresh(&set).await?;
    let request = Request {
        upgrade: Upgrade::All,
        dry_run: true,
        ..Request::default()
    };
    let (wanted, resolution_error) = match ctx
        .client()
        .install_with(set.clone(), &root_path, &request)
        .await
    {
        Ok(outcome) => (wanted_versions(&outcome.plan), None),
        // The installed requirements cannot be resolved any more: LATEST
        // is still worth showing.
        Err(e @ (InstallError::NoSolution(_) | InstallError::NotListed { .. })) => (
            BTreeMap::new(),
            Some(crate::report::report_of_error(&e).one_line()),
        ),
        Err(e) => return Err(e.into()),
    };
    // What the registries list of the installed packs (read already by
    // the resolution, so no request is made twice).
    let registry_refs: Vec<String> = lock
        .packs
        .iter()
        .filter(|p| p.registry.is_some())
        .map(|p| p.pack_ref.to_string())
        .collect();
    let provided = set.lookup(&registry_refs).await?;
    let packs: Vec<Row> = lock
        .packs
        .iter()
        .map(|p| {
            let prov = provided.get(p.pack_ref.as_str());
            let direct = p.registry.is_none();
            let mut row = Row {
                pack_ref: p.pack_ref.to_string(),
                current: p.version.clone(),
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
                        r.current.to_string()
                    },
                    r.wanted
                        .as_ref()
                        .map_or_else(|| "-".into(), ToString::to_string),
                    r.latest
                        .as_ref()
                        .map_or_else(|| "-".into(), ToString::to_string),
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

/// The version the plan leaves each ref at: installed or kept.
fn wanted_versions(plan: &Plan) -> BTreeMap<PackRef, semver::Version> {
    plan.install
        .iter()
        .map(|i| (i.pack_ref.clone(), i.version.clone()))
        .chain(
            plan.keep
                .iter()
                .map(|p| (p.pack_ref.clone(), p.version.clone())),
        )
        .collect()
}
