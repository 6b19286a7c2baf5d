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

use knap_client::held_back::{HeldBack, Holder, held_back};
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
    /// When LATEST is beyond WANTED: the requirements LATEST does not
    /// meet, and who asks for them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    held_back: Vec<Held>,
}

/// One requirement that holds LATEST back.
#[derive(Debug, Serialize)]
struct Held {
    /// `requested` (the requirement given at install), or the ref of the
    /// installed pack that depends on it.
    by: String,
    /// That pack's version after an upgrade of everything.
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<semver::Version>,
    requirement: String,
    /// The newest version of that pack that would accept LATEST.
    #[serde(skip_serializing_if = "Option::is_none")]
    newer_accepts: Option<semver::Version>,
}

impl Held {
    fn of(h: HeldBack) -> Self {
        match h.by {
            Holder::Requested => Held {
                by: "requested".into(),
                version: None,
                requirement: h.requirement.to_string(),
                newer_accepts: None,
            },
            Holder::Pack {
                pack_ref,
                version,
                newer_accepts,
            } => Held {
                by: pack_ref.to_string(),
                version: Some(version),
                requirement: h.requirement.to_string(),
                newer_accepts,
            },
        }
    }
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
                held_back: Vec::new(),
                yanked: !direct
                    && prov.is_some_and(|x| {
                        x.entries.iter().any(|e| e.yanked && e.version == p.version)
                    }),
            };
            row.outdated =
                row.yanked || newer(&row.wanted, &row.current) || newer(&row.latest, &row.current);
            if let (Some(w), Some(l)) = (&row.wanted, &row.latest)
                && l > w
            {
                row.held_back = held_back(&lock, &wanted, &provided, &p.pack_ref, l)
                    .into_iter()
                    .map(Held::of)
                    .collect();
            }
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
        // A LATEST that an installed pack holds back: who, so that nobody
        // asks for an upgrade that conflicts.
        for r in self.packs.iter().filter(|r| r.outdated) {
            let latest = r
                .latest
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            for h in r.held_back.iter().filter(|h| h.version.is_some()) {
                let version = h
                    .version
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let newer = match &h.newer_accepts {
                    Some(v) => format!("{} {v} accepts it: upgrade both", h.by),
                    None => format!("no version of {} accepts it yet", h.by),
                };
                writeln!(
                    f,
                    "{} {latest} is held back by {} {version}, which asks for {}@{} ({newer})",
                    r.pack_ref, h.by, r.pack_ref, h.requirement
                )?;
            }
        }
        // The hint about a new requirement only when some LATEST beyond its
        // WANTED is held back by nothing but the requirement given.
        let beyond = self.packs.iter().any(|r| {
            r.outdated
                && r.latest.is_some()
                && r.latest != r.wanted
                && r.held_back.iter().all(|h| h.version.is_none())
        });
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
