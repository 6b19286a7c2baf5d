//! What to say when no registry lists a ref: the same ref in another case
//! and the nearest refs by edit distance, across every configured registry
//! (did-you-mean), and, when `--registry` hid it, which registry does
//! provide it.
//!
//! Best effort: a registry that cannot be read adds no suggestion, and the
//! error being reported stays the error.

use knap_schema::config::Config;
use knap_schema::ident::is_valid_ref;

use super::IndexSet;
use crate::registry::Env;
use knap_schema::KnapError;

/// A ref near the one asked for, and the registry that provides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Near {
    pub pack_ref: String,
    pub registry: String,
}

pub use knap_schema::near::nearest;

/// The refs near `wanted` across every configured registry (not only a
/// `--registry` one), each with the registry that provides it.
pub async fn near_refs(config: &Config, env: &Env, wanted: &str) -> Vec<Near> {
    let Ok(set) = IndexSet::open(config, env, None) else {
        return Vec::new();
    };
    // The lower-case spelling is one cheap lookup even on a sparse registry.
    let lower = wanted.to_lowercase();
    let mut out = Vec::new();
    if lower != wanted
        && is_valid_ref(&lower)
        && let Ok(found) = set.lookup(std::slice::from_ref(&lower)).await
        && let Some(p) = found.get(&lower)
    {
        out.push(Near {
            pack_ref: lower.clone(),
            registry: p.registry.clone(),
        });
    }
    // Every registry's refs, in priority order (a ref listed twice is
    // suggested from the registry that provides it). A sparse registry
    // reads the list of names its site publishes: one document, fetched
    // only now that a ref was not found.
    let mut known: Vec<(String, String)> = Vec::new();
    for reg in &set.registries {
        for name in reg.names().await {
            if !known.iter().any(|(r, _)| *r == name) {
                known.push((name, reg.name.clone()));
            }
        }
    }
    for r in nearest(wanted, known.iter().map(|(r, _)| r.as_str())) {
        if out.iter().all(|n| n.pack_ref != r)
            && let Some((_, registry)) = known.iter().find(|(k, _)| k == r)
        {
            out.push(Near {
                pack_ref: r.to_owned(),
                registry: registry.clone(),
            });
        }
    }
    out.truncate(3);
    out
}

/// `did you mean `diskwatch` (registry `mine`)?`, or nothing.
pub fn did_you_mean(near: &[Near]) -> Option<String> {
    let list: Vec<String> = near
        .iter()
        .map(|n| format!("`{}` (registry `{}`)", n.pack_ref, n.registry))
        .collect();
    match list.as_slice() {
        [] => None,
        [one] => Some(format!("did you mean {one}?")),
        _ => Some(format!("did you mean one of {}?", list.join(", "))),
    }
}

/// Who provides `pack_ref` when `--registry PIN` hid the others: the
/// registry that would answer without the flag.
pub async fn provider_outside(config: &Config, env: &Env, pack_ref: &str) -> Option<String> {
    let set = IndexSet::open(config, env, None).ok()?;
    let found = set.lookup(&[pack_ref.to_owned()]).await.ok()?;
    found.get(pack_ref).map(|p| p.registry.clone())
}

/// The error for a ref that no registry (or not the `--registry` one)
/// provides: who asked for it, which other registry has it when `pin` hid
/// it, else the nearest refs, else how to look.
pub async fn not_listed(
    config: &Config,
    env: &Env,
    pack_ref: &str,
    required_by: &[String],
    pin: Option<&str>,
) -> KnapError {
    let by = if required_by.is_empty() {
        String::new()
    } else {
        format!(" (required by {})", required_by.join(", "))
    };
    if let Some(pin) = pin
        && let Some(other) = provider_outside(config, env, pack_ref).await
    {
        return KnapError::not_found(format!(
            "registry `{pin}` provides no pack named `{pack_ref}`{by}: `--registry {pin}` restricts the dependencies too, and registry `{other}` provides `{pack_ref}`; drop `--registry` to resolve from every registry in priority order, or publish `{pack_ref}` in `{pin}`"
        ));
    }
    let place = match pin {
        Some(p) => format!("registry `{p}` provides"),
        None => "no registry provides".to_owned(),
    };
    let place = if pin.is_some() {
        format!("{place} no pack named `{pack_ref}`{by}")
    } else {
        format!("{place} a pack named `{pack_ref}`{by}")
    };
    match did_you_mean(&near_refs(config, env, pack_ref).await) {
        Some(hint) => KnapError::not_found(format!("{place}; {hint}")),
        None => KnapError::not_found(format!(
            "{place}; check the name with `knap search`, or refresh the indices with `knap update`"
        )),
    }
}
