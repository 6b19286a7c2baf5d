//! Why the newest version of an installed pack is out of reach of an
//! upgrade (`knap outdated`'s LATEST beyond WANTED): the requirements on it
//! that the newest does not meet, each with who holds it: the user's own
//! requirement (`knap.lock`'s `requested`), or an installed pack's
//! dependency, at the version an upgrade of everything leaves that pack
//! at, with the newest version of that pack, if any, that would accept it.
//! So that `outdated` names the pack in the way instead of suggesting an
//! upgrade that conflicts.

use std::collections::BTreeMap;

use knap_registry::index_set::Provided;
use knap_schema::lock::Lockfile;
use knap_schema::{Dependency, PackRef, Requirement};
use semver::Version;

/// One requirement that the newest version does not meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldBack {
    pub by: Holder,
    /// The requirement on the held-back pack.
    pub requirement: Requirement,
}

/// Who asks for the requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// The user, when installing (`knap.lock`'s `requested`).
    Requested,
    /// An installed pack's dependency.
    Pack {
        pack_ref: PackRef,
        /// The version an upgrade of everything leaves it at.
        version: Version,
        /// The newest version of it its registry lists (not yanked) whose
        /// requirement on the held-back pack the newest meets.
        newer_accepts: Option<Version>,
    },
}

/// The requirements that hold `latest` of `pack_ref` back. `wanted` is the
/// version an upgrade of everything leaves each pack at (the current one
/// where it is missing); `provided` what the registries list of the
/// installed packs (a pack missing there is read from `lock`).
pub fn held_back(
    lock: &Lockfile,
    wanted: &BTreeMap<PackRef, Version>,
    provided: &BTreeMap<String, Provided>,
    pack_ref: &PackRef,
    latest: &Version,
) -> Vec<HeldBack> {
    let mut out = Vec::new();
    if let Some(req) = lock
        .requested
        .get(pack_ref)
        .and_then(|r| Requirement::parse(r).ok())
        && !req.matches(latest)
    {
        out.push(HeldBack {
            by: Holder::Requested,
            requirement: req,
        });
    }
    for p in lock.packs.iter().filter(|p| p.pack_ref != *pack_ref) {
        let version = wanted.get(&p.pack_ref).unwrap_or(&p.version);
        let entries = provided
            .get(p.pack_ref.as_str())
            .map(|x| x.entries.as_slice())
            .unwrap_or_default();
        // Its dependencies at that version: the registry's entry, else
        // what knap.lock recorded for the installed version.
        let deps: Vec<Dependency> = match entries.iter().find(|e| e.version == *version) {
            Some(e) => entry_dependencies(e),
            None if *version == p.version => p.dependencies.clone(),
            None => continue,
        };
        let Some(req) = deps
            .into_iter()
            .find(|d| d.pack == *pack_ref)
            .map(|d| d.req)
            .filter(|r| !r.matches(latest))
        else {
            continue;
        };
        let newer_accepts = entries
            .iter()
            .filter(|e| !e.yanked && e.version > *version)
            .filter(|e| {
                entry_dependencies(e)
                    .iter()
                    .filter(|d| d.pack == *pack_ref)
                    .all(|d| d.req.matches(latest))
            })
            .map(|e| e.version.clone())
            .max();
        out.push(HeldBack {
            by: Holder::Pack {
                pack_ref: p.pack_ref.clone(),
                version: version.clone(),
                newer_accepts,
            },
            requirement: req,
        });
    }
    out
}

fn entry_dependencies(e: &knap_schema::index::Entry) -> Vec<Dependency> {
    e.dependencies
        .iter()
        .flat_map(|d| d.packs.iter())
        .filter_map(|s| Dependency::parse(s).ok())
        .collect()
}
