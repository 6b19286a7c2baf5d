//! The client's error kinds and the exit codes they map to (cli.md).
//!
//! Library modules return typed errors (`thiserror`); each converts into a
//! [`KnapError`] that carries the kind, so `main` can pick the exit code and
//! the `--json` error object without parsing messages.

use std::fmt;

/// What kind of failure, as cli.md's exit codes classify them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Exit 1: anything else.
    Other,
    /// Exit 2: bad flags or arguments.
    Usage,
    /// Exit 3: unknown ref, registry or version.
    NotFound,
    /// Exit 4: invalid index, integrity or safety violation.
    Integrity,
    /// Exit 5: registry or network failure.
    Registry,
}

impl Kind {
    pub fn exit_code(self) -> i32 {
        match self {
            Kind::Other => 1,
            Kind::Usage => 2,
            Kind::NotFound => 3,
            Kind::Integrity => 4,
            Kind::Registry => 5,
        }
    }

    /// The `kind` of the `--json` error object.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Other => "other",
            Kind::Usage => "usage",
            Kind::NotFound => "not_found",
            Kind::Integrity => "integrity",
            Kind::Registry => "registry",
        }
    }
}

/// An error with its kind; the message names what failed, where, and what to
/// do next.
#[derive(Debug)]
pub struct KnapError {
    pub kind: Kind,
    pub message: String,
}

impl KnapError {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Kind::Usage, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Kind::NotFound, message)
    }
}

impl fmt::Display for KnapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for KnapError {}
