//! What the commands that inspect or shrink an install root share: opening
//! it (for reading, without creating it), reading `knap.lock`, refreshing
//! the registries before a version comparison, and the dependency graph
//! that `knap.lock` records between installed packs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use knap_installer::{InstallRoot, RootError};
use knap_schema::PackRef;
use knap_schema::lock::{LockedPack, Lockfile};
use knap_schema::progress::Event;

use super::Ctx;
use knap_registry::error::{Kind, KnapError};
use knap_registry::index_set::IndexSet;

/// An install root error with its exit code: integrity (4) for an invalid
/// lock or tree, else other (1).
pub fn root_err(e: RootError) -> anyhow::Error {
    let kind = if e.is_integrity() {
        Kind::Integrity
    } else {
        Kind::Other
    };
    KnapError::new(kind, e.to_string()).into()
}

/// Opens the root for a command that only reads it (recovering an
/// interrupted commit when it can write); `None` when the root does not
/// exist.
pub fn open_for_reading(ctx: &Ctx) -> anyhow::Result<Option<InstallRoot>> {
    let path = ctx.root_dir();
    let reporter = ctx.env.reporter.clone();
    InstallRoot::open_for_reading(&path, |p| {
        reporter.report(Event::WaitingForLock { root: p.to_owned() })
    })
    .map_err(root_err)
}

/// Opens the root to change it (creating it if needed).
pub fn open_for_writing(ctx: &Ctx) -> anyhow::Result<InstallRoot> {
    let path = ctx.root_dir();
    InstallRoot::open_reporting(&path, ctx.env.reporter.clone()).map_err(root_err)
}

/// The root's lock, or an empty one when there is none.
pub fn lock_of(root: Option<&InstallRoot>) -> anyhow::Result<Lockfile> {
    match root {
        None => Ok(Lockfile::default()),
        Some(r) => Ok(r.read_lock().map_err(root_err)?.unwrap_or_default()),
    }
}

/// Exit 3 for each of `refs` that the lock does not list.
pub fn require_installed<'a>(
    lock: &Lockfile,
    refs: impl IntoIterator<Item = &'a PackRef>,
    root: &Path,
) -> anyhow::Result<()> {
    let missing: Vec<&PackRef> = refs.into_iter().filter(|r| lock.get(r).is_none()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = missing.iter().map(|r| format!("`{r}`")).collect();
    Err(KnapError::not_found(format!(
        "{} {} not installed in {} (see `knap list`)",
        names.join(", "),
        if names.len() == 1 { "is" } else { "are" },
        root.display()
    ))
    .into())
}

/// The refs named on a command line, each of which must be installed
/// (exit 3 for one that is not, an invalid name included).
pub fn installed_refs(
    lock: &Lockfile,
    names: &[String],
    root: &Path,
) -> anyhow::Result<Vec<PackRef>> {
    let missing: Vec<String> = names
        .iter()
        .filter(|n| lock.get(n).is_none())
        .map(|n| format!("`{n}`"))
        .collect();
    if !missing.is_empty() {
        return Err(KnapError::not_found(format!(
            "{} {} not installed in {} (see `knap list`)",
            missing.join(", "),
            if missing.len() == 1 { "is" } else { "are" },
            root.display()
        ))
        .into());
    }
    Ok(names
        .iter()
        .filter_map(|n| lock.get(n).map(|p| p.pack_ref.clone()))
        .collect())
}

/// Fetches fresh indices of every registry (unless `--offline`), so that a
/// version comparison sees what was published since the last update. A
/// registry that cannot be refreshed fails the command (exit 5): a stale
/// answer would look like "up to date".
pub async fn refresh(ctx: &Ctx, set: &IndexSet) -> anyhow::Result<()> {
    if ctx.env.offline {
        return Ok(());
    }
    for reg in &set.registries {
        reg.update().await.map_err(|e| {
            let kind = e.kind();
            KnapError::new(
                kind,
                format!("{e}; use --offline to compare against the cached indices"),
            )
        })?;
    }
    Ok(())
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

/// "registry `NAME`" or where a direct install came from.
/// [`origin`] short enough for a table column: a URL as its host and the
/// last parts of its path (`github.com/…/repo.git`), a commit as 7 digits.
pub fn short_origin(p: &LockedPack) -> String {
    match (&p.registry, &p.source) {
        (Some(r), _) => r.clone(),
        (None, knap_schema::lock::LockedSource::Path { path }) => format!("path {path}"),
        (None, knap_schema::lock::LockedSource::Archive { url, .. }) => short_url(url),
        (None, knap_schema::lock::LockedSource::Git { url, git_ref, .. }) => {
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

pub fn origin(p: &LockedPack) -> String {
    match (&p.registry, &p.source) {
        (Some(r), _) => r.clone(),
        (None, knap_schema::lock::LockedSource::Path { path }) => format!("path {path}"),
        (None, knap_schema::lock::LockedSource::Archive { url, .. }) => url.clone(),
        (None, knap_schema::lock::LockedSource::Git { url, git_ref, .. }) => {
            format!("git {url}#{git_ref}")
        }
    }
}
