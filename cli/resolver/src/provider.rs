//! The PubGrub dependency provider over a [`Candidates`] source, and the
//! [`resolve`] entry point.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

use knap_schema::Dependency;
use pubgrub::{
    Dependencies, DependencyConstraints, DependencyProvider, PackageResolutionStatistics,
    PubGrubError,
};
use semver::Version;

use crate::facts::{Facts, PackVersions, Package as Pkg, Set};
use crate::report;
use crate::{Candidate, Candidates, Options, ResolveError, Resolved};

/// The provider error: the candidate source failed for a ref.
#[derive(Debug)]
pub(crate) struct SourceFailure<E> {
    pack_ref: String,
    source: E,
}

impl<E: std::error::Error> fmt::Display for SourceFailure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot read the versions of `{}`: {}",
            self.pack_ref, self.source
        )
    }
}

impl<E: std::error::Error + 'static> std::error::Error for SourceFailure<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

pub(crate) struct Provider<'a, C: Candidates> {
    source: &'a C,
    roots: &'a [Dependency],
    no_deps: bool,
    /// Locked versions still to be preferred (upgraded refs left out).
    preferred: HashMap<String, Version>,
    versions: RefCell<HashMap<String, Rc<PackVersions>>>,
    /// Each requirement's version set, computed once: (ref, requirement).
    sets: RefCell<HashMap<(String, String), Set>>,
    /// The dependencies of each version asked about.
    deps: RefCell<HashMap<(String, Version), Vec<Dependency>>>,
}

impl<'a, C: Candidates> Provider<'a, C> {
    fn new(source: &'a C, roots: &'a [Dependency], options: &Options) -> Self {
        let mut preferred = HashMap::new();
        if let Some(lock) = &options.lock {
            for p in &lock.packs {
                if options.upgrade.allows(&p.pack_ref) {
                    continue;
                }
                preferred.insert(p.pack_ref.to_string(), p.version.clone());
            }
        }
        Self {
            source,
            roots,
            no_deps: options.no_deps,
            preferred,
            versions: RefCell::default(),
            sets: RefCell::default(),
            deps: RefCell::default(),
        }
    }

    /// What the provider learned, for explaining a failure.
    fn into_facts(self) -> Facts {
        Facts {
            roots: self.roots.to_vec(),
            versions: self
                .versions
                .into_inner()
                .into_iter()
                .map(|(r, v)| (r, Rc::unwrap_or_clone(v)))
                .collect(),
            deps: self.deps.into_inner(),
        }
    }

    /// The versions of a ref, fetched once.
    fn versions(&self, pack_ref: &str) -> Result<Rc<PackVersions>, SourceFailure<C::Error>> {
        if let Some(v) = self.versions.borrow().get(pack_ref) {
            return Ok(v.clone());
        }
        let found = self
            .source
            .versions(pack_ref)
            .map_err(|source| SourceFailure {
                pack_ref: pack_ref.to_owned(),
                source,
            })?;
        let locked = self.preferred.get(pack_ref);
        let mut out = PackVersions {
            unknown: found.is_empty(),
            ..PackVersions::default()
        };
        let mut kept: Vec<Candidate> = Vec::with_capacity(found.len());
        for c in found {
            // A `Candidates` implementation that answers with another ref's
            // versions has a bug of its own (the client's never does): not
            // something to tell the user, so a trace for its developer.
            if c.pack_ref != pack_ref {
                tracing::debug!(
                    "the candidates of {pack_ref} include a version of {}; ignoring it",
                    c.pack_ref
                );
                continue;
            }
            if c.yanked && locked.is_none_or(|l| l.cmp_precedence(&c.version).is_ne()) {
                out.yanked.push(c.version);
                continue;
            }
            kept.push(c);
        }
        // Sorted once (a stable sort: of versions equal by precedence, the
        // first given comes first), then (ref, version) made unique by
        // precedence keeping that first one. What is left is ascending by
        // `Version`'s own order too, which `PackVersions` searches by.
        kept.sort_by(|a, b| a.version.cmp_precedence(&b.version));
        kept.dedup_by(|later, first| later.version.cmp_precedence(&first.version).is_eq());
        out.candidates = kept;
        out.yanked.sort();
        let rc = Rc::new(out);
        self.versions
            .borrow_mut()
            .insert(pack_ref.to_owned(), rc.clone());
        Ok(rc)
    }

