//! What an error is and how it is told, shared by every crate and both
//! binaries (cli.md): the exit-code class of a failure ([`ErrorKind`]),
//! [`KnapError`], the error of a step that has no richer type (a kind, a
//! message, a hint, a cause), the kinds of this crate's own errors
//! ([`classify`]), and [`ErrorReport`]: an error's cause chain walked once
//! into `error: what failed`, one line per cause, and a `hint:` when there
//! is something to do; with `--json`,
//! `{"error": {"kind", "message", "causes", "hint"}}`.
//!
//! The rule every error type follows (as uv's errors do): a message never
//! contains its cause. The cause is the `#[source]`, told on its own line,
//! so the chain is walked as it is, without comparing texts.

use std::error::Error;
use std::fmt;

use serde::Serialize;

use crate::digest::DigestError;
use crate::manifest::ManifestError;

/// What kind of failure, as cli.md's exit codes classify them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Exit 1: anything else.
    Other,
    /// Exit 2: bad flags or arguments.
    Usage,
    /// Exit 3: unknown ref, registry or version; unresolvable.
    NotFound,
    /// Exit 4: invalid index or manifest, integrity or safety violation.
    Integrity,
    /// Exit 5: registry or network failure.
    Registry,
}

impl ErrorKind {
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Other => 1,
            ErrorKind::Usage => 2,
            ErrorKind::NotFound => 3,
            ErrorKind::Integrity => 4,
            ErrorKind::Registry => 5,
        }
    }

    /// The `kind` of the `--json` error object.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Other => "other",
            ErrorKind::Usage => "usage",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Integrity => "integrity",
            ErrorKind::Registry => "registry",
        }
    }
}

impl ManifestError {
    /// A manifest that is missing or invalid is an integrity failure of the
    /// pack; any other I/O failure is not.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ManifestError::Invalid { .. } => ErrorKind::Integrity,
            ManifestError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::Integrity
            }
            ManifestError::Io { .. } => ErrorKind::Other,
        }
    }
}

impl DigestError {
    /// What a pack holds (a symlink, a special file...) is an integrity
    /// failure; not being able to read it is not.
    pub fn kind(&self) -> ErrorKind {
        match self {
            DigestError::Io { .. } | DigestError::NotADirectory(_) => ErrorKind::Other,
            _ => ErrorKind::Integrity,
        }
    }
}

/// The error of a step that has no richer type: what kind of failure
/// (its exit code), a message naming what failed and where, what to do
/// about it, and why (the cause, told on its own line).
#[derive(Debug)]
pub struct KnapError {
    pub kind: ErrorKind,
    pub message: String,
    pub hint: Option<String>,
    pub source: Option<Box<dyn Error + Send + Sync + 'static>>,
}

impl KnapError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            hint: None,
            source: None,
        }
    }

    /// Bad flags or arguments (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, message)
    }

    /// An unknown ref, registry or version (exit 3).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// Invalid input, an integrity or safety violation (exit 4).
    pub fn integrity(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Integrity, message)
    }

    /// A registry or network failure (exit 5).
    pub fn registry(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Registry, message)
    }

    /// Anything else (exit 1).
    pub fn other(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Other, message)
    }

    /// The same error with what to do about it.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The same error caused by `source` (told on its own line).
    pub fn caused_by(mut self, source: impl Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }
}

impl fmt::Display for KnapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for KnapError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

/// What a binary knows about one error of a chain: its kind and a hint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Classified {
    pub kind: Option<ErrorKind>,
    pub hint: Option<String>,
}

