//! `knap mirror REGISTRY -o DIR` (formats.md §9): a registry copied under
//! an operator's control. Every index entry (all versions, or the newest
//! `latest` of each ref; only the `refs` asked for, when given) and every
//! archive are written into `DIR`, which is then a local registry:
//!
//! ```text
//! DIR/index.json                        knap form, one relative archive source per entry
//! DIR/archives/<ref>-<version>.tar.gz   the archive the entry offered (its checksum
//!                                       checked while copying), or the reproducible
//!                                       pack archive of its git source
//! DIR/mirror.json                       what was mirrored from where (for re-runs)
//! ```
//!
//! `knap-index build` and `sign` then publish `DIR` as a site of its own.
//! Archives are fetched `jobs` at a time, each reporting its download as
//! progress events.
//!
//! A re-run into the same `DIR` keeps every archive already there whose
//! origin (the entry's source) is unchanged and whose bytes still have the
//! recorded checksum, downloading nothing for it; the index itself is read
//! with the registry's conditional requests. New archives are written into
//! a temporary directory beside `DIR` first and moved in only when every
//! pack was copied, so a failure (a checksum that does not match is exit 4)
//! leaves `DIR` as it was.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use knap_installer::plan::Source;
use knap_registry::registry::{Env, Registry};
use knap_schema::config::{Config, RegistryConfig};
use knap_schema::index::{ArchiveSource, Entry, Index, InstallSource};
use knap_schema::{ErrorKind as Kind, KnapError};

use crate::bundle::{ARCHIVES_DIR, INDEX_FILE, archive_name};
use crate::copy::{self, Copier, GitAt};
use crate::install::fetch::entry_sources;

/// The file that records what a mirror holds and where it came from.
pub const MIRROR_FILE: &str = "mirror.json";

/// What to mirror.
#[derive(Debug, Clone)]
pub struct Request {
    /// Only these refs (all the registry lists when empty).
    pub refs: Vec<String>,
    /// Only the newest `n` versions of each ref.
    pub latest: Option<usize>,
    /// Parallel downloads (at least one).
    pub jobs: usize,
}

/// Where a mirrored pack's archive came from in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Downloaded from the entry's archive source and copied.
    Copied,
    /// Already in the mirror with the same origin and checksum: nothing
    /// downloaded.
    Kept,
    /// The entry's git source, fetched and packed.
    Packed,
}

/// The source an entry was mirrored from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Origin {
    Archive {
        url: String,
        checksum: String,
    },
    Git {
        url: String,
        #[serde(rename = "ref")]
        commit: String,
        /// The tree digest.
        checksum: String,
    },
}

/// One pack version in the mirror.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct MirroredPack {
    #[serde(rename = "ref")]
    pub pack_ref: String,
    pub version: semver::Version,
    /// `archives/<ref>-<version>.tar.gz`.
    pub archive: String,
    /// The SHA-256 of the mirrored archive.
    pub checksum: String,
    pub origin: Origin,
    /// What this run did for it (`mirror.json` records the last run's;
    /// reading it back, every pack is one to keep if it still matches).
    #[serde(skip_deserializing, default = "kept")]
    pub action: Action,
}

fn kept() -> Action {
    Action::Kept
}

/// `DIR/mirror.json`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorInfo {
    /// RFC 3339 time of the last run.
    pub updated: String,
    /// The knap version that wrote it.
    pub knap: String,
    /// The mirrored registry's URL (credentials hidden).
    pub registry: String,
    pub packs: Vec<MirroredPack>,
}

/// What [`mirror`] did.
#[derive(Debug, Clone)]
pub struct Mirrored {
    pub dir: PathBuf,
    pub info: MirrorInfo,
    /// Archives of an earlier run that the registry (or the selection) no
    /// longer lists, removed.
    pub removed: Vec<String>,
}

impl Mirrored {
    /// How many packs this run did `action` for.
    pub fn count(&self, action: Action) -> usize {
        self.info
            .packs
            .iter()
            .filter(|p| p.action == action)
            .count()
    }
}

