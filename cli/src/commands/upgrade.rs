//! `knap upgrade [REF[@REQ]...]`: move installed packs to the newest
//! versions their requirements allow (every pack, or the named ones), or
//! give a pack a new requirement (`REF@REQ`, which then becomes what is
//! requested for it). Refreshes the indices first (unless `--offline`),
//! then runs the install pipeline with the lock's versions unpinned for the
//! packs being upgraded; nothing changes unless every fetch verifies.

use std::collections::BTreeSet;

use knap_resolver::Upgrade;
use knap_schema::Dependency;

use super::Ctx;
use super::install::InstallArgs;
use super::installed::{lock_of, open_for_reading, refresh, require_installed};
use knap_registry::error::KnapError;
use knap_registry::index_set::IndexSet;

/// The flags of `knap upgrade`.
#[derive(Debug, clap::Args)]
pub struct UpgradeArgs {
    /// REF (newest version its requirement allows) or REF@REQ (a new
    /// requirement). Default: every installed pack.
    pub specs: Vec<String>,
    /// Print the plan; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Resolve from this registry only.
    #[arg(long, value_name = "NAME")]
    pub registry: Option<String>,
    /// Parallel downloads.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub jobs: usize,
}

pub async fn run(ctx: &Ctx, args: UpgradeArgs) -> anyhow::Result<()> {
    let root_path = super::install::root_dir(ctx);
    let lock = {
        let root = open_for_reading(ctx)?;
        lock_of(root.as_ref())?
    };
    let mut refs = BTreeSet::new();
    let mut new_requirements = Vec::new();
    for spec in &args.specs {
        let d = Dependency::parse(spec).map_err(|e| KnapError::usage(e.to_string()))?;
        if spec.contains('@') {
            new_requirements.push(spec.clone());
        }
        refs.insert(d.pack);
    }
    require_installed(&lock, &refs, &root_path)?;
    if lock.packs.is_empty() {
        if ctx.json {
            crate::output::print_json(&serde_json::json!({
                "root": root_path,
                "installed": [],
                "unchanged": [],
                "removed": [],
            }));
        } else {
            ctx.say(&format!(
                "no packs installed in {}: nothing to upgrade",
                root_path.display()
            ));
        }
        return Ok(());
    }
    for r in &refs {
        if lock.get(r).is_some_and(|p| p.registry.is_none()) {
            return Err(KnapError::usage(format!(
                "`{r}` was installed directly (from {}), not from a registry; install the new version the same way: `knap install SPEC`",
                super::installed::origin(lock.get(r).expect("checked"))
            ))
            .into());
        }
    }
    let set = IndexSet::open(&ctx.config, &ctx.env, args.registry.as_deref())?;
    refresh(ctx, &set).await?;
    drop(set);
    let upgrade = if refs.is_empty() {
        Upgrade::All
    } else {
        Upgrade::Packs(refs)
    };
    let install = InstallArgs {
        specs: new_requirements,
        registry: args.registry,
        dry_run: args.dry_run,
        jobs: args.jobs,
        ..InstallArgs::default()
    };
    super::install::run_with(ctx, install, upgrade).await
}