/// The kind and hint of this crate's error types ([`KnapError`],
/// [`ManifestError`], [`DigestError`]); a binary classifies its libraries'
/// types besides.
pub fn classify(e: &(dyn Error + 'static)) -> Classified {
    if let Some(k) = e.downcast_ref::<KnapError>() {
        Classified {
            kind: Some(k.kind),
            hint: k.hint.clone(),
        }
    } else if let Some(m) = e.downcast_ref::<ManifestError>() {
        Classified {
            kind: Some(m.kind()),
            hint: None,
        }
    } else if let Some(d) = e.downcast_ref::<DigestError>() {
        Classified {
            kind: Some(d.kind()),
            hint: None,
        }
    } else {
        Classified::default()
    }
}

/// An error as the user is told it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorReport {
    pub kind: ErrorKind,
    /// What failed.
    pub message: String,
    /// Why, outermost first; each once.
    pub causes: Vec<String>,
    /// What to do, when there is something.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl ErrorReport {
    /// Walks `err`'s chain once, one text per error (every message leaves
    /// its cause to the next link), the credentials of any URL in them
    /// hidden ([`crate::urls::redact_userinfo`]): this is where every error
    /// becomes text, for the terminal and for `--json` alike. `classify` names the kind and hint of
    /// the error types a binary knows; the outermost kind and the innermost
    /// hint found win, and an error no link classifies is
    /// [`ErrorKind::Other`].
    pub fn from_chain(
        err: &(dyn Error + 'static),
        classify: impl Fn(&(dyn Error + 'static)) -> Classified,
    ) -> Self {
        let mut kind = None;
        let mut hint = None;
        let mut texts: Vec<String> = Vec::new();
        let mut cur = Some(err);
        while let Some(e) = cur {
            let c = classify(e);
            kind = kind.or(c.kind);
            hint = c.hint.or(hint);
            let text = e.to_string();
            let text = text.trim();
            if !text.is_empty() {
                texts.push(crate::urls::redact_userinfo(text).into_owned());
            }
            cur = e.source();
        }
        let mut texts = texts.into_iter();
        Self {
            kind: kind.unwrap_or(ErrorKind::Other),
            message: texts.next().unwrap_or_default(),
            causes: texts.collect(),
            hint: hint.map(|h| crate::urls::redact_userinfo(&h).into_owned()),
        }
    }

    /// The message and its causes on one line, joined with `: `.
    pub fn one_line(&self) -> String {
        let mut s = self.message.clone();
        for c in &self.causes {
            s.push_str(": ");
            s.push_str(c);
        }
        s
    }

    /// The `--json` form: `{"error": {"kind", "message", "causes", "hint"}}`.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Wrapped<'a> {
            error: &'a ErrorReport,
        }
        let json =
            serde_json::to_string(&Wrapped { error: self }).expect("an error report serialises");
        crate::text::for_json(&json).into_owned()
    }
}

/// The human form: `error: what failed`, one `caused by:` line per cause,
/// and the hint.
impl fmt::Display for ErrorReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        for c in &self.causes {
            write!(f, "\n  caused by: {c}")?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\nhint: {h}")?;
        }
        Ok(())
    }
}

/// An error and its causes on one line (for log lines, warnings and lists
/// of failures, where an error is not the end of the run).
pub fn chain_line(err: &(dyn Error + 'static)) -> String {
    ErrorReport::from_chain(err, |_| Classified::default()).one_line()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("registry `r`")]
    struct Outer {
        #[source]
        source: Middle,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("https://r.example/index.json: timed out")]
    struct Middle {
        #[source]
        source: std::io::Error,
    }

    fn chain() -> Outer {
        Outer {
            source: Middle {
                source: std::io::Error::new(std::io::ErrorKind::TimedOut, "deadline elapsed"),
            },
        }
    }

    #[test]
    fn each_error_of_the_chain_is_told_on_its_own_line() {
        let r = ErrorReport::from_chain(&chain(), |_| Classified::default());
        assert_eq!(r.message, "registry `r`");
        assert_eq!(
            r.causes,
            [
                "https://r.example/index.json: timed out",
                "deadline elapsed"
            ]
        );
        assert_eq!(
            r.to_string(),
            "error: registry `r`\n  caused by: https://r.example/index.json: timed out\n  caused by: deadline elapsed"
        );
        assert_eq!(
            r.one_line(),
            "registry `r`: https://r.example/index.json: timed out: deadline elapsed"
        );
    }

    #[test]
    fn the_outer_kind_and_the_inner_hint_win() {
        let r = ErrorReport::from_chain(&chain(), |e| {
            if e.is::<Outer>() {
                Classified {
                    kind: Some(ErrorKind::Registry),
                    hint: Some("outer hint".into()),
                }
            } else if e.is::<Middle>() {
                Classified {
                    kind: Some(ErrorKind::Other),
                    hint: Some("raise KNAP_HTTP_TIMEOUT".into()),
                }
            } else {
                Classified::default()
            }
        });
        assert_eq!(r.kind, ErrorKind::Registry);
        assert_eq!(r.hint.as_deref(), Some("raise KNAP_HTTP_TIMEOUT"));
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["error"]["kind"], "registry");
        assert_eq!(v["error"]["message"], "registry `r`");
        assert_eq!(v["error"]["causes"][1], "deadline elapsed");
        assert_eq!(v["error"]["hint"], "raise KNAP_HTTP_TIMEOUT");
    }

    #[test]
    fn an_unclassified_error_is_other_without_a_hint() {
        let e = std::io::Error::other("boom");
        let r = ErrorReport::from_chain(&e, |_| Classified::default());
        assert_eq!(
            (r.kind, r.message.as_str(), r.hint),
            (ErrorKind::Other, "boom", None)
        );
        assert!(r.causes.is_empty());
        assert_eq!(r.kind.exit_code(), 1);
    }
}