    /// Hints the source with the dependencies of the version of `pack_ref`
    /// that [`DependencyProvider::choose_version`] would pick within `set`
    /// (the locked one, else the newest), so that they are fetched before
    /// that version's dependencies are asked for.
    fn look_ahead(&self, pack_ref: &str, pv: &PackVersions, set: &Set) {
        if self.no_deps {
            return;
        }
        let likely = match self.preferred.get(pack_ref) {
            Some(l) if set.contains(l) && pv.get(l).is_some() => pv.get(l),
            _ => pv.matching(set).next_back().and_then(|v| pv.get(v)),
        };
        let Some(candidate) = likely else { return };
        let wanted: Vec<&str> = candidate
            .dependencies
            .iter()
            .map(|d| d.pack.as_str())
            .filter(|r| *r != pack_ref && self.cached(r).is_none())
            .collect();
        if !wanted.is_empty() {
            self.source.prefetch(&wanted);
        }
    }

    /// The version set of `dep`, computed once per ref and requirement.
    fn set_of(&self, pv: &PackVersions, dep: &Dependency) -> Set {
        let key = (dep.pack.to_string(), dep.req.to_string());
        if let Some(set) = self.sets.borrow().get(&key) {
            return set.clone();
        }
        let set = pv.set_of(dep);
        self.sets.borrow_mut().insert(key, set.clone());
        set
    }

    /// The versions of a ref already fetched.
    fn cached(&self, pack_ref: &str) -> Option<Rc<PackVersions>> {
        self.versions.borrow().get(pack_ref).cloned()
    }

    fn constraints(
        &self,
        owner: &Pkg,
        deps: &[Dependency],
    ) -> Result<Dependencies<Pkg, Set, String>, SourceFailure<C::Error>> {
        let mut map: DependencyConstraints<Pkg, Set> = DependencyConstraints::default();
        let is_owner = |dep: &Dependency| matches!(owner, Pkg::Pack(me) if *me == dep.pack);
        // Every dependency's versions are needed now: ask for all of them at
        // once, so that a source that fetches them does so in parallel.
        let wanted: Vec<&str> = deps
            .iter()
            .filter(|d| !is_owner(d) && self.cached(&d.pack).is_none())
            .map(|d| d.pack.as_str())
            .collect();
        if !wanted.is_empty() {
            self.source.prefetch(&wanted);
        }
        for dep in deps {
            if is_owner(dep) {
                // A pack that names itself: harmless if its own version fits.
                continue;
            }
            let pv = self.versions(&dep.pack)?;
            let set = self.set_of(&pv, dep);
            self.look_ahead(&dep.pack, &pv, &set);
            let key = Pkg::Pack(dep.pack.to_string());
            let set = match map.get(&key) {
                Some(prev) => prev.intersection(&set),
                None => set,
            };
            map.insert(key, set);
        }
        Ok(Dependencies::Available(map))
    }
}

