//! Resolution and planning, the pipeline's middle step: the requests (the
//! lock's plus the new ones) resolved with pubgrub through the lazy view
//! of the registries ([`Lazy`]), each resolved version given its origin
//! (a direct pack staged now, the lock, or its registry's entry with its
//! sources and signed provenance), and the [`Plan`] made against the old
//! lock and the packs on disk.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use knap_installer::plan::{Chosen, Inputs, Origin, Plan};
use knap_registry::index_set::{IndexSet, Provided};
use knap_resolver::ResolveError;
use knap_schema::index::Entry;
use knap_schema::lock::{Lockfile, SignedProvenance};
use knap_schema::progress::Event;
use knap_schema::{Dependency, PackRef, Requirement};
use knap_schema::{ErrorKind as Kind, KnapError};

use super::{InstallError, Pipeline, fetch, present};
use crate::candidates::Lazy;
use crate::sources::direct::{self, StagedDirect};

/// What one resolution gives: the plan, the old lock's versions now yanked,
/// and who provides each ref looked up.
pub(super) type Resolved = (
    Plan,
    BTreeSet<(PackRef, semver::Version)>,
    BTreeMap<PackRef, Arc<Provided>>,
);

impl Pipeline<'_> {
    /// Resolves the requests (the lock's plus the new ones) against `old`
    /// and plans the result.
    pub(super) async fn resolve_and_plan(
        &self,
        old: Option<&Lockfile>,
        by_registry: &[(PackRef, String)],
        staged_direct: &BTreeMap<PackRef, StagedDirect>,
    ) -> Result<Resolved, InstallError> {
        let requested = requested(old, by_registry, staged_direct);
        let roots: Vec<Dependency> = requested
            .iter()
            .map(|(r, req)| Ok(Dependency::new(r.clone(), Requirement::parse(req)?)))
            .collect::<Result<_, knap_schema::requirement::RequirementError>>()
            .map_err(|e| KnapError::usage(format!("knap.lock `requested`: {e}")))?;
        let pinned = pinned(old, by_registry, staged_direct);
        let refs = direct::refs_to_look_up(requested.keys().map(PackRef::as_str), &pinned);
        let set = match &self.registries {
            _ if refs.is_empty() => None,
            Some(set) => Some(set.clone()),
            None => Some(Arc::new(IndexSet::open(
                self.config,
                self.env,
                self.req.registry.as_deref(),
            )?)),
        };
        self.env
            .reporter
            .report(Event::Resolving { packs: roots.len() });
        let options = knap_resolver::Options {
            lock: old.cloned(),
            upgrade: self.req.upgrade.clone(),
            no_deps: self.req.no_deps,
        };
        let signed_set = set.clone();
        let view = Lazy::new(set, pinned.clone(), &options);
        let resolved =
            tokio::task::block_in_place(|| knap_resolver::resolve(&view, &roots, &options))
                .map_err(resolve_error)?;
        // Known once the registries have been read.
        let signed = signed_provenance(signed_set.as_deref());
        let mut chosen = Vec::new();
        for r in &resolved {
            chosen.push(self.choose(&view, r, old, staged_direct, &pinned, &signed)?);
        }
        let present = present(self.root, old);
        let plan = Plan::resolved(
            chosen,
            requested,
            Inputs {
                old,
                present: &present,
                force: self.req.force,
            },
        );
        let providers = view.providers();
        Ok((plan, yanked_now(&view, old), providers))
    }

    /// Where the resolved version of a ref comes from: the direct pack
    /// staged now, the lock (a direct pack installed before), or its
    /// registry's entry with its sources.
    fn choose(
        &self,
        view: &Lazy,
        r: &knap_resolver::Resolved,
        old: Option<&Lockfile>,
        staged_direct: &BTreeMap<PackRef, StagedDirect>,
        pinned: &BTreeMap<String, Entry>,
        signed: &BTreeMap<String, SignedProvenance>,
    ) -> Result<Chosen, KnapError> {
        let other = |m: String| KnapError::new(Kind::Other, m);
        let e = &view.entry(&r.pack_ref, &r.version).ok_or_else(|| {
            other(format!(
                "no index entry for the resolved {} {}",
                r.pack_ref, r.version
            ))
        })?;
        let previous = old.and_then(|l| l.get(&e.pack_ref));
        let (origin, yanked) = if let Some(s) = staged_direct.get(&e.pack_ref) {
            (Origin::Staged(s.pack.clone()), false)
        } else if pinned.contains_key(e.pack_ref.as_str()) {
            (Origin::Locked, previous.is_some_and(|p| p.yanked))
        } else {
            let registry = view
                .provider(&e.pack_ref)
                .map(|p| p.registry.clone())
                .ok_or_else(|| other(format!("no registry recorded for `{}`", e.pack_ref)))?;
            let cfg = self
                .config
                .registries
                .iter()
                .find(|c| c.name == registry)
                .ok_or_else(|| other(format!("registry `{registry}` is not configured")))?;
            (
                Origin::Registry {
                    sources: fetch::entry_sources(cfg, e),
                    signed: signed.get(&registry).cloned(),
                    registry,
                },
                e.yanked,
            )
        };
        Ok(Chosen {
            pack_ref: e.pack_ref.clone(),
            version: e.version.clone(),
            dependencies: r.dependencies.clone(),
            yanked,
            origin,
        })
    }
}

