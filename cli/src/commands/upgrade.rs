//! `knap upgrade [REF[@REQ]...]`: move installed packs to the newest
//! versions their requirements allow (every pack, or the named ones), or
//! give a pack a new requirement (`REF@REQ`, which then becomes what is
//! requested for it). Refreshes the indices first (unless `--offline`),
//! then runs the install pipeline (`knap_client::install`) with the
//! lock's versions unpinned for the packs being upgraded; nothing changes
//! unless every fetch verifies. The pack environments follow as after
//! `knap install` (environments the new versions no longer use are
//! removed).

use std::collections::BTreeSet;

use knap_client::Request;
use knap_client::spec::Spec;
use knap_installer::state::{installed_refs, origin};
use knap_registry::index_set::IndexSet;
use knap_resolver::Upgrade;
use knap_schema::Dependency;
use knap_schema::KnapError;

use super::Ctx;
use super::changes::ChangeReport;
use super::lock_of;

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
    /// Build no pack environments (the report still says which are needed).
    #[arg(long)]
    pub no_envs: bool,
}

pub async fn run(ctx: &Ctx, args: UpgradeArgs) -> anyhow::Result<()> {
    let root_path = ctx.root_dir();
    let lock = {
        let root = ctx.open_for_reading()?;
        lock_of(root.as_ref())?
    };
    let mut refs = BTreeSet::new();
    let mut new_requirements = Vec::new();
    for spec in &args.specs {
        let d = Dependency::parse(spec).map_err(|e| KnapError::usage(e.of_command_line()))?;
        if let Some((_, req)) = spec.split_once('@') {
            new_requirements.push(Spec::Registry {
                dep: d.clone(),
                req: req.trim().to_owned(),
            });
        }
        refs.insert(d.pack);
    }
    let names: Vec<String> = refs.iter().map(ToString::to_string).collect();
    installed_refs(&lock, &names, &root_path)?;
    if lock.packs.is_empty() {
        ctx.print(&ChangeReport::nothing(
            root_path.clone(),
            format!(
                "no packs installed in {}: nothing to upgrade",
                root_path.display()
            ),
        ));
        return Ok(());
    }
    for r in &refs {
        if let Some(p) = lock.get(r).filter(|p| p.registry.is_none()) {
            return Err(KnapError::usage(format!(
                "`{r}` was installed directly (from {}), not from a registry; install the new version the same way: `knap install SPEC`",
                origin(p)
            ))
            .into());
        }
    }
    let set = IndexSet::open(&ctx.config, &ctx.env, args.registry.as_deref())?;
    ctx.refresh(&set).await?;
    let upgrade = if refs.is_empty() {
        Upgrade::All
    } else {
        Upgrade::Packs(refs)
    };
    let request = Request {
        specs: new_requirements,
        registry: args.registry,
        upgrade,
        dry_run: args.dry_run,
        jobs: args.jobs,
        no_envs: args.no_envs,
        env_timeout: ctx.env_timeout()?,
        ..Request::default()
    };
    let outcome = ctx
        .install(Some(std::sync::Arc::new(set)), &request)
        .await?;
    let (report, failed) = ChangeReport::of_install(outcome);
    ctx.print(&report);
    super::env::failures(failed)
}
