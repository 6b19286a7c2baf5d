//! Errors as the user reads them: the one place an error a command
//! returns (or a failure a command reports and goes on) becomes the exit
//! code and what is printed. The chain walk is `knap_schema::report`, the
//! printer `knap_term::print_error` (both shared with `knap-index`); this
//! module knows the kinds and hints of the client's libraries' error types.

use std::error::Error;

use knap_schema::ErrorKind as Kind;
use knap_schema::report::{Classified, ErrorReport};

/// The kind and hint of one error of a chain, for the types the client
/// knows.
fn classify(e: &(dyn Error + 'static)) -> Classified {
    let schema = knap_schema::report::classify(e);
    if schema.kind.is_some() {
        return schema;
    }
    let (kind, hint): (Option<Kind>, Option<String>) =
        if let Some(r) = e.downcast_ref::<knap_registry::registry::RegistryError>() {
            (Some(r.kind()), r.hint())
        } else if let Some(r) = e.downcast_ref::<knap_client::candidates::LookupFailed>() {
            (Some(r.kind()), None)
        } else if let Some(r) = e.downcast_ref::<knap_registry::index_set::OpenError>() {
            (Some(r.kind()), None)
        } else if let Some(f) = e.downcast_ref::<knap_registry::http::FetchError>() {
            (Some(f.kind()), f.hint())
        } else if let Some(v) = e.downcast_ref::<knap_registry::http::EnvVarError>() {
            (Some(v.kind()), v.hint())
        } else if let Some(g) = e.downcast_ref::<knap_registry::git_transport::GitError>() {
            (Some(g.kind()), g.hint())
        } else if let Some(r) = e.downcast_ref::<knap_installer::RootError>() {
            (Some(r.kind()), r.hint())
        } else if let Some(x) = e.downcast_ref::<knap_installer::ExtractError>() {
            (Some(x.kind()), x.hint())
        } else if let Some(n) = e.downcast_ref::<knap_installer::state::NotInstalled>() {
            (Some(n.kind()), None)
        } else if let Some(l) = e.downcast_ref::<knap_installer::plan::LockWouldChange>() {
            (Some(l.kind()), None)
        } else if let Some(s) = e.downcast_ref::<knap_installer::plan::StillNeeded>() {
            (Some(s.kind()), None)
        } else if let Some(i) = e.downcast_ref::<knap_client::InstallError>() {
            (Some(i.kind()), None)
        } else if let Some(v) = e.downcast_ref::<knap_envs::EnvError>() {
            (Some(v.kind()), v.hint())
        } else if let Some(n) = e.downcast_ref::<knap_resolver::NoSolution>() {
            (Some(Kind::NotFound), n.hint())
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

/// Prints `report` on stderr: the JSON object, or the human form.
/// Every `knap …` command it suggests repeats the `--root` and `--config`
/// given ([`crate::flags`]).
pub fn print(report: &ErrorReport, json: bool) {
    let repeat = |s: &str| crate::flags::repeat(s).into_owned();
    let report = ErrorReport {
        kind: report.kind,
        message: repeat(&report.message),
        causes: report.causes.iter().map(|c| repeat(c)).collect(),
        hint: report.hint.as_deref().map(repeat),
    };
    knap_term::print_error(&report, json);
}
