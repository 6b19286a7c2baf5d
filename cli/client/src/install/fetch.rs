//! Fetching the packs a [`Plan`] installs into a staging area, `jobs` at a
//! time, each from the first of its sources that stages a verified pack;
//! and where an index entry's sources are (resolved against its registry's
//! location, checked against its URL policy).
//!
//! An archive or git source whose URL a `[[mirror]]` serves is fetched
//! from the mirror, with no fallback to its own URL
//! ([`crate::sources::mirror`]), and reported as [`Event::Mirrored`].
//!
//! Reports [`Event::Extracting`], [`Event::Verifying`] and
//! [`Event::Verified`] for each pack
//! (downloads report their own bytes); nothing here prints.

use std::path::PathBuf;
use std::sync::Arc;

use knap_installer::StagingDir;
use knap_installer::plan::{Install, Source};
use knap_schema::config::RegistryConfig;
use knap_schema::ident::CommitId;
use knap_schema::index::{Entry, InstallSource};
use knap_schema::lock::LockedPack;
use knap_schema::progress::{Event, Reporter};
use knap_schema::urls::{RegistryLocation, SourcePolicy, resolve_source_url};
use knap_schema::{Checksum, PackRef};
use url::Url;

use knap_registry::http::Downloader;
use knap_registry::http::HttpPolicy;
use knap_schema::{ErrorKind as Kind, KnapError};

use crate::sources::archive;
use crate::sources::git;
use crate::sources::mirror::{self, Mirrors};

/// How one pack is fetched: its plan entry, its registry's HTTP policy,
/// and the mirrors its sources may be fetched from.
pub struct Job {
    pub install: Install,
    pub downloader: Downloader,
    pub git_http: HttpPolicy,
    pub mirrors: Arc<Mirrors>,
}

/// A pack fetched into staging, verified: what the lock records for it and
/// where it is.
#[derive(Debug, Clone)]
pub struct Staged {
    pub pack: LockedPack,
    /// `<staging>/<n>/<ref>`.
    pub dest: PathBuf,
}