/// The registry `registry` names: a configured registry's name, else a
/// registry URL or path of any kind knap reads (a plain `https://…/` site
/// root with the sparse layout is read as sparse).
pub async fn registry_config(
    config: &Config,
    env: &Env,
    registry: &str,
) -> Result<RegistryConfig, KnapError> {
    if let Some(c) = config.registries.iter().find(|c| c.name == registry) {
        return Ok(c.clone());
    }
    if !registry.contains('/') && !Path::new(registry).exists() {
        return Err(KnapError::not_found(format!(
            "no registry named `{registry}`; see `knap registry list`, or name a registry URL or path"
        )));
    }
    if let Err(m) = knap_schema::urls::RegistryLocation::parse(registry, false) {
        return Err(KnapError::usage(format!("`{registry}`: {m}")));
    }
    let mut cfg = RegistryConfig {
        name: "mirrored".into(),
        url: registry.to_owned(),
        priority: knap_schema::config::DEFAULT_PRIORITY,
        token_env: None,
        allow_http: false,
        ca_file: None,
        tuf_root: None,
    };
    if let Some(sparse) = knap_registry::registry::sparse_site_url(&cfg, env)
        .await
        .map_err(|e| KnapError::new(e.kind(), "cannot read the registry").caused_by(e))?
    {
        cfg.url = sparse;
    }
    Ok(cfg)
}

