//! `knap`, the user's client: registries, search, info, install, and the
//! commands that inspect and maintain an install root (list, outdated,
//! upgrade, uninstall, verify, doctor).
//!
//! Data flows formats (`knap_schema`) -> registries (`knap_registry`) ->
//! the install pipeline (`knap_client`) -> the commands. Errors map to
//! cli.md's exit codes through `knap_schema::ErrorKind`; what both binaries
//! share about the terminal is `knap_term`.

/// mimalloc: loading a large index allocates every string of every entry;
/// the system allocator made that the largest cost of a cold `knap update`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod commands;
mod flags;
mod output;
mod progress;
mod report;

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands::Ctx;
use knap_registry::{config, http, registry};
use knap_schema::KnapError;

use crate::output::ColorChoice;
use crate::report::report_of;

#[derive(Parser, Debug)]
#[command(
    name = "knap",
    version,
    about = "Find and install packs from decentralized registries"
)]
struct Cli {
    /// The install root.
    #[arg(long, global = true, env = "KNAP_ROOT", value_name = "DIR")]
    root: Option<PathBuf>,
    /// The configuration file (default: $KNAP_CONFIG, else $XDG_CONFIG_HOME/knap/config.toml).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Use cached indices only; never touch the network.
    #[arg(long, global = true)]
    offline: bool,
    /// Machine-readable output on stdout; errors as JSON on stderr.
    #[arg(long, global = true)]
    json: bool,
    /// Print only errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Print more about what happens (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// When to colour output (NO_COLOR is honoured with auto).
    #[arg(long, global = true, value_enum, default_value = "auto")]
    color: ColorChoice,
    /// Progress on stderr: bars on a terminal (lines with -v), one JSON
    /// event per line, or none.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    progress: progress::ProgressChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Add, list, remove and reorder registries.
    #[command(subcommand)]
    Registry(RegistryCmd),
    /// Fetch or refresh indices (clone/fetch git; conditional GET over HTTP).
    Update {
        /// Registries to update (default: all).
        names: Vec<String>,
    },
    /// Search packs by ref, label, description and keywords.
    Search {
        query: Option<String>,
        /// Search only this registry.
        #[arg(long, value_name = "NAME")]
        registry: Option<String>,
    },
    /// Every version of a pack, its sources and dependencies, and which
    /// registry provides it.
    Info {
        /// REF or REF@REQ.
        spec: String,
        /// Look only in this registry.
        #[arg(long, value_name = "NAME")]
        registry: Option<String>,
    },
    /// Install packs and their dependencies (without SPEC: exactly what
    /// knap.lock says).
    Install(commands::install::InstallArgs),
    /// The installed packs, where each came from and why it is there.
    List(commands::list::ListArgs),
    /// Installed packs with newer versions (within their requirements, and
    /// at all).
    Outdated,
    /// Upgrade installed packs within their requirements, or to a new
    /// requirement (REF@REQ).
    Upgrade(commands::upgrade::UpgradeArgs),
    /// Remove packs and the dependencies nothing else needs.
    Uninstall(commands::uninstall::UninstallArgs),
    /// Check installed packs against knap.lock; name every changed, added
    /// or missing file (exit 4 on any).
    Verify(commands::verify::VerifyArgs),
    /// Check the runtimes and *_version requirements of installed packs
    /// against this machine (exit 1 if any is not met).
    Doctor(commands::doctor::DoctorArgs),
    /// Pack environments (Python venvs, Node.js modules): list, build,
    /// check, remove.
    #[command(subcommand)]
    Env(commands::env::EnvCmd),
    /// Bundles: the root's exact packs as an offline registry.
    #[command(subcommand)]
    Bundle(commands::bundle::BundleCmd),
    /// Copy a registry and every archive it offers into a directory, a
    /// registry of its own.
    Mirror(commands::mirror::MirrorArgs),
    /// Print the completion script of a shell (bash, zsh, fish, elvish,
    /// powershell) on stdout.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand, Debug)]
enum RegistryCmd {
    /// Add a registry: https://, sparse+https://, git+https://, git+file://, file:// or a path.
    Add {
        name: String,
        url: String,
        /// Lower is searched first (default 100).
        #[arg(long)]
        priority: Option<i64>,
        /// Environment variable holding a token, sent as `Authorization: Bearer`.
        #[arg(long, value_name = "VAR")]
        token_env: Option<String>,
        /// Allow plain http:// to a non-loopback host.
        #[arg(long)]
        allow_http: bool,
        /// A PEM file of CA certificates to trust for this registry.
        #[arg(long, value_name = "PEM")]
        ca_file: Option<PathBuf>,
        /// Add it without reading it first (offline set-up); `knap update` reads it later.
        #[arg(long)]
        no_fetch: bool,
        /// Pin a signed (TUF) registry to this trusted root file (its tuf/1.root.json, got out of band)
        #[arg(long, value_name = "FILE", conflicts_with = "root_sha256")]
        root: Option<PathBuf>,
        /// Pin a signed (TUF) registry to the sha256 of its tuf/1.root.json, checked on first fetch
        #[arg(long, value_name = "HEX")]
        root_sha256: Option<String>,
    },
    /// List registries in search order.
    List,
    /// Remove a registry and its cache.
    Remove { name: String },
    /// Change a registry's priority.
    SetPriority { name: String, priority: i64 },
}

/// Parses the command line. `registry add --root FILE` (a TUF root file)
/// shares its name with the global `--root DIR` (the install root), and clap
/// hands a global's value to a subcommand's argument of the same name: a
/// `--root DIR` before the subcommand, or `KNAP_ROOT`, is not a root file.
fn parse() -> Result<Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().try_get_matches()?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    // The suggestions knap prints repeat the flags given here.
    let given = |id: &str| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
    flags::Given::new(
        cli.root.as_deref().filter(|_| given("root")),
        cli.config.as_deref().filter(|_| given("config")),
    )
    .install();
    if let Command::Registry(RegistryCmd::Add { root, .. }) = &mut cli.command {
        // The words after `registry add` (options may not come between
        // `registry` and `add`: clap reads those as the global's).
        let args: Vec<String> = std::env::args().collect();
        let after_add = args
            .windows(2)
            .position(|w| w[0] == "registry" && w[1] == "add")
            .map_or(&args[..0], |i| &args[i + 2..]);
        let given_to_add = after_add
            .iter()
            .take_while(|a| *a != "--")
            .any(|a| a == "--root" || a.starts_with("--root="));
        if !given_to_add {
            *root = None;
        }
    }
    Ok(cli)
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let json_requested = std::env::args().any(|a| a == "--json");
    let cli = match parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind as K;
            if matches!(
                e.kind(),
                K::DisplayHelp | K::DisplayVersion | K::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                e.exit();
            }
            if json_requested {
                let e = KnapError::usage(e.to_string().trim().to_string()).into();
                report::print(&report_of(&e), true);
                std::process::exit(2);
            }
            // clap's message quotes the argument as given: written through
            // the printer, which escapes what a terminal would act on and
            // hides URL credentials.
            knap_term::err(e.render().ansi().to_string().trim_end());
            std::process::exit(e.exit_code());
        }
    };
    knap_term::set_color(cli.color.term());
    if let Command::Completions { shell } = cli.command {
        // Needs no configuration, cache or runtime. Written whole, so that
        // a reader that goes away (`| head`) ends it quietly.
        use clap::CommandFactory;
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "knap", &mut script);
        knap_term::out_bytes(&script);
        exit_if_stdout_failed();
        return;
    }
    let json = cli.json;
    if let Err(e) = init_logging(cli.verbose, cli.quiet, knap_term::stderr_colored()) {
        let r = report_of(&e.into());
        report::print(&r, json);
        std::process::exit(r.kind.exit_code());
    }
    let on_interrupt = match cli.command {
        Command::Install(_) | Command::Upgrade(_) => "interrupted; nothing was installed",
        Command::Uninstall(_) => "interrupted; nothing was removed",
        _ => "interrupted",
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let result = runtime.block_on(async {
        tokio::select! {
            r = run(cli) => Some(r),
            () = interrupted() => None,
        }
    });
    let Some(result) = result else {
        // Ctrl-C before any commit started: the command's futures are
        // dropped (a partial download's temporary file and the staging
        // directories, a git source's fetched repository in them, are
        // removed by their Drop), so nothing was installed. Blocking work
        // (an extraction, a git fetch) gets a moment to end.
        runtime.shutdown_timeout(std::time::Duration::from_secs(1));
        let e: anyhow::Error = KnapError::other(on_interrupt).into();
        report::print(&report_of(&e), json);
        std::process::exit(130);
    };
    // Nothing runs any more that the exit should wait for (a git fetch
    // abandoned at its deadline would only end at its server's pace).
    runtime.shutdown_background();
    if let Err(e) = result {
        let r = report_of(&e);
        report::print(&r, json);
        std::process::exit(r.kind.exit_code());
    }
    exit_if_stdout_failed();
}

