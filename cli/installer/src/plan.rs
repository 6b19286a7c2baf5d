//! What an install, upgrade, restore or uninstall will do to a root, as a
//! value: the packs to install (each with where it comes from and what it
//! replaces), the packs kept as they are, the packs removed, and the new
//! `requested` map.
//!
//! A [`Plan`] is computed by pure functions from data: the resolution
//! ([`Chosen`]: the version of each ref and where it comes from), the
//! previous `knap.lock`, which packs are on disk and intact (a set the
//! caller measured), and what is requested. Nothing here reads the disk or
//! the network, so planning is tested without either. `Serialize` is the
//! plan of `knap install --dry-run --json`; [`Plan::changes_lock`] is what
//! `--locked` refuses; [`Plan::new_lock`] is the lock the commit writes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use knap_schema::ident::CommitId;
use knap_schema::lock::{LockedPack, LockedSource, Lockfile, SignedProvenance};
use knap_schema::{Checksum, Dependency, ErrorKind, PackRef};
use serde::{Serialize, Serializer};
use url::Url;

use crate::state::{dependents, reachable};

/// One place a pack can be fetched from, resolved to an absolute location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
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
    /// What `knap.lock` records for this source (nothing for a refused one).
    pub fn locked(&self) -> Option<LockedSource> {
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
    pub fn from_locked(s: &LockedSource) -> Self {
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

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Archive { url, .. } => write!(f, "archive {url}"),
            Source::Git { url, commit, .. } => write!(f, "git {url}#{commit}"),
            Source::Path(p) => write!(f, "the directory {}", p.display()),
            Source::Refused(m) => f.write_str(m),
        }
    }
}

/// Where the resolution's version of a ref comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// An index entry of the registry `registry`, with its install sources
    /// in index order.
    Registry {
        registry: String,
        /// What the registry's signed metadata was verified with, if signed.
        signed: Option<SignedProvenance>,
        sources: Vec<Source>,
    },
    /// A direct pack staged for this install (named now): what the lock
    /// will record for it (its dependencies come from the resolution).
    Staged(LockedPack),
    /// A direct pack the previous lock holds: kept, or fetched again from
    /// its locked source.
    Locked,
}

/// The resolution's choice for one ref.
#[derive(Debug, Clone, PartialEq)]
pub struct Chosen {
    pub pack_ref: PackRef,
    pub version: semver::Version,
    /// Its dependencies as resolved (the lock's `dependencies`).
    pub dependencies: Vec<Dependency>,
    /// The registry marks this version yanked.
    pub yanked: bool,
    pub origin: Origin,
}

/// What planning is computed from.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The previous `knap.lock`, if any.
    pub old: Option<&'a Lockfile>,
    /// The packs on disk (their directories present; for a restore, intact).
    pub present: &'a BTreeSet<PackRef>,
    /// Fetch and reinstall even what is installed (`--force`).
    pub force: bool,
}

/// One pack to fetch and install.
#[derive(Debug, Clone, PartialEq)]
pub struct Install {
    pub pack_ref: PackRef,
    pub version: semver::Version,
    /// The registry it comes from; `None` for a direct pack.
    pub registry: Option<String>,
    /// What the registry's signed metadata was verified with, if signed.
    pub signed: Option<SignedProvenance>,
    pub dependencies: Vec<Dependency>,
    pub yanked: bool,
    /// Where to fetch it from, tried in order (empty when already staged).
    pub sources: Vec<Source>,
    /// The tree digest the fetched pack must have (a pack restored from
    /// the lock).
    pub expect_tree: Option<Checksum>,
    /// A direct pack already staged: what the lock records for it.
    pub staged: Option<LockedPack>,
    /// The locked pack it replaces (the same ref, any version).
    pub replaces: Option<LockedPack>,
}

impl Install {
    /// The source the text and JSON name: the staged one, or the only one.
    pub fn source_text(&self) -> Option<String> {
        match (
            &self.staged,
            self.registry.as_ref(),
            self.sources.as_slice(),
        ) {
            (Some(p), _, _) => Some(Source::from_locked(&p.source).to_string()),
            (None, None, [one]) => Some(one.to_string()),
            _ => None,
        }
    }
}

impl Serialize for Install {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Row<'a> {
            #[serde(rename = "ref")]
            pack_ref: &'a PackRef,
            version: &'a semver::Version,
            registry: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            source: Option<String>,
            previous: Option<&'a semver::Version>,
        }
        Row {
            pack_ref: &self.pack_ref,
            version: &self.version,
            registry: self.registry.as_deref(),
            source: self.source_text(),
            previous: self.replaces.as_ref().map(|p| &p.version),
        }
        .serialize(s)
    }
}

