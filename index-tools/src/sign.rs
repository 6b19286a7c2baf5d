//! `knap-index keys generate` and `knap-index sign`: the command lines over
//! knap-trust's signing (formats.md section 7). Keys come from files or
//! environment variables, never from an argument.

use std::collections::BTreeMap;
use std::path::Path;

use knap_trust::sign::{SignError, sign_blocking};
use knap_trust::{KeyError, KeySpec, Role, SignReport, SignRequest, SigningKey};

use crate::cli::{KeysCommand, SignArgs};
use crate::failure::{Kind, fail};

/// The largest `N.root.json` read back (a real one is a few kilobytes).
const MAX_ROOT_BYTES: u64 = 16 * 1024 * 1024;

pub fn keys_command(c: KeysCommand) -> anyhow::Result<()> {
    match c {
        KeysCommand::Generate { output } => {
            let key = SigningKey::generate_file(&output).map_err(key_failure)?;
            tell!(
                "{}: a new ed25519 signing key (keep it secret; mode 0600)",
                output.display()
            );
            knap_term::out(key.key_id());
            Ok(())
        }
    }
}

pub fn sign_command(a: SignArgs) -> anyhow::Result<()> {
    let mut role_keys: BTreeMap<Role, Vec<SigningKey>> = BTreeMap::new();
    for (role, spec) in &a.roles {
        role_keys
            .entry(*role)
            .or_default()
            .push(SigningKey::load(spec).map_err(key_failure)?);
    }
    let defaults = load_all(&a.key)?;
    for role in Role::ALL {
        if !role_keys.contains_key(&role) && !defaults.is_empty() {
            role_keys.insert(role, defaults.clone());
        }
    }
    if role_keys.is_empty() {
        return Err(fail(
            Kind::Usage,
            "no signing key: pass --key KEY (a file or env:VAR) or --role ROLE=KEY",
        ));
    }
    let mut expires_days = BTreeMap::new();
    for (role, days) in &a.expires {
        let days = u32::try_from(*days)
            .ok()
            .filter(|d| *d <= 36_500)
            .ok_or_else(|| {
                fail(
                    Kind::Usage,
                    format!("--expires {role}={days}: at most 36500 days"),
                )
            })?;
        expires_days.insert(*role, days);
    }
    let request = SignRequest {
        dir: a.dir.clone(),
        role_keys,
        old_root_keys: load_all(&a.old_root_key)?,
        thresholds: a.threshold.iter().copied().collect(),
        expires_days,
        timestamp_only: a.timestamp_only,
        now: jiff_now(),
    };
    let report = sign_blocking(&request).map_err(sign_failure)?;
    print_report(&a.dir, &report);
    Ok(())
}

/// Signs a freshly built site (`build --sign`). When the site holds the
/// signed state of a previous publication (`tuf/`, carried over), each key
/// signs the roles the newest root gives it, and the other roles keep
/// their keys: the online keys alone re-sign targets, snapshot and
/// timestamp, with the root key offline. Without a root, every key signs
/// every role of a new one.
pub fn sign_site(dir: &Path, keys: &[KeySpec]) -> anyhow::Result<SignReport> {
    let keys = load_all(keys)?;
    let role_keys = match newest_root_key_ids(dir)? {
        None => Role::ALL.iter().map(|r| (*r, keys.clone())).collect(),
        Some(RootKeys { version, by_role }) => {
            let mut role_keys: BTreeMap<Role, Vec<SigningKey>> = BTreeMap::new();
            for role in Role::ALL {
                let ids = by_role.get(&role).map(Vec::as_slice).unwrap_or_default();
                let given: Vec<SigningKey> = keys
                    .iter()
                    .filter(|k| ids.iter().any(|id| id == k.key_id()))
                    .cloned()
                    .collect();
                if !given.is_empty() {
                    role_keys.insert(role, given);
                }
            }
            if role_keys.is_empty() {
                let given: Vec<&str> = keys.iter().map(SigningKey::key_id).collect();
                let roles: Vec<String> = Role::ALL
                    .iter()
                    .map(|r| {
                        format!(
                            "{} {}",
                            r.name(),
                            by_role.get(r).map(|ids| ids.join(", ")).unwrap_or_default()
                        )
                    })
                    .collect();
                return Err(fail(
                    Kind::Usage,
                    format!(
                        "none of the --sign keys (key ids {}) is a key of root version {version} of the previous publication ({}); sign with its keys, or rotate keys with `knap-index sign --old-root-key`; nothing was written",
                        given.join(", "),
                        roles.join("; ")
                    ),
                ));
            }
            role_keys
        }
    };
    let request = SignRequest {
        dir: dir.to_path_buf(),
        role_keys,
        old_root_keys: Vec::new(),
        thresholds: BTreeMap::new(),
        expires_days: BTreeMap::new(),
        timestamp_only: false,
        now: jiff_now(),
    };
    sign_blocking(&request).map_err(sign_failure)
}

pub fn print_report(dir: &Path, r: &SignReport) {
    let resigned = if r.resigned.is_empty() {
        "nothing changed, nothing re-signed".to_string()
    } else {
        let names: Vec<&str> = r.resigned.iter().map(|r| r.name()).collect();
        format!("re-signed {}", names.join(", "))
    };
    tell!(
        "{}: root v{}, targets v{} ({} files), snapshot v{}, timestamp v{} (expires {}); {resigned}",
        dir.display(),
        r.root_version,
        r.targets_version,
        r.targets,
        r.snapshot_version,
        r.timestamp_version,
        r.timestamp_expires,
    );
    knap_term::out(&format!("root key ids: {}", r.root_key_ids.join(" ")));
}

/// What the newest root of a site gives each role.
struct RootKeys {
    version: u64,
    /// The key ids of each role.
    by_role: BTreeMap<Role, Vec<String>>,
}

/// The newest `tuf/N.root.json` under `dir`; `None` when there is no root.
fn newest_root_key_ids(dir: &Path) -> anyhow::Result<Option<RootKeys>> {
    let tuf = dir.join(knap_trust::TUF_DIR);
    let Ok(entries) = std::fs::read_dir(&tuf) else {
        return Ok(None);
    };
    let newest = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let n: u64 = name.strip_suffix(".root.json")?.parse().ok()?;
            Some((n, e.path()))
        })
        .max_by_key(|(n, _)| *n);
    let Some((version, path)) = newest else {
        return Ok(None);
    };
    let bad = |why: String| {
        fail(
            Kind::Integrity,
            format!("{}: not a TUF root ({why})", path.display()),
        )
    };
    let text = crate::index_file::read_held(&path, MAX_ROOT_BYTES)?
        .ok_or_else(|| bad("it went away while being read".into()))?;
    let doc: serde_json::Value = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
    let mut by_role = BTreeMap::new();
    for role in Role::ALL {
        let ids = doc["signed"]["roles"][role.name()]["keyids"]
            .as_array()
            .ok_or_else(|| bad(format!("no key ids for the {} role", role.name())))?;
        by_role.insert(
            role,
            ids.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        );
    }
    Ok(Some(RootKeys { version, by_role }))
}

fn jiff_now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

fn load_all(specs: &[KeySpec]) -> anyhow::Result<Vec<SigningKey>> {
    specs
        .iter()
        .map(|s| SigningKey::load(s).map_err(key_failure))
        .collect()
}

/// A key error, classified by `crate::failure` (its cause on its own line).
fn key_failure(e: KeyError) -> anyhow::Error {
    anyhow::Error::new(e)
}

/// A signing error, classified by `crate::failure`.
fn sign_failure(e: SignError) -> anyhow::Error {
    anyhow::Error::new(e)
}
