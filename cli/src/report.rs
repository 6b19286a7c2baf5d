//! Printing errors: the one place an error a command returns (or a
//! failure a command reports and goes on) becomes the exit code and what
//! the user reads: `error: what failed`, each cause once, a `hint:`; with
//! `--json`, `{"error": {"kind", "message", "causes", "hint"}}` on stderr.
//!
//! The chain walk and the layout are `knap_schema::report` (shared with
//! `knap-index`); this module knows the client's error types: their kinds
//! and hints.

use std::error::Error;

use knap_registry::error::{Kind, KnapError};
use knap_schema::report::{Classified, ErrorReport};

use crate::output::Style;

/// The kind and hint of one error of a chain, for the types the client
/// knows.
fn classify(e: &(dyn Error + 'static)) -> Classified {
    let (kind, hint): (Option<Kind>, Option<String>) =
        if let Some(k) = e.downcast_ref::<KnapError>() {
            (Some(k.kind), k.hint.clone())
        } else if let Some(r) = e.downcast_ref::<knap_registry::registry::RegistryError>() {
            (Some(r.kind()), r.hint())
        } else if let Some(r) = e.downcast_ref::<knap_client::candidates::LookupFailed>() {
            (Some(r.kind()), None)
        } else if let Some(r) = e.downcast_ref::<knap_registry::index_set::OpenError>() {
            (Some(r.kind()), None)
        } else if let Some(s) = e.downcast_ref::<knap_client::sources::SourceError>() {
            (Some(s.kind), None)
        } else if let Some(f) = e.downcast_ref::<knap_registry::http::FetchError>() {
            (Some(f.kind()), f.hint())
        } else if let Some(r) = e.downcast_ref::<knap_installer::RootError>() {
            (Some(r.kind()), None)
        } else if let Some(x) = e.downcast_ref::<knap_installer::ExtractError>() {
            (
                Some(if x.is_safety_violation() {
                    Kind::Integrity
                } else {
                    Kind::Other
                }),
                None,
            )
        } else if let Some(n) = e.downcast_ref::<knap_installer::state::NotInstalled>() {
            (Some(n.kind()), None)
        } else if let Some(i) = e.downcast_ref::<knap_client::InstallError>() {
            (Some(i.kind()), None)
        } else if let Some(n) = e.downcast_ref::<knap_resolver::NoSolution>() {
            (Some(Kind::NotFound), n.hint())
        } else if let Some(m) = e.downcast_ref::<knap_schema::manifest::ManifestError>() {
            (Some(m.kind()), None)
        } else if let Some(d) = e.downcast_ref::<knap_schema::digest::DigestError>() {
            (Some(d.kind()), None)
        } else {
            (None, None)
        };
    Classified { kind, hint }
}

/// The report of any error.
pub fn report_of(err: &anyhow::Error) -> ErrorReport {
    let e: &(dyn Error + 'static) = err.as_ref();
    ErrorReport::from_chain(e, classify)
}

/// The report of an error that is not (yet) an `anyhow::Error`.
pub fn report_of_error(err: &(dyn Error + 'static)) -> ErrorReport {
    ErrorReport::from_chain(err, classify)
}

/// Prints `report` on stderr: JSON, or the human form with `error` in red.
pub fn print(report: &ErrorReport, json: bool, color: bool) {
    if json {
        eprintln!("{}", report.to_json());
        return;
    }
    let style = Style { color };
    let mut text = format!("{}: {}", style.red("error"), report.message);
    for c in &report.causes {
        text.push_str(&format!("\n  caused by: {c}"));
    }
    if let Some(h) = &report.hint {
        text.push_str(&format!("\n{}: {h}", style.yellow("hint")));
    }
    eprintln!("{text}");
}
