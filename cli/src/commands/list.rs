//! `knap list [--tree]`: the packs `knap.lock` says are installed, with
//! where each came from and why it is there (requested, or needed by whom);
//! `--tree` draws the dependency tree from the requested packs down.
//! Reads only the root: no network, no digests (that is `knap verify`).

use std::collections::BTreeSet;

use knap_schema::lock::{LockedPack, Lockfile};
use serde_json::{Value, json};

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
        return tree(ctx, &root_path, &lock);
    }
    let all = edges(&lock);
    let needed_by = |r: &str| -> Vec<&Edge> { all.iter().filter(|e| e.to == r).collect() };
    if ctx.json {
        let packs: Vec<Value> = lock
            .packs
            .iter()
            .map(|p| {
                json!({
                    "ref": p.pack_ref,
                    "version": p.version,
                    "registry": p.registry,
                    "source": p.source,
                    "tree": p.tree,
                    "requested": lock.requested.get(&p.pack_ref),
                    "required_by": needed_by(&p.pack_ref).iter().map(|e| json!({"ref": e.from, "requirement": e.req})).collect::<Vec<_>>(),
                    "dependencies": p.dependencies,
                    "installed_at": p.installed_at,
                    "signed": p.signed,
                    "yanked": p.yanked,
                    "present": p.pack_ref.dir_in(&root_path).is_dir(),
                })
            })
            .collect();
        crate::output::print_json(&json!({"root": root_path, "packs": packs}));
        return Ok(());
    }
    if lock.packs.is_empty() {
        ctx.say(&format!("no packs installed in {}", root_path.display()));
        return Ok(());
    }
    let rows: Vec<[String; 4]> = lock
        .packs
        .iter()
        .map(|p| {
            let why = match lock.requested.get(&p.pack_ref) {
                Some(req) => format!("requested {req}"),
                None => {
                    let by: Vec<String> = needed_by(&p.pack_ref)
                        .iter()
                        .map(|e| e.from.to_string())
                        .collect();
                    if by.is_empty() {
                        "not needed by any pack".into()
                    } else {
                        format!("needed by {}", by.join(", "))
                    }
                }
            };
            let mut version = p.version.to_string();
            if p.yanked {
                version.push_str(" (yanked)");
            }
            let mut why = why;
            if !p.pack_ref.dir_in(&root_path).is_dir() {
                why.push_str("; directory missing: run `knap install`");
            }
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
            [p.pack_ref.to_string(), version, from, why]
        })
        .collect();
    let header = ["REF", "VERSION", "FROM", "WHY"].map(String::from);
    print_table(ctx, &header, &rows);
    Ok(())
}

/// Prints aligned columns (the header in bold).
pub fn print_table<const N: usize>(ctx: &Ctx, header: &[String; N], rows: &[[String; N]]) {
    let mut width = [0usize; N];
    for row in std::iter::once(header).chain(rows) {
        for (i, cell) in row.iter().enumerate() {
            width[i] = width[i].max(cell.chars().count());
        }
    }
    let line = |row: &[String; N]| -> String {
        let mut s = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == N {
                s.push_str(cell);
            } else {
                s.push_str(cell);
                s.push_str(&" ".repeat(width[i] - cell.chars().count() + 2));
            }
        }
        s.trim_end().to_owned()
    };
    ctx.say(&ctx.style.bold(&line(header)));
    for r in rows {
        ctx.say(&line(r));
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

fn tree(ctx: &Ctx, root: &std::path::Path, lock: &Lockfile) -> anyhow::Result<()> {
    let all = edges(lock);
    let roots = tree_roots(lock, &all);
    if ctx.json {
        let mut path = Vec::new();
        let nodes: Vec<Value> = roots
            .iter()
            .map(|(r, req)| node_json(lock, &all, r, req.as_deref(), &mut path))
            .collect();
        crate::output::print_json(&json!({"root": root, "tree": nodes}));
        return Ok(());
    }
    if roots.is_empty() {
        ctx.say(&format!("no packs installed in {}", root.display()));
        return Ok(());
    }
    let mut shown = BTreeSet::new();
    for (r, req) in &roots {
        let mut lines = Vec::new();
        let mut path = Vec::new();
        let why = req.as_ref().map(|q| format!("requested {q}"));
        draw(
            lock,
            &all,
            r,
            why.as_deref(),
            "",
            "",
            &mut path,
            &mut shown,
            &mut lines,
        );
        for l in lines {
            ctx.say(&l);
        }
    }
    Ok(())
}

fn label(p: Option<&LockedPack>, r: &str, req: Option<&str>) -> String {
    let req = req.map(|q| format!(" ({q})")).unwrap_or_default();
    match p {
        Some(p) => format!("{r} {}{req}", p.version),
        None => format!("{r}{req} [not installed]"),
    }
}

#[allow(clippy::too_many_arguments)]
fn draw(
    lock: &Lockfile,
    all: &[Edge],
    r: &str,
    req: Option<&str>,
    first: &str,
    rest: &str,
    path: &mut Vec<String>,
    shown: &mut BTreeSet<String>,
    out: &mut Vec<String>,
) {
    let p = lock.get(r);
    let mut text = format!("{first}{}", label(p, r, req));
    if path.iter().any(|x| x == r) {
        out.push(format!("{text} (cycle)"));
        return;
    }
    let children: Vec<&Edge> = all.iter().filter(|e| e.from == r).collect();
    if !children.is_empty() && !shown.insert(r.to_owned()) {
        // Drawn in full above (`cargo tree` writes `(*)`).
        text.push_str(" (see above)");
        out.push(text);
        return;
    }
    out.push(text);
    path.push(r.to_owned());
    for (i, e) in children.iter().enumerate() {
        let last = i + 1 == children.len();
        let (f, g) = if last {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        draw(
            lock,
            all,
            &e.to,
            Some(&e.req),
            &format!("{rest}{f}"),
            &format!("{rest}{g}"),
            path,
            shown,
            out,
        );
    }
    path.pop();
}

fn node_json(
    lock: &Lockfile,
    all: &[Edge],
    r: &str,
    req: Option<&str>,
    path: &mut Vec<String>,
) -> Value {
    let p = lock.get(r);
    let cycle = path.iter().any(|x| x == r);
    let mut deps = Vec::new();
    if !cycle {
        path.push(r.to_owned());
        for e in all.iter().filter(|e| e.from == r) {
            deps.push(node_json(lock, all, &e.to, Some(&e.req), path));
        }
        path.pop();
    }
    json!({
        "ref": r,
        "version": p.map(|p| &p.version),
        "requirement": req,
        "installed": p.is_some(),
        "cycle": cycle,
        "dependencies": deps,
    })
}
