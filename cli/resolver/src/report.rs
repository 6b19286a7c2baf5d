//! Explaining a failed resolution in plain words.
//!
//! [`NoSolution`] keeps PubGrub's derivation tree (its proof that no
//! solution exists) and what resolution learned about the packs involved.
//! Its `Display` walks the tree with PubGrub's [`DefaultStringReporter`]
//! and our [`ReportFormatter`], which words each step with pack names, the
//! `REF@REQ` strings that packs actually wrote, and the versions that
//! exist. A summary follows: what each pack asks for and the versions
//! available of each, leaving out what the explanation already said. What
//! to do about it is separate: [`NoSolution::hint`].

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;

use pubgrub::{
    DefaultStringReporter, DerivationTree, Derived, External, Map, ReportFormatter, Reporter, Term,
};
use semver::Version;

use crate::ResolveError;
use crate::facts::{Facts, Package as Pkg, Set};

/// PubGrub's derivation tree of a failed resolution.
pub type Derivation = DerivationTree<Pkg, Set, String>;
type Ext = External<Pkg, Set, String>;

/// No set of versions satisfies every requirement (CLI exit code 3).
#[derive(Debug, Clone)]
pub struct NoSolution {
    tree: Derivation,
    facts: Facts,
    /// Every ref that takes part in the conflict, sorted.
    packs: Vec<String>,
}

impl NoSolution {
    /// Every ref that takes part in the conflict, sorted.
    pub fn packs(&self) -> &[String] {
        &self.packs
    }

    /// PubGrub's proof that no solution exists.
    pub fn derivation(&self) -> &Derivation {
        &self.tree
    }

    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        let mut externals = Vec::new();
        collect_externals(&self.tree, &mut externals);
        let yanked_only = externals.iter().any(|e| {
            let External::FromDependencyOf(p, _, Pkg::Pack(d), ds) = e else {
                return false;
            };
            let w = Words::new(&self.facts);
            w.versions_in(d, ds).is_empty() && !w.yanked_in(p, d, ds).is_empty()
        });
        let only_the_request = externals.iter().all(|e| match e {
            External::FromDependencyOf(p, ..) => *p == Pkg::Root,
            _ => true,
        });
        let info = match self.packs.as_slice() {
            [one] => format!("`knap info {one}`"),
            _ => "`knap info REF`".to_owned(),
        };
        Some(if yanked_only {
            format!(
                "ask for a version that is not yanked ({info} lists them), or keep the knap.lock that names the yanked one"
            )
        } else if only_the_request {
            format!("ask for one of the available versions ({info} lists them)")
        } else {
            format!(
                "{info} shows what each version depends on: ask for versions whose requirements meet, or loosen the requirement you gave"
            )
        })
    }

    /// The derivation told in words, one sentence per step.
    pub fn explanation(&self) -> String {
        DefaultStringReporter::report_with_formatter(&self.tree, &Words::new(&self.facts))
    }
}

impl std::error::Error for NoSolution {}

impl fmt::Display for NoSolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words = Words::new(&self.facts);
        let explanation = DefaultStringReporter::report_with_formatter(&self.tree, &words);
        let requested: Vec<String> = self.facts.roots.iter().map(ToString::to_string).collect();
        write!(
            f,
            "no set of versions satisfies every requirement of {}:\n{explanation}",
            requested.join(", ")
        )?;
        let mut externals = Vec::new();
        collect_externals(&self.tree, &mut externals);
        let mut asked: Vec<String> = Vec::new();
        let mut asks: Vec<String> = Vec::new();
        let mut push = |line: String| {
            if !asks.contains(&line) {
                asks.push(line);
            }
        };
        for ext in &externals {
            match ext {
                External::FromDependencyOf(Pkg::Root, _, d, ds) => {
                    let what = words.asks(&Pkg::Root, None, d, ds);
                    if !asked.contains(&what) {
                        asked.push(what);
                    }
                }
                External::FromDependencyOf(p @ Pkg::Pack(r), ps, d, ds) => {
                    for v in words.versions_in(r, ps) {
                        push(format!(
                            "{r} {v} asks for {}",
                            words.asks(p, Some(&v), d, ds)
                        ));
                    }
                }
                External::Custom(p, s, m) => {
                    push(format!("{} cannot be used: {m}", words.describe(p, s)));
                }
                External::NotRoot(..) | External::NoVersions(..) => {}
            }
        }
        asked.sort();
        if !asked.is_empty() {
            asks.insert(0, format!("you asked for {}", and_list(&asked)));
        }
        // Each fact once: what the explanation already says is left out.
        asks.retain(|line| !explanation.contains(line.as_str()));
        if !asks.is_empty() {
            f.write_str("\nWhat each pack asks for:")?;
            for line in &asks {
                write!(f, "\n  {line}")?;
            }
        }
        let told = words.told_available.borrow();
        let untold: Vec<&String> = self.packs.iter().filter(|r| !told.contains(*r)).collect();
        if !untold.is_empty() {
            f.write_str("\nAvailable versions:")?;
            for r in untold {
                write!(f, "\n  {r}: {}", words.available(r))?;
            }
        }
        Ok(())
    }
}

