//! The subcommands, each in its own module, sharing a [`Ctx`] built once
//! from the global flags.

pub mod direct;
pub mod doctor;
pub mod info;
pub mod install;
pub mod installed;
pub mod list;
pub mod outdated;
pub mod registry;
pub mod search;
pub mod suggest;
pub mod uninstall;
pub mod update;
pub mod upgrade;
pub mod verify;

use std::path::PathBuf;

use knap_schema::config::Config;

use crate::output::Style;
use knap_registry::registry::Env;

/// What every command gets: the configuration and how to talk.
pub struct Ctx {
    pub config_path: PathBuf,
    pub config: Config,
    pub env: Env,
    pub json: bool,
    pub quiet: bool,
    /// `-v` count: 1 shows full URLs and the steps of an install.
    pub verbose: u8,
    pub style: Style,
    /// `--root` / `KNAP_ROOT` (used by the install family).
    pub root: Option<PathBuf>,
}

impl Ctx {
    /// The install root (see `knap_registry::config::root_dir`).
    pub fn root_dir(&self) -> PathBuf {
        knap_registry::config::root_dir(self.root.as_deref(), &self.config)
    }

    /// Prints a command's typed report (see [`crate::output::print`]).
    pub fn print<R: serde::Serialize + std::fmt::Display + ?Sized>(&self, report: &R) {
        crate::output::print(report, self.json, self.quiet, self.style.color);
    }

    /// Prints a line of human output unless `-q`.
    pub fn say(&self, line: &str) {
        if !self.quiet {
            println!("{line}");
        }
    }

    /// Prints `warning: TEXT` on stderr unless `-q`.
    pub fn warn(&self, text: &str) {
        if !self.quiet {
            eprintln!("{}: {text}", self.style.yellow("warning"));
        }
    }
}

/// Now, as RFC 3339 in whole seconds (`installed_at`).
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("0 ns is valid")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("RFC 3339 formats")
}
