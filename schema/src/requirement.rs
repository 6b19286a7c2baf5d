//! Version requirements: Cargo syntax (the `semver` crate), plus the two
//! forms real pack ecosystems mix in: space-separated AND (`>=1.4 <2`) and
//! `||` unions (`^1 || ^2`).
//!
//! Anything else (hyphen ranges, `v` prefixes, URLs, PEP 440 operators, ...)
//! is refused with an error that names the construct and, where one exists,
//! the way to write it.

use std::fmt;
use std::str::FromStr;

use semver::{Comparator, Version, VersionReq};

/// A requirement: one or more alternatives, each a set of comparators that
/// must all hold.
#[derive(Debug, Clone)]
pub struct Requirement {
    alternatives: Vec<VersionReq>,
}

/// Why a requirement string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid version requirement `{}`: {}",
    crate::text::Escaped(input),
    crate::text::Escaped(reason)
)]
pub struct RequirementError {
    pub input: String,
    /// What is wrong, naming the construct.
    pub reason: String,
}

impl Requirement {
    /// Matches every version (`*`).
    pub fn any() -> Self {
        Self {
            alternatives: vec![VersionReq::STAR],
        }
    }

    /// `=VERSION`.
    pub fn exact(v: &Version) -> Self {
        Self {
            alternatives: vec![VersionReq {
                comparators: vec![Comparator {
                    op: semver::Op::Exact,
                    major: v.major,
                    minor: Some(v.minor),
                    patch: Some(v.patch),
                    pre: v.pre.clone(),
                }],
            }],
        }
    }

    pub fn parse(input: &str) -> Result<Self, RequirementError> {
        let err = |reason: String| RequirementError {
            input: input.to_owned(),
            reason,
        };
        let text = input.trim();
        if text.is_empty() {
            return Err(err("it is empty; write `*` for any version".into()));
        }
        let mut alternatives = Vec::new();
        for alt in text.split("||") {
            let alt = alt.trim();
            if alt.is_empty() {
                return Err(err("an alternative of `||` is empty".into()));
            }
            alternatives.push(parse_alternative(alt).map_err(err)?);
        }
        Ok(Self { alternatives })
    }

    pub fn matches(&self, v: &Version) -> bool {
        self.alternatives.iter().any(|r| r.matches(v))
    }

    /// True for `*`.
    pub fn is_any(&self) -> bool {
        self.alternatives.iter().any(|r| r.comparators.is_empty())
    }

    /// The alternatives (`||`), each a Cargo requirement.
    pub fn alternatives(&self) -> &[VersionReq] {
        &self.alternatives
    }
}

fn parse_alternative(alt: &str) -> Result<VersionReq, String> {
    name_unsupported(alt)?;
    let mut comparators = Vec::new();
    for token in tokens(alt)? {
        if matches!(token.as_str(), "*" | "x" | "X") {
            continue;
        }
        let c = Comparator::from_str(&token).map_err(|e| format!("in `{token}`: {e}"))?;
        comparators.push(c);
    }
    Ok(VersionReq { comparators })
}

/// Splits one alternative into comparators: separated by commas or white
/// space, an operator standing apart from its version joined to it.
fn tokens(alt: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    let mut pending_op: Option<String> = None;
    for piece in alt.split([',', ' ', '\t']).filter(|p| !p.is_empty()) {
        let is_op = piece
            .chars()
            .all(|c| matches!(c, '>' | '<' | '=' | '^' | '~'));
        if is_op {
            if let Some(op) = pending_op.replace(piece.to_owned()) {
                return Err(format!("the operator `{op}` has no version after it"));
            }
            continue;
        }
        match pending_op.take() {
            Some(op) => out.push(format!("{op}{piece}")),
            None => out.push(piece.to_owned()),
        }
    }
    if let Some(op) = pending_op {
        return Err(format!("the operator `{op}` has no version after it"));
    }
    Ok(out)
}