/// Turns PubGrub's proof of failure into a [`ResolveError`]: not found
/// when a ref involved is unknown, else [`NoSolution`].
pub(crate) fn no_solution<E: std::error::Error + 'static>(
    facts: Facts,
    tree: Derivation,
) -> ResolveError<E> {
    let mut packs: BTreeSet<String> = BTreeSet::new();
    for p in tree.packages() {
        if let Pkg::Pack(r) = p {
            packs.insert(r.clone());
        }
    }
    let mut externals = Vec::new();
    collect_externals(&tree, &mut externals);

    // An unknown ref is "not found", not a conflict.
    let words = Words::new(&facts);
    for r in &packs {
        if facts.cached(r).is_some_and(|pv| pv.unknown) {
            let mut required_by = Vec::new();
            for ext in &externals {
                if let External::FromDependencyOf(p, ps, Pkg::Pack(d), _) = ext
                    && d == r
                {
                    required_by.extend(words.parents(p, ps));
                }
            }
            required_by.dedup();
            return ResolveError::NotFound {
                pack_ref: r.clone(),
                required_by,
            };
        }
    }
    drop(words);
    let mut tree = tree;
    fold_gaps(&mut tree, &facts);
    ResolveError::NoSolution(Box::new(NoSolution {
        tree,
        facts,
        packs: packs.into_iter().collect(),
    }))
}

/// Folds each "no version of R fits" fact about a gap between R's versions
/// into the dependency fact it was derived with.
///
/// A version set holds one segment per run of candidates ([`set_of`]), so
/// PubGrub also asks about the versions between two runs and learns that
/// there are none: true, but it says nothing the versions listed don't
/// already say, and worded it reads as if R itself could not be found.
/// Such a fact is folded into its sibling dependency fact as PubGrub's own
/// `collapse_no_versions` folds every one; a fact about a set that holds
/// a candidate, or about a ref no registry knows, is kept.
///
/// [`set_of`]: crate::facts::PackVersions::set_of
fn fold_gaps(tree: &mut Derivation, facts: &Facts) {
    let DerivationTree::Derived(d) = tree else {
        return;
    };
    let is_gap = |t: &Derivation| match t {
        DerivationTree::External(External::NoVersions(Pkg::Pack(r), set)) => facts
            .cached(r)
            .is_some_and(|pv| !pv.unknown && pv.count(set) == 0),
        _ => false,
    };
    let (gap, other) = if is_gap(&d.cause1) {
        (d.cause1.clone(), std::sync::Arc::make_mut(&mut d.cause2))
    } else if is_gap(&d.cause2) {
        (d.cause2.clone(), std::sync::Arc::make_mut(&mut d.cause1))
    } else {
        fold_gaps(std::sync::Arc::make_mut(&mut d.cause1), facts);
        fold_gaps(std::sync::Arc::make_mut(&mut d.cause2), facts);
        return;
    };
    fold_gaps(other, facts);
    let (
        DerivationTree::External(External::NoVersions(package, set)),
        DerivationTree::External(External::FromDependencyOf(p, ps, dep, ds)),
    ) = (&*gap, &*other)
    else {
        return;
    };
    let merged = if p == package {
        External::FromDependencyOf(p.clone(), ps.union(set), dep.clone(), ds.clone())
    } else if dep == package {
        External::FromDependencyOf(p.clone(), ps.clone(), dep.clone(), ds.union(set))
    } else {
        return;
    };
    *tree = DerivationTree::External(merged);
}