/// Mirrors the registry of `cfg` into `out` (new, empty, or an earlier
/// mirror) as `request` asks.
pub async fn mirror(
    config: &Config,
    env: &Env,
    cfg: &RegistryConfig,
    out: &Path,
    request: &Request,
) -> Result<Mirrored, KnapError> {
    let old = check_out_dir(out)?;
    let reg_err = |e: knap_registry::registry::RegistryError| {
        KnapError::new(e.kind(), format!("cannot read registry `{}`", cfg.name)).caused_by(e)
    };
    let reg = Registry::open(cfg, env).map_err(reg_err)?;
    if !env.offline {
        reg.update().await.map_err(reg_err)?;
    }
    let refs = if request.refs.is_empty() {
        let mut refs = reg
            .search("", true)
            .await
            .map_err(reg_err)?
            .refs
            .unwrap_or_default();
        refs.sort();
        refs.dedup();
        if refs.is_empty() {
            return Err(KnapError::not_found(format!(
                "registry `{}` lists no packs (a sparse registry that serves no index.json cannot be listed: name its refs with --ref)",
                cfg.name
            )));
        }
        refs
    } else {
        request.refs.clone()
    };
    let found = reg.versions(&refs).await.map_err(reg_err)?;
    if let Some(r) = refs.iter().find(|r| !found.contains_key(*r)) {
        return Err(KnapError::not_found(format!(
            "registry `{}` does not list `{r}`",
            cfg.name
        )));
    }
    let entries = select(found, request.latest);

    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let write_err = |p: &Path, e: std::io::Error| {
        KnapError::new(Kind::Other, format!("cannot write {}", p.display())).caused_by(e)
    };
    let tmp = tempfile::Builder::new()
        .prefix(".knap-mirror-")
        .tempdir_in(&parent)
        .map_err(|e| write_err(&parent, e))?;
    let staged = tmp.path().join(ARCHIVES_DIR);
    std::fs::create_dir(&staged).map_err(|e| write_err(&staged, e))?;
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).map_err(|e| write_err(&work, e))?;

    let old_packs: BTreeMap<(String, semver::Version), MirroredPack> = old
        .iter()
        .flat_map(|i| i.packs.iter())
        .map(|p| ((p.pack_ref.clone(), p.version.clone()), p.clone()))
        .collect();
    let mut index = Index::new(
        &format!("mirror of {}", cfg.name),
        "urn:knap:mirror",
        &knap_schema::datetime::now_utc_seconds(),
    );
    // What each entry needs: kept as it is, or fetched (`jobs` at a time).
    struct Item {
        entry: Entry,
        name: String,
        origin: Origin,
        source: Source,
        kept: Option<String>,
    }
    let mut items = Vec::new();
    for entry in entries {
        let what = format!("{} {}", entry.pack_ref, entry.version);
        let name = archive_name(&entry.pack_ref, &entry.version);
        let (origin, source) = origin_of(cfg, &entry, &what)?;
        let key = (entry.pack_ref.to_string(), entry.version.clone());
        let kept = old_packs
            .get(&key)
            .filter(|p| p.origin == origin && p.archive == name)
            .filter(|p| {
                copy::sha256_of(&out.join(&p.archive)).is_ok_and(|c| *c.to_string() == p.checksum)
            })
            .map(|p| p.checksum.clone());
        items.push(Item {
            entry,
            name,
            origin,
            source,
            kept,
        });
    }
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(request.jobs.max(1)));
    // Archives and git sources come through the `[[mirror]]`s as installs
    // fetch them.
    let copier = Copier::new(config, env)?;
    let mut set = tokio::task::JoinSet::new();
    for (i, item) in items.iter().enumerate().filter(|(_, it)| it.kept.is_none()) {
        let what = format!("{} {}", item.entry.pack_ref, item.entry.version);
        let dest = tmp.path().join(&item.name);
        let work = work.join(i.to_string());
        let (copier, cfg, source) = (copier.clone(), cfg.clone(), item.source.clone());
        let semaphore = semaphore.clone();
        set.spawn(async move {
            let _permit = semaphore
                .acquire_owned()
                .await
                .expect("the semaphore is open");
            (
                i,
                fetch_one(&copier, &cfg, &source, &dest, &work, &what).await,
            )
        });
    }
    let mut fetched = BTreeMap::new();
    while let Some(done) = set.join_next().await {
        let (i, result) = done.expect("a mirror task panicked");
        fetched.insert(i, result);
    }
    let mut packs = Vec::new();
    for (i, mut item) in items.into_iter().enumerate() {
        let what = format!("{} {}", item.entry.pack_ref, item.entry.version);
        let (checksum, action) = match item.kept.take() {
            Some(c) => (c, Action::Kept),
            None => fetched
                .remove(&i)
                .expect("every entry not kept was fetched")
                .map_err(|e| unchanged(&what, out, e))?,
        };
        item.entry.install_sources = vec![InstallSource::Archive(ArchiveSource {
            url: item.name.clone(),
            checksum: checksum.clone(),
            extra: Default::default(),
        })];
        packs.push(MirroredPack {
            pack_ref: item.entry.pack_ref.to_string(),
            version: item.entry.version.clone(),
            archive: item.name,
            checksum,
            origin: item.origin,
            action,
        });
        index.packs.push(item.entry);
    }
    index.sort();
    let info = MirrorInfo {
        updated: knap_schema::datetime::now_utc_seconds(),
        knap: env!("CARGO_PKG_VERSION").to_owned(),
        registry: knap_schema::urls::redact_userinfo(&cfg.url).into_owned(),
        packs,
    };

    // Every pack is copied: move the new archives in, then the documents.
    let archives = out.join(ARCHIVES_DIR);
    std::fs::create_dir_all(&archives).map_err(|e| write_err(&archives, e))?;
    for p in info.packs.iter().filter(|p| p.action != Action::Kept) {
        let (from, to) = (tmp.path().join(&p.archive), out.join(&p.archive));
        std::fs::rename(&from, &to).map_err(|e| write_err(&to, e))?;
    }
    for (file, text) in [
        (INDEX_FILE, copy::pretty(&index)),
        (MIRROR_FILE, copy::pretty(&info)),
    ] {
        let path = out.join(file);
        knap_schema::atomic::write_atomic(&path, text.as_bytes())
            .map_err(|e| write_err(&path, e))?;
    }
    let now: BTreeSet<&str> = info.packs.iter().map(|p| p.archive.as_str()).collect();
    let mut removed = Vec::new();
    for p in old.iter().flat_map(|i| i.packs.iter()) {
        // Only a file of `archives/` is ever removed, whatever the record says.
        let ours = p
            .archive
            .strip_prefix(&format!("{ARCHIVES_DIR}/"))
            .is_some_and(|f| !f.is_empty() && !f.contains(['/', '\\']) && !f.starts_with('.'));
        if ours && !now.contains(p.archive.as_str()) {
            let _ = std::fs::remove_file(out.join(&p.archive));
            removed.push(p.archive.clone());
        }
    }
    Ok(Mirrored {
        dir: out.to_owned(),
        info,
        removed,
    })
}

