//! Writing packs' archives into a directory registry, shared by bundles
//! (`knap bundle create`, [`crate::bundle`]) and mirrors (`knap mirror`,
//! [`crate::mirror`]): an archive source downloaded (through the archive
//! cache) and copied with its checksum checked while it is written; a git
//! source fetched at its commit, checked against its tree digest and
//! packed with the reproducible pack format (so that it unpacks to the
//! same tree); both through the `[[mirror]]` whose prefix the URL starts
//! with, as installs fetch ([`crate::sources::mirror`]).

use std::io::{Read, Write};
use std::path::Path;

use knap_registry::registry::Env;
use knap_schema::config::{Config, RegistryConfig};
use knap_schema::{Checksum, ErrorKind as Kind, KnapError};
use sha2::{Digest, Sha256};
use url::Url;

use crate::install::{downloader_for, source_policy, store};
use crate::sources::mirror::{self, Mirrors};
use crate::sources::{archive, git};

/// A document as pretty JSON with a final newline.
pub(crate) fn pretty<T: serde::Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("a registry document serializes");
    s.push('\n');
    s
}

/// What a bundle or a mirror copies its packs' archives with: the run's
/// settings, the archive cache and the `[[mirror]]`s (each with its HTTP
/// client), made once per command and shared (cloned) by every pack.
#[derive(Clone)]
pub(crate) struct Copier {
    env: Env,
    store: archive::Store,
    mirrors: Mirrors,
}

/// A git source to pack: its repository, the commit, and the tree digest
/// the checkout must have.
pub(crate) struct GitAt<'a> {
    pub url: &'a str,
    pub commit: &'a str,
    pub tree: &'a Checksum,
}

impl Copier {
    pub(crate) fn new(config: &Config, env: &Env) -> Result<Self, KnapError> {
        Ok(Self {
            env: env.clone(),
            store: store(config, env),
            mirrors: Mirrors::new(config, env)?,
        })
    }

    /// Downloads the archive at `url` (or takes it from the archive
    /// cache), checked against `checksum`, and copies it to `dest` (a new
    /// file), checking it again while it is written. `cfg` is the registry
    /// that lists it, if any; `what` names the pack and `says` what the
    /// checksum came from, in errors.
    pub(crate) async fn archive(
        &self,
        cfg: Option<&RegistryConfig>,
        url: &Url,
        checksum: &Checksum,
        dest: &Path,
        what: &str,
        says: &str,
    ) -> Result<(), KnapError> {
        let downloader = downloader_for(&self.env, cfg)?;
        // From the `[[mirror]]` whose prefix `url` starts with, if any (no
        // fallback to `url`).
        let routed = self.mirrors.route(url).transpose()?;
        let (downloader, from) = match &routed {
            Some(r) => (r.downloader, &r.url),
            None => (&downloader, url),
        };
        let cached = archive::fetch_verified(
            downloader,
            from,
            &checksum.to_string(),
            &self.store.cache_root,
            self.store.max_download,
            &*self.env.reporter,
        )
        .await
        .map_err(|e| match &routed {
            Some(r) => mirror::failed(r.mirror, url, e),
            None => e,
        })?;
        copy_verified(&cached, dest, checksum, what, says)
    }

    /// Fetches the git repository of `git`, checks out its commit into
    /// `work` (a new directory, removed after), checks its tree digest and
    /// packs it into `dest`; returns the archive's checksum.
    /// `mismatch_hint` ends the error of a tree that is not the one
    /// expected.
    pub(crate) async fn git_packed(
        &self,
        cfg: Option<&RegistryConfig>,
        git: GitAt<'_>,
        work: &Path,
        dest: &Path,
        what: &str,
        mismatch_hint: &str,
    ) -> Result<Checksum, KnapError> {
        let url = git.url;
        let original = Url::parse(url)
            .map_err(|e| KnapError::integrity(format!("{what}: `{url}` is no URL: {e}")))?;
        let routed = self.mirrors.route(&original).transpose()?;
        let (u, http) = match &routed {
            Some(r) => (r.url.to_string(), r.http.clone()),
            None => (url.to_owned(), source_policy(&self.env, cfg)),
        };
        let (c, d) = (git.commit.to_owned(), work.to_owned());
        let limits = self.store.limits;
        tokio::task::spawn_blocking(move || git::fetch_and_checkout(&u, &c, &d, &http, limits))
            .await
            .expect("the git task panicked")
            .map_err(|e| match &routed {
                Some(r) => mirror::failed(r.mirror, &original, e),
                None => e,
            })?;
        let packed = pack_checked(work, git.tree, dest, what, mismatch_hint);
        let _ = std::fs::remove_dir_all(work);
        packed
    }
}

/// Packs the tree at `dir` into `dest` with the reproducible pack format
/// after checking its digest is `tree`; returns the archive's checksum.
/// `mismatch_hint` ends the error of a tree that is not `tree`.
pub(crate) fn pack_checked(
    dir: &Path,
    tree: &Checksum,
    dest: &Path,
    what: &str,
    mismatch_hint: &str,
) -> Result<Checksum, KnapError> {
    let got = knap_schema::tree_digest(dir)
        .map_err(|e| {
            KnapError::new(e.kind(), format!("{what}: cannot read its tree")).caused_by(e)
        })?
        .checksum;
    if knap_schema::digest::rule_matching(dir, &got, tree).is_none() {
        return Err(KnapError::integrity(format!(
            "{what}: the tree's digest is {got}, {mismatch_hint}"
        )));
    }
    knap_installer::pack_archive::pack_dir(dir, dest).map_err(|e| {
        KnapError::new(e.kind(), format!("{what}: cannot write its archive")).caused_by(e)
    })?;
    sha256_of(dest)
}

/// The SHA-256 of the file at `path`, as a checksum.
pub(crate) fn sha256_of(path: &Path) -> Result<Checksum, KnapError> {
    let sum = knap_schema::digest::sha256_file(path).map_err(|e| {
        KnapError::new(Kind::Other, format!("cannot read {}", path.display())).caused_by(e)
    })?;
    Checksum::parse(&sum).map_err(|e| KnapError::new(Kind::Other, e.to_string()))
}

/// Copies `src` to `dest` (a new file), hashing what is written: a copy
/// whose SHA-256 is not `checksum` is an integrity error and removed.
/// `says` names where `checksum` came from.
pub(crate) fn copy_verified(
    src: &Path,
    dest: &Path,
    checksum: &Checksum,
    what: &str,
    says: &str,
) -> Result<(), KnapError> {
    let io = |p: &Path, e: std::io::Error| {
        KnapError::new(Kind::Other, format!("cannot copy {}", p.display())).caused_by(e)
    };
    let (mut from, _) =
        knap_schema::fs::open(src, knap_schema::fs::Links::Refuse).map_err(|e| {
            KnapError::new(Kind::Other, format!("cannot read {}", src.display())).caused_by(e)
        })?;
    let mut to = std::fs::File::create_new(dest).map_err(|e| io(dest, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf).map_err(|e| io(src, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        to.write_all(&buf[..n]).map_err(|e| io(dest, e))?;
    }
    to.sync_all().map_err(|e| io(dest, e))?;
    let got = format!("sha256:{}", knap_schema::hex::encode(&hasher.finalize()));
    if *checksum != *got.as_str() {
        let _ = std::fs::remove_file(dest);
        return Err(KnapError::integrity(format!(
            "{what}: the archive's SHA-256 is {got} while copying it, {says} says {checksum}"
        )));
    }
    Ok(())
}
