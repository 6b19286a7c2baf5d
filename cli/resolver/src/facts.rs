//! What resolution learned about the packs it looked at: the PubGrub
//! package and version-set types, the choosable versions of each ref, and
//! the dependencies of each version asked about. The provider fills it in;
//! a failed resolution keeps it to explain itself.
//!
//! A registry can list thousands of versions of a pack, so nothing here
//! walks them per question: the versions are kept sorted, a requirement
//! becomes a version set of a few segments (one per run of consecutive
//! versions it matches, [`PackVersions::set_of`]), and a set maps to index
//! ranges of the sorted versions by binary search
//! ([`PackVersions::matching`], [`PackVersions::count`]).

use std::collections::HashMap;
use std::fmt;
use std::ops::{Bound, Range};

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
    /// The index ranges of the candidates in each segment of `set`,
    /// ascending: two binary searches per segment.
    fn index_ranges(&self, set: &Set) -> Vec<Range<usize>> {
        set.iter()
            .filter_map(|(lo, hi)| {
                let start = self.candidates.partition_point(|c| below(&c.version, lo));
                let end = self.candidates.partition_point(|c| !above(&c.version, hi));
                (start < end).then_some(start..end)
            })
            .collect()
    }

    /// The candidate versions in `set`, ascending.
    pub(crate) fn matching<'a>(
        &'a self,
        set: &Set,
    ) -> impl DoubleEndedIterator<Item = &'a Version> + 'a {
        self.index_ranges(set)
            .into_iter()
            .flat_map(move |r| self.candidates[r].iter().map(|c| &c.version))
    }

    /// How many candidate versions `set` holds.
    pub(crate) fn count(&self, set: &Set) -> usize {
        self.index_ranges(set)
            .iter()
            .map(ExactSizeIterator::len)
            .sum()
    }

    pub(crate) fn get(&self, v: &Version) -> Option<&Candidate> {
        self.candidates
            .binary_search_by(|c| c.version.cmp(v))
            .ok()
            .map(|i| &self.candidates[i])
    }

    /// The requirement as a version set: the candidates it matches, as one
    /// segment per run of consecutive matching candidates (from the first
    /// to the last of the run, inclusive). A yanked version between two
    /// candidates ends a run, so a set never holds a version that is not
    /// a candidate and that resolution could be asked about. One pass over
    /// the versions, each [`Requirement::matches`] once.
    ///
    /// [`Requirement::matches`]: knap_schema::Requirement::matches
    pub(crate) fn set_of(&self, dep: &Dependency) -> Set {
        let mut segments: Vec<(Bound<Version>, Bound<Version>)> = Vec::new();
        let mut run: Option<(&Version, &Version)> = None;
        let mut close = |run: &mut Option<(&Version, &Version)>| {
            if let Some((first, last)) = run.take() {
                segments.push((
                    Bound::Included(first.clone()),
                    Bound::Included(last.clone()),
                ));
            }
        };
        let mut yanked = self.yanked.iter().peekable();
        for c in &self.candidates {
            while yanked.next_if(|y| **y < c.version).is_some() {
                close(&mut run);
            }
            if dep.req.matches(&c.version) {
                let first = run.map_or(&c.version, |(first, _)| first);
                run = Some((first, &c.version));
            } else {
                close(&mut run);
            }
        }
        close(&mut run);
        segments.into_iter().collect()
    }
}

/// `v` lies below a segment that starts at `lo`.
fn below(v: &Version, lo: &Bound<Version>) -> bool {
    match lo {
        Bound::Included(l) => v < l,
        Bound::Excluded(l) => v <= l,
        Bound::Unbounded => false,
    }
}

/// `v` lies above a segment that ends at `hi`.
fn above(v: &Version, hi: &Bound<Version>) -> bool {
    match hi {
        Bound::Included(h) => v > h,
        Bound::Excluded(h) => v >= h,
        Bound::Unbounded => false,
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

#[cfg(test)]
mod tests {
    use super::*;
    use knap_schema::PackRef;

    fn candidate(v: &str) -> Candidate {
        Candidate {
            pack_ref: PackRef::parse("big").unwrap(),
            version: v.parse().unwrap(),
            dependencies: Vec::new(),
            yanked: false,
            unusable: None,
        }
    }

    /// 0.0.0 ... 9.99.9: 10,000 versions.
    fn ten_thousand() -> PackVersions {
        let mut candidates = Vec::new();
        for major in 0..10 {
            for minor in 0..100 {
                for patch in 0..10 {
                    candidates.push(candidate(&format!("{major}.{minor}.{patch}")));
                }
            }
        }
        PackVersions {
            candidates,
            ..PackVersions::default()
        }
    }

    fn dep(s: &str) -> Dependency {
        Dependency::parse(s).unwrap()
    }

    #[test]
    fn a_requirement_over_thousands_of_versions_is_one_segment_per_run() {
        let pv = ten_thousand();
        let set = pv.set_of(&dep("big@>=3.39.0, <9.60.0"));
        assert_eq!(set.iter().count(), 1, "one run, one segment");
        assert_eq!(pv.count(&set), 10_000 - 3_390 - 400);
        let m: Vec<&Version> = pv.matching(&set).collect();
        assert_eq!(m.len(), pv.count(&set));
        assert_eq!(m[0].to_string(), "3.39.0");
        assert_eq!(pv.matching(&set).next_back().unwrap().to_string(), "9.59.9");
        // Two alternatives: two runs.
        let set = pv.set_of(&dep("big@^1.2 || ~7.5"));
        assert_eq!(set.iter().count(), 2);
        assert_eq!(pv.count(&set), 980 + 10);
        // Intersections stay small and exact.
        let both = pv
            .set_of(&dep("big@>=2"))
            .intersection(&pv.set_of(&dep("big@<2.0.5")));
        let m: Vec<String> = pv.matching(&both).map(ToString::to_string).collect();
        assert_eq!(m, ["2.0.0", "2.0.1", "2.0.2", "2.0.3", "2.0.4"]);
    }

    #[test]
    fn a_run_never_spans_a_yanked_version_or_a_version_that_does_not_match() {
        let mut pv = PackVersions {
            candidates: ["1.0.0", "1.1.0", "1.3.0", "1.4.0-rc.1", "1.5.0"]
                .map(candidate)
                .to_vec(),
            ..PackVersions::default()
        };
        pv.yanked = vec!["1.2.0".parse().unwrap()];
        // ^1 does not match the pre-release 1.4.0-rc.1, and 1.2.0 is yanked.
        let set = pv.set_of(&dep("big@^1"));
        assert_eq!(set.iter().count(), 3, "{set}");
        assert!(!set.contains(&"1.2.0".parse().unwrap()));
        assert!(!set.contains(&"1.4.0-rc.1".parse().unwrap()));
        let m: Vec<String> = pv.matching(&set).map(ToString::to_string).collect();
        assert_eq!(m, ["1.0.0", "1.1.0", "1.3.0", "1.5.0"]);
        assert_eq!(pv.count(&Set::full()), 5);
        assert_eq!(pv.count(&Set::empty()), 0);
    }
}