/// Writes the archive of `source` to `dest`: an archive copied with its
/// checksum checked, or a git source packed (checked out in `work`).
async fn fetch_one(
    copier: &Copier,
    cfg: &RegistryConfig,
    source: &Source,
    dest: &Path,
    work: &Path,
    what: &str,
) -> Result<(String, Action), KnapError> {
    match source {
        Source::Archive { url, checksum } => {
            copier
                .archive(Some(cfg), url, checksum, dest, what, "the index")
                .await?;
            Ok((checksum.to_string(), Action::Copied))
        }
        Source::Git {
            url,
            commit,
            checksum,
        } => {
            let hint = format!("the index says {checksum}");
            let git = GitAt {
                url: url.as_str(),
                commit: &commit.to_string(),
                tree: checksum,
            };
            let sum = copier
                .git_packed(Some(cfg), git, work, dest, what, &hint)
                .await?;
            Ok((sum.to_string(), Action::Packed))
        }
        Source::Path(_) | Source::Refused(_) => {
            unreachable!("origin_of returns archive and git sources only")
        }
    }
}

/// A pack that could not be copied: the mirror is left as it was.
fn unchanged(what: &str, out: &Path, e: KnapError) -> KnapError {
    KnapError::new(
        e.kind,
        format!(
            "{what}: cannot copy its archive; {} is unchanged",
            out.display()
        ),
    )
    .caused_by(e)
}

/// The entries to mirror, in ref order, newest first within a ref: all of
/// them, or the newest `latest` of each ref.
fn select(found: BTreeMap<String, Vec<Entry>>, latest: Option<usize>) -> Vec<Entry> {
    let mut out = Vec::new();
    for (_, mut versions) in found {
        versions.sort_by(|a, b| b.version.cmp(&a.version));
        versions.dedup_by(|a, b| a.version == b.version);
        if let Some(n) = latest {
            versions.truncate(n);
        }
        out.extend(versions);
    }
    out
}

/// The entry's first usable source (resolved against the registry's
/// location), and how it is recorded.
fn origin_of(
    cfg: &RegistryConfig,
    entry: &Entry,
    what: &str,
) -> Result<(Origin, Source), KnapError> {
    let mut refused = Vec::new();
    for s in entry_sources(cfg, entry) {
        match &s {
            Source::Archive { url, checksum } => {
                return Ok((
                    Origin::Archive {
                        url: url.to_string(),
                        checksum: checksum.to_string(),
                    },
                    s,
                ));
            }
            Source::Git {
                url,
                commit,
                checksum,
            } => {
                return Ok((
                    Origin::Git {
                        url: url.to_string(),
                        commit: commit.to_string(),
                        checksum: checksum.to_string(),
                    },
                    s,
                ));
            }
            Source::Refused(why) => refused.push(why.clone()),
            Source::Path(_) => {}
        }
    }
    Err(KnapError::integrity(format!(
        "{what}: no install source can be mirrored{}",
        if refused.is_empty() {
            String::new()
        } else {
            format!(" ({})", refused.join("; "))
        }
    )))
}

/// `out` must be new, an empty directory, or an earlier mirror (its
/// `mirror.json` is returned).
fn check_out_dir(out: &Path) -> Result<Option<MirrorInfo>, KnapError> {
    let m = match std::fs::symlink_metadata(out) {
        Err(_) => return Ok(None),
        Ok(m) => m,
    };
    if !m.is_dir() {
        return Err(KnapError::usage(format!(
            "-o {}: exists and is not a directory; name a new directory or an earlier mirror",
            out.display()
        )));
    }
    let info = out.join(MIRROR_FILE);
    if info.is_file() {
        let text = std::fs::read(&info).map_err(|e| {
            KnapError::new(Kind::Other, format!("cannot read {}", info.display())).caused_by(e)
        })?;
        return serde_json::from_slice(&text).map(Some).map_err(|e| {
            KnapError::usage(format!(
                "{}: not a mirror's record ({e}); name a new directory",
                info.display()
            ))
        });
    }
    let empty = std::fs::read_dir(out)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false);
    if !empty {
        return Err(KnapError::usage(format!(
            "-o {}: the directory is neither empty nor an earlier mirror (it has no {MIRROR_FILE}); name a new directory",
            out.display()
        )));
    }
    Ok(None)
}
