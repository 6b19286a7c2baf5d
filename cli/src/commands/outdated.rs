//! `knap outdated`: for every installed pack, the version `knap upgrade`
//! would move it to (WANTED: the newest that the recorded requirements
//! allow, resolved exactly as `knap upgrade` resolves) and the newest
//! version its registry publishes (LATEST). Refreshes the indices first
//! (unless `--offline`); changes nothing.

use std::collections::BTreeMap;

use knap_resolver::Upgrade;
use knap_schema::PackRef;
use knap_schema::index::Entry;
use knap_schema::lock::Lockfile;
use serde_json::json;

use super::Ctx;
use super::direct::WithPinned;
use super::installed::{lock_of, open_for_reading, refresh};
use knap_registry::index_set::{IndexSet, Provided};

/// One row of the report.
struct Row {
    pack_ref: String,
    current: String,
    wanted: Option<String>,
    latest: Option<String>,
    registry: Option<String>,
    /// The installed version is yanked in its registry.
    yanked: bool,
}

impl Row {
    fn outdated(&self) -> bool {
        let cur = semver::Version::parse(&self.current).ok();
        let newer = |v: &Option<String>| {
            v.as_deref()
                .and_then(|v| semver::Version::parse(v).ok())
                .zip(cur.clone())
                .is_some_and(|(v, c)| v > c)
        };
        self.yanked || newer(&self.wanted) || newer(&self.latest)
    }
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
    let lock = {
        let root = open_for_reading(ctx)?;
        lock_of(root.as_ref())?
    };
    if lock.packs.is_empty() {
        if ctx.json {
            crate::output::print_json(&json!({"root": root_path, "packs": []}));
        } else {
            ctx.say(&format!("no packs installed in {}", root_path.display()));
        }
        return Ok(());
    }
    let set = IndexSet::open(&ctx.config, &ctx.env, None)?;
    refresh(ctx, &set).await?;
    let (provided, pinned) = lookup(&set, &lock).await?;
    let candidates = WithPinned {
        registries: &provided,
        pinned: &pinned,
    };
    let (wanted, resolution_error) = match resolve_upgrade(&candidates, &lock) {
        Ok(w) => (w, None),
        Err(e) => (BTreeMap::new(), Some(e)),
    };
    let rows: Vec<Row> = lock
        .packs
        .iter()
        .map(|p| {
            let prov = provided.get(p.pack_ref.as_str()).and_then(|x| x.as_ref());
            Row {
                pack_ref: p.pack_ref.to_string(),
                current: p.version.to_string(),
                wanted: wanted.get(p.pack_ref.as_str()).cloned(),
                latest: if p.registry.is_none() {
                    None
                } else {
                    prov.and_then(|x| latest(&x.entries, &p.version))
                },
                registry: if p.registry.is_none() {
                    None
                } else {
                    prov.map(|x| x.registry.clone())
                },
                yanked: p.registry.is_some()
                    && prov.is_some_and(|x| {
                        x.entries.iter().any(|e| e.yanked && e.version == p.version)
                    }),
            }
        })
        .collect();

    if ctx.json {
        let packs: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "ref": r.pack_ref,
                    "current": r.current,
                    "wanted": r.wanted,
                    "latest": r.latest,
                    "registry": r.registry,
                    "outdated": r.outdated(),
                    "yanked": r.yanked,
                })
            })
            .collect();
        crate::output::print_json(&json!({
            "root": root_path,
            "packs": packs,
            "resolution_error": resolution_error,
        }));
        return Ok(());
    }
    if let Some(e) = &resolution_error {
        eprintln!(
            "{}: the installed requirements cannot be resolved any more, so WANTED is unknown: {e}",
            ctx.style.yellow("warning")
        );
    }
    let outdated: Vec<[String; 5]> = rows
        .iter()
        .filter(|r| r.outdated())
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
        ctx.say(&match rows.len() {
            1 => "the installed pack is up to date".to_owned(),
            n => format!("all {n} installed packs are up to date"),
        });
        return Ok(());
    }
    let header = ["REF", "CURRENT", "WANTED", "LATEST", "REGISTRY"].map(String::from);
    super::list::print_table(ctx, &header, &outdated);
    for r in rows.iter().filter(|r| r.yanked) {
        let line = match &r.wanted {
            Some(w) if w != &r.current => format!(
                "{} {} is yanked: `knap upgrade {}` moves it to {w}",
                r.pack_ref, r.current, r.pack_ref
            ),
            _ => format!(
                "{} {} is yanked and no other version meets its requirement: give a new one, `knap upgrade {}@REQ`",
                r.pack_ref, r.current, r.pack_ref
            ),
        };
        ctx.warn(&line);
    }
    // The hint about LATEST only when some LATEST is beyond its WANTED.
    if rows
        .iter()
        .any(|r| r.outdated() && r.latest.is_some() && r.latest != r.wanted)
    {
        ctx.say(&ctx.style.dim(
            "`knap upgrade` installs WANTED; for LATEST beyond it, give a new requirement: `knap upgrade REF@REQ`",
        ));
    } else {
        ctx.say(&ctx.style.dim("`knap upgrade` installs WANTED"));
    }
    Ok(())
}

/// The index entries of every ref the lock involves, and the lock's direct
/// packs as pinned candidates.
pub async fn lookup(
    set: &IndexSet,
    lock: &Lockfile,
) -> anyhow::Result<(BTreeMap<String, Option<Provided>>, BTreeMap<String, Entry>)> {
    let pinned: BTreeMap<String, Entry> = lock
        .packs
        .iter()
        .filter(|p| p.registry.is_none())
        .map(|p| (p.pack_ref.to_string(), super::direct::entry_of_locked(p)))
        .collect();
    let refs = super::direct::refs_to_look_up(
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

/// The version of each ref that `knap upgrade` (everything) would choose.
fn resolve_upgrade(
    candidates: &WithPinned<'_>,
    lock: &Lockfile,
) -> Result<BTreeMap<String, String>, String> {
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
    Ok(resolved
        .into_iter()
        .map(|r| (r.pack_ref.to_string(), r.version.to_string()))
        .collect())
}