fn collect_externals(tree: &Derivation, out: &mut Vec<Ext>) {
    match tree {
        DerivationTree::External(e) => out.push(e.clone()),
        DerivationTree::Derived(d) => {
            collect_externals(&d.cause1, out);
            collect_externals(&d.cause2, out);
        }
    }
}

struct Words<'a> {
    facts: &'a Facts,
    /// The refs whose available versions a sentence has listed.
    told_available: RefCell<BTreeSet<String>>,
}

impl<'a> Words<'a> {
    fn new(facts: &'a Facts) -> Self {
        Self {
            facts,
            told_available: RefCell::default(),
        }
    }

    /// `available(r)`, noted as told.
    fn telling_available(&self, r: &str) -> String {
        self.told_available.borrow_mut().insert(r.to_owned());
        self.available(r)
    }

    /// The candidate versions of `r` in `set`, ascending.
    fn versions_in(&self, r: &str, set: &Set) -> Vec<Version> {
        self.facts
            .cached(r)
            .map(|pv| pv.matching(set).cloned().collect())
            .unwrap_or_default()
    }

    /// `lib 1.0.0`, `lib 1.0.0 or 1.2.0`, `every version of lib`.
    fn describe(&self, p: &Pkg, set: &Set) -> String {
        let r = match p {
            Pkg::Root => return "the request".to_owned(),
            Pkg::Pack(r) => r,
        };
        let Some(pv) = self.facts.cached(r) else {
            return format!("{r} {set}");
        };
        let m = self.versions_in(r, set);
        if m.is_empty() {
            format!("{r} (no available version)")
        } else if m.len() == pv.candidates.len() && m.len() > 1 {
            format!("every version of {r}")
        } else {
            format!("{r} {}", or_list(&m))
        }
    }

    /// Who stands behind a dependency: `the request`, `app 1.0.0`, ...
    fn parents(&self, p: &Pkg, ps: &Set) -> Vec<String> {
        match p {
            Pkg::Root => vec!["the request".to_owned()],
            Pkg::Pack(r) => self
                .versions_in(r, ps)
                .into_iter()
                .map(|v| format!("{r} {v}"))
                .collect(),
        }
    }

    /// What `p` (at `version`, or at any version in the dependency table)
    /// wrote about `d`: `lib@^2`; the version set when unknown.
    fn asks(&self, p: &Pkg, version: Option<&Version>, d: &Pkg, ds: &Set) -> String {
        let Pkg::Pack(dr) = d else {
            return self.describe(d, ds);
        };
        let mut reqs: Vec<String> = Vec::new();
        let mut add = |s: String| {
            if !reqs.contains(&s) {
                reqs.push(s);
            }
        };
        match p {
            Pkg::Root => {
                for dep in self.facts.roots.iter().filter(|x| x.pack == *dr) {
                    add(dep.to_string());
                }
            }
            Pkg::Pack(r) => {
                let deps = &self.facts.deps;
                for ((owner, v), list) in deps.iter() {
                    if owner != r || version.is_some_and(|want| want != v) {
                        continue;
                    }
                    for dep in list.iter().filter(|x| x.pack == *dr) {
                        add(dep.to_string());
                    }
                }
                reqs.sort();
            }
        }
        if reqs.is_empty() {
            self.describe(d, ds)
        } else {
            reqs.join(" and ")
        }
    }

    /// What a ref offers: `1.0.0, 1.2.0, 2.0.0 (yanked: 2.1.0)`.
    fn available(&self, r: &str) -> String {
        let Some(pv) = self.facts.cached(r) else {
            return "not looked up".to_owned();
        };
        let list: Vec<String> = pv
            .candidates
            .iter()
            .map(|c| c.version.to_string())
            .collect();
        let mut s = if list.is_empty() {
            "none".to_owned()
        } else {
            comma_list(list)
        };
        if !pv.yanked.is_empty() {
            let y: Vec<String> = pv.yanked.iter().map(ToString::to_string).collect();
            s.push_str(&format!("; yanked, so not chosen: {}", comma_list(y)));
        }
        s
    }

