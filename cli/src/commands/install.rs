//! `knap install`: resolve the requested packs (the previous `knap.lock`
//! preferred), fetch every pack that is not already installed at that
//! exact version and checksum into staging, verify it, and commit all of
//! them with the new `knap.lock` in one `InstallRoot` transaction.
//!
//! Without SPEC, installs exactly what `knap.lock` says: every locked pack
//! whose directory is missing (all of them with `--force`) is fetched from
//! its locked source and must reproduce the locked tree digest.
//!
//! Nothing under the root changes before every pack has been fetched and
//! verified; any failure leaves the root and its lock untouched.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use knap_installer::InstallRoot;
use knap_resolver::ResolveError;
use knap_schema::config::RegistryConfig;
use knap_schema::ident::CommitId;
use knap_schema::index::{Entry, InstallSource};
use knap_schema::lock::{LockedPack, LockedSource, Lockfile, SignedProvenance};
use knap_schema::progress::{Event, Reporter};
use knap_schema::urls::{
    RegistryLocation, SourcePolicy, SourceUrlKind, classify_source_url, resolve_source_url,
};
use knap_schema::{Checksum, Dependency, PackRef, Requirement};
use serde_json::json;
use url::Url;

use super::Ctx;
use super::direct::{self, Direct, Spec};
use super::installed::{open_for_writing, root_err};
use knap_registry::candidates::Lazy;
use knap_registry::error::{Kind, KnapError};
use knap_registry::index_set::IndexSet;
use knap_registry::net::HttpPolicy;
use knap_registry::sources::archive::{DEFAULT_DOWNLOAD_LIMIT, Downloader};
use knap_registry::sources::{SourceError, archive, git};

/// The flags of `knap install`.
#[derive(Debug, Default, clap::Args)]
pub struct InstallArgs {
    /// REF, REF@REQ, a pack directory, an archive file, an https archive
    /// URL (with --checksum) or git+https://HOST/REPO#<commit>.
    pub specs: Vec<String>,
    /// Resolve from this registry only.
    #[arg(long, value_name = "NAME")]
    pub registry: Option<String>,
    /// Fail (exit 3) if knap.lock would change.
    #[arg(long)]
    pub locked: bool,
    /// Print the plan; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Fetch and reinstall packs even when already installed.
    #[arg(long)]
    pub force: bool,
    /// Install the named packs only, not their dependencies.
    #[arg(long)]
    pub no_deps: bool,
    /// Parallel downloads.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub jobs: usize,
    /// Install an archive URL SPEC without --checksum (trust the server).
    #[arg(long)]
    pub allow_unverified: bool,
    /// The expected checksum of the one direct SPEC: an archive's SHA-256,
    /// or the pack tree digest of a directory or git commit.
    #[arg(long, value_name = "sha256:HEX")]
    pub checksum: Option<String>,
}

/// One source to try, already resolved to an absolute location.
#[derive(Debug, Clone)]
enum Source {
    Archive {
        url: Url,
        checksum: Checksum,
    },
    Git {
        url: Url,
        commit: CommitId,
        checksum: Checksum,
    },
    /// A local pack directory (a direct install recorded in the lock).
    Path(PathBuf),
    /// A source the index names but that may not be used (why).
    Refused(String),
}

impl Source {
    fn locked(&self) -> Option<LockedSource> {
        match self {
            Source::Archive { url, checksum } => Some(LockedSource::Archive {
                url: url.to_string(),
                checksum: *checksum,
            }),
            Source::Git {
                url,
                commit,
                checksum,
            } => Some(LockedSource::Git {
                url: url.to_string(),
                git_ref: commit.clone(),
                checksum: *checksum,
            }),
            Source::Path(p) => Some(LockedSource::Path {
                path: p.display().to_string(),
            }),
            Source::Refused(_) => None,
        }
    }

    /// The source `knap.lock` recorded.
    fn from_locked(s: &LockedSource) -> Self {
        match s {
            LockedSource::Archive { url, checksum } => match Url::parse(url) {
                Ok(url) => Source::Archive {
                    url,
                    checksum: *checksum,
                },
                Err(e) => Source::Refused(format!("{url}: {e}")),
            },
            LockedSource::Git {
                url,
                git_ref,
                checksum,
            } => match Url::parse(url) {
                Ok(url) => Source::Git {
                    url,
                    commit: git_ref.clone(),
                    checksum: *checksum,
                },
                Err(e) => Source::Refused(format!("{url}: {e}")),
            },
            LockedSource::Path { path } => Source::Path(PathBuf::from(path)),
        }
    }
}