/// Changes to the root, all or nothing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub install: Vec<Install>,
    /// Packs left as they are (with the dependencies they resolve with now).
    #[serde(rename = "unchanged", serialize_with = "refs_and_versions")]
    pub keep: Vec<LockedPack>,
    /// Packs the new lock no longer lists.
    pub remove: Vec<PackRef>,
    /// The new lock's `requested` map.
    pub requested: BTreeMap<PackRef, String>,
}

fn refs_and_versions<S: Serializer>(packs: &[LockedPack], s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Row<'a> {
        #[serde(rename = "ref")]
        pack_ref: &'a PackRef,
        version: &'a semver::Version,
    }
    s.collect_seq(packs.iter().map(|p| Row {
        pack_ref: &p.pack_ref,
        version: &p.version,
    }))
}

/// One way the lock would change (what `--locked` refuses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockChange {
    Requested,
    Removed(PackRef),
    Added(PackRef),
    NewDirectSource(PackRef),
    Version {
        pack_ref: PackRef,
        from: semver::Version,
        to: semver::Version,
    },
    Registry {
        pack_ref: PackRef,
        from: Option<String>,
        to: Option<String>,
    },
    Source {
        pack_ref: PackRef,
        locked: String,
    },
}

fn registry_text(r: Option<&str>) -> String {
    match r {
        Some(r) => format!("registry `{r}`"),
        None => "a direct source".into(),
    }
}

impl fmt::Display for LockChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockChange::Requested => f.write_str("the requested packs"),
            LockChange::Removed(r) => write!(f, "`{r}` would be removed"),
            LockChange::Added(r) => write!(f, "`{r}` would be added"),
            LockChange::NewDirectSource(r) => {
                write!(f, "`{r}` would be installed from a new source")
            }
            LockChange::Version { pack_ref, from, to } => {
                write!(f, "`{pack_ref}` would move from {from} to {to}")
            }
            LockChange::Registry { pack_ref, from, to } => write!(
                f,
                "`{pack_ref}` would come from {} instead of {}",
                registry_text(to.as_deref()),
                registry_text(from.as_deref())
            ),
            LockChange::Source { pack_ref, locked } => write!(
                f,
                "`{pack_ref}` would be fetched from another source than knap.lock's {locked}"
            ),
        }
    }
}

/// `--locked` and the lock would change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "--locked: knap.lock would change ({}); run without --locked to update it",
    .changes.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
)]
pub struct LockWouldChange {
    pub changes: Vec<LockChange>,
}

impl LockWouldChange {
    /// Unresolvable as asked (exit 3).
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::NotFound
    }
}

impl Plan {
    /// The plan of a resolution: each chosen pack is kept when the very
    /// same pack is installed (same version, registry and a source with the
    /// locked checksum, or for a direct pack the same tree from the same
    /// place) and on disk, else installed; every locked pack the resolution
    /// no longer has is removed.
    pub fn resolved(
        chosen: Vec<Chosen>,
        requested: BTreeMap<PackRef, String>,
        inputs: Inputs<'_>,
    ) -> Plan {
        let mut plan = Plan {
            install: Vec::new(),
            keep: Vec::new(),
            remove: Vec::new(),
            requested,
        };
        let chosen_refs: BTreeSet<PackRef> = chosen.iter().map(|c| c.pack_ref.clone()).collect();
        for c in chosen {
            let previous = inputs.old.and_then(|l| l.get(&c.pack_ref));
            let on_disk = inputs.present.contains(&c.pack_ref) && !inputs.force;
            let kept = |p: &LockedPack| LockedPack {
                dependencies: c.dependencies.clone(),
                ..p.clone()
            };
            let (registry, signed, sources, staged, expect_tree, same) = match c.origin {
                Origin::Staged(pack) => {
                    let same = previous.is_some_and(|p| same_direct_pack(p, &pack));
                    (None, None, Vec::new(), Some(pack), None, same)
                }
                Origin::Locked => match previous {
                    Some(p) => (
                        None,
                        p.signed.clone(),
                        vec![Source::from_locked(&p.source)],
                        None,
                        Some(p.tree),
                        true,
                    ),
                    // Nothing to fetch it from: the resolver was told of a
                    // pinned ref that the lock does not hold.
                    None => (
                        None,
                        None,
                        vec![Source::Refused(format!(
                            "`{}` was pinned to knap.lock, which does not list it",
                            c.pack_ref
                        ))],
                        None,
                        None,
                        false,
                    ),
                },
                Origin::Registry {
                    registry,
                    signed,
                    sources,
                } => {
                    let same = previous.is_some_and(|p| {
                        p.version == c.version
                            && p.registry.as_deref() == Some(registry.as_str())
                            && sources
                                .iter()
                                .filter_map(Source::locked)
                                .any(|s| s.checksum() == p.source.checksum())
                    });
                    (Some(registry), signed, sources, None, None, same)
                }
            };
            if same && on_disk {
                plan.keep
                    .push(kept(previous.expect("the same pack is a locked one")));
                continue;
            }
            plan.install.push(Install {
                pack_ref: c.pack_ref,
                version: c.version,
                registry,
                signed,
                dependencies: c.dependencies,
                yanked: c.yanked,
                sources,
                expect_tree,
                staged,
                replaces: previous.cloned(),
            });
        }
        plan.remove = inputs
            .old
            .iter()
            .flat_map(|l| l.packs.iter())
            .map(|p| p.pack_ref.clone())
            .filter(|r| !chosen_refs.contains(r))
            .collect();
        plan
    }

