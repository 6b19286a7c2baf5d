//! `knap list [--tree]`: the packs `knap.lock` says are installed, with
//! where each came from and why it is there (requested, or needed by whom);
//! `--tree` draws the dependency tree from the requested packs down.
//! Reads only the root: no network, no digests (that is `knap verify`).

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;

use knap_schema::lock::{LockedSource, Lockfile, SignedProvenance};
use knap_schema::{Checksum, Dependency, PackRef};
use serde::Serialize;

use super::Ctx;
use super::lock_of;
use knap_installer::state::{Edge, edges};

/// The flags of `knap list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Draw the dependency tree from the requested packs down.
    #[arg(long)]
    pub tree: bool,
}

pub fn run(ctx: &Ctx, args: &ListArgs) -> anyhow::Result<()> {
    let root = ctx.open_for_reading()?;
    let root_path = ctx.root_dir();
    let lock = lock_of(root.as_ref())?;
    if args.tree {
        let all = edges(&lock);
        let mut path = Vec::new();
        let tree = tree_roots(&lock, &all)
            .iter()
            .map(|(r, req)| node(&lock, &all, r, req.as_deref(), &mut path))
            .collect();
        ctx.print(&TreeReport {
            root: root_path,
            tree,
        });
        return Ok(());
    }
    let all = edges(&lock);
    let packs = lock
        .packs
        .iter()
        .map(|p| {
            let required_by: Vec<RequiredBy> = all
                .iter()
                .filter(|e| e.to == p.pack_ref)
                .map(|e| RequiredBy {
                    pack_ref: e.from.clone(),
                    requirement: e.req.clone(),
                })
                .collect();
            // A git or archive URL can be 100 characters: shortened
            // unless -v (--json always has it whole).
            let from = if ctx.verbose > 0 {
                match &p.signed {
                    Some(sp) => format!(
                        "{} [signed: targets v{}, root {}]",
                        knap_installer::state::origin(p),
                        sp.targets_version,
                        sp.root_key_ids
                            .iter()
                            .map(|k| k.get(..12).unwrap_or(k))
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                    None if p.registry.is_some() => {
                        format!("{} [unsigned]", knap_installer::state::origin(p))
                    }
                    None => knap_installer::state::origin(p),
                }
            } else {
                knap_installer::state::short_origin(p)
            };
            PackRow {
                pack_ref: p.pack_ref.clone(),
                version: p.version.clone(),
                registry: p.registry.clone(),
                source: p.source.clone(),
                tree: p.tree,
                requested: lock.requested.get(&p.pack_ref).cloned(),
                required_by,
                dependencies: p.dependencies.clone(),
                installed_at: p.installed_at.clone(),
                signed: p.signed.clone(),
                yanked: p.yanked,
                present: p.pack_ref.dir_in(&root_path).is_dir(),
                from,
            }
        })
        .collect();
    ctx.print(&ListReport {
        root: root_path,
        packs,
    });
    Ok(())
}

/// What `knap list` shows: every installed pack.
#[derive(Debug, Serialize)]
pub struct ListReport {
    root: PathBuf,
    packs: Vec<PackRow>,
}

/// One installed pack, and why it is there.
#[derive(Debug, Serialize)]
struct PackRow {
    #[serde(rename = "ref")]
    pack_ref: PackRef,
    version: semver::Version,
    registry: Option<String>,
    source: LockedSource,
    tree: Checksum,
    /// The requirement it was requested with, if requested.
    requested: Option<String>,
    /// The packs that depend on it.
    required_by: Vec<RequiredBy>,
    dependencies: Vec<Dependency>,
    installed_at: String,
    signed: Option<SignedProvenance>,
    yanked: bool,
    /// Its directory is in the root.
    present: bool,
    /// Where it came from, as the FROM column shows it.
    #[serde(skip)]
    from: String,
}

#[derive(Debug, Serialize)]
struct RequiredBy {
    #[serde(rename = "ref")]
    pack_ref: PackRef,
    requirement: String,
}

impl fmt::Display for ListReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.packs.is_empty() {
            return write!(f, "no packs installed in {}", self.root.display());
        }
        let rows: Vec<[String; 4]> = self
            .packs
            .iter()
            .map(|row| {
                let p = row;
                let mut why = match &row.requested {
                    Some(req) => format!("requested {req}"),
                    None if row.required_by.is_empty() => "not needed by any pack".into(),
                    None => {
                        let by: Vec<String> = row
                            .required_by
                            .iter()
                            .map(|e| e.pack_ref.to_string())
                            .collect();
                        format!("needed by {}", by.join(", "))
                    }
                };
                let mut version = p.version.to_string();
                if p.yanked {
                    version.push_str(" (yanked)");
                }
                if !row.present {
                    why.push_str("; directory missing: run `knap install`");
                }
                [p.pack_ref.to_string(), version, row.from.clone(), why]
            })
            .collect();
        let header = ["REF", "VERSION", "FROM", "WHY"].map(String::from);
        crate::output::table(f, &header, &rows)
    }
}

