//! Staging the packs an install SPEC names directly ([`crate::spec::Direct`]:
//! a local pack directory, a local archive, an archive URL with
//! `--checksum` or `--allow-unverified`, a git commit).
//!
//! Only a pack's own `pack.yaml` says which ref, version and dependencies
//! it is, so a direct pack is staged and verified before resolution; it
//! then is the only candidate for its ref (it shadows every registry), and
//! its dependencies resolve from the registries as usual. `knap.lock`
//! records it without a registry, so later commands keep it (as the
//! candidate [`entry_of_locked`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use knap_installer::Limits;
use knap_registry::http::Downloader;
use knap_registry::http::HttpPolicy;
use knap_schema::Checksum;
use knap_schema::index::{Contents, Dependencies, Entry};
use knap_schema::lock::{LockedPack, LockedSource};
use knap_schema::manifest::Manifest;
use knap_schema::progress::{Event, Reporter};
use knap_schema::{ErrorKind as Kind, KnapError};
use url::Url;

use crate::sources::archive;
use crate::sources::{git, inspect, path};
use crate::spec::Direct;

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
    /// Where warnings go.
    pub reporter: &'a dyn Reporter,
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
    let source = match direct {
        Direct::Dir(src) => {
            // A broken manifest is reported at the pack's own path.
            knap_schema::manifest::read_pack_dir(src)
                .map_err(|e| KnapError::new(Kind::Integrity, e.to_string()))?;
            let (src2, dest) = (src.clone(), unpacked.clone());
            tokio::task::spawn_blocking(move || path::copy_pack(&src2, &dest))
                .await
                .expect("the copy task panicked")?;
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
                .expect("the git task panicked")?;
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
        .expect("the verify task panicked")?;
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
            installed_at: knap_schema::datetime::now_utc_seconds(),
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
    if stager.checksum.is_none() && url.scheme() != "file" {
        stager.reporter.report(Event::Warning {
            message: format!("{url}: installing without a checksum (--allow-unverified)"),
        });
    }
    let (cached, checksum) = archive::download(
        stager.downloader,
        url,
        stager.checksum,
        &stager.store.cache_root,
        stager.store.max_download,
        &knap_schema::progress::Silent,
    )
    .await?;
    let limits: Limits = stager.store.limits;
    archive::extract_cached(cached, url, dest, limits).await?;
    Ok(LockedSource::Archive {
        url: url.to_string(),
        checksum: Checksum::parse(&checksum)
            .map_err(|e| KnapError::new(Kind::Other, e.to_string()))?,
    })
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
        refs.extend(knap_registry::index_set::dependency_refs(e));
    }
    refs.retain(|r| !pinned.contains_key(r));
    refs.into_iter().collect()
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