/// What is asked for: the previous requests plus the new specs; a direct
/// pack is asked for at its exact version.
fn requested(
    old: Option<&Lockfile>,
    by_registry: &[(PackRef, String)],
    staged_direct: &BTreeMap<PackRef, StagedDirect>,
) -> BTreeMap<PackRef, String> {
    let mut requested: BTreeMap<PackRef, String> =
        old.map(|l| l.requested.clone()).unwrap_or_default();
    for (r, req) in by_registry {
        requested.insert(r.clone(), req.clone());
    }
    for (r, s) in staged_direct {
        requested.insert(r.clone(), format!("={}", s.pack.version));
    }
    requested
}

/// The refs pinned to one candidate: direct packs named now, and those the
/// lock holds without a registry unless a registry spec now names them.
fn pinned(
    old: Option<&Lockfile>,
    by_registry: &[(PackRef, String)],
    staged_direct: &BTreeMap<PackRef, StagedDirect>,
) -> BTreeMap<String, Entry> {
    let mut pinned: BTreeMap<String, Entry> = BTreeMap::new();
    for p in old.iter().flat_map(|l| l.packs.iter()) {
        if p.registry.is_none() && !by_registry.iter().any(|(r, _)| r == &p.pack_ref) {
            pinned.insert(p.pack_ref.to_string(), direct::entry_of_locked(p));
        }
    }
    for (r, s) in staged_direct {
        pinned.insert(r.to_string(), s.entry.clone());
    }
    pinned
}

/// A resolution failure as an install error (a ref nobody lists is told
/// apart, so that the caller can suggest the refs that may have been meant).
fn resolve_error(e: ResolveError<crate::candidates::LookupFailed>) -> InstallError {
    match e {
        ResolveError::NotFound {
            pack_ref,
            required_by,
        } => InstallError::NotListed {
            pack_ref,
            required_by,
        },
        ResolveError::Candidates { pack_ref, source } => KnapError::new(
            source.kind(),
            format!("cannot read the versions of `{pack_ref}`"),
        )
        .caused_by(source)
        .into(),
        ResolveError::NoSolution(no) => InstallError::NoSolution(no),
    }
}

/// The installed versions their registry now marks yanked, to say why a
/// pack moved down.
fn yanked_now(view: &Lazy, old: Option<&Lockfile>) -> BTreeSet<(PackRef, semver::Version)> {
    old.iter()
        .flat_map(|l| l.packs.iter())
        .filter(|p| {
            view.provider(&p.pack_ref)
                .is_some_and(|x| x.entries.iter().any(|e| e.yanked && e.version == p.version))
        })
        .map(|p| (p.pack_ref.clone(), p.version.clone()))
        .collect()
}

/// What each signed registry's metadata was verified with, for the lock.
fn signed_provenance(set: Option<&IndexSet>) -> BTreeMap<String, SignedProvenance> {
    let mut signed = BTreeMap::new();
    for reg in set.iter().flat_map(|s| s.registries.iter()) {
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
    signed
}
