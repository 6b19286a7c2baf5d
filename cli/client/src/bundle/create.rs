//! `knap bundle create`: a root's `knap.lock` written out as a bundle
//! (see the module above). The bundle is written into a temporary
//! directory beside `DIR` and renamed into place, so a failure leaves no
//! half bundle. Archive and git sources are fetched through the
//! configured `[[mirror]]`s as an install fetches them
//! ([`crate::sources::mirror`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use knap_installer::InstallRoot;
use knap_registry::index_set::{IndexSet, Provided};
use knap_registry::registry::Env;
use knap_schema::config::Config;
use knap_schema::index::{ArchiveSource, Entry, Index, InstallSource};
use knap_schema::lock::{LockedPack, LockedSource, Lockfile};
use knap_schema::{Checksum, ErrorKind as Kind, KnapError, PackRef};
use url::Url;

use super::{
    ARCHIVES_DIR, BundleInfo, BundleRegistry, INDEX_FILE, INFO_FILE, LOCK_FILE, archive_name,
};
use crate::copy::{self, Copier, GitAt, pretty};

/// Where a bundled archive came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PackedFrom {
    /// The archive the locked source offered, copied.
    Archive,
    /// The locked git commit, packed with the reproducible pack format.
    Git,
    /// The installed tree of a pack installed from a local directory,
    /// packed with the reproducible pack format.
    Path,
}

/// One pack written into the bundle.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BundledPack {
    #[serde(rename = "ref")]
    pub pack_ref: PackRef,
    pub version: semver::Version,
    /// `archives/<ref>-<version>.tar.gz`.
    pub archive: String,
    pub checksum: Checksum,
    pub from: PackedFrom,
    /// The registry whose entry the bundle's index holds; `None` when the
    /// entry was made from the pack's `pack.yaml` (a direct pack).
    pub entry_from: Option<String>,
}

/// What [`create`] wrote.
#[derive(Debug, Clone)]
pub struct Created {
    pub dir: PathBuf,
    pub info: BundleInfo,
    pub packs: Vec<BundledPack>,
}

/// Writes the bundle of the root at `root` (its `knap.lock`) to `out`,
/// which must not exist or be an empty directory; an `out` named `*.tar`
/// gets a tar of the bundle instead (a new file). Archive sources are
/// downloaded (or taken from the cache) and checked against the lock's
/// checksum; git sources are fetched at the locked commit and checked
/// against the lock's tree digest before they are packed; a pack
/// installed from a path is packed from its installed tree, which must be
/// its locked tree.
pub async fn create(
    config: &Config,
    env: &Env,
    root: &Path,
    out: &Path,
) -> Result<Created, KnapError> {
    let lock = read_root_lock(root, env)?;
    let as_tar = out.extension().is_some_and(|e| e == "tar");
    let parent = check_out_dir(out, as_tar)?;
    let tmp = tempfile::Builder::new()
        .prefix(".knap-bundle-")
        .tempdir_in(&parent)
        .map_err(|e| {
            KnapError::new(
                Kind::Other,
                format!("cannot create a directory in {}", parent.display()),
            )
            .caused_by(e)
        })?;
    let dir = tmp.path();
    let write_err = |p: &Path, e: std::io::Error| {
        KnapError::new(Kind::Other, format!("cannot write {}", p.display())).caused_by(e)
    };
    std::fs::create_dir(dir.join(ARCHIVES_DIR)).map_err(|e| write_err(dir, e))?;
    let work = dir.join(".work");
    std::fs::create_dir(&work).map_err(|e| write_err(&work, e))?;

    let registry_entries = registry_entries(config, env, &lock).await?;
    let copier = Copier::new(config, env)?;
    let mut index = Index::new(
        "knap bundle",
        "urn:knap:bundle",
        &knap_schema::datetime::now_utc_seconds(),
    );
    let mut packs = Vec::new();
    for p in &lock.packs {
        let name = archive_name(&p.pack_ref, &p.version);
        let dest = dir.join(&name);
        let (checksum, from) = write_archive(config, &copier, root, p, &dest, &work).await?;
        let (mut entry, entry_from) = match registry_entries.get(&p.pack_ref) {
            Some((registry, e)) => (e.clone(), Some(registry.clone())),
            None => (entry_from_installed(root, p)?, None),
        };
        entry.install_sources = vec![InstallSource::Archive(ArchiveSource {
            url: name.clone(),
            checksum: checksum.to_string(),
            extra: Default::default(),
        })];
        index.packs.push(entry);
        packs.push(BundledPack {
            pack_ref: p.pack_ref.clone(),
            version: p.version.clone(),
            archive: name,
            checksum,
            from,
            entry_from,
        });
    }
    std::fs::remove_dir_all(&work).map_err(|e| write_err(&work, e))?;
    // The packages the root's environments hold, so that `install
    // --bundle` builds them with no index.
    let envs: Vec<_> = lock
        .envs
        .iter()
        .flat_map(|(r, es)| es.iter().map(move |e| (r.clone(), e.clone())))
        .collect();
    if !envs.is_empty() {
        let settings = crate::install::envs::settings(config, root, env.offline, 4, None);
        let to = dir.join(super::ENVS_DIR);
        tokio::task::spawn_blocking(move || knap_envs::carry::download(&settings, &envs, &to))
            .await
            .map_err(|e| {
                KnapError::other("the environments' packages were not fetched").caused_by(e)
            })?
            .map_err(|e| {
                KnapError::other("cannot fetch the packages of the root's environments")
                    .caused_by(e)
            })?;
    }
    index.sort();
    let info = BundleInfo {
        created: knap_schema::datetime::now_utc_seconds(),
        knap: env!("CARGO_PKG_VERSION").to_owned(),
        registries: registries_of(config, &lock),
        packs: lock.packs.len(),
    };
    for (file, text) in [
        (INDEX_FILE, pretty(&index)),
        (INFO_FILE, pretty(&info)),
        (LOCK_FILE, lock.to_pretty_json()),
    ] {
        let path = dir.join(file);
        std::fs::write(&path, text).map_err(|e| write_err(&path, e))?;
    }
    if as_tar {
        let part = tempfile::Builder::new()
            .prefix(".knap-bundle-")
            .suffix(".tar")
            .make_in(&parent, |p| {
                knap_installer::pack_archive::tar_dir(dir, p).map_err(std::io::Error::other)
            })
            .map_err(|e| write_err(out, e))?;
        part.persist_noclobber(out)
            .map_err(|e| write_err(out, e.error))?;
        return Ok(Created {
            dir: out.to_owned(),
            info,
            packs,
        });
    }
    if out.is_dir() {
        // Checked empty above.
        std::fs::remove_dir(out).map_err(|e| write_err(out, e))?;
    }
    let kept = tmp.keep();
    std::fs::rename(&kept, out).map_err(|e| {
        let _ = std::fs::remove_dir_all(&kept);
        write_err(out, e)
    })?;
    Ok(Created {
        dir: out.to_owned(),
        info,
        packs,
    })
}

