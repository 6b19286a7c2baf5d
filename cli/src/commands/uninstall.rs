//! `knap uninstall REF... [--force] [--dry-run]`: remove packs, and the
//! dependencies that nothing left installed needs any more, in one
//! `InstallRoot` commit with the new `knap.lock` (the plan is
//! `knap_installer::Plan::uninstall`).
//!
//! Works from `knap.lock` alone (its `requested` map and each pack's
//! recorded `dependencies`): no registry is read, so it works offline and
//! for packs whose registry is gone. A pack that a remaining pack needs is
//! refused (exit 3) unless `--force`. The removed packs' environments go
//! with them (`knap_client::install::envs::remove_unused`).

use std::collections::BTreeSet;

use knap_installer::Plan;
use knap_installer::state::installed_refs;
use knap_schema::PackRef;

use super::changes::UninstallReport;
use super::{Ctx, root_err};

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
    let root = ctx.open_for_writing()?;
    let old = root.read_lock().map_err(root_err)?.unwrap_or_default();
    let targets: BTreeSet<PackRef> = installed_refs(&old, &args.refs, root.path())?
        .into_iter()
        .collect();
    let u = Plan::uninstall(&old, &targets, args.force)?;
    let mut report = UninstallReport {
        dry_run: args.dry_run,
        root: root.path().to_owned(),
        remove: None,
        removed: None,
        left_without_dependency: u.left_without.clone(),
        removed_envs: Vec::new(),
        targets,
    };
    if args.dry_run {
        report.remove = Some(u.plan.remove);
        ctx.print(&report);
        return Ok(());
    }
    let new_lock = u.plan.new_lock(Some(&old), &[]);
    let present: Vec<PackRef> = u
        .plan
        .remove
        .iter()
        .filter(|r| root.pack_dir(r).exists())
        .cloned()
        .collect();
    root.commit(Vec::new(), present, &new_lock)
        .map_err(root_err)?;
    // Still under the root's exclusive lock.
    report.removed_envs = knap_client::install::envs::remove_unused(
        &ctx.config,
        root.path(),
        &new_lock,
        ctx.env.reporter.clone(),
    );
    drop(root);
    for n in &u.left_without {
        ctx.warn(&format!(
            "--force: {n}; it is no longer installed (see `knap doctor`)"
        ));
    }
    report.removed = Some(u.plan.remove);
    ctx.print(&report);
    Ok(())
}
