//! What resolution learned about the packs it looked at: the PubGrub
//! package and version-set types, the choosable versions of each ref, and
//! the dependencies of each version asked about. The provider fills it in;
//! a failed resolution keeps it to explain itself.

use std::collections::HashMap;
use std::fmt;

use knap_schema::Dependency;
use pubgrub::Ranges;
use semver::Version;

use crate::Candidate;

/// A PubGrub package: the virtual root (what the user asked for) or a pack.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Package {
    /// The request itself.
    Root,
    /// A pack, by ref.
    Pack(String),
}

impl fmt::Display for Package {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Package::Root => f.write_str("the request"),
            Package::Pack(r) => f.write_str(r),
        }
    }
}

/// A set of versions of one pack.
pub type Set = Ranges<Version>;

/// The versions of one ref that resolution may choose.
#[derive(Debug, Clone, Default)]
pub(crate) struct PackVersions {
    /// Choosable versions, ascending by version.
    pub candidates: Vec<Candidate>,
    /// Yanked versions left out (for error messages), ascending.
    pub yanked: Vec<Version>,
    /// True when no registry lists the ref at all.
    pub unknown: bool,
}

impl PackVersions {
    pub(crate) fn matching<'a>(
        &'a self,
        set: &'a Set,
    ) -> impl DoubleEndedIterator<Item = &'a Version> + 'a {
        self.candidates
            .iter()
            .map(|c| &c.version)
            .filter(move |v| set.contains(v))
    }

    pub(crate) fn get(&self, v: &Version) -> Option<&Candidate> {
        self.candidates
            .binary_search_by(|c| c.version.cmp(v))
            .ok()
            .map(|i| &self.candidates[i])
    }

    /// The requirement as a version set: the candidates it matches.
    pub(crate) fn set_of(&self, dep: &Dependency) -> Set {
        self.candidates
            .iter()
            .filter(|c| dep.req.matches(&c.version))
            .fold(Set::empty(), |acc, c| {
                acc.union(&Set::singleton(c.version.clone()))
            })
    }
}

/// Everything a failed resolution needs to explain itself.
#[derive(Debug, Clone, Default)]
pub(crate) struct Facts {
    /// What was asked for.
    pub roots: Vec<Dependency>,
    /// The versions of every ref looked up.
    pub versions: HashMap<String, PackVersions>,
    /// The dependencies of each version asked about.
    pub deps: HashMap<(String, Version), Vec<Dependency>>,
}

impl Facts {
    pub(crate) fn cached(&self, pack_ref: &str) -> Option<&PackVersions> {
        self.versions.get(pack_ref)
    }
}
