//! `knap registry add | list | remove | set-priority`: editing the
//! registries of the configuration (no network).

use std::fmt;
use std::path::Path;

use knap_schema::config::{DEFAULT_PRIORITY, RegistryConfig};
use knap_schema::urls::RegistryLocation;
use serde::Serialize;

use super::Ctx;
use crate::output::Style;
use knap_registry::cache::RegistryCache;
use knap_registry::registry::Registry;
use knap_schema::KnapError;

/// The arguments of `registry add`.
pub struct AddArgs {
    pub name: String,
    pub url: String,
    pub priority: Option<i64>,
    pub token_env: Option<String>,
    pub allow_http: bool,
    pub ca_file: Option<std::path::PathBuf>,
    /// Skip reading the registry before adding it.
    pub no_fetch: bool,
    pub root: Option<std::path::PathBuf>,
    pub root_sha256: Option<String>,
}

/// The `tuf_root` pin of `--root FILE` (checked, then copied beside the
/// configuration) or `--root-sha256 HEX`.
fn tuf_pin(ctx: &Ctx, a: &AddArgs) -> Result<Option<String>, KnapError> {
    if let Some(hex) = &a.root_sha256 {
        let hex = hex.to_ascii_lowercase();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(KnapError::usage(format!(
                "--root-sha256 takes the 64 hex digits of sha256(tuf/1.root.json), not `{hex}`"
            )));
        }
        return Ok(Some(format!("sha256:{hex}")));
    }
    let Some(file) = &a.root else {
        return Ok(None);
    };
    let bytes = std::fs::read(file)
        .map_err(|e| KnapError::usage(format!("--root {}: cannot read it: {e}", file.display())))?;
    let info = knap_trust::verify::inspect_root(&bytes).map_err(|e| {
        KnapError::new(
            knap_schema::ErrorKind::Integrity,
            format!("--root {}: {e}", file.display()),
        )
    })?;
    let dir = ctx
        .config_path
        .parent()
        .map(|p| p.join("roots"))
        .unwrap_or_else(|| Path::new("roots").to_path_buf());
    let copy = dir.join(format!("{}.root.json", a.name));
    knap_registry::cache::write_atomic(&copy, &bytes).map_err(|e| {
        KnapError::new(
            knap_schema::ErrorKind::Other,
            format!("cannot copy the root to {}: {e}", copy.display()),
        )
    })?;
    tracing::debug!(
        "pinned root version {} (root key ids {})",
        info.version,
        info.root_key_ids.join(", ")
    );
    Ok(Some(absolute(&copy)?))
}

fn check_name(name: &str) -> Result<(), KnapError> {
    if knap_schema::lock::is_valid_registry_name(name) {
        Ok(())
    } else {
        Err(KnapError::usage(format!(
            "invalid registry name `{name}`: use lowercase letters, digits, '-' and '_' (at most 64)"
        )))
    }
}

fn absolute(p: &Path) -> Result<String, KnapError> {
    std::path::absolute(p)
        .map(|a| a.display().to_string())
        .map_err(|e| KnapError::usage(format!("{}: {e}", p.display())))
}

