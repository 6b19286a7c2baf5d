//! Exit codes and error reports (cli.md): every error says what failed and
//! where; with `--json`, stderr carries
//! `{"error": {"kind", "message", "causes", "hint"}}`. The kinds and the
//! layout are `knap_schema::report`, shared with the `knap` client.

use std::fmt;

use knap_schema::digest::DigestError;
use knap_schema::manifest::ManifestError;
use knap_schema::report::{Classified as KindAndHint, ErrorReport};

/// The exit code classes of cli.md (the same enum as the client's).
pub use knap_schema::ErrorKind as Kind;

/// An error that knows its exit code; attach with [`fail`].
#[derive(Debug)]
pub struct Classified {
    pub kind: Kind,
    pub message: String,
}

impl fmt::Display for Classified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Classified {}

/// An error of the given kind.
pub fn fail(kind: Kind, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Classified {
        kind,
        message: message.into(),
    })
}

/// The kind of one error of a chain, for the types knap-index knows.
fn classify(e: &(dyn std::error::Error + 'static)) -> KindAndHint {
    let kind = if let Some(c) = e.downcast_ref::<Classified>() {
        Some(c.kind)
    } else if let Some(m) = e.downcast_ref::<ManifestError>() {
        Some(m.kind())
    } else {
        e.downcast_ref::<DigestError>().map(DigestError::kind)
    };
    KindAndHint { kind, hint: None }
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

    /// `error: what failed`, each cause once (`caused by:`), a hint; or the
    /// JSON object.
    pub fn report(&self, json: bool) {
        if json {
            eprintln!("{}", self.report.to_json());
        } else {
            eprintln!("{}", self.report);
        }
    }
}
