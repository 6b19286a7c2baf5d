//! The registries' error: [`RegistryError`], what a registry could not
//! answer, with its kind (the exit-code class of cli.md, [`Kind`]) and its
//! cause as the `#[source]`, never repeated in its own text. A step that has
//! no richer type uses `knap_schema::KnapError`.

pub use knap_schema::ErrorKind as Kind;

use crate::http::FetchError;

/// Why a registry could not answer. A cause is carried only as the
/// `#[source]`, never repeated in the error's own text: the binary tells
/// the chain, each cause once.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot read registry `{registry}`")]
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
    /// A local registry's index file could not be read.
    #[error("registry `{registry}`: cannot read {}", path.display())]
    LocalUnreadable {
        registry: String,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A git registry's transfer failed.
    #[error("cannot fetch registry `{registry}`")]
    Git {
        registry: String,
        #[source]
        source: crate::git_transport::GitError,
    },
    /// A git registry's fetched repository could not be set up or read.
    #[error("registry `{registry}`: {message}")]
    Repository {
        registry: String,
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
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
            RegistryError::LocalUnreadable { source, .. } => Some(
                match source.kind() {
                    std::io::ErrorKind::NotFound => {
                        "check the path: a local registry is a directory holding index.json (or the config.json of the sparse layout), or an index.json file"
                    }
                    std::io::ErrorKind::PermissionDenied => {
                        "knap may not read it: check the file's permissions (and its directories')"
                    }
                    _ => "check the path and that the file can be read",
                }
                .into(),
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
                source: FetchError::Setup { .. },
                ..
            } => Kind::Other,
            RegistryError::Fetch { .. }
            | RegistryError::Unavailable { .. }
            | RegistryError::NotFound { .. }
            | RegistryError::LocalUnreadable { .. }
            | RegistryError::Git { .. }
            | RegistryError::Repository { .. } => Kind::Registry,
            RegistryError::Invalid { .. } | RegistryError::Untrusted { .. } => Kind::Integrity,
            RegistryError::Other { .. } => Kind::Other,
        }
    }
}
