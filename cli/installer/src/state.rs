//! The installed state as `knap.lock` records it: the dependency graph
//! between installed packs (edges, dependents, what the requests reach),
//! which refs are installed, and where each pack came from, for the
//! commands that inspect or shrink a root (`list`, `uninstall`, `upgrade`,
//! `verify`). Pure functions of a [`Lockfile`]; nothing here reads the disk.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use knap_schema::ErrorKind;
use knap_schema::PackRef;
use knap_schema::lock::{LockedPack, LockedSource, Lockfile};

/// Refs named on a command line that the root does not have installed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{} {} not installed in {} (see `knap list`)",
    quoted(.names),
    if .names.len() == 1 { "is" } else { "are" },
    .root.display()
)]
pub struct NotInstalled {
    /// The names as given, in order.
    pub names: Vec<String>,
    pub root: PathBuf,
}

impl NotInstalled {
    /// Not found (exit 3).
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::NotFound
    }
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The refs named on a command line, each of which must be installed (an
/// invalid name is not installed either).
pub fn installed_refs(
    lock: &Lockfile,
    names: &[String],
    root: &Path,
) -> Result<Vec<PackRef>, NotInstalled> {
    let missing: Vec<String> = names
        .iter()
        .filter(|n| lock.get(n).is_none())
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(NotInstalled {
            names: missing,
            root: root.to_owned(),
        });
    }
    Ok(names
        .iter()
        .filter_map(|n| lock.get(n).map(|p| p.pack_ref.clone()))
        .collect())
}

/// One edge of the installed dependency graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The pack that depends.
    pub from: PackRef,
    /// The pack depended on.
    pub to: PackRef,
    /// The requirement, `*` for any version.
    pub req: String,
}

impl Edge {
    /// The dependency as the lock records it (`REF` or `REF@REQ`).
    pub fn dependency_text(&self) -> String {
        if self.req == "*" {
            self.to.to_string()
        } else {
            format!("{}@{}", self.to, self.req)
        }
    }
}

/// Every dependency the lock records, as edges.
pub fn edges(lock: &Lockfile) -> Vec<Edge> {
    lock.packs
        .iter()
        .flat_map(|p| {
            p.dependencies.iter().map(|d| Edge {
                from: p.pack_ref.clone(),
                to: d.pack.clone(),
                req: d.req.to_string(),
            })
        })
        .collect()
}

/// The packs reachable from `roots` through the recorded dependencies,
/// never entering `skip`.
pub fn reachable(
    lock: &Lockfile,
    roots: impl IntoIterator<Item = PackRef>,
    skip: &BTreeSet<PackRef>,
) -> BTreeSet<PackRef> {
    let mut by_from: BTreeMap<&PackRef, Vec<&PackRef>> = BTreeMap::new();
    let all = edges(lock);
    for e in &all {
        by_from.entry(&e.from).or_default().push(&e.to);
    }
    let mut seen = BTreeSet::new();
    let mut stack: Vec<PackRef> = roots.into_iter().filter(|r| !skip.contains(r)).collect();
    while let Some(r) = stack.pop() {
        if lock.get(&r).is_none() || !seen.insert(r.clone()) {
            continue;
        }
        for to in by_from.get(&r).into_iter().flatten() {
            if !skip.contains(*to) && !seen.contains(*to) {
                stack.push((*to).clone());
            }
        }
    }
    seen
}

/// Who depends on `pack_ref` among `among`, with what requirement.
pub fn dependents(lock: &Lockfile, pack_ref: &str, among: &BTreeSet<PackRef>) -> Vec<Edge> {
    edges(lock)
        .into_iter()
        .filter(|e| e.to == pack_ref && among.contains(&e.from))
        .collect()
}

/// Where a locked pack came from: its registry's name, or the direct
/// source (`path DIR`, an archive URL, `git URL#COMMIT`).
pub fn origin(p: &LockedPack) -> String {
    match (&p.registry, &p.source) {
        (Some(r), _) => r.clone(),
        (None, LockedSource::Path { path }) => format!("path {path}"),
        (None, LockedSource::Archive { url, .. }) => url.clone(),
        (None, LockedSource::Git { url, git_ref, .. }) => format!("git {url}#{git_ref}"),
    }
}

/// [`origin`] short enough for a table column: a URL as its host and the
/// last parts of its path (`github.com/…/repo.git`), a commit as 7 digits.
pub fn short_origin(p: &LockedPack) -> String {
    match (&p.registry, &p.source) {
        (Some(r), _) => r.clone(),
        (None, LockedSource::Path { path }) => format!("path {path}"),
        (None, LockedSource::Archive { url, .. }) => short_url(url),
        (None, LockedSource::Git { url, git_ref, .. }) => {
            let commit: String = git_ref.chars().take(7).collect();
            format!("git {}#{commit}", short_url(url))
        }
    }
}

/// `https://github.com/owner/repo.git` -> `github.com/owner/repo.git`;
/// a longer path keeps its first and last parts (`host/a/…/z`); other
/// schemes keep theirs (`file://…/repo.git`).
fn short_url(url: &str) -> String {
    let Ok(u) = url::Url::parse(url.strip_prefix("git+").unwrap_or(url)) else {
        return url.to_owned();
    };
    let segments: Vec<&str> = u
        .path_segments()
        .map(|s| s.filter(|x| !x.is_empty()).collect())
        .unwrap_or_default();
    let path = match segments.as_slice() {
        [] => String::new(),
        [a] => format!("/{a}"),
        [a, b] if u.scheme() != "file" => format!("/{a}/{b}"),
        [a, .., z] if u.scheme() != "file" => format!("/{a}/…/{z}"),
        [.., z] => format!("/…/{z}"),
    };
    let host = u.host_str().unwrap_or("");
    match u.scheme() {
        "https" => format!("{host}{path}"),
        scheme => format!("{scheme}://{host}{path}"),
    }
}
