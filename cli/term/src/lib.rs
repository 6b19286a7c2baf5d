//! What `knap` and `knap-index` share about the terminal, so that both
//! talk alike: colour ([`set_color`], styles written with [`paint`] and
//! stripped by `anstream` when the stream gets no colour), the one error
//! printer ([`print_error`]: `error:`, a `caused by:` line per cause, a
//! `hint:`, or the `--json` object), warnings ([`warning`]), and stdout
//! ([`out`]): a reader that goes away (`knap info x | head -1`) ends the
//! output quietly, without a panic or a message, and the command keeps its
//! own exit code.
//!
//! This is the binaries' crate: the libraries never print (they report
//! `knap_schema::progress::Event`s and return errors). It writes to the
//! streams itself, without the print macros the workspace lints refuse.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

pub use anstream::ColorChoice;
use anstyle::{AnsiColor, Style};
use knap_schema::ErrorReport;

/// The styles the binaries use.
pub mod style {
    use super::{AnsiColor, Style};

    pub const ERROR: Style = AnsiColor::Red.on_default();
    pub const WARNING: Style = AnsiColor::Yellow.on_default();
    pub const HINT: Style = AnsiColor::Yellow.on_default();
    pub const GOOD: Style = AnsiColor::Green.on_default();
    pub const BOLD: Style = Style::new().bold();
    pub const DIM: Style = Style::new().dimmed();
}

/// `text` in `style` (the escape codes are stripped on the way out when
/// the stream gets no colour).
pub fn paint(style: Style, text: &str) -> String {
    format!("{}{text}{}", style.render(), style.render_reset())
}

/// Sets the colour choice of the process (`--color`): `Auto` colours a
/// stream that is a terminal unless `NO_COLOR` is set; `Always` and
/// `Never` win over the environment.
pub fn set_color(choice: ColorChoice) {
    choice.write_global();
}

/// Whether what goes to stderr is coloured.
pub fn stderr_colored() -> bool {
    anstream::AutoStream::choice(&io::stderr()) != ColorChoice::Never
}

/// Set once stdout's reader has gone away: nothing more is written there.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
/// Set when stdout failed for another reason (a full disk behind a
/// redirect): the command fails at its end.
static STDOUT_FAILED: AtomicBool = AtomicBool::new(false);

/// Writes `text` and a newline on stdout, its styles stripped unless stdout
/// gets colour. A closed stdout (a broken pipe) drops this and every later
/// write quietly; any other failure is told once on stderr and makes
/// [`stdout_failed`] true.
/// Every text goes through `knap_schema::text::for_terminal`: control and
/// bidi characters from outside knap are escaped, URL credentials hidden.
pub fn out(text: &str) {
    let text = knap_schema::text::for_terminal(text);
    write_out(|w| writeln!(anstream::AutoStream::auto(w), "{text}"));
}

/// [`out`] for a JSON document, never styled: written with JSON's own
/// escaping for the characters a terminal would act on
/// (`knap_schema::text::for_json`).
pub fn out_raw(text: &str) {
    let text = knap_schema::text::for_json(text);
    write_out(|w| writeln!(w, "{text}"));
}

/// [`out`] for bytes written as they are (a completion script).
pub fn out_bytes(bytes: &[u8]) {
    write_out(|w| w.write_all(bytes));
}

fn write_out(f: impl FnOnce(&mut io::StdoutLock<'static>) -> io::Result<()>) {
    if STDOUT_CLOSED.load(Ordering::SeqCst) {
        return;
    }
    let mut lock = io::stdout().lock();
    match f(&mut lock).and_then(|()| lock.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::SeqCst);
        }
        Err(e) => {
            STDOUT_CLOSED.store(true, Ordering::SeqCst);
            STDOUT_FAILED.store(true, Ordering::SeqCst);
            err(&format!(
                "{}: cannot write to stdout: {e}",
                paint(style::ERROR, "error")
            ));
        }
    }
}

/// True when stdout failed for a reason other than a reader that went
/// away; the binary then ends with a failure.
pub fn stdout_failed() -> bool {
    STDOUT_FAILED.load(Ordering::SeqCst)
}

/// Writes `text` and a newline on stderr, its styles stripped unless stderr
/// gets colour, made safe as [`out`] does; a stderr that cannot be written
/// is ignored.
pub fn err(text: &str) {
    let text = knap_schema::text::for_terminal(text);
    let _ = writeln!(anstream::stderr(), "{text}");
}

/// [`err`] for a line knap has not styled (a note, a warning, a report on
/// stderr): every escape sequence in it is escaped, colour codes too
/// (`knap_schema::text::for_terminal_unstyled`), so text from outside it
/// quotes (an index value, a path) reaches the terminal as text.
pub fn err_unstyled(text: &str) {
    err(&knap_schema::text::for_terminal_unstyled(text));
}

/// [`err`] for a JSON line (`--json` errors, `--progress json`).
pub fn err_json(text: &str) {
    let text = knap_schema::text::for_json(text);
    let _ = writeln!(io::stderr(), "{text}");
}

/// `warning: MESSAGE` on stderr.
pub fn warning(message: &str) {
    let message = knap_schema::text::for_terminal_unstyled(message);
    err(&format!("{}: {message}", paint(style::WARNING, "warning")));
}

/// The one error printer of both binaries: with `json`, the
/// `{"error": {"kind", "message", "causes", "hint"}}` object on one line;
/// else `error: MESSAGE`, one `caused by:` line per cause and the hint, on
/// stderr.
pub fn print_error(report: &ErrorReport, json: bool) {
    if json {
        err_json(&report.to_json());
        return;
    }
    err(&human(report));
}

/// The human form of an error report, styled. Its texts are made safe
/// before the styling is added (`for_terminal_unstyled`), so that no escape
/// sequence from outside survives among knap's own colour codes.
pub fn human(report: &ErrorReport) -> String {
    let plain = knap_schema::text::for_terminal_unstyled;
    let mut text = format!(
        "{}: {}",
        paint(style::ERROR, "error"),
        plain(&report.message)
    );
    for c in &report.causes {
        text.push_str(&format!("\n  caused by: {}", plain(c)));
    }
    if let Some(h) = &report.hint {
        text.push_str(&format!("\n{}: {}", paint(style::HINT, "hint"), plain(h)));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use knap_schema::ErrorKind;

    #[test]
    fn an_error_is_told_with_each_cause_and_the_hint_on_their_own_lines() {
        let report = ErrorReport {
            kind: ErrorKind::Registry,
            message: "cannot read registry `down`".into(),
            causes: vec!["http://127.0.0.1:9/index.json: connection refused".into()],
            hint: Some("check the URL's host and port".into()),
        };
        let text = human(&report);
        assert_eq!(
            text,
            "\u{1b}[31merror\u{1b}[0m: cannot read registry `down`\n  caused by: http://127.0.0.1:9/index.json: connection refused\n\u{1b}[33mhint\u{1b}[0m: check the URL's host and port"
        );
    }

    #[test]
    fn the_styles_are_the_ansi_codes_tests_look_for() {
        assert_eq!(paint(style::BOLD, "x"), "\u{1b}[1mx\u{1b}[0m");
        assert_eq!(paint(style::DIM, "x"), "\u{1b}[2mx\u{1b}[0m");
        assert_eq!(paint(style::GOOD, "x"), "\u{1b}[32mx\u{1b}[0m");
    }
}
