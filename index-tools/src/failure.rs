//! Exit codes and error reports (cli.md): every error says what failed and
//! where; with `--json`, stderr carries
//! `{"error": {"kind", "message", "causes", "hint"}}`. The error type of a
//! step is `knap_schema::KnapError`, the chain walk
//! `knap_schema::report`, the printer `knap_term::print_error`: all shared
//! with the `knap` client.

use knap_schema::KnapError;
use knap_schema::report::ErrorReport;

/// The exit code classes of cli.md (the same enum as the client's).
pub use knap_schema::ErrorKind as Kind;

/// An error of the given kind.
pub fn fail(kind: Kind, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(KnapError::new(kind, message))
}

/// How an error ends the process.
pub struct Failure {
    pub code: u8,
    report: ErrorReport,
}

impl Failure {
    pub fn of(err: &anyhow::Error) -> Self {
        let e: &(dyn std::error::Error + 'static) = err.as_ref();
        let report = ErrorReport::from_chain(e, knap_schema::report::classify);
        Self {
            code: report.kind.exit_code() as u8,
            report,
        }
    }

    /// `error: what failed`, one `caused by:` line per cause, a hint; or
    /// the JSON object.
    pub fn report(&self, json: bool) {
        knap_term::print_error(&self.report, json);
    }
}
