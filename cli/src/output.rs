//! How the client talks to the user: colour (`--color`, `NO_COLOR`, through
//! `knap_term`), the one printer of command reports, and JSON output
//! (progress is [`crate::progress`], errors [`crate::report`]).
//!
//! A command returns a typed report: `Serialize` is its `--json` document,
//! `Display` its text for people. [`print`] is the only place that chooses
//! between them. A report's `Display` styles its text only when formatted
//! with the alternate flag (`{:#}`), which [`print`] always sets
//! ([`Style::of`] turns the flag into a [`Style`]); `knap_term` strips the
//! styles when stdout gets no colour. A closed stdout ends the output
//! quietly (`knap_term::out`).

use std::fmt;

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// The process's colour choice for `knap_term`: `auto` colours a
    /// terminal unless `NO_COLOR` is set.
    pub fn term(self) -> knap_term::ColorChoice {
        match self {
            ColorChoice::Auto => knap_term::ColorChoice::Auto,
            ColorChoice::Always => knap_term::ColorChoice::Always,
            ColorChoice::Never => knap_term::ColorChoice::Never,
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

    fn wrap(&self, style: anstyle::Style, s: &str) -> String {
        if self.color {
            knap_term::paint(style, s)
        } else {
            s.to_owned()
        }
    }
    pub fn bold(&self, s: &str) -> String {
        self.wrap(knap_term::style::BOLD, s)
    }
    pub fn dim(&self, s: &str) -> String {
        self.wrap(knap_term::style::DIM, s)
    }
    pub fn red(&self, s: &str) -> String {
        self.wrap(knap_term::style::ERROR, s)
    }
    pub fn green(&self, s: &str) -> String {
        self.wrap(knap_term::style::GOOD, s)
    }
    pub fn yellow(&self, s: &str) -> String {
        self.wrap(knap_term::style::WARNING, s)
    }
}

/// `n` and the noun, singular for one: `1 package`, `2 packages`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
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
/// else its text (styled when stdout gets colour), nothing with `-q`
/// (except JSON, which a program asked for). Text that is empty prints no
/// line.
pub fn print<R: serde::Serialize + fmt::Display + ?Sized>(report: &R, json: bool, quiet: bool) {
    if json {
        knap_term::out_raw(&serde_json::to_string_pretty(report).expect("reports serialise"));
        return;
    }
    if quiet {
        return;
    }
    let text = format!("{report:#}");
    if !text.is_empty() {
        // A command it suggests repeats the --root and --config given.
        knap_term::out(&crate::flags::repeat(text.trim_end_matches('\n')));
    }
}
