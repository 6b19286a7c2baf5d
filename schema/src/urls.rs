//! Which URLs an index may name, how relative ones resolve, and the forms a
//! registry location takes in the client configuration.
//!
//! Install source URLs: `https://` by default; `http://` only for loopback
//! hosts or a registry allowed to use it; `file://` only from an index read
//! from a local path; relative URLs resolve against where the index was read
//! from. A URL with credentials, a query string or a fragment is invalid.
//!
//! A URL is checked as written, before the WHATWG parser rewrites it: that
//! parser reads `\` as `/` in http(s) and file URLs and silently drops
//! tabs, line breaks and leading or trailing spaces and control
//! characters, so `\\host\a.tgz`, `/\host/a.tgz` or `/<TAB>/host/a.tgz`
//! would otherwise resolve as `//host/...`: another host, past the check
//! for scheme-relative URLs. Backslashes, whitespace and control characters
//! are therefore refused anywhere in a source URL (a space in a path is
//! written `%20`).

use std::path::PathBuf;

use url::Url;

/// What kind of URL an install source names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceUrlKind {
    Https,
    Http,
    File,
    /// Relative to the index location.
    Relative,
}

/// Classifies an install source URL, refusing what no index may contain.
pub fn classify_source_url(s: &str) -> Result<SourceUrlKind, String> {
    if s.is_empty() {
        return Err("the URL is empty".into());
    }
    if s.contains('\\') {
        return Err(
            "a URL with a backslash is not allowed (URL parsers read it as `/`, so `\\\\host` names another host); write `/`".into(),
        );
    }
    if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "a URL with whitespace or a control character ({}) is not allowed; percent-encode it",
            c.escape_default()
        ));
    }
    match Url::parse(s) {
        Ok(u) => {
            check_no_secrets(&u)?;
            match u.scheme() {
                "https" => Ok(SourceUrlKind::Https),
                "http" => Ok(SourceUrlKind::Http),
                "file" => Ok(SourceUrlKind::File),
                other => Err(format!(
                    "the scheme `{other}:` is not allowed; use https:// (or a URL relative to the index)"
                )),
            }
        }
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            if s.starts_with("//") {
                return Err(
                    "a scheme-relative URL (`//host/...`) is not allowed; write https://".into(),
                );
            }
            if s.contains('?') {
                return Err("a URL with a query string is not allowed".into());
            }
            if s.contains('#') {
                return Err("a URL with a fragment is not allowed".into());
            }
            Ok(SourceUrlKind::Relative)
        }
        Err(e) => Err(format!("not a valid URL: {e}")),
    }
}

fn check_no_secrets(u: &Url) -> Result<(), String> {
    if has_userinfo(u) {
        return Err(
            "a URL with credentials (user:password@) is not allowed; use a registry token instead"
                .into(),
        );
    }
    if u.query().is_some() {
        return Err("a URL with a query string is not allowed".into());
    }
    if u.fragment().is_some() {
        return Err("a URL with a fragment is not allowed".into());
    }
    Ok(())
}

/// Whether a URL holds credentials (`user@` or `user:password@`), which
/// knap refuses everywhere: a registry location, an install source, a
/// locked source, a redirect.
pub fn has_userinfo(u: &Url) -> bool {
    !u.username().is_empty() || u.password().is_some()
}

/// `text` with the credentials of every URL in it (`scheme://user:pw@host`)
/// replaced by `***`, so that a secret in a URL someone typed or a server
/// sent is never shown: error messages, warnings and reports (text and
/// JSON) all go through this, in [`crate::ErrorReport::from_chain`] and
/// the printers ([`crate::text::for_terminal`], [`crate::text::for_json`]).
/// Borrowed when there is none.
pub fn redact_userinfo(text: &str) -> std::borrow::Cow<'_, str> {
    let ends_authority = |c: char| {
        matches!(c, '/' | '?' | '#' | '\\' | '"' | '\'' | '`' | '<' | '>') || c.is_whitespace()
    };
    let mut out = String::new();
    let mut done = 0;
    let mut from = 0;
    while let Some(i) = text[from..].find("://") {
        let start = from + i + 3;
        let end = text[start..]
            .find(ends_authority)
            .map_or(text.len(), |n| start + n);
        if let Some(at) = text[start..end].rfind('@') {
            out.push_str(&text[done..start]);
            out.push_str("***");
            done = start + at;
        }
        from = end.max(start);
    }
    if done == 0 {
        return std::borrow::Cow::Borrowed(text);
    }
    out.push_str(&text[done..]);
    std::borrow::Cow::Owned(out)
}

