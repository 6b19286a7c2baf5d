//! `knap registry add | list | remove | set-priority`: editing the
//! registries of the configuration (no network).

use std::fmt;
use std::path::{Path, PathBuf};

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

/// A pin named on the command line: `--root FILE` (checked to be a
/// self-signed root) or `--root-sha256 HEX`.
enum NewPin {
    Sha256(String),
    Root { file: PathBuf, bytes: Vec<u8> },
}

impl NewPin {
    fn of(a: &AddArgs) -> Result<Option<NewPin>, KnapError> {
        if let Some(hex) = &a.root_sha256 {
            let hex = hex.to_ascii_lowercase();
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(KnapError::usage(format!(
                    "--root-sha256 takes the 64 hex digits of sha256(tuf/1.root.json), not `{hex}`"
                )));
            }
            return Ok(Some(NewPin::Sha256(hex)));
        }
        let Some(file) = &a.root else {
            return Ok(None);
        };
        let limit = knap_trust::verify::SizeLimits::default().root;
        let bytes =
            knap_schema::fs::read(file, knap_schema::fs::Links::Follow, limit).map_err(|e| {
                KnapError::usage(format!(
                    "--root {}: cannot read it: {}",
                    file.display(),
                    e.reason()
                ))
            })?;
        let info = knap_trust::verify::inspect_root(&bytes).map_err(|e| {
            KnapError::new(
                knap_schema::ErrorKind::Integrity,
                format!("--root {}: {e}", file.display()),
            )
        })?;
        tracing::debug!(
            "root version {} (root key ids {})",
            info.version,
            info.root_key_ids.join(", ")
        );
        Ok(Some(NewPin::Root {
            file: file.clone(),
            bytes,
        }))
    }

    /// Whether `current` (a configured `tuf_root`) pins exactly this.
    fn same_as(&self, current: Option<&str>) -> bool {
        match (self, current) {
            (NewPin::Sha256(hex), Some(c)) => c.strip_prefix("sha256:") == Some(hex.as_str()),
            (NewPin::Root { bytes, .. }, Some(c)) if !c.starts_with("sha256:") => {
                let limit = knap_trust::verify::SizeLimits::default().root;
                knap_schema::fs::read(Path::new(c), knap_schema::fs::Links::Follow, limit)
                    .is_ok_and(|have| have == *bytes)
            }
            _ => false,
        }
    }

    /// The `tuf_root` value of this pin. A root file is copied beside the
    /// configuration under a name of its own content
    /// (`roots/<registry>-<sha256 prefix>.root.json`), so that a new pin
    /// never overwrites the one in use before it is verified.
    fn store(&self, ctx: &Ctx, name: &str) -> Result<String, KnapError> {
        let bytes = match self {
            NewPin::Sha256(hex) => return Ok(format!("sha256:{hex}")),
            NewPin::Root { bytes, .. } => bytes,
        };
        use sha2::Digest;
        let digest: String = sha2::Sha256::digest(bytes)
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        let copy = roots_dir(ctx).join(format!("{name}-{digest}.root.json"));
        knap_registry::cache::write_atomic(&copy, bytes).map_err(|e| {
            KnapError::new(
                knap_schema::ErrorKind::Other,
                format!("cannot copy the root to {}: {e}", copy.display()),
            )
        })?;
        absolute(&copy)
    }

    /// How the pin is told: the file it was read from, or the sha256.
    fn describe(&self) -> String {
        match self {
            NewPin::Sha256(hex) => format!("sha256 {hex}"),
            NewPin::Root { file, .. } => format!("the root of {}", file.display()),
        }
    }
}

/// Where `--root FILE` copies are kept: `roots/` beside the configuration.
fn roots_dir(ctx: &Ctx) -> PathBuf {
    ctx.config_path
        .parent()
        .map(|p| p.join("roots"))
        .unwrap_or_else(|| Path::new("roots").to_path_buf())
}