/// The root's `knap.lock`, read under its shared lock.
fn read_root_lock(root: &Path, env: &Env) -> Result<Lockfile, KnapError> {
    let reporter = env.reporter.clone();
    let r = InstallRoot::open_for_reading(root, |p| {
        reporter.report(knap_schema::progress::Event::WaitingForLock { root: p.to_owned() })
    })
    .map_err(|e| KnapError::new(e.kind(), "cannot read the install root").caused_by(e))?;
    let no_lock = || {
        KnapError::not_found(format!(
            "{}: no knap.lock to bundle; install packs first",
            root.display()
        ))
    };
    let Some(r) = r else {
        return Err(no_lock());
    };
    r.read_lock()
        .map_err(|e| KnapError::new(e.kind(), "cannot read knap.lock").caused_by(e))?
        .ok_or_else(no_lock)
}

/// `out` must be new or an empty directory (new, for a tar); returns the
/// directory the bundle is written in first (its parent).
fn check_out_dir(out: &Path, as_tar: bool) -> Result<PathBuf, KnapError> {
    match std::fs::symlink_metadata(out) {
        Err(_) => {}
        Ok(_) if as_tar => {
            return Err(KnapError::usage(format!(
                "-o {}: exists; name a new file for the bundle's tar",
                out.display()
            )));
        }
        Ok(m) if m.is_dir() => {
            let empty = std::fs::read_dir(out)
                .map(|mut d| d.next().is_none())
                .unwrap_or(false);
            if !empty {
                return Err(KnapError::usage(format!(
                    "-o {}: the directory is not empty; name a new directory for the bundle",
                    out.display()
                )));
            }
        }
        Ok(_) => {
            return Err(KnapError::usage(format!(
                "-o {}: exists and is not a directory; name a new directory for the bundle",
                out.display()
            )));
        }
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(KnapError::usage(format!(
            "-o {}: {} is not a directory",
            out.display(),
            parent.display()
        )));
    }
    Ok(parent)
}