/// True when the URL's host is a loopback address or `localhost`.
pub fn is_loopback(u: &Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// What a client permits when it resolves source URLs of one registry.
#[derive(Debug, Clone, Copy, Default)]
pub struct SourcePolicy {
    /// The registry was added with `--allow-http`.
    pub allow_http: bool,
}

/// Resolves an install source URL against the location the index was read
/// from (`base`: an `https://`, `http://` or `file://` URL), and applies the
/// scheme rules.
pub fn resolve_source_url(base: &Url, s: &str, policy: SourcePolicy) -> Result<Url, String> {
    let kind = classify_source_url(s)?;
    let url = match kind {
        SourceUrlKind::Relative => base
            .join(s)
            .map_err(|e| format!("cannot resolve `{s}` against {base}: {e}"))?,
        _ => Url::parse(s).map_err(|e| e.to_string())?,
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) || policy.allow_http => Ok(url),
        "http" => Err(format!(
            "{url}: plain http:// is refused (only loopback hosts, or a registry added with --allow-http)"
        )),
        "file" if base.scheme() == "file" => Ok(url),
        "file" => Err(format!(
            "{url}: a file:// source is only allowed in an index read from a local path"
        )),
        other => Err(format!("{url}: the scheme `{other}:` is not allowed")),
    }
}

/// Where a registry's index lives, as written in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryLocation {
    /// A local directory or `index.json` (a path or `file://`).
    Local(PathBuf),
    /// `https://` (or loopback/allowed `http://`) to an `index.json`; a URL
    /// ending in `/` means `<url>index.json`.
    Http(Url),
    /// `sparse+https://`: the sparse layout under this base URL.
    Sparse(Url),
    /// `git+https://` or `git+file://`: a git repository holding the index.
    Git(Url),
}

impl RegistryLocation {
    /// Parses a registry location, refusing credentials in URLs and plain
    /// http to non-loopback hosts unless `allow_http`.
    pub fn parse(s: &str, allow_http: bool) -> Result<Self, String> {
        let check_http = |u: &Url| -> Result<(), String> {
            check_no_secrets(u)?;
            if u.scheme() == "http" && !allow_http && !is_loopback(u) {
                return Err(format!(
                    "{u}: plain http:// is refused for a non-loopback host; use https://, or add the registry with --allow-http"
                ));
            }
            Ok(())
        };
        if let Some(rest) = s.strip_prefix("sparse+") {
            let mut u = Url::parse(rest).map_err(|e| format!("`{s}`: not a valid URL: {e}"))?;
            if !matches!(u.scheme(), "https" | "http") {
                return Err(format!("`{s}`: sparse registries are served over https"));
            }
            check_http(&u)?;
            if !u.path().ends_with('/') {
                let p = format!("{}/", u.path());
                u.set_path(&p);
            }
            return Ok(Self::Sparse(u));
        }
        if let Some(rest) = s.strip_prefix("git+") {
            let u = Url::parse(rest).map_err(|e| format!("`{s}`: not a valid URL: {e}"))?;
            match u.scheme() {
                "https" | "http" => check_http(&u)?,
                "file" => {}
                other => {
                    return Err(format!(
                        "`{s}`: git registries use git+https:// or git+file://, not `{other}:`"
                    ));
                }
            }
            return Ok(Self::Git(u));
        }
        match Url::parse(s) {
            Ok(u) if u.scheme() == "file" => u
                .to_file_path()
                .map(Self::Local)
                .map_err(|()| format!("`{s}`: not a local file URL")),
            Ok(u) if matches!(u.scheme(), "https" | "http") => {
                check_http(&u)?;
                Ok(Self::Http(u))
            }
            Ok(u) if u.scheme().len() > 1 => Err(format!(
                "`{s}`: unsupported scheme `{}:`; use https://, sparse+https://, git+https://, git+file://, file:// or a path",
                u.scheme()
            )),
            _ => Ok(Self::Local(PathBuf::from(s))),
        }
    }

    /// Whether an install source that a registry here names by
    /// `source_url` can never be fetched: one relative to a git-hosted
    /// index ([`git_cannot_fetch`]). Any other registry serves what its
    /// URLs name.
    pub fn cannot_fetch(&self, source_url: &str) -> bool {
        matches!(self, RegistryLocation::Git(_)) && git_cannot_fetch(source_url)
    }
}

