//! `knap bundle create`: a root's `knap.lock` written out as a bundle
//! (see the module above). The bundle is written into a temporary
//! directory beside `DIR` and renamed into place, so a failure leaves no
//! half bundle. Archive and git sources are fetched through the
//! configured `[[mirror]]`s as an install fetches them
//! ([`crate::sources::mirror`]).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use knap_installer::InstallRoot;
use knap_registry::index_set::{IndexSet, Provided};
use knap_registry::registry::Env;
use knap_schema::config::Config;
use knap_schema::index::{ArchiveSource, Entry, Index, InstallSource};
use knap_schema::lock::{LockedPack, LockedSource, Lockfile};
use knap_schema::{Checksum, ErrorKind as Kind, KnapError, PackRef};
use sha2::{Digest, Sha256};
use url::Url;

use super::{
    ARCHIVES_DIR, BundleInfo, BundleRegistry, INDEX_FILE, INFO_FILE, LOCK_FILE, archive_name,
};
use crate::install::{downloader_for, source_policy, store};
use crate::sources::mirror::{self, Mirrors};
use crate::sources::{archive, git};

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
    let store = store(config, env);
    let mut index = Index::new(
        "knap bundle",
        "urn:knap:bundle",
        &knap_schema::datetime::now_utc_seconds(),
    );
    let mut packs = Vec::new();
    for p in &lock.packs {
        let name = archive_name(&p.pack_ref, &p.version);
        let dest = dir.join(&name);
        let (checksum, from) = write_archive(config, env, &store, root, p, &dest, &work).await?;
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

/// A bundle document as pretty JSON.
fn pretty<T: serde::Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("a bundle document serializes");
    s.push('\n');
    s
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
    e.dependencies = Some(knap_schema::index::Dependencies {
        packs: p.dependencies.iter().map(ToString::to_string).collect(),
        versions: Default::default(),
    });
    Ok(e)
}

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
    env: &Env,
    store: &archive::Store,
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
    match &p.source {
        LockedSource::Archive { url, checksum } => {
            let u = Url::parse(url)
                .map_err(|e| KnapError::integrity(format!("{what}: `{url}` in knap.lock: {e}")))?;
            let downloader = downloader_for(env, cfg)?;
            let mirrors = Mirrors::new(config, env)?;
            let routed = mirrors.route(&u).transpose()?;
            let (downloader, from) = match &routed {
                Some(r) => (r.downloader, &r.url),
                None => (&downloader, &u),
            };
            let cached = archive::fetch_verified(
                downloader,
                from,
                &checksum.to_string(),
                &store.cache_root,
                store.max_download,
                &*env.reporter,
            )
            .await
            .map_err(|e| match &routed {
                Some(r) => mirror::failed(r.mirror, &u, e),
                None => e,
            })?;
            copy_verified(&cached, dest, checksum, &what)?;
            Ok((*checksum, PackedFrom::Archive))
        }
        LockedSource::Git {
            url,
            git_ref,
            checksum: _,
        } => {
            let tree = work.join(p.pack_ref.as_str());
            let original = Url::parse(url)
                .map_err(|e| KnapError::integrity(format!("{what}: `{url}` in knap.lock: {e}")))?;
            let mirrors = Mirrors::new(config, env)?;
            let routed = mirrors.route(&original).transpose()?;
            let (u, http) = match &routed {
                Some(r) => (r.url.to_string(), r.http.clone()),
                None => (url.clone(), source_policy(env, cfg)),
            };
            let (c, d) = (git_ref.to_string(), tree.clone());
            let limits = store.limits;
            tokio::task::spawn_blocking(move || git::fetch_and_checkout(&u, &c, &d, &http, limits))
                .await
                .expect("the git task panicked")
                .map_err(|e| match &routed {
                    Some(r) => mirror::failed(r.mirror, &original, e),
                    None => e,
                })?;
            let checksum = pack_verified(&tree, p, dest)?;
            let _ = std::fs::remove_dir_all(&tree);
            Ok((checksum, PackedFrom::Git))
        }
        LockedSource::Path { .. } => {
            let tree = p.pack_ref.dir_in(root);
            Ok((pack_verified(&tree, p, dest)?, PackedFrom::Path))
        }
    }
}

/// Packs the tree at `dir` into `dest` with the reproducible pack format
/// after checking it is the lock's tree; returns the archive's checksum.
fn pack_verified(dir: &Path, p: &LockedPack, dest: &Path) -> Result<Checksum, KnapError> {
    let what = format!("{} {}", p.pack_ref, p.version);
    let tree = knap_schema::tree_digest(dir)
        .map_err(|e| {
            KnapError::new(e.kind(), format!("{what}: cannot read its tree")).caused_by(e)
        })?
        .checksum;
    if knap_schema::digest::rule_matching(dir, &tree, &p.tree).is_none() {
        return Err(KnapError::integrity(format!(
            "{what}: the tree's digest is {tree}, knap.lock says {}; run `knap install --force` (or `knap verify`) first",
            p.tree
        )));
    }
    knap_installer::pack_archive::pack_dir(dir, dest).map_err(|e| {
        KnapError::new(e.kind(), format!("{what}: cannot write its archive")).caused_by(e)
    })?;
    let sum = knap_schema::digest::sha256_file(dest).map_err(|e| {
        KnapError::new(Kind::Other, format!("cannot read {}", dest.display())).caused_by(e)
    })?;
    Checksum::parse(&sum).map_err(|e| KnapError::new(Kind::Other, e.to_string()))
}

/// Copies `src` to `dest` (a new file), hashing what is written: a copy
/// whose SHA-256 is not `checksum` is an integrity error and removed.
fn copy_verified(
    src: &Path,
    dest: &Path,
    checksum: &Checksum,
    what: &str,
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
            "{what}: the archive's SHA-256 is {got} while copying it, knap.lock says {checksum}"
        )));
    }
    Ok(())
}