/// What `knap list --tree` shows: the dependency tree from the requested
/// packs down.
#[derive(Debug, Serialize)]
pub struct TreeReport {
    root: PathBuf,
    tree: Vec<Node>,
}

/// A pack in the tree, with the requirement it is reached by.
#[derive(Debug, Serialize)]
struct Node {
    #[serde(rename = "ref")]
    pack_ref: String,
    version: Option<semver::Version>,
    requirement: Option<String>,
    installed: bool,
    /// It is its own ancestor: its dependencies are not followed again.
    cycle: bool,
    dependencies: Vec<Node>,
}

impl fmt::Display for TreeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.tree.is_empty() {
            return write!(f, "no packs installed in {}", self.root.display());
        }
        let mut shown = BTreeSet::new();
        for n in &self.tree {
            // A root's requirement is what was requested.
            let why = n.requirement.as_ref().map(|q| format!("requested {q}"));
            draw(f, n, why.as_deref(), "", "", &mut shown)?;
        }
        Ok(())
    }
}

/// The roots of the tree: requested packs, then installed packs that no
/// one requested or needs.
fn tree_roots(lock: &Lockfile, all: &[Edge]) -> Vec<(String, Option<String>)> {
    let mut roots: Vec<(String, Option<String>)> = lock
        .requested
        .iter()
        .map(|(r, req)| (r.to_string(), Some(req.clone())))
        .collect();
    for p in &lock.packs {
        if !lock.requested.contains_key(&p.pack_ref) && !all.iter().any(|e| e.to == p.pack_ref) {
            roots.push((p.pack_ref.to_string(), None));
        }
    }
    roots
}

fn label(n: &Node, req: Option<&str>) -> String {
    let req = req.map(|q| format!(" ({q})")).unwrap_or_default();
    match &n.version {
        Some(v) if n.installed => format!("{} {v}{req}", n.pack_ref),
        _ => format!("{}{req} [not installed]", n.pack_ref),
    }
}

/// Draws `n` and, once, its dependencies (a pack drawn in full before is
/// marked `(see above)`, as `cargo tree` writes `(*)`).
fn draw(
    f: &mut fmt::Formatter<'_>,
    n: &Node,
    req: Option<&str>,
    first: &str,
    rest: &str,
    shown: &mut BTreeSet<String>,
) -> fmt::Result {
    let text = format!("{first}{}", label(n, req));
    if n.cycle {
        return writeln!(f, "{text} (cycle)");
    }
    if !n.dependencies.is_empty() && !shown.insert(n.pack_ref.clone()) {
        return writeln!(f, "{text} (see above)");
    }
    writeln!(f, "{text}")?;
    for (i, d) in n.dependencies.iter().enumerate() {
        let last = i + 1 == n.dependencies.len();
        let (a, b) = if last {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        draw(
            f,
            d,
            d.requirement.as_deref(),
            &format!("{rest}{a}"),
            &format!("{rest}{b}"),
            shown,
        )?;
    }
    Ok(())
}

fn node(lock: &Lockfile, all: &[Edge], r: &str, req: Option<&str>, path: &mut Vec<String>) -> Node {
    let p = lock.get(r);
    let cycle = path.iter().any(|x| x == r);
    let mut deps = Vec::new();
    if !cycle {
        path.push(r.to_owned());
        for e in all.iter().filter(|e| e.from == r) {
            deps.push(node(lock, all, &e.to, Some(&e.req), path));
        }
        path.pop();
    }
    Node {
        pack_ref: r.to_owned(),
        version: p.map(|p| p.version.clone()),
        requirement: req.map(str::to_owned),
        installed: p.is_some(),
        cycle,
        dependencies: deps,
    }
}