/// The one rule for install sources in a git-hosted registry: a URL
/// relative to its index cannot be fetched, since a repository is not a
/// web location of its files (its published site, `knap-index build`, is).
/// `knap update` warns of such sources, `knap info` marks them and an
/// install refuses them.
pub fn git_cannot_fetch(source_url: &str) -> bool {
    classify_source_url(source_url) == Ok(SourceUrlKind::Relative)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_urls() {
        assert_eq!(
            classify_source_url("https://a/b.tgz"),
            Ok(SourceUrlKind::Https)
        );
        assert_eq!(
            classify_source_url("archives/x.tgz"),
            Ok(SourceUrlKind::Relative)
        );
        assert!(classify_source_url("https://u:p@a/b").is_err());
        assert!(classify_source_url("https://a/b?x=1").is_err());
        assert!(classify_source_url("https://a/b#frag").is_err());
        assert!(classify_source_url("ftp://a/b").is_err());
    }

    #[test]
    fn only_a_relative_source_of_a_git_registry_cannot_be_fetched() {
        let git = RegistryLocation::parse("git+https://example.org/r.git", false).unwrap();
        let web = RegistryLocation::parse("https://example.org/r/", false).unwrap();
        let sparse = RegistryLocation::parse("sparse+https://example.org/r/", false).unwrap();
        assert!(git.cannot_fetch("archives/a.tgz"));
        assert!(!git.cannot_fetch("https://example.org/a.tgz"));
        for other in [&web, &sparse] {
            assert!(!other.cannot_fetch("archives/a.tgz"), "{other:?}");
        }
    }

    #[test]
    fn resolution_policy() {
        let web = Url::parse("https://example.org/reg/index.json").unwrap();
        let p = SourcePolicy::default();
        assert_eq!(
            resolve_source_url(&web, "archives/a.tgz", p)
                .unwrap()
                .as_str(),
            "https://example.org/reg/archives/a.tgz"
        );
        assert!(resolve_source_url(&web, "http://example.org/a.tgz", p).is_err());
        assert!(resolve_source_url(&web, "http://127.0.0.1:8080/a.tgz", p).is_ok());
        assert!(
            resolve_source_url(
                &web,
                "http://example.org/a.tgz",
                SourcePolicy { allow_http: true }
            )
            .is_ok()
        );
        assert!(resolve_source_url(&web, "file:///etc/passwd", p).is_err());
        let local = Url::parse("file:///srv/reg/index.json").unwrap();
        assert!(resolve_source_url(&local, "file:///srv/reg/a.tgz", p).is_ok());
    }

    #[test]
    fn tricks_that_reach_another_host_are_refused() {
        let web = Url::parse("https://example.org/reg/index.json").unwrap();
        let p = SourcePolicy::default();
        for s in [
            "\\\\127.0.0.1:9\\a.tar.gz",
            "\\\\evil.example\\a.tgz",
            "/\\evil.example/a.tgz",
            "\\/evil.example/a.tgz",
            "https://example.org\\@evil.example/a.tgz",
            "archives\\a.tgz",
            "/\t/evil.example/a.tgz",
            "/\n/evil.example/a.tgz",
            " //evil.example/a.tgz",
            "\u{1}//evil.example/a.tgz",
            "https://example.org/a.tgz\u{7f}",
        ] {
            assert!(classify_source_url(s).is_err(), "classify {s:?}");
            assert!(resolve_source_url(&web, s, p).is_err(), "resolve {s:?}");
        }
    }

    #[test]
    fn registry_locations() {
        assert!(
            matches!(RegistryLocation::parse("sparse+https://h/r", false), Ok(RegistryLocation::Sparse(u)) if u.as_str() == "https://h/r/")
        );
        assert!(matches!(
            RegistryLocation::parse("git+https://h/r.git", false),
            Ok(RegistryLocation::Git(_))
        ));
        assert!(matches!(
            RegistryLocation::parse("./example-index", false),
            Ok(RegistryLocation::Local(_))
        ));
        assert!(RegistryLocation::parse("http://example.org/i.json", false).is_err());
        assert!(RegistryLocation::parse("http://example.org/i.json", true).is_ok());
        assert!(RegistryLocation::parse("https://tok@example.org/i.json", false).is_err());
    }

    #[test]
    fn credentials_are_hidden_in_any_text() {
        assert_eq!(
            redact_userinfo(
                "`https://user:s3cret@h.example:8/a.tgz`: bad; see git+https://tok@g/r.git"
            ),
            "`https://***@h.example:8/a.tgz`: bad; see git+https://***@g/r.git"
        );
        assert_eq!(
            redact_userinfo("https://h/p@x and a@b"),
            "https://h/p@x and a@b"
        );
        assert_eq!(redact_userinfo("u://a:b@c"), "u://***@c");
        assert_eq!(redact_userinfo("https://a:p@ss@h/x"), "https://***@h/x");
        assert!(matches!(
            redact_userinfo("no url"),
            std::borrow::Cow::Borrowed(_)
        ));
        let err = RegistryLocation::parse("https://u:s3cret@h/i.json", false).unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
    }
}
