//! `knap info REF[@REQ]`: every version of a ref with its sources and
//! dependencies, which registry provides it and which ones it shadows.
//!
//! It also looks up the packs those versions depend on directly (so on a
//! sparse registry it fetches `packs/REF.json` and the files of its direct
//! dependencies, and nothing else; a whole index reads the same files from
//! its per-ref cache) and says who provides each. Their own dependencies
//! are `knap info DEP`'s business.

use std::collections::BTreeSet;
use std::fmt;

use knap_schema::index::{Contents, Entry, InstallSource};
use knap_schema::urls::RegistryLocation;
use knap_schema::{Dependency, Requirement};
use serde::Serialize;
use serde_json::{Map, Value};

use super::Ctx;
use crate::output::Style;
use knap_registry::index_set::{IndexSet, dependency_refs, suggest};
use knap_schema::KnapError;

pub async fn run(ctx: &Ctx, spec: &str, pin: Option<&str>) -> anyhow::Result<()> {
    let dep = match Dependency::parse(spec) {
        Ok(dep) => dep,
        Err(e) => {
            // A pack name with a capital or a typo (`PingCheck`) gets the
            // refs it may have meant, as `knap install` gives them.
            let name = spec.split_once('@').map_or(spec, |(r, _)| r);
            let near = suggest::near_refs(&ctx.config, &ctx.env, name).await;
            let hint = suggest::did_you_mean(&near)
                .unwrap_or_else(|| "write REF or REF@REQ, e.g. slack@^1.2".to_owned());
            return Err(KnapError::usage(e.of_command_line()).with_hint(hint).into());
        }
    };
    let req_given = spec.contains('@');
    let set = IndexSet::open(&ctx.config, &ctx.env, pin)?;
    let found = set.lookup(&[dep.pack.to_string()]).await?;
    let Some(p) = found.get(dep.pack.as_str()) else {
        let outside = match pin {
            Some(_) => suggest::provider_outside(&ctx.config, &ctx.env, &dep.pack).await,
            None => None,
        };
        let hint = match (pin, outside) {
            (Some(pin), Some(other)) => format!(
                "`--registry {pin}` hides it: registry `{other}` provides `{}`",
                dep.pack
            ),
            _ => {
                match suggest::did_you_mean(
                    &suggest::near_refs(&ctx.config, &ctx.env, &dep.pack).await,
                ) {
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
    let location = ctx
        .config
        .registries
        .iter()
        .find(|r| r.name == p.registry)
        .and_then(|r| RegistryLocation::parse(&r.url, r.allow_http).ok());
    let signed = set
        .registries
        .iter()
        .find(|r| r.name == p.registry)
        .and_then(|r| r.provenance())
        .map(|pr| Signed {
            root_key_ids: pr.root_key_ids,
            targets_version: pr.targets_version,
        });
    let about = about_version(&p.entries, &dep.req)
        .and_then(|top| p.entries.iter().position(|e| std::ptr::eq(e, top)));
    let versions = p
        .entries
        .iter()
        .map(|e| VersionInfo::of(e, &dep.req, location.as_ref(), &provider_of))
        .collect();
    ctx.print(&InfoReport {
        pack_ref: dep.pack.to_string(),
        registry: p.registry.clone(),
        priority: p.priority,
        shadows: p.shadows.clone(),
        versions,
        signed,
        about,
        req_given,
    });
    Ok(())
}

/// What `knap info` says about a ref.
#[derive(Debug, Serialize)]
pub struct InfoReport {
    #[serde(rename = "ref")]
    pack_ref: String,
    /// The registry that provides it.
    registry: String,
    priority: i64,
    /// Lower-priority registries that also list it.
    shadows: Vec<String>,
    /// Every version, in index order.
    versions: Vec<VersionInfo>,
    /// What the registry's signed metadata was verified with; `null` when
    /// it is not signed.
    signed: Option<Signed>,
    /// The version the pack is described by (see [`about_version`]).
    #[serde(skip)]
    about: Option<usize>,
    /// A requirement was given: matching versions are marked.
    #[serde(skip)]
    req_given: bool,
}

#[derive(Debug, Serialize)]
struct Signed {
    root_key_ids: Vec<String>,
    targets_version: u64,
}

/// One version of the ref.
#[derive(Debug, Serialize)]
struct VersionInfo {
    version: semver::Version,
    yanked: bool,
    /// It matches the requirement given (every version without one).
    matches: bool,
    description: String,
    label: String,
    author: String,
    email: Option<String>,
    license: String,
    homepage: Option<String>,
    repository: Option<String>,
    keywords: Vec<String>,
    contents: Contents,
    install_sources: Vec<InstallSource>,
    dependencies: Vec<DependencyInfo>,
    /// The `*_version` requirements.
    requires: Option<Map<String, Value>>,
    runtime_deps: Vec<String>,
    /// Per source: a relative URL in a git registry (nothing serves it).
    #[serde(skip)]
    unfetchable: Vec<bool>,
}

/// A pack dependency and the registry that provides it.
#[derive(Debug, Serialize)]
struct DependencyInfo {
    spec: String,
    /// `null` when no registry lists it (or the spec is invalid).
    registry: Option<String>,
    #[serde(skip)]
    valid: bool,
}

impl VersionInfo {
    fn of(
        e: &Entry,
        req: &Requirement,
        location: Option<&RegistryLocation>,
        provider_of: &dyn Fn(&str) -> Option<String>,
    ) -> Self {
        let dependencies = e
            .dependencies
            .iter()
            .flat_map(|d| d.packs.iter())
            .map(|s| {
                let r = Dependency::parse(s).ok().map(|d| d.pack);
                DependencyInfo {
                    spec: s.clone(),
                    registry: r.as_deref().and_then(provider_of),
                    valid: r.is_some(),
                }
            })
            .collect();
        Self {
            version: e.version.clone(),
            yanked: e.yanked,
            matches: req.matches(&e.version),
            description: e.description.clone(),
            label: e.label.clone(),
            author: e.author.clone(),
            email: e.email.clone(),
            license: e.license.clone(),
            homepage: e.homepage.clone(),
            repository: e.repository.clone(),
            keywords: e.keywords.clone(),
            contents: e.contents.clone(),
            install_sources: e.install_sources.clone(),
            dependencies,
            requires: e.dependencies.as_ref().map(|d| d.versions.clone()),
            runtime_deps: e.runtime_deps.clone(),
            unfetchable: e
                .install_sources
                .iter()
                .map(|src| location.is_some_and(|l| l.cannot_fetch(src.url())))
                .collect(),
        }
    }
}

/// Every field of an index entry is text from outside knap: shown through
/// the one escaping function.
impl fmt::Display for InfoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let esc = knap_schema::text::escape;
        let s = Style::of(f);
        let mut shadow = String::new();
        if !self.shadows.is_empty() {
            shadow = format!("; shadows {}", self.shadows.join(", "));
        }
        let signed = match &self.signed {
            Some(pr) => format!(
                "; signed (TUF targets version {}, root keys {})",
                pr.targets_version,
                pr.root_key_ids
                    .iter()
                    .map(|k| short_key(k))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => "; unsigned".to_string(),
        };
        writeln!(
            f,
            "{} — provided by registry `{}` (priority {}{shadow}{signed})",
            s.bold(&self.pack_ref),
            self.registry,
            self.priority
        )?;
        // Who made it and what it holds, from the newest version that
        // matches (the newest not yanked without a requirement).
        if let Some(top) = self.about.map(|i| &self.versions[i]) {
            let author = match &top.email {
                Some(m) => format!("{} <{}>", esc(&top.author), esc(m)),
                None => esc(&top.author).into_owned(),
            };
            writeln!(f, "  {}: {}", s.dim("label"), esc(&top.label))?;
            writeln!(f, "  {}: {author}", s.dim("author"))?;
            writeln!(f, "  {}: {}", s.dim("license"), esc(&top.license))?;
            if let Some(h) = &top.homepage {
                writeln!(f, "  {}: {}", s.dim("homepage"), esc(h))?;
            }
            if let Some(r) = &top.repository {
                writeln!(f, "  {}: {}", s.dim("repository"), esc(r))?;
            }
            if !top.keywords.is_empty() {
                let keywords: Vec<_> = top.keywords.iter().map(|k| esc(k)).collect();
                writeln!(f, "  {}: {}", s.dim("keywords"), keywords.join(", "))?;
            }
            let groups = content_groups(&top.contents);
            if groups.is_empty() {
                writeln!(f, "  {} of {}: none listed", s.dim("contents"), top.version)?;
            } else {
                writeln!(f, "  {} of {}:", s.dim("contents"), top.version)?;
                for (kind, names) in groups {
                    let names: Vec<_> = names.iter().map(|n| esc(n)).collect();
                    writeln!(f, "    {kind}: {}", names.join(", "))?;
                }
            }
        }
        writeln!(f, "  {}:", s.dim("versions"))?;
        for e in &self.versions {
            let mut flags = Vec::new();
            if e.yanked {
                flags.push(s.yellow("yanked"));
            }
            if self.req_given && e.matches {
                flags.push(s.green("matches"));
            }
            let flags = if flags.is_empty() {
                String::new()
            } else {
                format!("  [{}]", flags.join(", "))
            };
            writeln!(
                f,
                "  {}{flags}  {}",
                s.bold(&e.version.to_string()),
                esc(&e.description)
            )?;
            for (src, unfetchable) in e.install_sources.iter().zip(&e.unfetchable) {
                let line = match src {
                    InstallSource::Git(g) => {
                        format!("git {} @ {} ({})", esc(&g.url), g.git_ref, g.checksum)
                    }
                    InstallSource::Archive(a) => {
                        format!("archive {} ({})", esc(&a.url), a.checksum)
                    }
                };
                let mark = if *unfetchable {
                    s.yellow(
                        " [a relative URL in a git registry: nothing serves it, so install fails]",
                    )
                } else {
                    String::new()
                };
                writeln!(f, "    source: {line}{mark}")?;
            }
            for d in &e.dependencies {
                let who = match (&d.registry, d.valid) {
                    (Some(r), _) => format!("from `{r}`"),
                    (None, true) => s.red("not found in any registry"),
                    (None, false) => s.red("invalid"),
                };
                writeln!(f, "    depends on: {} ({who})", esc(&d.spec))?;
            }
            for (k, v) in e.requires.iter().flatten() {
                writeln!(
                    f,
                    "    requires: {} {}",
                    esc(k),
                    esc(v.as_str().unwrap_or(&v.to_string()))
                )?;
            }
            if !e.runtime_deps.is_empty() {
                let deps: Vec<_> = e.runtime_deps.iter().map(|d| esc(d)).collect();
                writeln!(f, "    runtime: {}", deps.join(", "))?;
            }
        }
        Ok(())
    }
}

/// A root key id as the text shows it: its first 12 characters.
fn short_key(k: &str) -> &str {
    match k.char_indices().nth(12) {
        Some((i, _)) => &k[..i],
        None => k,
    }
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
fn content_groups(c: &Contents) -> Vec<(String, Vec<&str>)> {
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
