//! Dependency resolution for knap: which version of every pack to install.
//!
//! Modelled on uv's `uv-resolver`: the [PubGrub](https://docs.rs/pubgrub)
//! algorithm runs over the versions of each pack that a caller-supplied
//! [`Candidates`] source lists. Registry priority and shadowing are the
//! caller's business: for each ref, the source returns every version from the
//! one registry that provides it.
//!
//! Policy:
//!
//! - the newest version that fits every requirement is chosen;
//! - a version named by the previous `knap.lock` is preferred while it still
//!   fits, unless the ref is being upgraded ([`Upgrade`]);
//! - a yanked version is a candidate only when the previous lock names that
//!   exact version (and the ref is not being upgraded).
//!
//! Requirements become PubGrub version sets exactly: a requirement is the
//! set of the ref's candidate versions that [`Requirement::matches`] accepts,
//! so `||` unions, space-separated AND and SemVer's pre-release rules all mean
//! what `knap_schema::requirement` says they mean.
//!
//! The resolver reads its own input type, [`Candidate`] (a ref, a version,
//! its dependencies, whether it is yanked), not the index's wire format;
//! [`Candidate::from_entry`] maps an index entry to one.
//!
//! When no solution exists, [`NoSolution`] keeps PubGrub's derivation tree
//! and explains the conflict in plain words, listing every pack involved
//! with what it asks for; [`NoSolution::hint`] says what to do.
//!
//! Modules: `facts` (the PubGrub package and version-set types and what
//! resolution learned), `provider` (the PubGrub provider over
//! [`Candidates`]), `report` (the explanation); data flows facts ->
//! provider, facts -> report, provider -> report, never back.
//!
//! [`Requirement::matches`]: knap_schema::Requirement::matches

mod facts;
mod provider;
mod report;

use std::collections::BTreeSet;

use knap_schema::dependency::DependencyError;
use knap_schema::{Dependency, Entry, PackRef, lock::Lockfile};
use semver::Version;

pub use facts::{Package, Set};
pub use provider::resolve;
pub use report::{Derivation, NoSolution};

/// One version of one pack, as resolution sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub pack_ref: PackRef,
    pub version: Version,
    /// The packs this version depends on.
    pub dependencies: Vec<Dependency>,
    /// Never chosen by a fresh resolution; still chosen when the previous
    /// lock names this version.
    pub yanked: bool,
    /// Why this version cannot be used at all (an invalid dependency
    /// string), if so: resolution treats it as unavailable and says why.
    pub unusable: Option<String>,
}

impl Candidate {
    /// The candidate an index entry describes. An entry with an invalid
    /// dependency string (a validated index has none) is [`unusable`].
    ///
    /// [`unusable`]: Candidate::unusable
    pub fn from_entry(e: &Entry) -> Self {
        let parsed: Result<Vec<Dependency>, DependencyError> = e
            .dependencies
            .iter()
            .flat_map(|d| &d.packs)
            .map(|s| Dependency::parse(s))
            .collect();
        let (dependencies, unusable) = match parsed {
            Ok(d) => (d, None),
            Err(err) => (Vec::new(), Some(err.to_string())),
        };
        Self {
            pack_ref: e.pack_ref.clone(),
            version: e.version.clone(),
            dependencies,
            yanked: e.yanked,
            unusable,
        }
    }
}

/// Where the versions of a pack come from. The client implements it over its
/// registries, in priority order: the first registry that lists a ref
/// provides every candidate (later registries are shadowed).
pub trait Candidates {
    /// Why the versions of a ref could not be read (network, cache, ...).
    type Error: std::error::Error + Send + Sync + 'static;

    /// Every version of `pack_ref` (yanked ones included) from the registry
    /// that provides it, in any order; empty when no registry lists it.
    fn versions(&self, pack_ref: &str) -> Result<Vec<Candidate>, Self::Error>;

    /// A hint: [`Candidates::versions`] will soon be asked for these refs.
    /// A source that fetches over the network starts fetching them now, in
    /// parallel, so that the answers are there when resolution needs them.
    /// The resolver hints the dependencies of each version it looks at, and
    /// the dependencies of the version it expects to choose for each of
    /// those (the preferred or newest one that fits), never anything else.
    /// The default ignores the hint.
    fn prefetch(&self, pack_refs: &[&str]) {
        let _ = pack_refs;
    }
}

/// Which locked refs may move to another version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Upgrade {
    /// Keep every locked version that still fits.
    #[default]
    None,
    /// Ignore the lock's versions: choose the newest of everything.
    All,
    /// Ignore the lock's versions for these refs only.
    Packs(BTreeSet<PackRef>),
}

impl Upgrade {
    /// True when the locked version of `pack_ref` need not be kept.
    pub fn allows(&self, pack_ref: &str) -> bool {
        match self {
            Upgrade::None => false,
            Upgrade::All => true,
            Upgrade::Packs(refs) => refs.contains(pack_ref),
        }
    }
}

/// How to resolve.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The root's previous `knap.lock`, if any.
    pub lock: Option<Lockfile>,
    /// Which locked versions may change.
    pub upgrade: Upgrade,
    /// Resolve the requested packs only, not their dependencies (`--no-deps`).
    pub no_deps: bool,
}

/// One pack of a resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub pack_ref: PackRef,
    /// The chosen version.
    pub version: Version,
    /// The chosen version is yanked (only when the previous lock named it).
    pub yanked: bool,
    /// Its pack dependencies as resolved, for the lock's `dependencies`
    /// field. Empty with [`Options::no_deps`].
    pub dependencies: Vec<Dependency>,
}

impl Resolved {
    pub fn pack_ref(&self) -> &str {
        &self.pack_ref
    }
}

/// Why resolution failed.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError<E: std::error::Error + 'static> {
    /// No registry lists the ref (CLI exit code 3).
    #[error(
        "no registry provides a pack named `{pack_ref}`{}; check the name with `knap search`, or refresh the indices with `knap update`",
        required_by_text(.required_by)
    )]
    NotFound {
        pack_ref: String,
        /// Who asks for it: `the request` and/or `PACK VERSION`.
        required_by: Vec<String>,
    },
    /// No set of versions satisfies every requirement (CLI exit code 3).
    #[error(transparent)]
    NoSolution(Box<NoSolution>),
    /// The candidate source failed for a ref.
    #[error("cannot read the versions of `{pack_ref}`")]
    Candidates {
        pack_ref: String,
        #[source]
        source: E,
    },
}

fn required_by_text(by: &[String]) -> String {
    if by.is_empty() {
        String::new()
    } else {
        format!(" (required by {})", by.join(", "))
    }
}
