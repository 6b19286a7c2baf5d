//! `knap-index`: the tool pack authors and index operators run in CI.
//!
//! It turns a pack directory into an index entry or a reproducible archive,
//! and maintains, validates, signs (TUF) and publishes `index.json`. It has no network
//! stack, so it installs fast.

/// `eprintln!` for knap-index's notes, warnings and reports on stderr:
/// written through `knap_term::err_unstyled`, so that what they quote (a
/// `pack.yaml` or index value, a path) reaches the terminal escaped, as
/// every printer of knap writes.
macro_rules! tell {
    ($($arg:tt)*) => {
        knap_term::err_unstyled(&format!($($arg)*))
    };
}

mod archive;
mod archive_check;
mod attune_form;
mod build;
mod cli;
mod entry;
mod failure;
mod git_tree;
mod index_file;
mod merge;
mod new;
mod sign;
mod update;
mod validate;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::failure::Failure;

fn main() -> ExitCode {
    let mut cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind as K;
            if matches!(
                e.kind(),
                K::DisplayHelp | K::DisplayVersion | K::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                e.exit();
            }
            // clap's message quotes the argument as given: written through
            // the printer, which escapes what a terminal would act on.
            knap_term::err(e.render().ansi().to_string().trim_end());
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let json = cli.json;
    match &mut cli.command {
        Command::Checksum(a) => a.json = json,
        Command::Validate(a) => a.json = json,
        _ => {}
    }
    match run(cli) {
        // A stdout that failed for another reason than a reader that went
        // away (told on stderr as it happened) fails the command.
        Ok(()) if knap_term::stdout_failed() => ExitCode::FAILURE,
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let failure = Failure::of(&err);
            failure.report(json);
            ExitCode::from(failure.code)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::New(a) => new::new_command(a),
        Command::Checksum(a) => entry::checksum_command(a),
        Command::Entry(a) => entry::entry_command(a),
        Command::Update(a) => update::update_command(a),
        Command::Merge(a) => merge::merge_command(a),
        Command::Validate(a) => validate::validate_command(a),
        Command::Pack(a) => archive::pack_command(a),
        Command::Build(a) => build::build_command(a),
        Command::Keys(c) => sign::keys_command(c),
        Command::Sign(a) => sign::sign_command(a),
        Command::Completions { shell } => {
            // Written whole, so that a reader that goes away (`| head`)
            // ends it quietly.
            use clap::CommandFactory;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "knap-index", &mut script);
            knap_term::out_bytes(&script);
            Ok(())
        }
    }
}