/// One pack to fetch into staging.
struct Job {
    pack_ref: PackRef,
    version: semver::Version,
    registry: Option<String>,
    /// The signed metadata the registry was verified with, if signed.
    signed: Option<SignedProvenance>,
    dependencies: Vec<Dependency>,
    yanked: bool,
    sources: Vec<Source>,
    /// The tree digest the result must have (installs from the lock).
    expect_tree: Option<Checksum>,
    /// `<staging>/<ref>`, not existing yet.
    dest: PathBuf,
    downloader: Downloader,
    git_http: HttpPolicy,
}

/// What one job produced.
struct Staged {
    pack: LockedPack,
    dest: PathBuf,
}

/// Settings shared by every job.
struct Shared {
    store: archive::Store,
    reporter: Arc<dyn Reporter>,
}

/// Staging directories of direct packs, removed on every early return.
struct StagingGuard(Vec<PathBuf>);

impl Drop for StagingGuard {
    fn drop(&mut self) {
        for d in &self.0 {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

pub async fn run(ctx: &Ctx, args: InstallArgs) -> anyhow::Result<()> {
    let root = ctx.root_dir();
    let existed = root.exists();
    let result = run_with(ctx, args, knap_resolver::Upgrade::None).await;
    if result.is_err() && !existed {
        remove_unused_root(&root);
    }
    result
}

/// After a failed install into a root that did not exist: removes what
/// opening it made (the root with only knap's private area in it), so a
/// failure leaves nothing behind. A root that holds anything else is kept.
fn remove_unused_root(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    let names: Vec<std::ffi::OsString> = entries.flatten().map(|e| e.file_name()).collect();
    if names.iter().all(|n| n == ".knap") {
        let _ = std::fs::remove_dir_all(root.join(".knap"));
        let _ = std::fs::remove_dir(root);
    }
}

/// The install pipeline (resolve, fetch, verify, commit) with `upgrade`
/// saying which locked versions may move; `knap upgrade` calls it with
/// `Upgrade::All` or the named refs (then no SPEC is needed).
pub(crate) async fn run_with(
    ctx: &Ctx,
    args: InstallArgs,
    upgrade: knap_resolver::Upgrade,
) -> anyhow::Result<()> {
    let mut by_registry: Vec<(PackRef, String)> = Vec::new();
    let mut directs: Vec<Direct> = Vec::new();
    for spec in &args.specs {
        let parsed = match direct::parse(spec) {
            Ok(p) => p,
            // A bare word that is no valid ref (`Diskwatch`): the refs it
            // may have meant.
            Err(e) if direct::is_bare_word(spec) => {
                return Err(match super::suggest::did_you_mean(
                    &super::suggest::near_refs(ctx, spec).await,
                ) {
                    Some(hint) => KnapError::new(e.kind, format!("{e}; {hint}")),
                    None => e,
                }
                .into());
            }
            Err(e) => return Err(e.into()),
        };
        match parsed {
            Spec::Registry { dep, req } => by_registry.push((dep.pack, req)),
            Spec::Direct(d) => directs.push(d),
        }
    }
    if let Some(c) = &args.checksum {
        if directs.len() != 1 {
            return Err(KnapError::usage(
                "--checksum goes with exactly one SPEC that is a path, an archive URL or a git URL; install such packs one at a time",
            )
            .into());
        }
        archive::checksum_hex(c).map_err(|e| KnapError::usage(format!("--checksum: {e}")))?;
    }
    if args.allow_unverified && !directs.iter().any(|d| matches!(d, Direct::ArchiveUrl(_))) {
        return Err(KnapError::usage(
            "--allow-unverified goes with an archive URL SPEC (https://...); registry packs, paths and git commits are always verified",
        )
        .into());
    }
    let root = open_for_writing(ctx)?;
    let old = root.read_lock().map_err(root_err)?;
    if args.specs.is_empty() && upgrade == knap_resolver::Upgrade::None {
        return install_from_lock(ctx, &args, &root, old).await;
    }
    let shared = shared(ctx);

    // Direct packs first: only their pack.yaml says what they are.
    let mut guard = StagingGuard(Vec::new());
    let mut staged_direct: BTreeMap<PackRef, direct::StagedDirect> = BTreeMap::new();
    if !directs.is_empty() {
        let downloader = downloader_for(ctx, None)?;
        let git_http = git_http_for(ctx, None);
        for d in &directs {
            let staging_dir = root.new_staging_dir().map_err(root_err)?;
            guard.0.push(staging_dir.clone());
            let stager = direct::Stager {
                staging_dir,
                downloader: &downloader,
                store: &shared.store,
                checksum: args.checksum.as_deref(),
                allow_unverified: args.allow_unverified,
                git_http: &git_http,
            };
            let s = direct::stage(d, &stager).await?;
            let r = s.pack.pack_ref.clone();
            if staged_direct.contains_key(&r) || by_registry.iter().any(|(b, _)| *b == r) {
                return Err(KnapError::usage(format!(
                    "`{r}` is named twice on the command line ({}); install one of them",
                    d.describe()
                ))
                .into());
            }
            staged_direct.insert(r, s);
        }
    }

    // What is asked for: the previous requests plus the new specs. A direct
    // pack is asked for at its exact version.
    let mut requested: BTreeMap<PackRef, String> = old
        .as_ref()
        .map(|l| l.requested.clone())
        .unwrap_or_default();
    for (r, req) in &by_registry {
        requested.insert(r.clone(), req.clone());
    }
    for (r, s) in &staged_direct {
        requested.insert(r.clone(), format!("={}", s.pack.version));
    }
    let roots: Vec<Dependency> = requested
        .iter()
        .map(|(r, req)| Ok(Dependency::new(r.clone(), Requirement::parse(req)?)))
        .collect::<Result<_, knap_schema::requirement::RequirementError>>()
        .map_err(|e| KnapError::usage(format!("knap.lock `requested`: {e}")))?;

    // Pinned candidates: direct packs named now, and those the lock holds
    // without a registry unless a registry spec now names their ref.
    let mut pinned: BTreeMap<String, Entry> = BTreeMap::new();
    for p in old.iter().flat_map(|l| l.packs.iter()) {
        if p.registry.is_none() && !by_registry.iter().any(|(r, _)| r == &p.pack_ref) {
            pinned.insert(p.pack_ref.to_string(), direct::entry_of_locked(p));
        }
    }
    for (r, s) in &staged_direct {
        pinned.insert(r.to_string(), s.entry.clone());
    }
    // The registries are read as the resolver asks, one ref at a time,
    // the dependencies of the versions it looks at fetched ahead of need.
    let refs = direct::refs_to_look_up(requested.keys().map(PackRef::as_str), &pinned);
    let set = if refs.is_empty() {
        None
    } else {
        let set = IndexSet::open(&ctx.config, &ctx.env, args.registry.as_deref())?;
        Some(Arc::new(set))
    };
    ctx.env
        .reporter
        .report(Event::Resolving { packs: roots.len() });
    let options = knap_resolver::Options {
        lock: old.clone(),
        upgrade,
        no_deps: args.no_deps,
    };
    let signed_set = set.clone();
    let candidates = Lazy::new(set, pinned.clone());
    let resolved =
        match tokio::task::block_in_place(|| knap_resolver::resolve(&candidates, &roots, &options))
        {
            Ok(r) => r,
            Err(ResolveError::NotFound {
                pack_ref,
                required_by,
            }) => {
                let e = super::suggest::not_listed(
                    ctx,
                    &pack_ref,
                    &required_by,
                    args.registry.as_deref(),
                )
                .await;
                return Err(e.into());
            }
            Err(e @ ResolveError::Candidates { .. }) => return Err(e.into()),
            Err(ResolveError::NoSolution(no)) => return Err(anyhow::Error::new(*no)),
        };

    // What each signed registry's metadata was verified with, for the lock.
    let mut signed: BTreeMap<String, SignedProvenance> = BTreeMap::new();
    for reg in signed_set.iter().flat_map(|s| s.registries.iter()) {
        if let Some(p) = reg.provenance() {
            signed.insert(
                reg.name.clone(),
                SignedProvenance {
                    root_key_ids: p.root_key_ids,
                    targets_version: p.targets_version,
                },
            );
        }
    }
    let mut downloaders: BTreeMap<String, Downloader> = BTreeMap::new();
    let mut keep: Vec<LockedPack> = Vec::new();
    let mut jobs: Vec<Job> = Vec::new();
    let mut plan_install: Vec<serde_json::Value> = Vec::new();
    let mut direct_staged: Vec<Staged> = Vec::new();
    for r in &resolved {
        let entry = candidates.entry(&r.pack_ref, &r.version).ok_or_else(|| {
            KnapError::new(
                Kind::Other,
                format!(
                    "no index entry for the resolved {} {}",
                    r.pack_ref, r.version
                ),
            )
        })?;
        let e = &entry;
        let pack_ref = e.pack_ref.clone();
        let version = e.version.clone();
        let previous = old.as_ref().and_then(|l| l.get(&pack_ref));
        let on_disk = root.pack_dir(&pack_ref).is_dir();
        // The installed pack, left as it is, with the dependencies it was
        // resolved with now.
        let kept = |p: &LockedPack| LockedPack {
            dependencies: r.dependencies.clone(),
            ..p.clone()
        };
        if let Some(s) = staged_direct.remove(&pack_ref) {
            // Named now: unchanged only if the very same tree from the very
            // same place is installed.
            let same = previous.is_some_and(|p| {
                p.registry.is_none()
                    && p.version == s.pack.version
                    && p.tree == s.pack.tree
                    && p.source == s.pack.source
            });
            if same && on_disk && !args.force {
                keep.push(kept(previous.expect("same implies a locked pack")));
                continue;
            }
            plan_install.push(json!({
                "ref": e.pack_ref,
                "version": e.version,
                "registry": null,
                "source": source_text(&Source::from_locked(&s.pack.source)),
                "previous": previous.map(|p| p.version.to_string()),
            }));
            let mut pack = s.pack;
            pack.dependencies = r.dependencies.clone();
            direct_staged.push(Staged { pack, dest: s.dest });
            continue;
        }
        if pinned.contains_key(e.pack_ref.as_str()) {
            // Installed directly before: kept, or refetched from where the
            // lock says it came from.
            let p = previous.expect("a pinned ref from the lock is locked");
            if on_disk && !args.force {
                keep.push(kept(p));
                continue;
            }
            plan_install.push(json!({
                "ref": p.pack_ref,
                "version": p.version,
                "registry": null,
                "previous": p.version,
            }));
            jobs.push(Job {
                pack_ref: p.pack_ref.clone(),
                version: p.version.clone(),
                registry: None,
                signed: p.signed.clone(),
                dependencies: r.dependencies.clone(),
                yanked: p.yanked,
                sources: vec![Source::from_locked(&p.source)],
                expect_tree: Some(p.tree),
                dest: PathBuf::new(),
                downloader: downloader_for(ctx, None)?,
                git_http: git_http_for(ctx, None),
            });
            continue;
        }
        let registry = candidates
            .provider(&e.pack_ref)
            .map(|p| p.registry)
            .ok_or_else(|| anyhow::anyhow!("no registry recorded for `{}`", e.pack_ref))?;
        let cfg = ctx
            .config
            .registries
            .iter()
            .find(|c| c.name == registry)
            .ok_or_else(|| anyhow::anyhow!("registry `{registry}` is not configured"))?;
        let sources = entry_sources(cfg, e);
        let installed = previous.is_some_and(|p| {
            p.version == version
                && p.registry.as_deref() == Some(registry.as_str())
                && sources
                    .iter()
                    .filter_map(Source::locked)
                    .any(|s| s.checksum() == p.source.checksum())
                && on_disk
        });
        if installed && !args.force {
            keep.push(kept(previous.expect("installed implies a locked pack")));
            continue;
        }
        plan_install.push(json!({
            "ref": e.pack_ref,
            "version": e.version,
            "registry": registry,
            "previous": previous.map(|p| p.version.to_string()),
        }));
        let downloader = match downloaders.get(&registry) {
            Some(d) => d.clone(),
            None => {
                let d = downloader_for(ctx, Some(cfg))?;
                downloaders.insert(registry.clone(), d.clone());
                d
            }
        };
        jobs.push(Job {
            pack_ref,
            version,
            signed: signed.get(&registry).cloned(),
            registry: Some(registry),
            dependencies: r.dependencies.clone(),
            yanked: e.yanked,
            sources,
            expect_tree: None,
            dest: PathBuf::new(),
            downloader,
            git_http: git_http_for(ctx, Some(cfg)),
        });
    }
    let resolved_refs: BTreeSet<&str> = resolved.iter().map(|r| r.pack_ref()).collect();
    let removed: Vec<PackRef> = old
        .iter()
        .flat_map(|l| l.packs.iter())
        .map(|p| p.pack_ref.clone())
        .filter(|r| !resolved_refs.contains(r.as_str()))
        .collect();

    if args.locked {
        // Anything the lock records may not change, provenance included:
        // the version, the registry, and the very source (URL and
        // checksum) each pack is fetched from.
        let mut changed: Vec<String> = Vec::new();
        if old.as_ref().is_none_or(|l| l.requested != requested) {
            changed.push("the requested packs".into());
        }
        changed.extend(removed.iter().map(|r| format!("`{r}` would be removed")));
        changed.extend(
            direct_staged
                .iter()
                .map(|s| format!("`{}` would be installed from a new source", s.pack.pack_ref)),
        );
        for j in &mut jobs {
            let Some(p) = old.as_ref().and_then(|l| l.get(&j.pack_ref)) else {
                changed.push(format!("`{}` would be added", j.pack_ref));
                continue;
            };
            if p.version != j.version {
                changed.push(format!(
                    "`{}` would move from {} to {}",
                    j.pack_ref, p.version, j.version
                ));
            } else if p.registry != j.registry {
                changed.push(format!(
                    "`{}` would come from {} instead of {}",
                    j.pack_ref,
                    registry_text(j.registry.as_deref()),
                    registry_text(p.registry.as_deref())
                ));
            } else if let Some(s) = j
                .sources
                .iter()
                .find(|s| s.locked().as_ref() == Some(&p.source))
            {
                // Fetched from the locked source only, so that the lock
                // stays as it is.
                j.sources = vec![s.clone()];
            } else {
                changed.push(format!(
                    "`{}` would be fetched from another source than knap.lock's {}",
                    j.pack_ref,
                    source_text(&Source::from_locked(&p.source))
                ));
            }
        }
        if !changed.is_empty() {
            return Err(KnapError::not_found(format!(
                "--locked: knap.lock would change ({}); run without --locked to update it",
                changed.join("; ")
            ))
            .into());
        }
    }

    if args.dry_run {
        let keep_json: Vec<_> = keep
            .iter()
            .map(|p| json!({"ref": p.pack_ref, "version": p.version}))
            .collect();
        if ctx.json {
            crate::output::print_json(&json!({
                "dry_run": true,
                "root": root.path(),
                "install": plan_install,
                "unchanged": keep_json,
                "remove": removed,
            }));
        } else {
            for p in &plan_install {
                let prev = match p["previous"].as_str() {
                    Some(v) => format!(" (replacing {v})"),
                    None => String::new(),
                };
                let from = match (p["registry"].as_str(), p["source"].as_str()) {
                    (Some(r), _) => format!("`{r}`"),
                    (None, Some(src)) => src.to_owned(),
                    (None, None) => "knap.lock's source".to_owned(),
                };
                ctx.say(&format!(
                    "would install {} {} from {from}{prev}",
                    p["ref"].as_str().unwrap_or(""),
                    p["version"].as_str().unwrap_or(""),
                ));
            }
            for p in &keep {
                ctx.say(&format!(
                    "unchanged {} {}",
                    p.pack_ref,
                    ctx.style.dim(&p.version.to_string())
                ));
            }
            for r in &removed {
                ctx.say(&format!("would remove {r}"));
            }
            if plan_install.is_empty() && removed.is_empty() {
                ctx.say("nothing to do");
            }
        }
        return Ok(());
    }

    let new_requested = requested;
    let mut staged = run_jobs(&root, jobs, args.jobs, shared).await?;
    staged.extend(direct_staged);
    let mut packs = keep;
    packs.extend(staged.iter().map(|s| s.pack.clone()));
    packs.sort_by(|a, b| a.pack_ref.cmp(&b.pack_ref));
    let new_lock = Lockfile {
        requested: new_requested,
        packs,
        ..old.clone().unwrap_or_default()
    };
    // The installed versions their registry now marks yanked, to say why a
    // pack moved down.
    let yanked_now: BTreeSet<(PackRef, semver::Version)> = old
        .iter()
        .flat_map(|l| l.packs.iter())
        .filter(|p| {
            candidates
                .provider(&p.pack_ref)
                .is_some_and(|x| x.entries.iter().any(|e| e.yanked && e.version == p.version))
        })
        .map(|p| (p.pack_ref.clone(), p.version.clone()))
        .collect();
    finish(
        ctx,
        &root,
        old.as_ref(),
        new_lock,
        staged,
        removed,
        &yanked_now,
    )
}

/// Commits (unless nothing changed) and reports.
fn finish(
    ctx: &Ctx,
    root: &InstallRoot,
    old: Option<&Lockfile>,
    new_lock: Lockfile,
    staged: Vec<Staged>,
    removed: Vec<PackRef>,
    yanked_now: &BTreeSet<(PackRef, semver::Version)>,
) -> anyhow::Result<()> {
    let installed: Vec<(PackRef, semver::Version)> = staged
        .iter()
        .map(|s| (s.pack.pack_ref.clone(), s.pack.version.clone()))
        .collect();
    let unchanged: Vec<(PackRef, semver::Version)> = new_lock
        .packs
        .iter()
        .filter(|p| !installed.iter().any(|(r, _)| *r == p.pack_ref))
        .map(|p| (p.pack_ref.clone(), p.version.clone()))
        .collect();
    if staged.is_empty() && removed.is_empty() && old == Some(&new_lock) {
        tracing::debug!("nothing changed; knap.lock is left as it is");
    } else {
        let new_packs = staged
            .into_iter()
            .map(|s| (s.pack.pack_ref, s.dest))
            .collect();
        root.commit(new_packs, removed.clone(), &new_lock)
            .map_err(root_err)?;
    }
    if ctx.json {
        let list = |v: &[(PackRef, semver::Version)]| -> Vec<serde_json::Value> {
            v.iter()
                .map(|(r, ver)| json!({"ref": r, "version": ver}))
                .collect()
        };
        crate::output::print_json(&json!({
            "root": root.path(),
            "installed": list(&installed),
            "unchanged": list(&unchanged),
            "removed": removed,
        }));
    } else {
        for (r, v) in &installed {
            match old.and_then(|l| l.get(r)).map(|p| &p.version) {
                Some(was) if was != v => {
                    let older = v < was;
                    if older {
                        let why = if yanked_now.contains(&(r.clone(), was.clone())) {
                            format!(" ({was} was yanked)")
                        } else {
                            String::new()
                        };
                        ctx.say(&format!(
                            "{} {r} {was} -> {v}{why}",
                            ctx.style.yellow("downgraded")
                        ))
                    } else {
                        ctx.say(&format!("{} {r} {was} -> {v}", ctx.style.green("upgraded")))
                    }
                }
                _ => ctx.say(&format!("{} {r} {v}", ctx.style.green("installed"))),
            }
        }
        for r in &removed {
            ctx.say(&format!("removed {r}"));
        }
        if installed.is_empty() && removed.is_empty() {
            ctx.say(&format!(
                "nothing to do: {} packs up to date in {}",
                unchanged.len(),
                root.path().display()
            ));
        }
    }
    Ok(())
}

/// `knap install` without SPEC: reinstall what the lock names and is
/// missing or no longer the locked tree (checked against the per-file
/// record, as `knap verify` does).
async fn install_from_lock(
    ctx: &Ctx,
    args: &InstallArgs,
    root: &InstallRoot,
    old: Option<Lockfile>,
) -> anyhow::Result<()> {
    let Some(lock) = old else {
        if args.locked {
            return Err(KnapError::not_found(
                "--locked: the root has no knap.lock; install packs by name first",
            )
            .into());
        }
        ctx.say(&format!(
            "no knap.lock in {}: nothing to install (name packs to install: `knap install REF`)",
            root.path().display()
        ));
        return Ok(());
    };
    let mut jobs = Vec::new();
    for p in &lock.packs {
        if !args.force && root.is_intact(p) {
            continue;
        }
        let cfg = p
            .registry
            .as_ref()
            .and_then(|n| ctx.config.registries.iter().find(|c| &c.name == n));
        let source = Source::from_locked(&p.source);
        jobs.push(Job {
            pack_ref: p.pack_ref.clone(),
            version: p.version.clone(),
            registry: p.registry.clone(),
            signed: p.signed.clone(),
            dependencies: p.dependencies.clone(),
            yanked: p.yanked,
            sources: vec![source],
            expect_tree: Some(p.tree),
            dest: PathBuf::new(),
            downloader: downloader_for(ctx, cfg)?,
            git_http: git_http_for(ctx, cfg),
        });
    }
    if args.dry_run {
        let refs: Vec<_> = jobs
            .iter()
            .map(|j| json!({"ref": j.pack_ref, "version": j.version}))
            .collect();
        if ctx.json {
            crate::output::print_json(
                &json!({"dry_run": true, "root": root.path(), "install": refs, "remove": []}),
            );
        } else if jobs.is_empty() {
            ctx.say("nothing to do");
        } else {
            for j in &jobs {
                ctx.say(&format!(
                    "would install {} {} (from knap.lock)",
                    j.pack_ref, j.version
                ));
            }
        }
        return Ok(());
    }
    let staged = run_jobs(root, jobs, args.jobs, shared(ctx)).await?;
    // The lock stays as it is: the packs are what it already says. Only
    // the tree digest of a pack an older knap locked is now written by the
    // current rule (the same files).
    let mut new_lock = lock.clone();
    for s in &staged {
        if let Some(p) = new_lock
            .packs
            .iter_mut()
            .find(|p| p.pack_ref == s.pack.pack_ref)
        {
            p.installed_at = s.pack.installed_at.clone();
            p.tree = s.pack.tree;
        }
    }
    finish(
        ctx,
        root,
        Some(&lock),
        new_lock,
        staged,
        Vec::new(),
        &BTreeSet::new(),
    )
}

fn shared(ctx: &Ctx) -> Shared {
    let limits = ctx.config.limits.clone().unwrap_or_default();
    let defaults = knap_installer::Limits::default();
    Shared {
        store: archive::Store {
            cache_root: ctx.env.cache_root.clone(),
            max_download: limits.download_size.unwrap_or(DEFAULT_DOWNLOAD_LIMIT),
            limits: knap_installer::Limits {
                max_total_bytes: limits.extracted_size.unwrap_or(defaults.max_total_bytes),
                max_entries: limits.entries.unwrap_or(defaults.max_entries),
            },
        },
        reporter: ctx.env.reporter.clone(),
    }
}

/// The HTTP policy of a registry's sources: the registry's own (its CA
/// files plus the global ones, its `allow_http`, its token for its origin
/// only). The defaults when the registry is not configured (any more), or
/// for a direct SPEC.
fn source_policy(ctx: &Ctx, cfg: Option<&RegistryConfig>) -> HttpPolicy {
    HttpPolicy::for_registry(&ctx.env.http, ctx.env.global_ca_file.as_deref(), cfg)
}

/// The HTTP client for a registry's archive sources.
fn downloader_for(ctx: &Ctx, cfg: Option<&RegistryConfig>) -> anyhow::Result<Downloader> {
    Downloader::new(&source_policy(ctx, cfg)).map_err(|e| KnapError::from(e).into())
}

/// What gix's HTTP transport is given for a registry's git sources.
pub(super) fn git_http_for(ctx: &Ctx, cfg: Option<&RegistryConfig>) -> HttpPolicy {
    source_policy(ctx, cfg)
}

/// Where the registry's index was read from: relative source URLs resolve
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
fn entry_sources(cfg: &RegistryConfig, e: &Entry) -> Vec<Source> {
    let base = match source_base(cfg) {
        Ok(b) => b,
        Err(m) => return vec![Source::Refused(format!("registry `{}`: {m}", cfg.name))],
    };
    let policy = SourcePolicy {
        allow_http: cfg.allow_http,
    };
    let git_hosted = matches!(
        RegistryLocation::parse(&cfg.url, cfg.allow_http),
        Ok(RegistryLocation::Git(_))
    );
    e.install_sources
        .iter()
        .map(|s| {
            if git_hosted && classify_source_url(s.url()) == Ok(SourceUrlKind::Relative) {
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

/// A registry as messages name it: `registry `NAME``, or a direct source.
fn registry_text(r: Option<&str>) -> String {
    match r {
        Some(r) => format!("registry `{r}`"),
        None => "a direct source".into(),
    }
}

/// Fetches every job into its own staging directory, `jobs` at a time.
/// On any failure, removes what was staged and reports every failure.
async fn run_jobs(
    root: &InstallRoot,
    mut jobs: Vec<Job>,
    parallel: usize,
    shared: Shared,
) -> anyhow::Result<Vec<Staged>> {
    // Removed on failure, and when this future is dropped (Ctrl-C).
    let mut staging_dirs = StagingGuard(Vec::new());
    for j in &mut jobs {
        let dir = root.new_staging_dir().map_err(root_err)?;
        j.dest = j.pack_ref.dir_in(&dir);
        staging_dirs.0.push(dir);
    }
    let shared = Arc::new(shared);
    let semaphore = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for (i, job) in jobs.into_iter().enumerate() {
        let shared = shared.clone();
        let semaphore = semaphore.clone();
        set.spawn(async move {
            let _permit = semaphore
                .acquire_owned()
                .await
                .expect("the semaphore is open");
            let name = format!("{} {}", job.pack_ref, job.version);
            (i, name, fetch_job(job, &shared).await)
        });
    }
    let mut done: Vec<(usize, Staged)> = Vec::new();
    let mut failures: Vec<(String, Vec<SourceError>)> = Vec::new();
    while let Some(r) = set.join_next().await {
        let (i, name, result) = r.expect("an install task panicked");
        match result {
            Ok(s) => done.push((i, s)),
            Err(errors) => failures.push((name, errors)),
        }
    }
    if !failures.is_empty() {
        drop(staging_dirs);
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
        return Err(KnapError::new(kind, message).into());
    }
    done.sort_by_key(|(i, _)| *i);
    // Staged: kept for the commit.
    staging_dirs.0.clear();
    Ok(done.into_iter().map(|(_, s)| s).collect())
}

/// Tries the job's sources in order; the first that stages a verified pack
/// wins, else every failure is returned.
async fn fetch_job(job: Job, shared: &Shared) -> Result<Staged, Vec<SourceError>> {
    let mut errors = Vec::new();
    if job.sources.is_empty() {
        errors.push(SourceError::integrity("the index lists no install source"));
    }
    for source in &job.sources {
        match fetch_one(&job, source, shared).await {
            Ok(tree) => {
                let Some(locked) = source.locked() else {
                    unreachable!("a refused source never stages")
                };
                let installed_at = super::now_rfc3339();
                return Ok(Staged {
                    pack: LockedPack {
                        pack_ref: job.pack_ref.clone(),
                        version: job.version.clone(),
                        registry: job.registry.clone(),
                        source: locked,
                        tree,
                        dependencies: job.dependencies.clone(),
                        installed_at,
                        yanked: job.yanked,
                        signed: job.signed.clone(),
                    },
                    dest: job.dest.clone(),
                });
            }
            Err(e) => {
                tracing::info!("{} {}: {e}", job.pack_ref, job.version);
                let _ = std::fs::remove_dir_all(&job.dest);
                errors.push(e);
            }
        }
    }
    Err(errors)
}

/// Stages the pack from one source and verifies it; returns its tree digest.
async fn fetch_one(job: &Job, source: &Source, shared: &Shared) -> Result<Checksum, SourceError> {
    let expected_tree = match source {
        Source::Refused(m) => return Err(SourceError::integrity(format!("refused: {m}"))),
        Source::Path(p) => {
            let (src, dest) = (p.clone(), job.dest.clone());
            tokio::task::spawn_blocking(move || {
                knap_registry::sources::path::copy_pack(&src, &dest)
            })
            .await
            .expect("the copy task panicked")?;
            None
        }
        Source::Archive { url, checksum } => {
            shared.reporter.report(Event::Extracting {
                pack: job.pack_ref.to_string(),
                version: job.version.to_string(),
                from: source_text(source),
            });
            archive::fetch_and_extract(
                &job.downloader,
                &shared.store,
                url,
                &checksum.to_string(),
                &job.dest,
                &*shared.reporter,
            )
            .await?;
            None
        }
        Source::Git {
            url,
            commit,
            checksum,
        } => {
            shared.reporter.report(Event::Extracting {
                pack: job.pack_ref.to_string(),
                version: job.version.to_string(),
                from: source_text(source),
            });
            let (u, c, d) = (url.to_string(), commit.clone(), job.dest.clone());
            let http = job.git_http.clone();
            let limits = shared.store.limits;
            let r = tokio::task::spawn_blocking(move || {
                git::fetch_and_checkout(&u, &c, &d, &http, limits)
            })
            .await
            .expect("the git task panicked");
            r?;
            Some(*checksum)
        }
    };
    let dest = job.dest.clone();
    let (pack_ref, version) = (job.pack_ref.clone(), job.version.clone());
    let expect_lock_tree = job.expect_tree;
    let what = source_text(source);
    shared.reporter.report(Event::Verifying {
        pack: job.pack_ref.to_string(),
        version: job.version.to_string(),
    });
    let verified = tokio::task::spawn_blocking(move || {
        let (m, tree) = knap_registry::sources::inspect(&dest, &what)?;
        let tree = Checksum::parse(&tree).map_err(|e| SourceError::integrity(format!("{what}: {e}")))?;
        if m.pack_ref != pack_ref || m.version != version {
            return Err(SourceError::integrity(format!(
                "{what}: pack.yaml says {} {}, but the index entry is {pack_ref} {version}; tell the registry's maintainer",
                m.pack_ref, m.version
            )));
        }
        // A knap.lock written by an older knap holds its byte-order digest
        // (formats.md §2): the same files restore it. Computed only when
        // the current digest differs from the lock's.
        let older_knap_lock = |t: &Checksum| {
            expect_lock_tree.as_ref() == Some(t)
                && knap_schema::digest::legacy_tree_digest(&dest).is_ok_and(|d| *t == d.checksum)
        };
        if let Some(t) = &expected_tree
            && tree != *t
            && !older_knap_lock(t)
        {
            return Err(SourceError::integrity(format!(
                "{what}: the checked-out tree's digest is {tree}, the index says {t}"
            )));
        }
        if let Some(t) = &expect_lock_tree
            && tree != *t
            && !older_knap_lock(t)
        {
            return Err(SourceError::integrity(format!(
                "{what}: the fetched tree's digest is {tree}, knap.lock says {t}"
            )));
        }
        Ok(tree)
    })
    .await
    .expect("the verify task panicked");
    shared.reporter.report(Event::Verified {
        pack: job.pack_ref.to_string(),
        version: job.version.to_string(),
    });
    verified
}

fn source_text(s: &Source) -> String {
    match s {
        Source::Archive { url, .. } => format!("archive {url}"),
        Source::Git { url, commit, .. } => format!("git {url}#{commit}"),
        Source::Path(p) => format!("the directory {}", p.display()),
        Source::Refused(m) => m.clone(),
    }
}
