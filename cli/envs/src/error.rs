//! Why an environment could not be planned, built or read: every error
//! names the pack and the runtime, and an installer's failure also the
//! command it ran and the installer's last lines.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use knap_schema::ErrorKind;
use knap_schema::PackRef;
use knap_schema::env::Runtime;

/// The last lines an installer printed (stdout and stderr interleaved as
/// they arrived), shown indented under the error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tail(pub Vec<String>);

impl fmt::Display for Tail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str(" (it printed nothing)");
        }
        f.write_str("; its last lines:")?;
        for l in &self.0 {
            write!(f, "\n    | {l}")?;
        }
        Ok(())
    }
}

/// An environment error.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// No interpreter (or installer) to build with.
    #[error("`{pack}`: cannot build its {runtime} environment: {what} not found ({looked})")]
    Missing {
        pack: PackRef,
        runtime: Runtime,
        what: String,
        looked: String,
    },
    /// The interpreter does not meet what the pack asks for.
    #[error("`{pack}` asks for {asked}, but the {runtime} interpreter found is {found}")]
    Interpreter {
        pack: PackRef,
        runtime: Runtime,
        asked: String,
        found: String,
    },
    /// An interpreter's probe failed or said something unreadable.
    #[error("`{pack}`: cannot tell the version of {program}: {message}")]
    Probe {
        pack: PackRef,
        runtime: Runtime,
        program: String,
        message: String,
    },
    /// An installer failed.
    #[error("`{pack}`: building its {runtime} environment failed: `{command}` {status}{tail}")]
    Install {
        pack: PackRef,
        runtime: Runtime,
        command: String,
        status: String,
        tail: Tail,
    },
    /// An installer ran longer than allowed and was stopped.
    #[error("`{pack}`: building its {runtime} environment failed: `{command}` did not finish within {} s and was stopped{tail}", after.as_secs())]
    Timeout {
        pack: PackRef,
        runtime: Runtime,
        command: String,
        after: Duration,
        tail: Tail,
    },
    /// A locked build did not give the recorded version of a package.
    #[error("`{pack}`: the locked {runtime} environment cannot be built as knap.lock records it: {package} {}", match found { Some(v) => format!("is {v}, knap.lock says {wanted}"), None => format!("{wanted} is missing") })]
    Locked {
        pack: PackRef,
        runtime: Runtime,
        package: String,
        wanted: String,
        found: Option<String>,
    },
    /// Another process holds the pack's environments (is building them)
    /// and the build was asked not to wait.
    #[error("`{pack}`: its {runtime} environment is being built by another knap process")]
    Busy { pack: PackRef, runtime: Runtime },
    /// The pack's own files could not be read.
    #[error("`{pack}`: cannot read its pack.yaml")]
    Manifest {
        pack: PackRef,
        #[source]
        source: knap_schema::manifest::ManifestError,
    },
    /// A file or directory could not be read or written.
    #[error("`{pack}`: cannot {action} {}", path.display())]
    Io {
        pack: PackRef,
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl EnvError {
    /// The failure `f` of the installer command `command` (shown as run)
    /// that builds `pack`'s `runtime` environment under the deadline
    /// `after`.
    pub(crate) fn of_run(
        pack: &PackRef,
        runtime: Runtime,
        command: String,
        after: Duration,
        f: crate::process::Failed,
    ) -> Self {
        let pack = pack.clone();
        match f {
            crate::process::Failed::Spawn(e) => EnvError::Install {
                pack,
                runtime,
                command,
                status: format!("could not be started: {e}"),
                tail: Default::default(),
            },
            crate::process::Failed::Status { status, tail } => EnvError::Install {
                pack,
                runtime,
                command,
                status,
                tail,
            },
            crate::process::Failed::Timeout { tail } => EnvError::Timeout {
                pack,
                runtime,
                command,
                after,
                tail,
            },
        }
    }

    /// The pack whose environment failed.
    pub fn pack(&self) -> &PackRef {
        match self {
            EnvError::Missing { pack, .. }
            | EnvError::Interpreter { pack, .. }
            | EnvError::Probe { pack, .. }
            | EnvError::Install { pack, .. }
            | EnvError::Timeout { pack, .. }
            | EnvError::Locked { pack, .. }
            | EnvError::Busy { pack, .. }
            | EnvError::Manifest { pack, .. }
            | EnvError::Io { pack, .. } => pack,
        }
    }

    /// The runtime, when the error is about one environment.
    pub fn runtime(&self) -> Option<Runtime> {
        match self {
            EnvError::Missing { runtime, .. }
            | EnvError::Interpreter { runtime, .. }
            | EnvError::Probe { runtime, .. }
            | EnvError::Install { runtime, .. }
            | EnvError::Timeout { runtime, .. }
            | EnvError::Locked { runtime, .. }
            | EnvError::Busy { runtime, .. } => Some(*runtime),
            EnvError::Manifest { .. } | EnvError::Io { .. } => None,
        }
    }

    /// The exit-code class: a locked package that cannot be had is
    /// unresolvable (3); an unreadable pack manifest an integrity failure
    /// (4); the rest (a failed installer, a missing or unsuitable
    /// interpreter) other (1).
    pub fn kind(&self) -> ErrorKind {
        match self {
            EnvError::Locked { .. } => ErrorKind::NotFound,
            EnvError::Manifest { source, .. } => source.kind(),
            _ => ErrorKind::Other,
        }
    }

    /// What to do next.
    pub fn hint(&self) -> Option<String> {
        match self {
            EnvError::Missing { what, .. } => Some(format!(
                "install {what}, or set `python = \"/path/to/python3\"` in knap's configuration for Python"
            )),
            EnvError::Interpreter { .. } => Some(
                "set `python = \"/path/to/python3.X\"` in knap's configuration to an interpreter that fits, then `knap env build REF`".into(),
            ),
            EnvError::Install { pack, .. } | EnvError::Timeout { pack, .. } => Some(format!(
                "the pack stays installed and its previous environment (if any) in use; fix the cause, then `knap env build {pack}`"
            )),
            _ => None,
        }
    }

    pub(crate) fn io(
        pack: &PackRef,
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> EnvError {
        let pack = pack.clone();
        let path = path.into();
        move |source| EnvError::Io {
            pack,
            action,
            path,
            source,
        }
    }
}
