//! Install specs that name a pack directly instead of by registry ref: a
//! local pack directory, a local archive, an archive URL (`--checksum`, or
//! `--allow-unverified`) and `git+https://HOST/REPO#<commit>`.
//!
//! Only a pack's own `pack.yaml` says which ref, version and dependencies
//! it is, so a direct pack is staged and verified before resolution; it
//! then is the only candidate for its ref (it shadows every registry), and
//! its dependencies resolve from the registries as usual. `knap.lock`
//! records it without a registry, so later commands keep it.
//!
//! A bare name is always a registry ref: a directory or archive is written
//! as a path (`./hello`, `/srv/packs/hello`, `hello-1.0.0.tar.gz`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use knap_installer::Limits;
use knap_resolver::{Candidate, Candidates};
use knap_schema::index::{Contents, Dependencies, Entry};
use knap_schema::lock::{LockedPack, LockedSource};
use knap_schema::manifest::Manifest;
use knap_schema::urls::is_loopback;
use knap_schema::{Checksum, Dependency};
use url::Url;

use crate::error::{Kind, KnapError};
use crate::index_set::Provided;
use crate::net::HttpPolicy;
use crate::sources::archive::{self, Downloader};
use crate::sources::{git, inspect, path};

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
    fn is_remote_archive(&self) -> bool {
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
                "{e}; to install the directory or archive `{spec}`, write it as a path: `./{spec}`"
            ))
        } else {
            KnapError::usage(e.to_string())
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

/// A direct pack staged and verified, ready to be committed.
#[derive(Debug)]
pub struct StagedDirect {
    /// The candidate the resolver sees for this ref.
    pub entry: Entry,
    /// What `knap.lock` will record (its `dependencies` are filled in by
    /// the resolution).
    pub pack: LockedPack,
    /// `<staging>/<ref>`.
    pub dest: PathBuf,
}

/// Where and how to stage.
pub struct Stager<'a> {
    pub staging_dir: PathBuf,
    pub downloader: &'a Downloader,
    pub store: &'a archive::Store,
    pub checksum: Option<&'a str>,
    pub allow_unverified: bool,
    pub git_http: &'a HttpPolicy,
}

/// Stages `direct` under `stager.staging_dir`, checks what can be checked
/// (`--checksum`, the manifest) and describes it. Refuses a remote archive
/// without a checksum unless `--allow-unverified`.
pub async fn stage(direct: &Direct, stager: &Stager<'_>) -> Result<StagedDirect, KnapError> {
    let what = direct.describe();
    if direct.is_remote_archive() && stager.checksum.is_none() && !stager.allow_unverified {
        return Err(KnapError::new(
            Kind::Integrity,
            format!(
                "refusing {what}: nothing says what it should contain; pass `--checksum sha256:HEX` (from its publisher), or `--allow-unverified` to trust whatever the server sends"
            ),
        ));
    }
    let unpacked = stager.staging_dir.join("unpacked");
    let err = KnapError::from;
    let source = match direct {
        Direct::Dir(src) => {
            // A broken manifest is reported at the pack's own path.
            knap_schema::manifest::read_pack_dir(src)
                .map_err(|e| KnapError::new(Kind::Integrity, e.to_string()))?;
            let (src2, dest) = (src.clone(), unpacked.clone());
            tokio::task::spawn_blocking(move || path::copy_pack(&src2, &dest))
                .await
                .expect("the copy task panicked")
                .map_err(err)?;
            LockedSource::Path {
                path: src.display().to_string(),
            }
        }
        Direct::LocalArchive(p) => {
            let url = Url::from_file_path(p)
                .map_err(|()| KnapError::usage(format!("{}: not an absolute path", p.display())))?;
            fetch_archive(&url, stager, &unpacked).await?
        }
        Direct::ArchiveUrl(url) => fetch_archive(url, stager, &unpacked).await?,
        Direct::Git { url, commit } => {
            let (u, c, d) = (url.to_string(), commit.clone(), unpacked.clone());
            let http = stager.git_http.clone();
            let limits = stager.store.limits;
            tokio::task::spawn_blocking(move || git::fetch_and_checkout(&u, &c, &d, &http, limits))
                .await
                .expect("the git task panicked")
                .map_err(err)?;
            LockedSource::Git {
                url: url.to_string(),
                git_ref: knap_schema::ident::CommitId::parse(commit).map_err(KnapError::usage)?,
                // The tree digest, filled in below.
                checksum: Checksum::from_bytes([0; 32]),
            }
        }
    };
    let (dir, w) = (unpacked.clone(), what.clone());
    let (manifest, tree) = tokio::task::spawn_blocking(move || inspect(&dir, &w))
        .await
        .expect("the verify task panicked")
        .map_err(err)?;
    let tree = Checksum::parse(&tree).map_err(|e| KnapError::new(Kind::Other, e.to_string()))?;
    let source = match source {
        LockedSource::Git {
            url,
            git_ref,
            checksum: _,
        } => LockedSource::Git {
            url,
            git_ref,
            checksum: tree,
        },
        other => other,
    };
    // For archives `--checksum` was the archive's SHA-256 (checked while
    // downloading); for a directory or a git commit it is the tree digest.
    if let (Some(expected), Direct::Dir(_) | Direct::Git { .. }) = (stager.checksum, direct)
        && tree != expected
    {
        return Err(KnapError::new(
            Kind::Integrity,
            format!(
                "{what}: the pack tree digest is {tree}, --checksum says {expected}; nothing was installed"
            ),
        ));
    }
    let pack_ref = manifest.pack_ref.clone();
    let dest = pack_ref.dir_in(&stager.staging_dir);
    std::fs::rename(&unpacked, &dest).map_err(|e| {
        KnapError::new(
            Kind::Other,
            format!("cannot move {} into place: {e}", unpacked.display()),
        )
    })?;
    Ok(StagedDirect {
        entry: entry_of(&manifest),
        pack: LockedPack {
            pack_ref,
            version: manifest.version.clone(),
            registry: None,
            source,
            tree,
            dependencies: Vec::new(),
            installed_at: now_rfc3339(),
            yanked: false,
            signed: None,
        },
        dest,
    })
}

