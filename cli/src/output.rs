//! How the client talks to the user: colour (`--color`, `NO_COLOR`), the
//! one printer of command reports, and JSON output (progress is
//! [`crate::progress`], errors [`crate::report`]).
//!
//! A command returns a typed report: `Serialize` is its `--json` document,
//! `Display` its text for people. [`print`] is the only place that chooses
//! between them. A report's `Display` colours its text only when formatted
//! with the alternate flag (`{:#}`), which [`print`] sets when colour is on
//! ([`Style::of`] turns the flag into a [`Style`]).

use std::fmt;

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Whether to colour stream output.
pub fn use_color(choice: ColorChoice, is_terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    }
}

/// Styles text when colour is on.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    /// The style a report's `Display` uses: colour when formatted as `{:#}`.
    pub fn of(f: &fmt::Formatter<'_>) -> Self {
        Style {
            color: f.alternate(),
        }
    }

    fn wrap(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
    pub fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
    pub fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
    pub fn red(&self, s: &str) -> String {
        self.wrap("31", s)
    }
    pub fn green(&self, s: &str) -> String {
        self.wrap("32", s)
    }
    pub fn yellow(&self, s: &str) -> String {
        self.wrap("33", s)
    }
}

/// Writes aligned columns, the header in bold (as `f`'s style says), one
/// line each.
pub fn table<const N: usize>(
    f: &mut fmt::Formatter<'_>,
    header: &[String; N],
    rows: &[[String; N]],
) -> fmt::Result {
    let style = Style::of(f);
    let mut width = [0usize; N];
    for row in std::iter::once(header).chain(rows) {
        for (i, cell) in row.iter().enumerate() {
            width[i] = width[i].max(cell.chars().count());
        }
    }
    let line = |row: &[String; N]| -> String {
        let mut s = String::new();
        for (i, cell) in row.iter().enumerate() {
            s.push_str(cell);
            if i + 1 < N {
                s.push_str(&" ".repeat(width[i] - cell.chars().count() + 2));
            }
        }
        s.trim_end().to_owned()
    };
    writeln!(f, "{}", style.bold(&line(header)))?;
    for r in rows {
        writeln!(f, "{}", line(r))?;
    }
    Ok(())
}

/// Prints a command's report on stdout: its JSON document with `--json`,
/// else its text (coloured when `color`), nothing with `-q` (except JSON,
/// which a program asked for). Text that is empty prints no line.
pub fn print<R: serde::Serialize + fmt::Display + ?Sized>(
    report: &R,
    json: bool,
    quiet: bool,
    color: bool,
) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).expect("reports serialise")
        );
        return;
    }
    if quiet {
        return;
    }
    let text = if color {
        format!("{report:#}")
    } else {
        format!("{report}")
    };
    if !text.is_empty() {
        println!("{}", text.trim_end_matches('\n'));
    }
}
