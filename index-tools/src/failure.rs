//! Exit codes and error reports (cli.md): every error says what failed and
//! where; with `--json`, stderr carries `{"error": {"kind", "message"}}`.

use std::fmt;

use knap_schema::digest::DigestError;
use knap_schema::manifest::ManifestError;

/// The exit code classes of cli.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Other = 1,
    Usage = 2,
    Integrity = 4,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Other => "other",
            Kind::Usage => "usage",
            Kind::Integrity => "integrity",
        }
    }
}

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

/// How an error ends the process.
pub struct Failure {
    pub code: u8,
    kind: Kind,
}

impl Failure {
    pub fn of(err: &anyhow::Error) -> Self {
        let kind = err
            .chain()
            .find_map(|e| {
                if let Some(c) = e.downcast_ref::<Classified>() {
                    return Some(c.kind);
                }
                if let Some(m) = e.downcast_ref::<ManifestError>() {
                    return Some(match m {
                        ManifestError::Invalid { .. } => Kind::Integrity,
                        ManifestError::Io { source, .. }
                            if source.kind() == std::io::ErrorKind::NotFound =>
                        {
                            Kind::Integrity
                        }
                        ManifestError::Io { .. } => Kind::Other,
                    });
                }
                if let Some(d) = e.downcast_ref::<DigestError>() {
                    return Some(match d {
                        DigestError::Io { .. } | DigestError::NotADirectory(_) => Kind::Other,
                        _ => Kind::Integrity,
                    });
                }
                None
            })
            .unwrap_or(Kind::Other);
        Self {
            code: kind as u8,
            kind,
        }
    }

    pub fn report(&self, err: &anyhow::Error, json: bool) {
        let message = chain_message(err);
        if json {
            let v = serde_json::json!({"error": {"kind": self.kind.name(), "message": message}});
            eprintln!("{v}");
        } else {
            eprintln!("error: {message}");
        }
    }
}

/// The error and its causes joined with `: `, each cause once: a cause whose
/// text the message above it already holds (an error that prints its source
/// in its own text, as `path: source` does) is not repeated.
pub fn chain_message(err: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}
