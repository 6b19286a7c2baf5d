//! `knap install`: resolve the requested packs (the previous `knap.lock`
//! preferred), fetch every pack that is not already installed at that
//! exact version and checksum into staging, verify it, and commit all of
//! them with the new `knap.lock` in one `InstallRoot` transaction (the
//! pipeline is `knap_client::install`).
//!
//! With `--bundle DIR|FILE.tar`, installs exactly the bundle's `knap.lock`
//! from the bundle alone (`knap_client::Client::install_bundle`).
//!
//! Without SPEC, installs exactly what `knap.lock` says: every locked pack
//! whose directory is missing or not its locked tree (all of them with
//! `--force`) is fetched from its locked source and must reproduce the
//! locked tree digest.
//!
//! Nothing under the root changes before every pack has been fetched and
//! verified; any failure leaves the root and its lock untouched.
//!
//! After the commit, the root's pack environments are built (unless
//! `--no-envs` or `envs = false`; `--locked` and an install from the lock
//! build them with the package versions it records): a failed build
//! leaves the packs installed and exits 1 naming the pack, the command
//! and the installer's last lines.

use knap_client::Request;
use knap_client::spec::{self, Spec};
use knap_registry::index_set::suggest;
use knap_resolver::Upgrade;

use super::Ctx;
use super::changes::ChangeReport;

/// The flags of `knap install`.
#[derive(Debug, Default, clap::Args)]
pub struct InstallArgs {
    /// REF, REF@REQ, a pack directory, an archive file, an https archive
    /// URL (with --checksum) or git+https://HOST/REPO#<commit>.
    pub specs: Vec<String>,
    /// Resolve from this registry only.
    #[arg(long, value_name = "NAME")]
    pub registry: Option<String>,
    /// Fail (exit 3) if knap.lock would change.
    #[arg(long)]
    pub locked: bool,
    /// Print the plan; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Fetch and reinstall packs even when already installed.
    #[arg(long)]
    pub force: bool,
    /// Install the named packs only, not their dependencies.
    #[arg(long)]
    pub no_deps: bool,
    /// Parallel downloads.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub jobs: usize,
    /// Install an archive URL SPEC without --checksum (trust the server).
    #[arg(long)]
    pub allow_unverified: bool,
    /// The expected checksum of the one direct SPEC: an archive's SHA-256,
    /// or the pack tree digest of a directory or git commit.
    #[arg(long, value_name = "sha256:HEX")]
    pub checksum: Option<String>,
    /// Build no pack environments (the report still says which are needed).
    #[arg(long)]
    pub no_envs: bool,
    /// Install exactly the lock of this bundle (`knap bundle create`), from
    /// the bundle alone: no registry, no network.
    #[arg(long, value_name = "DIR|FILE.tar", conflicts_with_all = ["specs", "registry", "locked", "no_deps", "checksum", "allow_unverified"])]
    pub bundle: Option<std::path::PathBuf>,
}

pub async fn run(ctx: &Ctx, args: InstallArgs) -> anyhow::Result<()> {
    let specs = parse_specs(ctx, &args.specs).await?;
    let bundle = args.bundle.clone();
    let request = Request {
        specs,
        registry: args.registry,
        upgrade: Upgrade::None,
        locked: args.locked,
        dry_run: args.dry_run,
        force: args.force,
        no_deps: args.no_deps,
        jobs: args.jobs,
        checksum: args.checksum,
        allow_unverified: args.allow_unverified,
        no_envs: args.no_envs,
        env_timeout: ctx.env_timeout()?,
    };
    let outcome = match bundle {
        Some(b) => ctx.install_bundle(&b, &request).await?,
        None => ctx.install(None, &request).await?,
    };
    let (report, failed) = ChangeReport::of_install(outcome);
    ctx.print(&report);
    super::env::failures(failed)
}

/// Reads the SPECs; a bare word that is no valid ref (`Diskwatch`) gets
/// the refs it may have meant.
pub(crate) async fn parse_specs(ctx: &Ctx, specs: &[String]) -> anyhow::Result<Vec<Spec>> {
    let mut out = Vec::new();
    for spec in specs {
        match spec::parse(spec) {
            Ok(p) => out.push(p),
            Err(e) if spec::is_bare_word(spec) => {
                let near = suggest::near_refs(&ctx.config, &ctx.env, spec).await;
                return Err(match suggest::did_you_mean(&near) {
                    Some(hint) => e.with_hint(hint),
                    None => e,
                }
                .into());
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}