/// Removes a root copy of ours that no registry pins any more.
fn forget_copy(ctx: &Ctx, tuf_root: Option<&str>) {
    let Some(path) = tuf_root.map(Path::new) else {
        return;
    };
    let ours = std::path::absolute(roots_dir(ctx)).is_ok_and(|dir| path.starts_with(dir));
    let used = ctx
        .config
        .registries
        .iter()
        .any(|r| r.tuf_root.as_deref().map(Path::new) == Some(path));
    if ours && !used {
        let _ = std::fs::remove_file(path);
    }
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
    // Every flag is checked before anything is compared or changed.
    let ca_file = match &a.ca_file {
        Some(p) => Some(check_ca_file(p)?),
        None => None,
    };
    let pin = NewPin::of(&a)?;
    // The same name for another URL is refused; for the same URL, the flags
    // that differ are applied (and said), so a quick start can be run twice
    // and `--root` pins a registry added without one.
    if let Some(have) = ctx.config.registries.iter().find(|r| r.name == a.name) {
        // A site root added before was stored with `sparse+` when its site
        // has the sparse layout: the same URL.
        if have.url != url && have.url != format!("sparse+{url}") {
            return Err(KnapError::usage(format!(
                "a registry named `{}` already exists with the URL {}; to point it at {url}, run `knap registry remove {}` first, or add this one under another name",
                a.name, have.url, a.name
            ))
            .into());
        }
        let have = have.clone();
        return change(ctx, have, &a, pin, ca_file).await;
    }
    let tuf_root = match &pin {
        Some(p) => Some(p.store(ctx, &a.name)?),
        None => None,
    };
    let mut reg = RegistryConfig {
        name: a.name.clone(),
        url,
        priority: a.priority.unwrap_or(DEFAULT_PRIORITY),
        token_env: a.token_env.clone(),
        allow_http: a.allow_http,
        ca_file,
        tuf_root,
    };
    // Read once before it is added (which also fills the cache), so a
    // registry that cannot be read is refused now, with the reason, rather
    // than failing every later search and install.
    let mut sparse_from = None;
    let fetched = if a.no_fetch || ctx.env.offline {
        false
    } else {
        // A site root whose site has the sparse layout is read as one:
        // its index.json lists the newest version of each pack only.
        let sparse = knap_registry::registry::sparse_site_url(&reg, &ctx.env).await;
        let read = match sparse {
            Ok(Some(sparse)) => {
                sparse_from = Some(std::mem::replace(&mut reg.url, sparse));
                read_once(ctx, &reg).await
            }
            Ok(None) => read_once(ctx, &reg).await,
            Err(e) => Err(e),
        };
        if let Err(e) = read {
            forget_copy(ctx, reg.tuf_root.as_deref());
            if reg.tuf_root.is_some() && is_untrusted(&e) {
                // The registry was read: its metadata does not verify from
                // the root given. The URL is not the problem, and nothing
                // was verified before, so nothing was kept either.
                return Err(KnapError::new(
                    e.kind(),
                    format!(
                        "registry `{}` was not added: the given root ({}) does not match the registry's signed metadata",
                        reg.name,
                        pin_flag(&a)
                    ),
                )
                .with_hint(
                    "pin the root this registry publishes (its tuf/1.root.json, or the one its operator gives you)",
                )
                .caused_by(e)
                .into());
            }
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
        changed: None,
        sparse_from,
        outcome: Added::New { fetched },
    });
    Ok(())
}

/// The absolute path of a `--ca-file` that holds a PEM certificate.
fn check_ca_file(p: &Path) -> Result<String, KnapError> {
    let limit = knap_registry::http::TlsRoots::MAX_CA_FILE_BYTES;
    let text =
        knap_schema::fs::read_to_string(p, knap_schema::fs::Links::Follow, limit).map_err(|e| {
            KnapError::usage(format!(
                "--ca-file {}: cannot read it: {}",
                p.display(),
                e.reason()
            ))
        })?;
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        return Err(KnapError::usage(format!(
            "--ca-file {}: holds no PEM certificate",
            p.display()
        )));
    }
    absolute(p)
}

/// Reads (and for a pinned registry, verifies) `reg` once.
/// Whether a registry was read but its signed metadata was refused.
fn is_untrusted(e: &knap_registry::registry::RegistryError) -> bool {
    matches!(e, knap_registry::registry::RegistryError::Untrusted { .. })
}

/// The pin flag as given: `--root FILE` or `--root-sha256 HEX`.
fn pin_flag(a: &AddArgs) -> String {
    match (&a.root, &a.root_sha256) {
        (Some(f), _) => format!("--root {}", f.display()),
        (None, Some(h)) => format!("--root-sha256 {h}"),
        (None, None) => "the configured pin".into(),
    }
}

async fn read_once(
    ctx: &Ctx,
    reg: &RegistryConfig,
) -> Result<(), knap_registry::registry::RegistryError> {
    Registry::open(reg, &ctx.env)?.update().await.map(|_| ())
}

