//! `knap info REF[@REQ]`: every version of a ref with its sources and
//! dependencies, which registry provides it and which ones it shadows.
//!
//! It also looks up, transitively, every pack those versions depend on (so
//! on a sparse registry it fetches `packs/REF.json` and the files of its
//! dependencies, and nothing else) and says who provides each.

use knap_schema::index::{Entry, InstallSource};
use knap_schema::{Dependency, Requirement};
use serde_json::{Value, json};

use super::Ctx;
use knap_registry::error::KnapError;
use knap_registry::index_set::{IndexSet, Provided};

pub async fn run(ctx: &Ctx, spec: &str, pin: Option<&str>) -> anyhow::Result<()> {
    let dep = Dependency::parse(spec)
        .map_err(|e| KnapError::usage(format!("{e}; write REF or REF@REQ, e.g. slack@^1.2")))?;
    let req_given = spec.contains('@');
    let set = IndexSet::open(&ctx.config, &ctx.env, pin)?;
    let found = set
        .lookup_with_dependencies(&[dep.pack.to_string()])
        .await?;
    let Some(Some(p)) = found.get(dep.pack.as_str()) else {
        return Err(KnapError::not_found(format!(
            "no registry lists `{}` (searched {}); try `knap search {}` or `knap update`",
            dep.pack,
            set.names().join(", "),
            dep.pack
        ))
        .into());
    };
    let matching: Vec<&Entry> = p
        .entries
        .iter()
        .filter(|e| e.semver().is_some_and(|v| dep.req.matches(&v)))
        .collect();
    if req_given && matching.is_empty() {
        return Err(KnapError::not_found(format!(
            "`{}` has no version matching `{}` in registry `{}`; available: {}",
            dep.pack,
            spec.split_once('@').map(|x| x.1).unwrap_or("*"),
            p.registry,
            p.entries
                .iter()
                .map(|e| e.version.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into());
    }
    let provider_of = |r: &str| -> Option<String> {
        found
            .get(r)
            .and_then(|x| x.as_ref())
            .map(|x| x.registry.clone())
    };
    if ctx.json {
        crate::output::print_json(&info_json(&dep.pack, &dep.req, p, &provider_of));
        return Ok(());
    }
    let s = ctx.style;
    let mut shadow = String::new();
    if !p.shadows.is_empty() {
        shadow = format!("; shadows {}", p.shadows.join(", "));
    }
    ctx.say(&format!(
        "{} — provided by registry `{}` (priority {}{shadow})",
        s.bold(&dep.pack),
        p.registry,
        p.priority
    ));
    for e in &p.entries {
        let m = e.semver().is_some_and(|v| dep.req.matches(&v));
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
            s.bold(&e.version),
            e.description
        ));
        for src in &e.install_sources {
            let line = match src {
                InstallSource::Git(g) => format!("git {} @ {} ({})", g.url, g.git_ref, g.checksum),
                InstallSource::Archive(a) => format!("archive {} ({})", a.url, a.checksum),
            };
            ctx.say(&format!("    source: {line}"));
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
                "matches": e.semver().is_some_and(|v| req.matches(&v)),
                "description": e.description,
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