/// A stdout that failed for another reason than a reader that went away
/// (told on stderr as it happened) fails the command.
fn exit_if_stdout_failed() {
    if knap_term::stdout_failed() {
        std::process::exit(1);
    }
}

/// Resolves at the first Ctrl-C (SIGINT) that arrives before a commit has
/// started; one during a commit is ignored, so that the root is changed
/// wholly (the command then ends on its own).
async fn interrupted() {
    loop {
        if tokio::signal::ctrl_c().await.is_err() {
            // No signal handling here: never interrupted.
            std::future::pending::<()>().await;
        }
        if !progress::commit_started() {
            return;
        }
        knap_term::warning("interrupt ignored: the commit is under way and finishes first");
    }
}

/// Logging to stderr at the level `-q`/`-v` ask for, or as `KNAP_LOG` (a
/// tracing filter) says; a `KNAP_LOG` that is not one is an error (exit 2),
/// never ignored.
fn init_logging(verbose: u8, quiet: bool, color: bool) -> Result<(), http::EnvVarError> {
    use tracing_subscriber::EnvFilter;
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "knap=info",
        (false, _) => "knap=debug",
    };
    let filter = match std::env::var_os("KNAP_LOG") {
        None => EnvFilter::new(level),
        Some(v) => {
            let invalid = || http::EnvVarError {
                name: "KNAP_LOG",
                value: v.to_string_lossy().into_owned(),
                accepts: "a tracing filter such as `knap=debug` or `warn`",
            };
            let text = v
                .to_str()
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(invalid)?;
            EnvFilter::try_new(text).map_err(|_| invalid())?
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false)
        .without_time()
        .init();
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let http = http::HttpSettings::from_env()?;
    let config_path = config::config_path(cli.config.as_deref())?;
    let config = config::load(&config_path)?;
    let env = registry::Env {
        cache_root: config::cache_dir()?,
        offline: cli.offline,
        http,
        global_ca_file: config.ca_file.as_ref().map(PathBuf::from),
        reporter: std::sync::Arc::new(progress::Render::new(
            progress::Mode::choose(
                cli.progress,
                cli.quiet,
                cli.json,
                cli.verbose,
                std::io::stderr().is_terminal(),
            ),
            cli.quiet,
        )),
    };
    let mut ctx = Ctx {
        config_path,
        config,
        env,
        json: cli.json,
        quiet: cli.quiet,
        verbose: cli.verbose,
        root: cli.root,
    };
    match cli.command {
        Command::Registry(r) => match r {
            RegistryCmd::Add {
                name,
                url,
                priority,
                token_env,
                allow_http,
                ca_file,
                no_fetch,
                root,
                root_sha256,
            } => {
                commands::registry::add(
                    &mut ctx,
                    commands::registry::AddArgs {
                        name,
                        url,
                        priority,
                        token_env,
                        allow_http,
                        ca_file,
                        no_fetch,
                        root,
                        root_sha256,
                    },
                )
                .await
            }
            RegistryCmd::List => commands::registry::list(&ctx),
            RegistryCmd::Remove { name } => commands::registry::remove(&mut ctx, &name),
            RegistryCmd::SetPriority { name, priority } => {
                commands::registry::set_priority(&mut ctx, &name, priority)
            }
        },
        Command::Update { names } => commands::update::run(&ctx, &names).await,
        Command::Search { query, registry } => {
            commands::search::run(&ctx, query.as_deref(), registry.as_deref()).await
        }
        Command::Info { spec, registry } => {
            commands::info::run(&ctx, &spec, registry.as_deref()).await
        }
        Command::Install(args) => commands::install::run(&ctx, args).await,
        Command::List(args) => commands::list::run(&ctx, &args),
        Command::Outdated => commands::outdated::run(&ctx).await,
        Command::Upgrade(args) => commands::upgrade::run(&ctx, args).await,
        Command::Uninstall(args) => commands::uninstall::run(&ctx, &args),
        Command::Verify(args) => commands::verify::run(&ctx, &args),
        Command::Doctor(args) => commands::doctor::run(&ctx, &args),
        Command::Env(cmd) => commands::env::run(&ctx, cmd),
        Command::Bundle(cmd) => commands::bundle::run(&ctx, cmd).await,
        Command::Mirror(args) => commands::mirror::run(&ctx, args).await,
        // Printed by main before the configuration is read.
        Command::Completions { .. } => Ok(()),
    }
}
