//! Pack dependency strings, `REF` (any version) or `REF@REQ`, and the
//! requirements block of an index entry and of `pack.yaml` that lists them.

use crate::text::Escaped;
use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::ident::{PackRef, check_ref};
use crate::requirement::{Requirement, RequirementError};

/// Requirements of a pack: other packs (`REF` or `REF@REQ`) and
/// `*_version` requirements on the platform (`python_version`, ...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct Dependencies {
    #[serde(default)]
    pub packs: Vec<String>,
    /// `attune_version`, `python_version`, `nodejs_version`, ...
    #[serde(flatten)]
    pub versions: Map<String, Value>,
}

/// One pack's dependency on another. Reads (serde) from and writes to the
/// `REF` / `REF@REQ` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The ref depended on.
    pub pack: PackRef,
    /// What versions will do; `*` when the string named only the ref.
    pub req: Requirement,
}

/// Why a dependency string was refused. The string comes from outside knap
/// (a pack file, an index, the command line): it is shown escaped
/// ([`crate::text::escape`]), and so is the reason, which may quote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DependencyError {
    #[error("invalid dependency `{}`: {}", Escaped(input), Escaped(reason))]
    Ref { input: String, reason: String },
    /// The requirement part does not parse (told in the message: it is
    /// the reason, not a cause).
    #[error("invalid dependency `{}`: {}", Escaped(input), Escaped(&reason.to_string()))]
    Req {
        input: String,
        reason: RequirementError,
    },
}

impl DependencyError {
    /// The same refusal for a pack asked for on the command line (`REF` or
    /// `REF@REQ`: a pack name, not a dependency of a pack).
    pub fn of_command_line(&self) -> String {
        match self {
            Self::Ref { input, reason } => {
                format!("invalid pack ref `{}`: {}", Escaped(input), Escaped(reason))
            }
            Self::Req { input, reason } => format!(
                "invalid version requirement in `{}`: {}",
                Escaped(input),
                Escaped(&reason.to_string())
            ),
        }
    }
}

impl Dependency {
    pub fn parse(input: &str) -> Result<Self, DependencyError> {
        let text = input.trim();
        let bad_ref = |reason: String| DependencyError::Ref {
            input: input.to_owned(),
            reason,
        };
        if text.contains("://") || text.starts_with("git+") {
            return Err(bad_ref(
                "a URL is not a dependency: name the pack as `REF` or `REF@REQ` and publish it in a registry".into(),
            ));
        }
        let (name, req) = match text.split_once('@') {
            Some((name, req)) => (name.trim(), Some(req.trim())),
            None => (text, None),
        };
        if req.is_none() {
            for sep in ["==", ">=", "<=", "=", ">", "<", "^", "~", " "] {
                if let Some((n, r)) = text.split_once(sep)
                    && check_ref(n.trim()).is_ok()
                {
                    let op = if sep == "==" || sep == " " { "=" } else { sep };
                    let op = if op == "=" && r.trim_start().starts_with(['>', '<', '^', '~', '=']) {
                        ""
                    } else {
                        op
                    };
                    return Err(bad_ref(format!(
                        "the version is separated with `{}`; write `{}@{op}{}`",
                        sep.trim(),
                        n.trim(),
                        r.trim()
                    )));
                }
            }
        }
        let name = PackRef::parse(name).map_err(|e| bad_ref(e.reason))?;
        let req = match req {
            None => Requirement::any(),
            Some(r) => Requirement::parse(r).map_err(|reason| DependencyError::Req {
                input: input.to_owned(),
                reason,
            })?,
        };
        Ok(Self { pack: name, req })
    }

    /// `pack` at any version that `req` matches.
    pub fn new(pack: PackRef, req: Requirement) -> Self {
        Self { pack, req }
    }
}

impl serde::Serialize for Dependency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Dependency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Dependency {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Dependency".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[a-z][a-z0-9_-]*(@.+)?$",
        })
    }
}

impl FromStr for Dependency {
    type Err = DependencyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.req.is_any() {
            f.write_str(&self.pack)
        } else {
            write!(f, "{}@{}", self.pack, self.req)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pack_asked_for_on_the_command_line_is_no_dependency() {
        let e = Dependency::parse("Jira").unwrap_err();
        assert!(
            e.to_string().starts_with("invalid dependency `Jira`"),
            "{e}"
        );
        assert!(
            e.of_command_line()
                .starts_with("invalid pack ref `Jira`: the ref `Jira` must start"),
            "{}",
            e.of_command_line()
        );
        let e = Dependency::parse("jira@^^1").unwrap_err();
        assert!(
            e.of_command_line()
                .starts_with("invalid version requirement in `jira@^^1`: "),
            "{}",
            e.of_command_line()
        );
    }

    #[test]
    fn forms() {
        let d = Dependency::parse("core").unwrap();
        assert_eq!(d.pack, "core");
        assert!(d.req.is_any());
        assert_eq!(d.to_string(), "core");
        let d = Dependency::parse("aws@^2.1.0").unwrap();
        assert_eq!(d.pack, "aws");
        assert!(d.req.matches(&semver::Version::new(2, 3, 0)));
        assert_eq!(d.to_string(), "aws@^2.1.0");
        let d = Dependency::parse("aws@2.0.0").unwrap();
        assert!(!d.req.matches(&semver::Version::new(3, 0, 0)));
    }

    #[test]
    fn errors_say_how_to_write_it() {
        let e = Dependency::parse("core=0.2.0").unwrap_err().to_string();
        assert!(e.contains("core@=0.2.0"), "{e}");
        let e = Dependency::parse("Core@1").unwrap_err().to_string();
        assert!(e.contains("lowercase"), "{e}");
        let e = Dependency::parse("aws@wat").unwrap_err().to_string();
        assert!(e.contains("not a version"), "{e}");
        let e = Dependency::parse("https://github.com/x/y")
            .unwrap_err()
            .to_string();
        assert!(e.contains("URL"), "{e}");
    }
}
