//! `knap info REF[@REQ]`: every version of a ref with its sources and
//! dependencies, which registry provides it and which ones it shadows.
//!
//! It also looks up the packs those versions depend on directly (so on a
//! sparse registry it fetches `packs/REF.json` and the files of its direct
//! dependencies, and nothing else; a whole index reads the same files from
//! its per-ref cache) and says who provides each. Their own dependencies
//! are `knap info DEP`'s business.

use std::collections::BTreeSet;

use knap_schema::index::{Entry, InstallSource};
use knap_schema::{Dependency, Requirement};
use serde_json::{Value, json};

use super::Ctx;
use knap_registry::error::KnapError;
use knap_registry::index_set::{IndexSet, Provided, dependency_refs};

pub async fn run(ctx: &Ctx, spec: &str, pin: Option<&str>) -> anyhow::Result<()> {
    let dep = Dependency::parse(spec)
        .map_err(|e| KnapError::usage(format!("{e}; write REF or REF@REQ, e.g. slack@^1.2")))?;
    let req_given = spec.contains('@');
    let set = IndexSet::open(&ctx.config, &ctx.env, pin)?;
    let found = set.lookup(&[dep.pack.to_string()]).await?;
    let Some(p) = found.get(dep.pack.as_str()) else {
        let outside = match pin {
            Some(_) => super::suggest::provider_outside(ctx, &dep.pack).await,
            None => None,
        };
        let hint = match (pin, outside) {
            (Some(pin), Some(other)) => format!(
                "`--registry {pin}` hides it: registry `{other}` provides `{}`",
                dep.pack
            ),
            _ => {
                match super::suggest::did_you_mean(&super::suggest::near_refs(ctx, &dep.pack).await)
                {
                    Some(hint) => hint,
                    None => format!("try `knap search {}` or `knap update`", dep.pack),
                }
            }
        };
        return Err(KnapError::not_found(format!(
            "no registry lists `{}` (searched {}); {hint}",
            dep.pack,
            set.names().join(", "),
        ))
        .into());
    };
    let matching: Vec<&Entry> = p
        .entries
        .iter()
        .filter(|e| dep.req.matches(&e.version))
        .collect();
    if req_given && matching.is_empty() {
        return Err(KnapError::not_found(format!(
            "`{}` has no version matching `{}` in registry `{}`; available: {}",
            dep.pack,
            spec.split_once('@').map(|x| x.1).unwrap_or("*"),
            p.registry,
            p.entries
                .iter()
                .map(|e| e.version.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into());
    }
    let direct: BTreeSet<String> = p
        .entries
        .iter()
        .flat_map(dependency_refs)
        .filter(|r| *r != dep.pack)
        .collect();
    let direct: Vec<String> = direct.into_iter().collect();
    let providers = if direct.is_empty() {
        Default::default()
    } else {
        set.lookup(&direct).await?
    };
    let provider_of = |r: &str| -> Option<String> {
        if r == dep.pack {
            return Some(p.registry.clone());
        }
        providers.get(r).map(|x| x.registry.clone())
    };
    if ctx.json {
        let mut v = info_json(&dep.pack, &dep.req, p, &provider_of);
        v["signed"] = signed_json(&set, &p.registry);
        crate::output::print_json(&v);
        return Ok(());
    }
    let s = ctx.style;
    let registry_url = ctx
        .config
        .registries
        .iter()
        .find(|r| r.name == p.registry)
        .map(|r| r.url.clone())
        .unwrap_or_default();
    let mut shadow = String::new();
    if !p.shadows.is_empty() {
        shadow = format!("; shadows {}", p.shadows.join(", "));
    }
    let signed = match set
        .registries
        .iter()
        .find(|r| r.name == p.registry)
        .and_then(|r| r.provenance())
    {
        Some(pr) => format!(
            "; signed (TUF targets version {}, root keys {})",
            pr.targets_version,
            pr.root_key_ids
                .iter()
                .map(|k| &k[..12.min(k.len())])
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => "; unsigned".to_string(),
    };
    ctx.say(&format!(
        "{} — provided by registry `{}` (priority {}{shadow}{signed})",
        s.bold(&dep.pack),
        p.registry,
        p.priority
    ));
    // Who made it and what it holds, from the newest version that matches
    // (the newest not yanked without a requirement).
    if let Some(top) = about_version(&p.entries, &dep.req) {
        let author = match &top.email {
            Some(m) => format!("{} <{m}>", top.author),
            None => top.author.clone(),
        };
        ctx.say(&format!("  {}: {}", s.dim("label"), top.label));
        ctx.say(&format!("  {}: {author}", s.dim("author")));
        ctx.say(&format!("  {}: {}", s.dim("license"), top.license));
        if let Some(h) = &top.homepage {
            ctx.say(&format!("  {}: {h}", s.dim("homepage")));
        }
        if let Some(r) = &top.repository {
            ctx.say(&format!("  {}: {r}", s.dim("repository")));
        }
        if !top.keywords.is_empty() {
            ctx.say(&format!(
                "  {}: {}",
                s.dim("keywords"),
                top.keywords.join(", ")
            ));
        }
        let groups = content_groups(top);
        if groups.is_empty() {
            ctx.say(&format!(
                "  {} of {}: none listed",
                s.dim("contents"),
                top.version
            ));
        } else {
            ctx.say(&format!("  {} of {}:", s.dim("contents"), top.version));
            for (kind, names) in groups {
                ctx.say(&format!("    {kind}: {}", names.join(", ")));
            }
        }
    }
    ctx.say(&format!("  {}:", s.dim("versions")));
    for e in &p.entries {
        let m = dep.req.matches(&e.version);
        let mut flags = Vec::new();
        if e.yanked {
            flags.push(s.yellow("yanked"));
        }
        if req_given && m {
            flags.push(s.green("matches"));
        }
        let flags = if flags.is_empty() {
            String::new()
        } else {
            format!("  [{}]", flags.join(", "))
        };
        ctx.say(&format!(
            "  {}{flags}  {}",
            s.bold(&e.version.to_string()),
            e.description
        ));
        for src in &e.install_sources {
            let line = match src {
                InstallSource::Git(g) => format!("git {} @ {} ({})", g.url, g.git_ref, g.checksum),
                InstallSource::Archive(a) => format!("archive {} ({})", a.url, a.checksum),
            };
            let mark = if unfetchable_relative(&registry_url, src.url()) {
                s.yellow(" [a relative URL in a git registry: nothing serves it, so install fails]")
            } else {
                String::new()
            };
            ctx.say(&format!("    source: {line}{mark}"));
        }
        if let Some(d) = &e.dependencies {
            for pk in &d.packs {
                let who = Dependency::parse(pk)
                    .ok()
                    .map(|d| match provider_of(&d.pack) {
                        Some(r) => format!("from `{r}`"),
                        None => s.red("not found in any registry"),
                    })
                    .unwrap_or_else(|| s.red("invalid"));
                ctx.say(&format!("    depends on: {pk} ({who})"));
            }
            for (k, v) in &d.versions {
                ctx.say(&format!(
                    "    requires: {k} {}",
                    v.as_str().unwrap_or(&v.to_string())
                ));
            }
        }
        if !e.runtime_deps.is_empty() {
            ctx.say(&format!("    runtime: {}", e.runtime_deps.join(", ")));
        }
    }
    Ok(())
}

/// The version `info` describes the pack by: the newest that matches the
/// requirement and is not yanked, else the newest that matches, else the
/// newest.
fn about_version<'a>(entries: &'a [Entry], req: &Requirement) -> Option<&'a Entry> {
    let matches = |e: &&Entry| req.matches(&e.version);
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    // Index order: newest first.
    sorted.sort_by(|a, b| Entry::index_order(a, b));
    sorted
        .iter()
        .find(|e| matches(e) && !e.yanked)
        .or_else(|| sorted.iter().find(|e| matches(e)))
        .or(sorted.first())
        .copied()
}

/// The components of a version by kind (`2 actions`, then their names);
/// empty kinds left out.
fn content_groups(e: &Entry) -> Vec<(String, Vec<&str>)> {
    let c = &e.contents;
    [
        ("action", "actions", &c.actions),
        ("sensor", "sensors", &c.sensors),
        ("trigger", "triggers", &c.triggers),
        ("rule", "rules", &c.rules),
        ("workflow", "workflows", &c.workflows),
    ]
    .into_iter()
    .filter(|(_, _, items)| !items.is_empty())
    .map(|(one, many, items)| {
        let kind = if items.len() == 1 {
            format!("1 {one}")
        } else {
            format!("{} {many}", items.len())
        };
        (kind, items.iter().map(|i| i.name.as_str()).collect())
    })
    .collect()
}

/// `{"root_key_ids", "targets_version"}` when `registry` is signed, else null.
fn signed_json(set: &IndexSet, registry: &str) -> Value {
    set.registries
        .iter()
        .find(|r| r.name == registry)
        .and_then(|r| r.provenance())
        .map_or(
            Value::Null,
            |p| json!({"root_key_ids": p.root_key_ids, "targets_version": p.targets_version}),
        )
}

fn info_json(
    pack: &str,
    req: &Requirement,
    p: &Provided,
    provider_of: &dyn Fn(&str) -> Option<String>,
) -> Value {
    let versions: Vec<Value> = p
        .entries
        .iter()
        .map(|e| {
            let deps: Vec<Value> = e
                .dependencies
                .iter()
                .flat_map(|d| d.packs.iter())
                .map(|s| {
                    let r = Dependency::parse(s).ok().map(|d| d.pack);
                    json!({"spec": s, "registry": r.as_deref().and_then(provider_of)})
                })
                .collect();
            json!({
                "version": e.version,
                "yanked": e.yanked,
                "matches": req.matches(&e.version),
                "description": e.description,
                "label": e.label,
                "author": e.author,
                "email": e.email,
                "license": e.license,
                "homepage": e.homepage,
                "repository": e.repository,
                "keywords": e.keywords,
                "contents": e.contents,
                "install_sources": e.install_sources,
                "dependencies": deps,
                "requires": e.dependencies.as_ref().map(|d| d.versions.clone()),
                "runtime_deps": e.runtime_deps,
            })
        })
        .collect();
    json!({
        "ref": pack,
        "registry": p.registry,
        "priority": p.priority,
        "shadows": p.shadows,
        "versions": versions,
    })
}

/// A source URL relative to a git registry: a git repository serves no
/// files over HTTP, so such an archive cannot be fetched.
pub fn unfetchable_relative(registry_url: &str, source_url: &str) -> bool {
    registry_url.starts_with("git+")
        && knap_schema::urls::classify_source_url(source_url)
            .is_ok_and(|k| k == knap_schema::urls::SourceUrlKind::Relative)
}