    /// The yanked versions of `d` that what `p` asks of it would have
    /// taken (`set` holds the candidates only, so the requirements are
    /// asked).
    fn yanked_in(&self, p: &Pkg, d: &str, set: &Set) -> Vec<String> {
        let Some(pv) = self.facts.cached(d) else {
            return Vec::new();
        };
        let mut reqs = Vec::new();
        match p {
            Pkg::Root => reqs.extend(
                self.facts
                    .roots
                    .iter()
                    .filter(|x| x.pack == d)
                    .map(|x| x.req.clone()),
            ),
            Pkg::Pack(r) => {
                let deps = &self.facts.deps;
                for ((owner, _), list) in deps.iter() {
                    if owner == r {
                        reqs.extend(list.iter().filter(|x| x.pack == d).map(|x| x.req.clone()));
                    }
                }
            }
        }
        pv.yanked
            .iter()
            .filter(|v| set.contains(v) || reqs.iter().any(|q| q.matches(v)))
            .map(ToString::to_string)
            .collect()
    }

    /// The `p ps depends on d ds` sentence, for both the root and packs.
    fn dependency_sentence(&self, p: &Pkg, ps: &Set, d: &Pkg, ds: &Set) -> String {
        match p {
            Pkg::Root => format!("you asked for {}", self.asks(p, None, d, ds)),
            Pkg::Pack(r) => {
                let versions = self.versions_in(r, ps);
                // Different versions may word the requirement differently.
                let per_version: BTreeSet<String> = versions
                    .iter()
                    .map(|v| self.asks(p, Some(v), d, ds))
                    .collect();
                if per_version.len() == 1 {
                    format!(
                        "{} depends on {}",
                        self.describe(p, ps),
                        per_version.into_iter().next().unwrap_or_default()
                    )
                } else {
                    versions
                        .iter()
                        .map(|v| format!("{r} {v} depends on {}", self.asks(p, Some(v), d, ds)))
                        .collect::<Vec<_>>()
                        .join(" and ")
                }
            }
        }
    }
}

fn or_list(versions: &[Version]) -> String {
    let (s, total) = elide(versions.iter().map(ToString::to_string).collect());
    let list = match s.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    };
    with_total(list, total)
}

/// The most versions a list names; a longer one (a registry can list
/// thousands) names its first and last few and how many there are.
const LISTED: usize = 10;

/// `items`, its middle replaced by `…` when it is longer than [`LISTED`],
/// and its length then.
fn elide(items: Vec<String>) -> (Vec<String>, Option<usize>) {
    let n = items.len();
    if n <= LISTED {
        return (items, None);
    }
    let mut out = items[..LISTED / 2].to_vec();
    out.push("…".to_owned());
    out.extend_from_slice(&items[n - LISTED / 2..]);
    (out, Some(n))
}

fn with_total(list: String, total: Option<usize>) -> String {
    match total {
        Some(n) => format!("{list} ({n} versions)"),
        None => list,
    }
}

/// `a, b, c`, elided as [`elide`] says.
fn comma_list(items: Vec<String>) -> String {
    let (s, total) = elide(items);
    with_total(s.join(", "), total)
}

