//! The install-SPEC grammar of `knap install` (cli.md): a bare word is a
//! registry ref (`REF` or `REF@REQ`); a pack named by where it is (a
//! direct pack) is a local pack directory, a local archive, an archive URL
//! (`https://`, or a loopback `http://`) or `git+https://HOST/REPO#<commit>`.
//!
//! A bare name is always a registry ref: a directory or archive is written
//! as a path (`./hello`, `/srv/packs/hello`, `hello-1.0.0.tar.gz`). Parsing
//! only reads the file system to tell a directory from an archive; staging
//! a direct pack is [`crate::sources::direct`].

use std::path::{Path, PathBuf};

use knap_schema::Dependency;
use knap_schema::urls::is_loopback;
use url::Url;

use knap_schema::{ErrorKind as Kind, KnapError};

/// One SPEC of `knap install`.
#[derive(Debug, Clone, PartialEq)]
pub enum Spec {
    /// `REF` or `REF@REQ` (`req` is `*` when absent).
    Registry {
        dep: Dependency,
        req: String,
    },
    Direct(Direct),
}

/// A pack named by where it is, not by a registry ref.
#[derive(Debug, Clone, PartialEq)]
pub enum Direct {
    /// A directory holding `pack.yaml`.
    Dir(PathBuf),
    /// A `.tar.gz`, `.tgz`, `.tar` or `.zip` file.
    LocalArchive(PathBuf),
    /// An `https://` (or loopback `http://`) archive.
    ArchiveUrl(Url),
    /// A git repository (its root is the pack) at a pinned commit.
    Git { url: Url, commit: String },
}

impl Direct {
    /// How the spec is shown in messages.
    pub fn describe(&self) -> String {
        match self {
            Direct::Dir(p) => format!("the directory {}", p.display()),
            Direct::LocalArchive(p) => format!("the archive {}", p.display()),
            Direct::ArchiveUrl(u) => format!("the archive {u}"),
            Direct::Git { url, commit } => format!("git {url}#{commit}"),
        }
    }

    /// Fetched over the network, so trusted only with a checksum or a
    /// pinned commit.
    pub(crate) fn is_remote_archive(&self) -> bool {
        matches!(self, Direct::ArchiveUrl(_))
    }
}

const ARCHIVE_SUFFIXES: [&str; 4] = [".tar.gz", ".tgz", ".tar", ".zip"];

/// Reads one SPEC. A bare word is a registry ref; something with a `/`, a
/// leading `.`, an archive suffix or a URL scheme is a direct pack.
pub fn parse(spec: &str) -> Result<Spec, KnapError> {
    if let Some(rest) = spec.strip_prefix("git+") {
        return parse_git(spec, rest);
    }
    if spec.contains("://") {
        let url = Url::parse(spec)
            .map_err(|e| KnapError::usage(format!("`{spec}` is not a valid URL: {e}")))?;
        no_secrets(spec, &url)?;
        if url.query().is_some() || url.fragment().is_some() {
            // knap.lock would record it, and a query string is how a
            // signed or tokenised download URL carries its secret.
            return Err(KnapError::usage(format!(
                "`{spec}`: an archive URL with a query string or a fragment is refused (it would be stored in knap.lock); publish the archive at a plain URL"
            )));
        }
        return match url.scheme() {
            "https" => Ok(Spec::Direct(Direct::ArchiveUrl(url))),
            "http" if is_loopback(&url) => Ok(Spec::Direct(Direct::ArchiveUrl(url))),
            "http" => Err(KnapError::usage(format!(
                "`{spec}`: plain http:// is refused for a remote archive; use https://"
            ))),
            "file" => {
                let p = url
                    .to_file_path()
                    .map_err(|()| KnapError::usage(format!("`{spec}` is not a local file URL")))?;
                local(spec, &p)
            }
            other => Err(KnapError::usage(format!(
                "`{spec}`: the scheme `{other}:` is not installable; use a pack ref, a path, an https:// archive URL or git+https://HOST/REPO#<commit>"
            ))),
        };
    }
    if !is_bare_word(spec) {
        return local(spec, Path::new(spec));
    }
    let dep = Dependency::parse(spec).map_err(|e| {
        // A path is suggested only when there is something at it.
        if Path::new(spec).exists() {
            KnapError::usage(format!(
                "{}; to install the directory or archive `{spec}`, write it as a path: `./{spec}`",
                e.of_command_line()
            ))
        } else {
            KnapError::usage(e.of_command_line())
        }
    })?;
    let req = match spec.split_once('@') {
        Some((_, r)) => r.trim().to_owned(),
        None => "*".to_owned(),
    };
    Ok(Spec::Registry { dep, req })
}

/// A SPEC read as a registry ref: no `/`, no leading `.`, no archive
/// suffix (and no URL, which [`parse`] handles first).
pub fn is_bare_word(spec: &str) -> bool {
    !(spec.contains('/')
        || spec.contains(std::path::MAIN_SEPARATOR)
        || spec.starts_with('.')
        || spec.contains("://")
        || spec.starts_with("git+")
        || ARCHIVE_SUFFIXES.iter().any(|s| spec.ends_with(s)))
}