/// Each registry pack's entry at its locked version, from its registry
/// when that registry is configured and lists it.
async fn registry_entries(
    config: &Config,
    env: &Env,
    lock: &Lockfile,
) -> Result<BTreeMap<PackRef, (String, Entry)>, KnapError> {
    let wanted: Vec<&LockedPack> = lock
        .packs
        .iter()
        .filter(|p| {
            p.registry
                .as_ref()
                .is_some_and(|r| config.registries.iter().any(|c| &c.name == r))
        })
        .collect();
    let mut out = BTreeMap::new();
    if wanted.is_empty() {
        return Ok(out);
    }
    let set = IndexSet::open(config, env, None)
        .map_err(|e| KnapError::new(e.kind(), "cannot open the registries").caused_by(e))?;
    let refs: Vec<String> = wanted.iter().map(|p| p.pack_ref.to_string()).collect();
    let found: BTreeMap<String, Provided> = set.lookup(&refs).await.map_err(|e| {
        KnapError::new(
            e.kind(),
            "cannot read the registries of the locked packs (their index entries go into the bundle)",
        )
        .caused_by(e)
    })?;
    for p in wanted {
        let Some(provided) = found.get(p.pack_ref.as_str()) else {
            continue;
        };
        if Some(&provided.registry) != p.registry.as_ref() {
            continue;
        }
        if let Some(e) = provided.entries.iter().find(|e| e.version == p.version) {
            out.insert(p.pack_ref.clone(), (provided.registry.clone(), e.clone()));
        }
    }
    Ok(out)
}

/// The entry of a pack with no registry entry: from its installed
/// `pack.yaml`, with the lock's dependencies.
fn entry_from_installed(root: &Path, p: &LockedPack) -> Result<Entry, KnapError> {
    let dir = p.pack_ref.dir_in(root);
    let m = knap_schema::manifest::read_pack_dir(&dir).map_err(|e| {
        KnapError::integrity(format!(
            "{} {}: installed without a registry, so its index entry is made from its pack.yaml, which cannot be read; run `knap install --force` first",
            p.pack_ref, p.version
        ))
        .caused_by(e)
    })?;
    if m.pack_ref != p.pack_ref || m.version != p.version {
        return Err(KnapError::integrity(format!(
            "{} {}: the installed pack.yaml says {} {}; run `knap install --force` first",
            p.pack_ref, p.version, m.pack_ref, m.version
        )));
    }
    let mut e = Entry::from_manifest(&m);
    // An index entry needs a label, an author and a license, which a
    // pack.yaml may leave out: the bundle's index only carries the archive,
    // so it says they were not given rather than refusing the pack.
    for field in [&mut e.label, &mut e.author, &mut e.license] {
        if field.trim().is_empty() {
            *field = NOT_GIVEN.to_owned();
        }
    }
    e.dependencies = Some(knap_schema::index::Dependencies {
        packs: p.dependencies.iter().map(ToString::to_string).collect(),
        versions: Default::default(),
    });
    Ok(e)
}

/// What a bundle's index says of a label, author or license the pack's
/// `pack.yaml` does not give.
const NOT_GIVEN: &str = "(not given in pack.yaml)";

/// The registries the lock's packs came from.
fn registries_of(config: &Config, lock: &Lockfile) -> Vec<BundleRegistry> {
    let mut by_name: BTreeMap<String, BundleRegistry> = BTreeMap::new();
    for p in &lock.packs {
        let Some(name) = &p.registry else { continue };
        let r = by_name
            .entry(name.clone())
            .or_insert_with(|| BundleRegistry {
                name: name.clone(),
                url: config
                    .registries
                    .iter()
                    .find(|c| &c.name == name)
                    .map(|c| knap_schema::urls::redact_userinfo(&c.url).into_owned())
                    .unwrap_or_default(),
                signed: false,
            });
        r.signed |= p.signed.is_some();
    }
    by_name.into_values().collect()
}

/// Writes the pack's archive to `dest`; returns its checksum and where it
/// came from.
async fn write_archive(
    config: &Config,
    copier: &Copier,
    root: &Path,
    p: &LockedPack,
    dest: &Path,
    work: &Path,
) -> Result<(Checksum, PackedFrom), KnapError> {
    let cfg = p
        .registry
        .as_ref()
        .and_then(|n| config.registries.iter().find(|c| &c.name == n));
    let what = format!("{} {}", p.pack_ref, p.version);
    let hint = format!(
        "knap.lock says {}; run `knap install --force` (or `knap verify`) first",
        p.tree
    );
    match &p.source {
        LockedSource::Archive { url, checksum } => {
            let u = Url::parse(url)
                .map_err(|e| KnapError::integrity(format!("{what}: `{url}` in knap.lock: {e}")))?;
            copier
                .archive(cfg, &u, checksum, dest, &what, "knap.lock")
                .await?;
            Ok((*checksum, PackedFrom::Archive))
        }
        LockedSource::Git {
            url,
            git_ref,
            checksum: _,
        } => {
            let tree = work.join(p.pack_ref.as_str());
            let git = GitAt {
                url,
                commit: &git_ref.to_string(),
                tree: &p.tree,
            };
            let checksum = copier
                .git_packed(cfg, git, &tree, dest, &what, &hint)
                .await?;
            Ok((checksum, PackedFrom::Git))
        }
        LockedSource::Path { .. } => {
            let tree = p.pack_ref.dir_in(root);
            Ok((
                copy::pack_checked(&tree, &p.tree, dest, &what, &hint)?,
                PackedFrom::Path,
            ))
        }
    }
}