impl ReportFormatter<Pkg, Set, String> for Words<'_> {
    type Output = String;

    fn format_external(&self, external: &Ext) -> String {
        match external {
            External::NotRoot(..) => "we are resolving the request".to_owned(),
            External::NoVersions(Pkg::Pack(r), _) => {
                if self.facts.cached(r).is_some_and(|pv| pv.unknown) {
                    format!("no registry provides {r}")
                } else {
                    format!(
                        "no version of {r} fits (available: {})",
                        self.telling_available(r)
                    )
                }
            }
            External::NoVersions(Pkg::Root, _) => "the request cannot be resolved".to_owned(),
            External::FromDependencyOf(p, ps, d, ds) => {
                let mut s = self.dependency_sentence(p, ps, d, ds);
                if let Pkg::Pack(r) = d
                    && self.versions_in(r, ds).is_empty()
                    && self.facts.cached(r).is_some_and(|pv| !pv.unknown)
                {
                    let yanked = self.yanked_in(p, r, ds);
                    if yanked.is_empty() {
                        s.push_str(&format!(
                            ", which no available version of {r} satisfies (available: {})",
                            self.telling_available(r)
                        ));
                    } else {
                        s.push_str(&format!(
                            ", which only the yanked {r} {} satisfies: a yanked version is installed only when knap.lock already names it (available: {})",
                            yanked.join(", "),
                            self.telling_available(r)
                        ));
                    }
                }
                s
            }
            External::Custom(p, s, m) => format!("{} cannot be used: {m}", self.describe(p, s)),
        }
    }

    fn format_terms(&self, terms: &Map<Pkg, Term<Set>>) -> String {
        let mut terms: Vec<(&Pkg, &Term<Set>)> = terms.iter().collect();
        terms.sort_by(|a, b| a.0.cmp(b.0));
        match terms.as_slice() {
            [] | [(Pkg::Root, Term::Positive(_))] => "the request cannot be satisfied".to_owned(),
            [(p, Term::Positive(s))] => format!("{} cannot be installed", self.describe(p, s)),
            [(p, Term::Negative(s))] => format!("{} is required", self.describe(p, s)),
            [(p1, Term::Positive(s1)), (p2, Term::Negative(s2))]
            | [(p2, Term::Negative(s2)), (p1, Term::Positive(s1))] => {
                format!(
                    "{} requires {}",
                    self.describe(p1, s1),
                    self.describe(p2, s2)
                )
            }
            many => {
                let pos: Vec<String> = many
                    .iter()
                    .filter_map(|(p, t)| match t {
                        Term::Positive(s) if **p != Pkg::Root => Some(self.describe(p, s)),
                        _ => None,
                    })
                    .collect();
                let neg: Vec<String> = many
                    .iter()
                    .filter_map(|(p, t)| match t {
                        Term::Negative(s) => Some(self.describe(p, s)),
                        _ => None,
                    })
                    .collect();
                let together = if pos.is_empty() {
                    "the request".to_owned()
                } else {
                    and_list(&pos)
                };
                if neg.is_empty() {
                    format!("{together} cannot be installed together")
                } else {
                    format!("{together} cannot be installed without {}", and_list(&neg))
                }
            }
        }
    }

    fn explain_both_external(&self, e1: &Ext, e2: &Ext, terms: &Map<Pkg, Term<Set>>) -> String {
        format!(
            "Because {} and {}, {}.",
            self.format_external(e1),
            self.format_external(e2),
            self.format_terms(terms)
        )
    }

    fn explain_both_ref(
        &self,
        id1: usize,
        d1: &Derived<Pkg, Set, String>,
        id2: usize,
        d2: &Derived<Pkg, Set, String>,
        terms: &Map<Pkg, Term<Set>>,
    ) -> String {
        format!(
            "Because {} ({id1}) and {} ({id2}), {}.",
            self.format_terms(&d1.terms),
            self.format_terms(&d2.terms),
            self.format_terms(terms)
        )
    }

    fn explain_ref_and_external(
        &self,
        id: usize,
        d: &Derived<Pkg, Set, String>,
        e: &Ext,
        terms: &Map<Pkg, Term<Set>>,
    ) -> String {
        format!(
            "Because {} ({id}) and {}, {}.",
            self.format_terms(&d.terms),
            self.format_external(e),
            self.format_terms(terms)
        )
    }

    fn and_explain_external(&self, e: &Ext, terms: &Map<Pkg, Term<Set>>) -> String {
        format!(
            "And because {}, {}.",
            self.format_external(e),
            self.format_terms(terms)
        )
    }

    fn and_explain_ref(
        &self,
        id: usize,
        d: &Derived<Pkg, Set, String>,
        terms: &Map<Pkg, Term<Set>>,
    ) -> String {
        format!(
            "And because {} ({id}), {}.",
            self.format_terms(&d.terms),
            self.format_terms(terms)
        )
    }

    fn and_explain_prior_and_external(
        &self,
        prior: &Ext,
        e: &Ext,
        terms: &Map<Pkg, Term<Set>>,
    ) -> String {
        format!(
            "And because {} and {}, {}.",
            self.format_external(prior),
            self.format_external(e),
            self.format_terms(terms)
        )
    }
}

fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}