fn local(spec: &str, p: &Path) -> Result<Spec, KnapError> {
    let meta = std::fs::metadata(p).map_err(|e| {
        KnapError::not_found(format!(
            "`{spec}`: {e} (a pack directory or archive path was expected; a registry ref has no `/`)"
        ))
    })?;
    let abs = std::path::absolute(p)
        .map_err(|e| KnapError::new(Kind::Other, format!("{}: {e}", p.display())))?;
    if meta.is_dir() {
        if !abs.join(knap_schema::manifest::MANIFEST_FILE).is_file() {
            return Err(KnapError::new(
                Kind::Integrity,
                format!(
                    "{}: not a pack directory (no pack.yaml in it)",
                    abs.display()
                ),
            ));
        }
        Ok(Spec::Direct(Direct::Dir(abs)))
    } else {
        // A FIFO or device named as an archive is refused now, not read.
        knap_schema::fs::open(p, knap_schema::fs::Links::Follow)
            .map_err(|e| KnapError::usage(format!("`{spec}`: {}", e.reason())))?;
        Ok(Spec::Direct(Direct::LocalArchive(abs)))
    }
}

fn parse_git(spec: &str, rest: &str) -> Result<Spec, KnapError> {
    let mut url = Url::parse(rest)
        .map_err(|e| KnapError::usage(format!("`{spec}` is not a valid URL: {e}")))?;
    let Some(commit) = url.fragment().map(str::to_ascii_lowercase) else {
        return Err(KnapError::usage(format!(
            "`{spec}`: name the commit to install, as `{spec}#<40-hex commit SHA>`; a branch or tag can move, a commit cannot"
        )));
    };
    if !knap_schema::ident::is_commit_sha(&commit) {
        return Err(KnapError::usage(format!(
            "`{spec}`: `{commit}` is not a 40-hex commit SHA; a branch or tag can move, so knap installs commits only"
        )));
    }
    url.set_fragment(None);
    no_secrets(spec, &url)?;
    if url.query().is_some() {
        return Err(KnapError::usage(format!(
            "`{spec}`: a git URL with a query string is refused (it would be stored in knap.lock)"
        )));
    }
    match url.scheme() {
        "https" | "file" => {}
        "http" if is_loopback(&url) => {}
        other => {
            return Err(KnapError::usage(format!(
                "`{spec}`: git over `{other}:` is not allowed; use git+https://"
            )));
        }
    }
    Ok(Spec::Direct(Direct::Git { url, commit }))
}

fn no_secrets(spec: &str, url: &Url) -> Result<(), KnapError> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err(KnapError::usage(format!(
            "`{spec}`: credentials in URLs are refused (they end up in knap.lock and in logs)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_names_are_registry_refs() {
        assert!(matches!(parse("slack").unwrap(), Spec::Registry { req, .. } if req == "*"));
        assert!(matches!(parse("slack@^2").unwrap(), Spec::Registry { req, .. } if req == "^2"));
    }

    #[test]
    fn git_specs_need_a_commit() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let s = parse(&format!("git+https://example.com/p.git#{sha}")).unwrap();
        assert_eq!(
            s,
            Spec::Direct(Direct::Git {
                url: Url::parse("https://example.com/p.git").unwrap(),
                commit: sha.into()
            })
        );
        assert_eq!(
            parse("git+https://example.com/p.git").unwrap_err().kind,
            Kind::Usage
        );
        assert_eq!(
            parse("git+https://example.com/p.git#main")
                .unwrap_err()
                .kind,
            Kind::Usage
        );
        assert_eq!(
            parse(&format!("git+http://example.com/p.git#{sha}"))
                .unwrap_err()
                .kind,
            Kind::Usage
        );
    }

    #[test]
    fn urls_are_https_without_credentials() {
        assert!(matches!(
            parse("https://example.com/a.tgz").unwrap(),
            Spec::Direct(Direct::ArchiveUrl(_))
        ));
        assert!(matches!(
            parse("http://127.0.0.1:8080/a.tgz").unwrap(),
            Spec::Direct(Direct::ArchiveUrl(_))
        ));
        assert_eq!(
            parse("http://example.com/a.tgz").unwrap_err().kind,
            Kind::Usage
        );
        assert_eq!(
            parse("https://u:p@example.com/a.tgz").unwrap_err().kind,
            Kind::Usage
        );
        assert_eq!(
            parse("ftp://example.com/a.tgz").unwrap_err().kind,
            Kind::Usage
        );
    }

    #[test]
    fn missing_paths_are_not_found() {
        assert_eq!(
            parse("./no-such-pack-dir").unwrap_err().kind,
            Kind::NotFound
        );
        assert_eq!(parse("nothing.tgz").unwrap_err().kind, Kind::NotFound);
    }
}