impl<C: Candidates> DependencyProvider for Provider<'_, C> {
    type P = Pkg;
    type V = Version;
    type VS = Set;
    type M = String;
    type Priority = (u32, Reverse<usize>);
    type Err = SourceFailure<C::Error>;

    fn prioritize(
        &self,
        package: &Pkg,
        range: &Set,
        stats: &PackageResolutionStatistics,
    ) -> Self::Priority {
        match package {
            Pkg::Root => (u32::MAX, Reverse(0)),
            // Most conflicted first, then the most constrained.
            Pkg::Pack(r) => {
                let n = self.cached(r).map_or(0, |pv| pv.count(range));
                (stats.conflict_count(), Reverse(n))
            }
        }
    }

    fn choose_version(&self, package: &Pkg, range: &Set) -> Result<Option<Version>, Self::Err> {
        let r = match package {
            Pkg::Root => return Ok(Some(root_version())),
            Pkg::Pack(r) => r,
        };
        let pv = self.versions(r)?;
        if let Some(locked) = self.preferred.get(r)
            && range.contains(locked)
            && pv.get(locked).is_some()
        {
            tracing::debug!("keeping locked {r} {locked}");
            return Ok(Some(locked.clone()));
        }
        let newest = pv.matching(range).next_back().cloned();
        tracing::debug!("choosing {r} {newest:?}");
        Ok(newest)
    }

    fn get_dependencies(
        &self,
        package: &Pkg,
        version: &Version,
    ) -> Result<Dependencies<Pkg, Set, String>, Self::Err> {
        let r = match package {
            Pkg::Root => return self.constraints(package, self.roots),
            Pkg::Pack(r) => r,
        };
        if self.no_deps {
            return Ok(Dependencies::Available(DependencyConstraints::default()));
        }
        let pv = self.versions(r)?;
        let Some(candidate) = pv.get(version) else {
            return Ok(Dependencies::Unavailable(
                "its index entry is missing".to_owned(),
            ));
        };
        if let Some(reason) = &candidate.unusable {
            return Ok(Dependencies::Unavailable(reason.clone()));
        }
        let deps = candidate.dependencies.clone();
        for dep in &deps {
            if dep.pack == *r && !dep.req.matches(version) {
                return Ok(Dependencies::Unavailable(format!(
                    "it depends on itself as `{dep}`, which its own version does not satisfy"
                )));
            }
        }
        let out = self.constraints(package, &deps)?;
        self.deps
            .borrow_mut()
            .insert((r.clone(), version.clone()), deps);
        Ok(out)
    }
}

pub(crate) fn root_version() -> Version {
    Version::new(0, 0, 0)
}

/// Resolves `roots` (`REF@REQ` requests) against `source`.
///
/// Returns every pack to install, sorted by ref, each with the dependencies
/// it was resolved with.
pub fn resolve<C: Candidates>(
    source: &C,
    roots: &[Dependency],
    options: &Options,
) -> Result<Vec<Resolved>, ResolveError<C::Error>> {
    let provider = Provider::new(source, roots, options);
    let solution = match pubgrub::resolve(&provider, Pkg::Root, root_version()) {
        Ok(s) => s,
        Err(PubGrubError::NoSolution(tree)) => {
            return Err(report::no_solution(provider.into_facts(), tree));
        }
        Err(PubGrubError::ErrorChoosingVersion { source, .. })
        | Err(PubGrubError::ErrorRetrievingDependencies { source, .. })
        | Err(PubGrubError::ErrorInShouldCancel(source)) => {
            return Err(ResolveError::Candidates {
                pack_ref: source.pack_ref,
                source: source.source,
            });
        }
    };
    let mut out = Vec::new();
    for (pkg, version) in solution {
        let Pkg::Pack(r) = pkg else { continue };
        let pv = provider
            .cached(&r)
            .expect("a chosen pack's versions were fetched");
        let chosen = pv.get(&version).expect("a chosen version is a candidate");
        let dependencies = provider
            .deps
            .borrow()
            .get(&(r.clone(), version.clone()))
            .cloned()
            .unwrap_or_default();
        out.push(Resolved {
            pack_ref: chosen.pack_ref.clone(),
            version: chosen.version.clone(),
            yanked: chosen.yanked,
            dependencies,
        });
    }
    out.sort_by(|a, b| a.pack_ref.cmp(&b.pack_ref));
    Ok(out)
}