/// Where a registry's index was read from: relative source URLs resolve
/// against it.
fn source_base(cfg: &RegistryConfig) -> Result<Url, String> {
    match RegistryLocation::parse(&cfg.url, cfg.allow_http)? {
        RegistryLocation::Local(p) => {
            let abs = std::path::absolute(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            if abs.is_dir() {
                Url::from_directory_path(&abs)
            } else {
                Url::from_file_path(&abs)
            }
            .map_err(|()| format!("{}: not an absolute path", abs.display()))
        }
        RegistryLocation::Http(u) => Ok(knap_registry::registry::index_url(&u)),
        RegistryLocation::Sparse(u) | RegistryLocation::Git(u) => Ok(u),
    }
}

/// The entry's install sources in index order, resolved against the
/// registry's location and checked against its URL policy.
pub fn entry_sources(cfg: &RegistryConfig, e: &Entry) -> Vec<Source> {
    let base = match source_base(cfg) {
        Ok(b) => b,
        Err(m) => return vec![Source::Refused(format!("registry `{}`: {m}", cfg.name))],
    };
    let policy = SourcePolicy {
        allow_http: cfg.allow_http,
    };
    let location = RegistryLocation::parse(&cfg.url, cfg.allow_http).ok();
    e.install_sources
        .iter()
        .map(|s| {
            if location.as_ref().is_some_and(|l| l.cannot_fetch(s.url())) {
                // The repository URL is not a web location of its files.
                return Source::Refused(format!(
                    "{} source `{}`: a relative URL in a git-hosted index has no location to download from; add the registry by the https:// or sparse+https:// URL of its published site instead (`knap-index build`), or list absolute URLs",
                    s.kind(),
                    s.url()
                ));
            }
            source_of(&base, s, policy)
        })
        .collect()
}

/// One install source resolved against `base` and checked against the
/// registry's URL policy.
fn source_of(base: &Url, s: &InstallSource, policy: SourcePolicy) -> Source {
    match resolve_source_url(base, s.url(), policy) {
        Err(m) => Source::Refused(format!("{} source `{}`: {m}", s.kind(), s.url())),
        Ok(url) => {
            let checksum = match Checksum::parse(s.checksum()) {
                Ok(c) => c,
                Err(m) => {
                    return Source::Refused(format!("{} source `{}`: {m}", s.kind(), s.url()));
                }
            };
            match s {
                InstallSource::Archive(_) => Source::Archive { url, checksum },
                InstallSource::Git(g) => match CommitId::parse(&g.git_ref) {
                    Ok(commit) => Source::Git {
                        url,
                        commit,
                        checksum,
                    },
                    Err(m) => Source::Refused(format!("git source `{}`: {m}", s.url())),
                },
            }
        }
    }
}

/// Fetches every job into its own directory of `staging`, `parallel` at a
/// time. On any failure, reports every failure (nothing is committed).
pub async fn run_jobs(
    staging: &StagingDir,
    jobs: Vec<Job>,
    parallel: usize,
    store: Arc<archive::Store>,
    reporter: Arc<dyn Reporter>,
) -> Result<Vec<Staged>, KnapError> {
    let semaphore = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for (i, job) in jobs.into_iter().enumerate() {
        let dir = staging
            .new_dir()
            .map_err(|e| KnapError::new(Kind::Other, "cannot prepare staging").caused_by(e))?;
        let dest = job.install.pack_ref.dir_in(&dir);
        let (store, reporter, semaphore) = (store.clone(), reporter.clone(), semaphore.clone());
        set.spawn(async move {
            let _permit = semaphore
                .acquire_owned()
                .await
                .expect("the semaphore is open");
            let name = format!("{} {}", job.install.pack_ref, job.install.version);
            (i, name, fetch_job(job, dest, &store, &*reporter).await)
        });
    }
    let mut done: Vec<(usize, Staged)> = Vec::new();
    let mut failures: Vec<(String, Vec<KnapError>)> = Vec::new();
    while let Some(r) = set.join_next().await {
        let (i, name, result) = r.expect("an install task panicked");
        match result {
            Ok(s) => done.push((i, s)),
            Err(errors) => failures.push((name, errors)),
        }
    }
    if !failures.is_empty() {
        failures.sort_by(|a, b| a.0.cmp(&b.0));
        let kinds: Vec<Kind> = failures
            .iter()
            .flat_map(|(_, es)| es.iter().map(|e| e.kind))
            .collect();
        let kind = if kinds.contains(&Kind::Integrity) {
            Kind::Integrity
        } else if kinds.contains(&Kind::Registry) {
            Kind::Registry
        } else if kinds.contains(&Kind::NotFound) {
            Kind::NotFound
        } else {
            Kind::Other
        };
        let mut message =
            String::from("nothing was installed; the root and knap.lock are unchanged");
        for (name, errors) in &failures {
            message.push_str(&format!("\n{name}: every install source failed:"));
            for e in errors {
                message.push_str(&format!("\n  - {}", knap_schema::report::chain_line(e)));
            }
        }
        // What to do about the first failure that says (a full disk, an
        // untrusted certificate...).
        let hint = failures
            .iter()
            .flat_map(|(_, es)| es.iter())
            .find_map(|e| e.hint.clone());
        let err = KnapError::new(kind, message);
        return Err(match hint {
            Some(h) => err.with_hint(h),
            None => err,
        });
    }
    done.sort_by_key(|(i, _)| *i);
    Ok(done.into_iter().map(|(_, s)| s).collect())
}

/// Tries the job's sources in order; the first that stages a verified pack
/// wins, else every failure is returned.
async fn fetch_job(
    job: Job,
    dest: PathBuf,
    store: &archive::Store,
    reporter: &dyn Reporter,
) -> Result<Staged, Vec<KnapError>> {
    let mut errors = Vec::new();
    let i = &job.install;
    if i.sources.is_empty() {
        errors.push(KnapError::integrity("the index lists no install source"));
    }
    for source in &i.sources {
        match fetch_one(&job, source, &dest, store, reporter).await {
            Ok(tree) => {
                let Some(locked) = source.locked() else {
                    unreachable!("a refused source never stages")
                };
                return Ok(Staged {
                    pack: LockedPack {
                        pack_ref: i.pack_ref.clone(),
                        version: i.version.clone(),
                        registry: i.registry.clone(),
                        source: locked,
                        tree,
                        dependencies: i.dependencies.clone(),
                        installed_at: knap_schema::datetime::now_utc_seconds(),
                        yanked: i.yanked,
                        signed: i.signed.clone(),
                    },
                    dest,
                });
            }
            Err(e) => {
                // Said with -v (and in --progress json): when a later
                // source installs the pack, nothing else says this one
                // was passed over.
                let why = knap_schema::report::chain_line(&e);
                reporter.report(Event::SourceSkipped {
                    pack: i.pack_ref.to_string(),
                    version: i.version.to_string(),
                    reason: match source {
                        Source::Refused(m) => m.clone(),
                        _ => format!("{source}: {why}"),
                    },
                });
                let _ = std::fs::remove_dir_all(&dest);
                errors.push(e);
            }
        }
    }
    Err(errors)
}

/// The mirror that serves the source at `url`, if any, reported as
/// [`Event::Mirrored`].
fn mirrored<'j>(
    job: &'j Job,
    url: &Url,
    reporter: &dyn Reporter,
) -> Result<Option<mirror::Routed<'j>>, KnapError> {
    let Some(routed) = job.mirrors.route(url) else {
        return Ok(None);
    };
    let r = routed?;
    reporter.report(Event::Mirrored {
        pack: job.install.pack_ref.to_string(),
        version: job.install.version.to_string(),
        source: url.to_string(),
        mirror: r.mirror.to_owned(),
        url: r.url.to_string(),
    });
    Ok(Some(r))
}

