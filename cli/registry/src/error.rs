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

use crate::http::FetchError;

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

/// Why a registry could not answer. A cause is carried only as the
/// `#[source]`, never repeated in the error's own text: the binary tells
/// the chain, each cause once.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registry `{registry}`")]
    Fetch {
        registry: String,
        #[source]
        source: FetchError,
    },
    #[error(
        "registry `{registry}`: {location} is not a valid index:\n{problems}\nthe last good copy (if any) is kept; report this to the registry's maintainer"
    )]
    Invalid {
        registry: String,
        location: String,
        problems: String,
    },
    #[error("registry `{registry}`: {message}")]
    Unavailable { registry: String, message: String },
    /// The registry's index (a whole `index.json`, or a sparse registry's
    /// `config.json`) is not at its URL (404 or 410).
    #[error("registry `{registry}`: {url}: not found (404)")]
    NotFound {
        registry: String,
        url: String,
        /// A sparse registry (its `config.json` was asked for).
        sparse: bool,
    },
    /// A signed registry whose metadata or files failed verification.
    #[error("registry `{registry}`: {message}")]
    Untrusted { registry: String, message: String },
    #[error("registry `{registry}`: {message}")]
    Other { registry: String, message: String },
}

impl RegistryError {
    /// A fetch of `registry` that failed.
    pub fn fetch(registry: &str, source: FetchError) -> Self {
        RegistryError::Fetch {
            registry: registry.to_owned(),
            source,
        }
    }

    /// A signed file the registry lists in its targets but does not serve.
    pub fn not_served(registry: &str, url: &url::Url) -> Self {
        RegistryError::Untrusted {
            registry: registry.to_owned(),
            message: format!(
                "{url} is listed in its signed targets but the registry does not serve it"
            ),
        }
    }

    /// What to do about it, when there is something.
    pub fn hint(&self) -> Option<String> {
        match self {
            RegistryError::NotFound { sparse: true, .. } => Some(
                "is this a sparse registry? it serves config.json at its URL; a site's index.json is added without `sparse+`".into(),
            ),
            RegistryError::NotFound { sparse: false, .. } => Some(
                "check the URL: it names an index.json, or a directory that serves one".into(),
            ),
            _ => None,
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            RegistryError::Fetch {
                source: FetchError::TooLarge { .. },
                ..
            } => Kind::Integrity,
            RegistryError::Fetch {
                source: FetchError::Setup(_),
                ..
            } => Kind::Other,
            RegistryError::Fetch { .. }
            | RegistryError::Unavailable { .. }
            | RegistryError::NotFound { .. } => Kind::Registry,
            RegistryError::Invalid { .. } | RegistryError::Untrusted { .. } => Kind::Integrity,
            RegistryError::Other { .. } => Kind::Other,
        }
    }
}
