//! The client's errors: every library error type carries its kind (the
//! exit-code class of cli.md, [`Kind`], shared with `knap-index` through
//! `knap_schema::report`) and its cause chain (`#[source]`), so the binary
//! picks the exit code, prints each cause once and builds the `--json`
//! error object without parsing messages.
//!
//! [`KnapError`] is the error of a step that has no richer type: a kind, a
//! message naming what failed, an optional hint and an optional cause.

use std::fmt;

pub use knap_schema::ErrorKind as Kind;

/// An error with its kind; the message names what failed and where, the
/// hint what to do next, the source why.
#[derive(Debug)]
pub struct KnapError {
    pub kind: Kind,
    pub message: String,
    pub hint: Option<String>,
    pub source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl KnapError {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            hint: None,
            source: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Kind::Usage, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Kind::NotFound, message)
    }

    /// The same error with what to do about it.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The same error caused by `source` (told on its own line).
    pub fn caused_by(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }
}

impl fmt::Display for KnapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for KnapError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
