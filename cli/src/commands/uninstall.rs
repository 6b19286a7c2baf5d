//! `knap uninstall REF... [--force] [--dry-run]`: remove packs, and the
//! dependencies that nothing left installed needs any more, in one
//! `InstallRoot` commit with the new `knap.lock`.
//!
//! Works from `knap.lock` alone (its `requested` map and each pack's
//! recorded `dependencies`): no registry is read, so it works offline and
//! for packs whose registry is gone. A pack that a remaining pack needs is
//! refused (exit 3) unless `--force`.

use std::collections::BTreeSet;

use serde_json::json;

use super::Ctx;
use knap_registry::error::KnapError;
use knap_schema::PackRef;

use super::installed::{dependents, installed_refs, open_for_writing, reachable, root_err};

/// The flags of `knap uninstall`.
#[derive(Debug, clap::Args)]
pub struct UninstallArgs {
    /// Packs to remove.
    #[arg(required = true)]
    pub refs: Vec<String>,
    /// Remove them even when another installed pack needs them.
    #[arg(long)]
    pub force: bool,
    /// Print what would be removed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(ctx: &Ctx, args: &UninstallArgs) -> anyhow::Result<()> {
    let root_path = ctx.root_dir();
    if !root_path.exists() {
        installed_refs(&Default::default(), &args.refs, &root_path)?;
    }
    let root = open_for_writing(ctx)?;
    let old = root.read_lock().map_err(root_err)?.unwrap_or_default();
    let targets: BTreeSet<PackRef> = installed_refs(&old, &args.refs, root.path())?
        .into_iter()
        .collect();

    // What stays needed: the remaining requests and what they reach,
    // never through a pack being removed.
    let roots = || {
        old.requested
            .keys()
            .filter(|r| !targets.contains(*r))
            .cloned()
            .collect::<Vec<_>>()
    };
    let before = reachable(&old, old.requested.keys().cloned(), &BTreeSet::new());
    let after = reachable(&old, roots(), &targets);
    // The guard: a target that a remaining pack needs.
    let still_needed = reachable(&old, roots(), &BTreeSet::new());
    let mut refusals = Vec::new();
    let mut broken = Vec::new();
    for t in &targets {
        if still_needed.contains(t) {
            for e in dependents(&old, t, &still_needed) {
                if !targets.contains(&e.from) {
                    let v = old
                        .get(&e.from)
                        .map(|p| p.version.to_string())
                        .unwrap_or_else(|| "?".into());
                    let need = e.dependency_text();
                    refusals.push(format!("`{t}` is needed by {} {v} ({need})", e.from));
                    broken.push(json!({"ref": e.from, "needs": need}));
                }
            }
        }
    }
    if !refusals.is_empty() && !args.force {
        return Err(KnapError::not_found(format!(
            "refusing to uninstall: {}; uninstall those packs too, or pass --force to remove it anyway (they will be left without it)",
            refusals.join("; ")
        ))
        .into());
    }

    // Removed: the targets, and every pack only they made needed.
    let mut removed: Vec<PackRef> = old
        .packs
        .iter()
        .map(|p| p.pack_ref.clone())
        .filter(|r| targets.contains(r) || (before.contains(r) && !after.contains(r)))
        .collect();
    removed.sort();
    let mut new_lock = old.clone();
    new_lock.packs.retain(|p| !removed.contains(&p.pack_ref));
    for t in &targets {
        new_lock.requested.remove(t);
    }
    let why = |r: &PackRef| {
        if targets.contains(r) {
            ""
        } else {
            " (no longer needed)"
        }
    };

    if args.dry_run {
        if ctx.json {
            crate::output::print_json(&json!({
                "dry_run": true,
                "root": root.path(),
                "remove": removed,
                "left_without_dependency": broken,
            }));
        } else {
            for r in &removed {
                ctx.say(&format!("would remove {r}{}", why(r)));
            }
        }
        return Ok(());
    }
    let present: Vec<PackRef> = removed
        .iter()
        .filter(|r| root.pack_dir(r).exists())
        .cloned()
        .collect();
    root.commit(Vec::new(), present, &new_lock)
        .map_err(root_err)?;
    for r in &refusals {
        ctx.warn(&format!(
            "--force: {r}; it is no longer installed (see `knap doctor`)"
        ));
    }
    if ctx.json {
        crate::output::print_json(&json!({
            "root": root.path(),
            "removed": removed,
            "left_without_dependency": broken,
        }));
    } else {
        for r in &removed {
            ctx.say(&format!("{} {r}{}", ctx.style.green("removed"), why(r)));
        }
    }
    Ok(())
}