/// `registry add` of a registry configured with the same URL: applies
/// every flag that differs, reading the registry first (unless
/// `--no-fetch`) when the change is one of how it is read. Nothing is
/// changed when that read fails.
async fn change(
    ctx: &mut Ctx,
    have: RegistryConfig,
    a: &AddArgs,
    pin: Option<NewPin>,
    ca_file: Option<String>,
) -> anyhow::Result<()> {
    let mut want = have.clone();
    let mut changes = Vec::new();
    let mut note = |field: &'static str, from: Option<String>, to: String| {
        changes.push(Change {
            field,
            from,
            to: Some(to),
        })
    };
    if let Some(p) = &pin
        && !p.same_as(have.tuf_root.as_deref())
    {
        let stored = p.store(ctx, &a.name)?;
        want.tuf_root = Some(stored);
        note("tuf_root", have.tuf_root.clone(), p.describe());
    }
    if let Some(p) = a.priority
        && p != have.priority
    {
        want.priority = p;
        note("priority", Some(have.priority.to_string()), p.to_string());
    }
    if let Some(t) = &a.token_env
        && have.token_env.as_ref() != Some(t)
    {
        want.token_env = Some(t.clone());
        note("token_env", have.token_env.clone(), t.clone());
    }
    if a.allow_http && !have.allow_http {
        want.allow_http = true;
        note("allow_http", Some("false".into()), "true".into());
    }
    if let Some(c) = ca_file
        && have.ca_file.as_ref() != Some(&c)
    {
        want.ca_file = Some(c.clone());
        note("ca_file", have.ca_file.clone(), c);
    }
    if changes.is_empty() {
        ctx.print(&AddReport {
            registry: RegistryRow::of(ctx, &have),
            unchanged: Some(true),
            changed: None,
            sparse_from: None,
            outcome: Added::Unchanged,
        });
        return Ok(());
    }
    // Only the priority changes nothing about how the registry is read.
    let read = changes.iter().any(|c| c.field != "priority");
    let fetched = read && !a.no_fetch && !ctx.env.offline;
    if fetched && let Err(e) = read_once(ctx, &want).await {
        if want.tuf_root != have.tuf_root {
            forget_copy(ctx, want.tuf_root.as_deref());
        }
        let fields: Vec<&str> = changes.iter().map(|c| c.field).collect();
        if want.tuf_root != have.tuf_root && is_untrusted(&e) {
            return Err(KnapError::new(
                e.kind(),
                format!(
                    "registry `{}` was not changed: the given root ({}) does not match the registry's signed metadata",
                    have.name,
                    pin_flag(a)
                ),
            )
            .with_hint(
                "pin the root this registry publishes (its tuf/1.root.json, or the one its operator gives you)",
            )
            .caused_by(e)
            .into());
        }
        return Err(KnapError::new(
            e.kind(),
            format!(
                "registry `{}` was not changed: it cannot be read with the new {} (check them, or pass --no-fetch to change them anyway)",
                have.name,
                fields.join(", ")
            ),
        )
        .caused_by(e)
        .into());
    }
    if let Some(r) = ctx
        .config
        .registries
        .iter_mut()
        .find(|r| r.name == have.name)
    {
        *r = want.clone();
    }
    knap_registry::config::save(&ctx.config_path, &ctx.config)?;
    if want.tuf_root != have.tuf_root {
        forget_copy(ctx, have.tuf_root.as_deref());
    }
    ctx.print(&AddReport {
        registry: RegistryRow::of(ctx, &want),
        unchanged: None,
        changed: Some(changes),
        sparse_from: None,
        outcome: Added::Changed {
            fetched,
            unread: read && !fetched,
        },
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
    /// What changed, for a registry configured before with the same URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    changed: Option<Vec<Change>>,
    /// The URL given, when it was a site root with the sparse layout and
    /// the registry was added as `sparse+` that URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    sparse_from: Option<String>,
    #[serde(skip)]
    outcome: Added,
}

/// One setting `registry add` changed.
#[derive(Debug, Serialize)]
pub struct Change {
    field: &'static str,
    from: Option<String>,
    to: Option<String>,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let to = self.to.as_deref().unwrap_or("");
        match (self.field, &self.from) {
            ("tuf_root", None) => write!(f, "pinned to {to}: every update is verified"),
            ("tuf_root", Some(_)) => write!(
                f,
                "pin replaced by {to}: every update is verified from it, whatever the old pin trusted"
            ),
            ("priority", from) => write!(f, "priority {} -> {to}", from.as_deref().unwrap_or("")),
            ("token_env", None) => write!(f, "token from ${to}"),
            ("token_env", Some(from)) => write!(f, "token from ${to} (was ${from})"),
            ("allow_http", _) => f.write_str("plain http:// allowed"),
            ("ca_file", None) => write!(f, "CA {to}"),
            ("ca_file", Some(from)) => write!(f, "CA {to} (was {from})"),
            (field, _) => write!(f, "{field} {to}"),
        }
    }
}

#[derive(Debug)]
enum Added {
    /// Added; `fetched`: read once first.
    New { fetched: bool },
    /// Already configured with this URL and these flags.
    Unchanged,
    /// Already configured with this URL; the flags that differed were
    /// applied (`fetched`: read with them first; `unread`: a change of how
    /// it is read, not read now).
    Changed { fetched: bool, unread: bool },
}

impl fmt::Display for AddReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.registry;
        match self.outcome {
            Added::Unchanged => write!(
                f,
                "registry `{}` is already configured with {} and these settings; nothing changed",
                r.name, r.url
            ),
            Added::Changed { fetched, unread } => {
                write!(f, "updated registry `{}` ({}): ", r.name, r.url)?;
                for (i, c) in self.changed.iter().flatten().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{c}")?;
                }
                if fetched {
                    f.write_str(" (read with the new settings)")?;
                }
                if unread {
                    write!(
                        f,
                        " (not read now; `knap update {}` reads it with the new settings)",
                        r.name
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
                if let Some(given) = &self.sparse_from {
                    write!(
                        f,
                        "\n{given} is a site with the sparse layout (config.json): added as {}, which reads every version (the site's index.json lists only the newest of each pack)",
                        r.url
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