pub async fn add(ctx: &mut Ctx, a: AddArgs) -> anyhow::Result<()> {
    check_name(&a.name)?;
    if let Some(var) = &a.token_env
        && (var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        return Err(KnapError::usage(format!(
            "--token-env takes the NAME of an environment variable (letters, digits, '_'), not `{var}`"
        ))
        .into());
    }
    let location = RegistryLocation::parse(&a.url, a.allow_http)
        .map_err(|m| KnapError::usage(format!("registry URL refused: {m}")))?;
    // A local path is stored absolute, so the registry works from any directory.
    let url = match &location {
        RegistryLocation::Local(p) if !a.url.starts_with("file:") => absolute(p)?,
        _ => a.url.clone(),
    };
    // Adding what is already there is a no-op, so a quick start can be run
    // twice; the same name for another URL is refused.
    if let Some(have) = ctx.config.registries.iter().find(|r| r.name == a.name) {
        if have.url != url {
            return Err(KnapError::usage(format!(
                "a registry named `{}` already exists with the URL {}; to point it at {url}, run `knap registry remove {}` first, or add this one under another name",
                a.name, have.url, a.name
            ))
            .into());
        }
        let have = have.clone();
        ctx.print(&AddReport {
            registry: RegistryRow::of(ctx, &have),
            unchanged: Some(true),
            outcome: Added::Unchanged {
                other_priority: a.priority.is_some_and(|p| p != have.priority),
            },
        });
        return Ok(());
    }
    let ca_file = match &a.ca_file {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| {
                KnapError::usage(format!("--ca-file {}: cannot read it: {e}", p.display()))
            })?;
            if !text.contains("-----BEGIN CERTIFICATE-----") {
                return Err(KnapError::usage(format!(
                    "--ca-file {}: holds no PEM certificate",
                    p.display()
                ))
                .into());
            }
            Some(absolute(p)?)
        }
        None => None,
    };
    let tuf_root = tuf_pin(ctx, &a)?;
    let reg = RegistryConfig {
        name: a.name.clone(),
        url,
        priority: a.priority.unwrap_or(DEFAULT_PRIORITY),
        token_env: a.token_env,
        allow_http: a.allow_http,
        ca_file,
        tuf_root,
    };
    // Read once before it is added (which also fills the cache), so a
    // registry that cannot be read is refused now, with the reason, rather
    // than failing every later search and install.
    let fetched = if a.no_fetch || ctx.env.offline {
        false
    } else {
        let checked = match Registry::open(&reg, &ctx.env) {
            Ok(r) => r.update().await,
            Err(e) => Err(e),
        };
        if let Err(e) = checked {
            return Err(KnapError::new(
                e.kind(),
                format!(
                    "registry `{}` at {} was not added (fix the URL, or pass --no-fetch to add it anyway and read it later with `knap update {}`)",
                    reg.name, reg.url, reg.name
                ),
            )
            .caused_by(e)
            .into());
        }
        true
    };
    ctx.config.registries.push(reg.clone());
    knap_registry::config::save(&ctx.config_path, &ctx.config)?;
    ctx.print(&AddReport {
        registry: RegistryRow::of(ctx, &reg),
        unchanged: None,
        outcome: Added::New { fetched },
    });
    Ok(())
}

/// One configured registry, as `registry list --json` and `registry add
/// --json` show it.
#[derive(Debug, Serialize)]
pub struct RegistryRow {
    name: String,
    url: String,
    priority: i64,
    token_env: Option<String>,
    allow_http: bool,
    ca_file: Option<String>,
    tuf_root: Option<String>,
    /// Its cache directory exists.
    cached: bool,
}

impl RegistryRow {
    fn of(ctx: &Ctx, r: &RegistryConfig) -> Self {
        let cache = RegistryCache::new(&ctx.env.cache_root, &r.name, &r.url);
        Self {
            name: r.name.clone(),
            url: r.url.clone(),
            priority: r.priority,
            token_env: r.token_env.clone(),
            allow_http: r.allow_http,
            ca_file: r.ca_file.clone(),
            tuf_root: r.tuf_root.clone(),
            cached: cache.dir.exists(),
        }
    }
}

/// What `registry add` did.
#[derive(Debug, Serialize)]
pub struct AddReport {
    #[serde(flatten)]
    registry: RegistryRow,
    /// `true` when it was already configured so (nothing changed).
    #[serde(skip_serializing_if = "Option::is_none")]
    unchanged: Option<bool>,
    #[serde(skip)]
    outcome: Added,
}

#[derive(Debug)]
enum Added {
    /// Added; `fetched`: read once first.
    New { fetched: bool },
    /// Already configured with this URL; `other_priority`: a different
    /// priority was asked for (and not applied).
    Unchanged { other_priority: bool },
}