    /// The plan of `knap install` without SPEC: every locked pack that is
    /// not present and intact (all of them with `force`) is fetched again
    /// from its locked source and must reproduce its locked tree; the lock
    /// stays as it is.
    pub fn restore(old: &Lockfile, present: &BTreeSet<PackRef>, force: bool) -> Plan {
        let mut plan = Plan {
            install: Vec::new(),
            keep: Vec::new(),
            remove: Vec::new(),
            requested: old.requested.clone(),
        };
        for p in &old.packs {
            if !force && present.contains(&p.pack_ref) {
                plan.keep.push(p.clone());
                continue;
            }
            plan.install.push(Install {
                pack_ref: p.pack_ref.clone(),
                version: p.version.clone(),
                registry: p.registry.clone(),
                signed: p.signed.clone(),
                dependencies: p.dependencies.clone(),
                yanked: p.yanked,
                sources: vec![Source::from_locked(&p.source)],
                expect_tree: Some(p.tree),
                staged: None,
                replaces: Some(p.clone()),
            });
        }
        plan
    }

    /// The plan of `knap uninstall`: the targets, and every pack that only
    /// they made needed, are removed; a target that a remaining pack needs
    /// is refused unless `force` (then [`Uninstall::left_without`] names
    /// who is left without it).
    pub fn uninstall(
        old: &Lockfile,
        targets: &BTreeSet<PackRef>,
        force: bool,
    ) -> Result<Uninstall, StillNeeded> {
        // What stays needed: the remaining requests and what they reach,
        // never through a pack being removed.
        let roots = || {
            old.requested
                .keys()
                .filter(|r| !targets.contains(*r))
                .cloned()
                .collect::<Vec<_>>()
        };
        let before = reachable(old, old.requested.keys().cloned(), &BTreeSet::new());
        let after = reachable(old, roots(), targets);
        let still_needed = reachable(old, roots(), &BTreeSet::new());
        let mut needed = Vec::new();
        for t in targets.iter().filter(|t| still_needed.contains(*t)) {
            for e in dependents(old, t, &still_needed) {
                if !targets.contains(&e.from) {
                    needed.push(Needed {
                        target: t.clone(),
                        version: old.get(&e.from).map(|p| p.version.clone()),
                        needs: e.dependency_text(),
                        by: e.from,
                    });
                }
            }
        }
        if !needed.is_empty() && !force {
            return Err(StillNeeded { needed });
        }
        let mut remove: Vec<PackRef> = old
            .packs
            .iter()
            .map(|p| p.pack_ref.clone())
            .filter(|r| targets.contains(r) || (before.contains(r) && !after.contains(r)))
            .collect();
        remove.sort();
        let mut requested = old.requested.clone();
        for t in targets {
            requested.remove(t);
        }
        let keep = old
            .packs
            .iter()
            .filter(|p| !remove.contains(&p.pack_ref))
            .cloned()
            .collect();
        Ok(Uninstall {
            plan: Plan {
                install: Vec::new(),
                keep,
                remove,
                requested,
            },
            targets: targets.clone(),
            left_without: needed,
        })
    }

    /// True when the plan changes no pack (the lock may still change).
    pub fn changes_no_pack(&self) -> bool {
        self.install.is_empty() && self.remove.is_empty()
    }

