//! Exit codes and error reports (cli.md): every error says what failed and
//! where; with `--json`, stderr carries
//! `{"error": {"kind", "message", "causes", "hint"}}`. The error type of a
//! step is `knap_schema::KnapError`, the chain walk
//! `knap_schema::report`, the printer `knap_term::print_error`: all shared
//! with the `knap` client. [`classify`] knows the kinds and hints of the
//! library errors knap-index meets besides the schema's: keys, signing,
//! archive extraction and the pack archive writer.

use std::error::Error;

use knap_schema::KnapError;
use knap_schema::report::{Classified, ErrorReport};

/// The exit code classes of cli.md (the same enum as the client's).
pub use knap_schema::ErrorKind as Kind;

/// An error of the given kind.
pub fn fail(kind: Kind, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(KnapError::new(kind, message))
}

/// The kind and hint of one error of a chain, for the types knap-index
/// knows.
fn classify(e: &(dyn Error + 'static)) -> Classified {
    let schema = knap_schema::report::classify(e);
    if schema.kind.is_some() {
        return schema;
    }
    let (kind, hint) = if let Some(k) = e.downcast_ref::<knap_trust::KeyError>() {
        (Some(k.kind()), None)
    } else if let Some(s) = e.downcast_ref::<knap_trust::sign::SignError>() {
        (Some(s.kind()), None)
    } else if let Some(x) = e.downcast_ref::<knap_installer::ExtractError>() {
        (Some(x.kind()), x.hint())
    } else if let Some(p) = e.downcast_ref::<knap_installer::pack_archive::PackArchiveError>() {
        (Some(p.kind()), None)
    } else {
        (None, None)
    };
    Classified { kind, hint }
}

/// How an error ends the process.
pub struct Failure {
    pub code: u8,
    report: ErrorReport,
}

impl Failure {
    pub fn of(err: &anyhow::Error) -> Self {
        let e: &(dyn std::error::Error + 'static) = err.as_ref();
        let report = ErrorReport::from_chain(e, classify);
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