impl fmt::Display for AddReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.registry;
        match self.outcome {
            Added::Unchanged { other_priority } => {
                write!(
                    f,
                    "registry `{}` is already configured with {}; nothing changed",
                    r.name, r.url
                )?;
                if other_priority {
                    write!(
                        f,
                        " (its priority is {}: change it with `knap registry set-priority {} N`)",
                        r.priority, r.name
                    )?;
                }
                Ok(())
            }
            Added::New { fetched } => {
                let signed = if r.tuf_root.is_some() {
                    ", signed: every update is verified"
                } else {
                    ""
                };
                write!(
                    f,
                    "added registry `{}` ({}, priority {}{signed})",
                    r.name, r.url, r.priority
                )?;
                if !fetched {
                    write!(
                        f,
                        " without reading it; fetch it with `knap update {}`",
                        r.name
                    )?;
                }
                Ok(())
            }
        }
    }
}

/// The configured registries, in priority order.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct ListReport {
    registries: Vec<RegistryRow>,
}

impl fmt::Display for ListReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = Style::of(f);
        if self.registries.is_empty() {
            return f.write_str("no registries; add one with `knap registry add NAME URL`");
        }
        let width = self
            .registries
            .iter()
            .map(|r| r.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        writeln!(
            f,
            "{}",
            s.bold(&format!("{:<width$}  PRIORITY  URL", "NAME"))
        )?;
        for r in &self.registries {
            let mut extra = Vec::new();
            if let Some(t) = &r.token_env {
                extra.push(format!("token from ${t}"));
            }
            if r.allow_http {
                extra.push("http allowed".into());
            }
            if let Some(c) = &r.ca_file {
                extra.push(format!("CA {c}"));
            }
            let extra = if extra.is_empty() {
                String::new()
            } else {
                s.dim(&format!("  ({})", extra.join(", ")))
            };
            writeln!(f, "{:<width$}  {:>8}  {}{extra}", r.name, r.priority, r.url)?;
        }
        Ok(())
    }
}

pub fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let registries = ctx
        .config
        .registries_in_order()
        .into_iter()
        .map(|r| RegistryRow::of(ctx, r))
        .collect();
    ctx.print(&ListReport { registries });
    Ok(())
}

/// What `registry remove` and `registry set-priority` changed.
#[derive(Debug, Serialize)]
pub struct ChangeReport {
    name: String,
    /// Set by `remove`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    removed: bool,
    /// The new priority, set by `set-priority`.
    #[serde(skip_serializing_if = "Option::is_none")]
    priority: Option<i64>,
}

impl fmt::Display for ChangeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.priority {
            Some(p) => write!(f, "registry `{}` now has priority {p}", self.name),
            None => write!(f, "removed registry `{}`", self.name),
        }
    }
}

fn find<'a>(ctx: &'a mut Ctx, name: &str) -> Result<&'a mut RegistryConfig, KnapError> {
    ctx.config
        .registries
        .iter_mut()
        .find(|r| r.name == name)
        .ok_or_else(|| {
            KnapError::not_found(format!(
                "no registry named `{name}`; see `knap registry list`"
            ))
        })
}

pub fn remove(ctx: &mut Ctx, name: &str) -> anyhow::Result<()> {
    let r = find(ctx, name)?.clone();
    ctx.config.registries.retain(|x| x.name != name);
    knap_registry::config::save(&ctx.config_path, &ctx.config)?;
    let cache = RegistryCache::new(&ctx.env.cache_root, &r.name, &r.url);
    if let Err(e) = cache.clear() {
        ctx.warn(&format!(
            "could not remove the cache {}: {e}",
            cache.dir.display()
        ));
    }
    ctx.print(&ChangeReport {
        name: name.to_owned(),
        removed: true,
        priority: None,
    });
    Ok(())
}

pub fn set_priority(ctx: &mut Ctx, name: &str, priority: i64) -> anyhow::Result<()> {
    find(ctx, name)?.priority = priority;
    knap_registry::config::save(&ctx.config_path, &ctx.config)?;
    ctx.print(&ChangeReport {
        name: name.to_owned(),
        removed: false,
        priority: Some(priority),
    });
    Ok(())
}