/// Names the constructs of other ecosystems before the `semver` crate gives
/// a less helpful message.
fn name_unsupported(alt: &str) -> Result<(), String> {
    let lower = alt.to_ascii_lowercase();
    if alt.contains("://") || lower.starts_with("git+") || lower.starts_with("git:") {
        return Err(
            "a URL is not a version requirement (git and URL dependencies are not supported here)"
                .into(),
        );
    }
    if let Some((scheme, _)) = alt.split_once(':')
        && !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+.-_".contains(c))
    {
        return Err(format!(
            "`{scheme}:` is a package-manager protocol (as in npm's `npm:`, `file:`, `catalog:`), not a version requirement"
        ));
    }
    if alt.contains(" - ") {
        let (lo, hi) = alt.split_once(" - ").unwrap_or_default();
        return Err(format!(
            "hyphen ranges (`A - B`) are not supported; write `>={}, <={}`",
            lo.trim(),
            hi.trim()
        ));
    }
    for (op, what) in [
        ("==", "the PEP 440 operator `==`; write `=`"),
        ("~=", "the PEP 440 operator `~=`; write `~`"),
        ("!=", "the exclusion operator `!=` is not supported"),
        ("~>", "the Ruby operator `~>`; write `~`"),
    ] {
        if alt.contains(op) {
            return Err(what.into());
        }
    }
    // The first letter that is not a wildcard.
    let letters: String = alt
        .trim_start_matches(['>', '<', '=', '^', '~', ' '])
        .chars()
        .take_while(|c| c.is_ascii_alphabetic() || *c == '_')
        .collect();
    if !letters.is_empty() && !matches!(letters.as_str(), "x" | "X") {
        if (letters == "v" || letters == "V")
            && alt
                .trim_start_matches(['>', '<', '=', '^', '~', ' '])
                .chars()
                .nth(1)
                .is_some_and(|c| c.is_ascii_digit())
        {
            return Err(
                "a leading `v` is not part of a version; write the version without it".into(),
            );
        }
        if let Some((name, rest)) = alt.split_once('=')
            && crate::ident::is_valid_ref(name.trim())
        {
            return Err(format!(
                "`{}` is not a version requirement: a dependency on a pack is written `REF@REQ`, e.g. `{}@={}`",
                alt,
                name.trim(),
                rest.trim()
            ));
        }
        return Err(format!(
            "`{alt}` is not a version (expected something like `1.2.3`, `^1.2`, `>=1.0, <2`)"
        ));
    }
    Ok(())
}

impl FromStr for Requirement {
    type Err = RequirementError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, alt) in self.alternatives.iter().enumerate() {
            if i > 0 {
                f.write_str(" || ")?;
            }
            write!(f, "{alt}")?;
        }
        Ok(())
    }
}

impl PartialEq for Requirement {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}
impl Eq for Requirement {}

impl serde::Serialize for Requirement {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Requirement {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn cargo_syntax() {
        let r = Requirement::parse("^1.2").unwrap();
        assert!(r.matches(&v("1.9.0")));
        assert!(!r.matches(&v("2.0.0")));
        assert!(Requirement::parse("=1.4.0").unwrap().matches(&v("1.4.0")));
        assert!(Requirement::parse("1.*").unwrap().matches(&v("1.7.3")));
        assert!(Requirement::parse("*").unwrap().is_any());
    }

    #[test]
    fn space_separated_and() {
        let r = Requirement::parse(">= 1.4 < 2").unwrap();
        assert!(r.matches(&v("1.5.0")));
        assert!(!r.matches(&v("2.0.0")));
        assert!(!r.matches(&v("1.3.9")));
        assert_eq!(r.to_string(), ">=1.4, <2");
    }

    #[test]
    fn unions() {
        let r = Requirement::parse("^1 || ^3.1").unwrap();
        assert!(r.matches(&v("1.0.0")));
        assert!(!r.matches(&v("2.0.0")));
        assert!(r.matches(&v("3.2.0")));
        assert_eq!(r.to_string(), "^1 || ^3.1");
    }

    #[test]
    fn names_constructs() {
        let e = Requirement::parse("0.0.6 - 1").unwrap_err();
        assert!(e.reason.contains("hyphen"), "{e}");
        let e = Requirement::parse(">=v16.20.0").unwrap_err();
        assert!(e.reason.contains("leading `v`"), "{e}");
        let e = Requirement::parse("core=0.2.0").unwrap_err();
        assert!(e.reason.contains("core@=0.2.0"), "{e}");
        let e = Requirement::parse("npm:react@^17").unwrap_err();
        assert!(e.reason.contains("npm:"), "{e}");
        let e = Requirement::parse("git://github.com/x/y.git").unwrap_err();
        assert!(e.reason.contains("URL"), "{e}");
        let e = Requirement::parse("").unwrap_err();
        assert!(e.reason.contains("empty"), "{e}");
    }
}