/// Stages the pack from one source and verifies it; returns its tree digest.
async fn fetch_one(
    job: &Job,
    source: &Source,
    dest: &std::path::Path,
    store: &archive::Store,
    reporter: &dyn Reporter,
) -> Result<Checksum, KnapError> {
    let i = &job.install;
    let extracting = || {
        reporter.report(Event::Extracting {
            pack: i.pack_ref.to_string(),
            version: i.version.to_string(),
            from: source.to_string(),
        })
    };
    // The mirror that served the source, named by a failed check.
    let mut via: Option<String> = None;
    let expected_tree = match source {
        Source::Refused(m) => return Err(KnapError::integrity(format!("refused: {m}"))),
        Source::Path(p) => {
            extracting();
            let (src, dest) = (p.clone(), dest.to_owned());
            tokio::task::spawn_blocking(move || crate::sources::path::copy_pack(&src, &dest))
                .await
                .expect("the copy task panicked")?;
            None
        }
        Source::Archive { url, checksum } => {
            extracting();
            let routed = mirrored(job, url, reporter)?;
            via = routed.as_ref().map(|r| r.mirror.to_owned());
            let (downloader, from) = match &routed {
                Some(r) => (r.downloader, &r.url),
                None => (&job.downloader, url),
            };
            archive::fetch_and_extract(
                downloader,
                store,
                from,
                &checksum.to_string(),
                dest,
                reporter,
            )
            .await
            .map_err(|e| match &routed {
                Some(r) => mirror::failed(r.mirror, url, e),
                None => e,
            })?;
            None
        }
        Source::Git {
            url,
            commit,
            checksum,
        } => {
            extracting();
            let routed = mirrored(job, url, reporter)?;
            via = routed.as_ref().map(|r| r.mirror.to_owned());
            let (from, http) = match &routed {
                Some(r) => (r.url.to_string(), r.http.clone()),
                None => (url.to_string(), job.git_http.clone()),
            };
            let (c, d) = (commit.clone(), dest.to_owned());
            let limits = store.limits;
            tokio::task::spawn_blocking(move || {
                git::fetch_and_checkout(&from, &c, &d, &http, limits)
            })
            .await
            .expect("the git task panicked")
            .map_err(|e| match &routed {
                Some(r) => mirror::failed(r.mirror, url, e),
                None => e,
            })?;
            Some(*checksum)
        }
    };
    reporter.report(Event::Verifying {
        pack: i.pack_ref.to_string(),
        version: i.version.to_string(),
    });
    let dest = dest.to_owned();
    let (pack_ref, version): (PackRef, semver::Version) = (i.pack_ref.clone(), i.version.clone());
    let expect_lock_tree = i.expect_tree;
    let what = match via {
        Some(m) => format!("{source} (from the mirror `{m}`)"),
        None => source.to_string(),
    };
    let verified = tokio::task::spawn_blocking(move || {
        let (m, tree_text) = crate::sources::inspect(&dest, &what)?;
        let tree =
            Checksum::parse(&tree_text).map_err(|e| KnapError::integrity(format!("{what}: {e}")))?;
        if m.pack_ref != pack_ref || m.version != version {
            return Err(KnapError::integrity(format!(
                "{what}: pack.yaml says {} {}, but the index entry is {pack_ref} {version}; tell the registry's maintainer",
                m.pack_ref, m.version
            )));
        }
        // The tree knap.lock names may come from an older knap, whose digest
        // rule the same files meet too (formats.md §2): the one answer is
        // `rule_matching`, which computes the older digest only when the
        // current one differs.
        let matches = |t: &Checksum| {
            tree == *t
                || (expect_lock_tree.as_ref() == Some(t)
                    && knap_schema::digest::rule_matching(&dest, &tree_text, t).is_some())
        };
        if let Some(t) = &expected_tree
            && !matches(t)
        {
            return Err(KnapError::integrity(format!(
                "{what}: the checked-out tree's digest is {tree}, the index says {t}"
            )));
        }
        if let Some(t) = &expect_lock_tree
            && !matches(t)
        {
            return Err(KnapError::integrity(format!(
                "{what}: the fetched tree's digest is {tree}, knap.lock says {t}"
            )));
        }
        Ok(tree)
    })
    .await
    .expect("the verify task panicked");
    if verified.is_ok() {
        reporter.report(Event::Verified {
            pack: i.pack_ref.to_string(),
            version: i.version.to_string(),
        });
    }
    verified
}