    /// How the lock would change, provenance included: the requested map,
    /// a pack added or removed, and for each pack fetched its version, its
    /// registry and whether one of its sources is the locked one (with the
    /// same URL and checksum). Empty when the lock stays as it is.
    pub fn changes_lock(&self, old: Option<&Lockfile>) -> Vec<LockChange> {
        let mut changes = Vec::new();
        if old.is_none_or(|l| l.requested != self.requested) {
            changes.push(LockChange::Requested);
        }
        changes.extend(self.remove.iter().cloned().map(LockChange::Removed));
        for i in &self.install {
            if let Some(pack) = &i.staged {
                // Reinstalled (its directory gone, or `--force`) but the
                // same pack from the same place: the lock stays as it is.
                let same = old
                    .and_then(|l| l.get(&i.pack_ref))
                    .is_some_and(|p| same_direct_pack(p, pack));
                if !same {
                    changes.push(LockChange::NewDirectSource(i.pack_ref.clone()));
                }
                continue;
            }
            let Some(p) = old.and_then(|l| l.get(&i.pack_ref)) else {
                changes.push(LockChange::Added(i.pack_ref.clone()));
                continue;
            };
            if p.version != i.version {
                changes.push(LockChange::Version {
                    pack_ref: i.pack_ref.clone(),
                    from: p.version.clone(),
                    to: i.version.clone(),
                });
            } else if p.registry != i.registry {
                changes.push(LockChange::Registry {
                    pack_ref: i.pack_ref.clone(),
                    from: p.registry.clone(),
                    to: i.registry.clone(),
                });
            } else if !i
                .sources
                .iter()
                .any(|s| s.locked().as_ref() == Some(&p.source))
            {
                changes.push(LockChange::Source {
                    pack_ref: i.pack_ref.clone(),
                    locked: Source::from_locked(&p.source).to_string(),
                });
            }
        }
        changes
    }

    /// For `--locked`: refuses any change to the lock, else fetches every
    /// pack from its locked source only, so that the lock stays as it is.
    pub fn locked(mut self, old: Option<&Lockfile>) -> Result<Plan, LockWouldChange> {
        let changes = self.changes_lock(old);
        if !changes.is_empty() {
            return Err(LockWouldChange { changes });
        }
        for i in &mut self.install {
            if let Some(p) = old.and_then(|l| l.get(&i.pack_ref))
                && let Some(s) = i
                    .sources
                    .iter()
                    .find(|s| s.locked().as_ref() == Some(&p.source))
            {
                i.sources = vec![s.clone()];
            }
        }
        Ok(self)
    }

    /// The lock the commit writes: the kept packs and the `fetched` ones
    /// (what each install produced), sorted by ref, with the plan's
    /// `requested` map.
    pub fn new_lock(&self, old: Option<&Lockfile>, fetched: &[LockedPack]) -> Lockfile {
        let mut packs = self.keep.clone();
        packs.extend(fetched.iter().cloned());
        packs.sort_by(|a, b| a.pack_ref.cmp(&b.pack_ref));
        Lockfile {
            requested: self.requested.clone(),
            packs,
            ..old.cloned().unwrap_or_default()
        }
    }
}

/// The plan of an uninstall, with who `--force` leaves without a pack.
#[derive(Debug, Clone, PartialEq)]
pub struct Uninstall {
    pub plan: Plan,
    /// The packs named to be removed.
    pub targets: BTreeSet<PackRef>,
    pub left_without: Vec<Needed>,
}

/// A pack being removed that a remaining pack needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Needed {
    /// The pack being removed.
    #[serde(skip)]
    pub target: PackRef,
    /// The remaining pack that needs it.
    #[serde(rename = "ref")]
    pub by: PackRef,
    #[serde(skip)]
    pub version: Option<semver::Version>,
    /// Its dependency as the lock records it (`REF` or `REF@REQ`).
    pub needs: String,
}

impl fmt::Display for Needed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self
            .version
            .as_ref()
            .map_or_else(|| "?".to_owned(), ToString::to_string);
        write!(
            f,
            "`{}` is needed by {} {v} ({})",
            self.target, self.by, self.needs
        )
    }
}

/// An uninstall refused because remaining packs need a target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "refusing to uninstall: {}; uninstall those packs too, or pass --force to remove it anyway (they will be left without it)",
    .needed.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
)]
pub struct StillNeeded {
    pub needed: Vec<Needed>,
}

impl StillNeeded {
    /// Refused as asked (exit 3).
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::NotFound
    }
}

/// Whether the lock's `locked` entry is the direct pack `staged`: no
/// registry, and the same version, tree and source.
fn same_direct_pack(locked: &LockedPack, staged: &LockedPack) -> bool {
    locked.registry.is_none()
        && locked.version == staged.version
        && locked.tree == staged.tree
        && locked.source == staged.source
}