async fn fetch_archive(
    url: &Url,
    stager: &Stager<'_>,
    dest: &Path,
) -> Result<LockedSource, KnapError> {
    let err = KnapError::from;
    if stager.checksum.is_none() && url.scheme() != "file" {
        tracing::warn!("{url}: installing without a checksum (--allow-unverified)");
    }
    let (cached, checksum) = archive::download(
        stager.downloader,
        url,
        stager.checksum,
        &stager.store.cache_root,
        stager.store.max_download,
        &knap_schema::progress::Silent,
    )
    .await
    .map_err(err)?;
    let limits: Limits = stager.store.limits;
    archive::extract_cached(cached, url, dest, limits)
        .await
        .map_err(err)?;
    Ok(LockedSource::Archive {
        url: url.to_string(),
        checksum: Checksum::parse(&checksum)
            .map_err(|e| KnapError::new(Kind::Other, e.to_string()))?,
    })
}

/// The candidates the resolver sees: a direct pack (named on the command
/// line, or kept from the lock) is the only candidate for its ref; every
/// other ref comes from the registries' index lookups.
pub struct WithPinned<'a> {
    pub registries: &'a BTreeMap<String, Option<Provided>>,
    pub pinned: &'a BTreeMap<String, Entry>,
}

impl Candidates for WithPinned<'_> {
    type Error = std::convert::Infallible;

    fn versions(&self, pack_ref: &str) -> Result<Vec<Candidate>, Self::Error> {
        if let Some(e) = self.pinned.get(pack_ref) {
            return Ok(vec![Candidate::from_entry(e)]);
        }
        Ok(self
            .registries
            .get(pack_ref)
            .and_then(|p| p.as_ref())
            .iter()
            .flat_map(|p| &p.entries)
            .map(Candidate::from_entry)
            .collect())
    }
}

impl WithPinned<'_> {
    /// The entry of `pack_ref` at `version`: the pinned one, or the one its
    /// registry lists.
    pub fn entry(&self, pack_ref: &str, version: &semver::Version) -> Option<&Entry> {
        match self.pinned.get(pack_ref) {
            Some(e) => (e.version == *version).then_some(e),
            None => self
                .registries
                .get(pack_ref)
                .and_then(|p| p.as_ref())?
                .entries
                .iter()
                .find(|e| e.version == *version),
        }
    }
}

/// What to ask the registries for: the `wanted` refs and the dependencies
/// of the pinned packs, but not the pinned refs themselves. Sorted, once
/// each.
pub fn refs_to_look_up<'a>(
    wanted: impl IntoIterator<Item = &'a str>,
    pinned: &BTreeMap<String, Entry>,
) -> Vec<String> {
    let mut refs: BTreeSet<String> = wanted.into_iter().map(str::to_owned).collect();
    for e in pinned.values() {
        refs.extend(crate::index_set::dependency_refs(e));
    }
    refs.retain(|r| !pinned.contains_key(r));
    refs.into_iter().collect()
}

/// Now, as RFC 3339 in whole seconds (a lock's `installed_at`).
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("0 ns is valid")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("RFC 3339 formats")
}

/// The resolver's view of a pack read from its manifest.
pub fn entry_of(m: &Manifest) -> Entry {
    Entry::from_manifest(m)
}

/// The resolver's view of a pack `knap.lock` holds without a registry
/// (installed directly): the only candidate for its ref.
pub fn entry_of_locked(p: &LockedPack) -> Entry {
    Entry {
        pack_ref: p.pack_ref.clone(),
        label: p.pack_ref.to_string(),
        description: String::new(),
        version: p.version.clone(),
        author: String::new(),
        email: None,
        homepage: None,
        repository: None,
        license: String::new(),
        keywords: Vec::new(),
        runtime_deps: Vec::new(),
        use_case: None,
        dependencies: Some(Dependencies {
            packs: p.dependencies.iter().map(ToString::to_string).collect(),
            versions: Default::default(),
        }),
        install_sources: Vec::new(),
        contents: Contents::default(),
        yanked: false,
        meta: None,
        extra: Default::default(),
    }
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
