//! The priority-shadowed view over every configured registry, the one place
//! resolution (and `info`, `search`) asks "who provides this ref?".
//!
//! Registries are consulted in priority order (lower first, then by name);
//! the first one that lists a ref provides every candidate version of it,
//! later ones are shadowed. A registry that cannot be read while a ref is
//! still unanswered fails the lookup (fail closed): a public registry can
//! never substitute for a private one that is down.

pub mod suggest;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use std::sync::Arc;

use knap_schema::Dependency;
use knap_schema::config::Config;
use knap_schema::index::Entry;
use knap_schema::progress::{Event, Reporter};

use crate::index::search::SearchRow;
use crate::registry::{Env, Registry, RegistryError};
use knap_schema::{ErrorKind as Kind, KnapError};

/// Why the set of registries could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Knap(#[from] KnapError),
}

impl OpenError {
    pub fn kind(&self) -> Kind {
        match self {
            OpenError::Registry(e) => e.kind(),
            OpenError::Knap(e) => e.kind,
        }
    }
}

/// One ref as search shows it, from the registry that provides it.
#[derive(Debug, Clone)]
pub struct SearchHit {
    pub registry: String,
    pub row: SearchRow,
    /// Lower-priority registries that also list the ref.
    pub shadows: Vec<String>,
}

/// Who provides one ref.
#[derive(Debug, Clone)]
pub struct Provided {
    pub registry: String,
    pub priority: i64,
    /// Every version the providing registry lists, in index order.
    pub entries: Vec<Entry>,
    /// Lower-priority registries that also list the ref.
    pub shadows: Vec<String>,
}

/// The registries of one run, in search order.
pub struct IndexSet {
    pub registries: Vec<Registry>,
    /// Where warnings go.
    reporter: Arc<dyn Reporter>,
}

impl IndexSet {
    /// Opens every configured registry, or only `pin` (`--registry NAME`).
    pub fn open(config: &Config, env: &Env, pin: Option<&str>) -> Result<Self, OpenError> {
        let mut registries = Vec::new();
        for cfg in config.registries_in_order() {
            if pin.is_some_and(|p| p != cfg.name) {
                continue;
            }
            registries.push(Registry::open(cfg, env)?);
        }
        if let Some(p) = pin
            && registries.is_empty()
        {
            return Err(KnapError::not_found(format!(
                "no registry named `{p}`; see `knap registry list`"
            ))
            .into());
        }
        if registries.is_empty() {
            return Err(KnapError::not_found(
                "no registries are configured; add one with `knap registry add NAME URL`",
            )
            .into());
        }
        Ok(Self {
            registries,
            reporter: env.reporter.clone(),
        })
    }

    pub fn names(&self) -> Vec<String> {
        self.registries.iter().map(|r| r.name.clone()).collect()
    }

    /// Who provides each of `refs`. Every registry is asked (to report
    /// shadows); an unreadable registry is an error while any of `refs` is
    /// still unanswered, else a warning.
    pub async fn lookup(
        &self,
        refs: &[String],
    ) -> Result<BTreeMap<String, Provided>, RegistryError> {
        let mut out: BTreeMap<String, Provided> = BTreeMap::new();
        for reg in &self.registries {
            match reg.versions(refs).await {
                Ok(found) => provide(&mut out, reg, found),
                Err(e) => {
                    if refs.iter().any(|r| !out.contains_key(r)) {
                        return Err(e);
                    }
                    self.reporter.report(Event::Warning {
                        message: format!(
                            "{} (not needed: every ref was found in a registry ahead of it)",
                            knap_schema::report::chain_line(&e)
                        ),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Looks up `roots` and, level by level, every pack their versions
    /// depend on (each level fetched as one parallel batch).
    pub async fn lookup_with_dependencies(
        &self,
        roots: &[String],
    ) -> Result<BTreeMap<String, Option<Provided>>, RegistryError> {
        let mut all: BTreeMap<String, Option<Provided>> = BTreeMap::new();
        let mut batch: Vec<String> = roots.to_vec();
        while !batch.is_empty() {
            let found = self.lookup(&batch).await?;
            let mut next = BTreeSet::new();
            for r in &batch {
                let p = found.get(r).cloned();
                if let Some(p) = &p {
                    for e in &p.entries {
                        for d in dependency_refs(e) {
                            if !all.contains_key(&d) && !batch.contains(&d) {
                                next.insert(d);
                            }
                        }
                    }
                }
                all.insert(r.clone(), p);
            }
            batch = next.into_iter().collect();
        }
        Ok(all)
    }

    /// The refs that match `q` (lowercase; empty matches every ref), each
    /// as the registry that provides it lists it, in ref order. A ref is
    /// matched against its providing registry's row only; lower-priority
    /// registries that also list it are its shadows. Each registry reads
    /// its search table (its refs too when there is more than one
    /// registry, for the shadows).
    pub async fn search(&self, q: &str) -> Result<Vec<SearchHit>, RegistryError> {
        let want_refs = self.registries.len() > 1;
        let mut hits: BTreeMap<String, SearchHit> = BTreeMap::new();
        // The refs provided by the registries already read.
        let mut provided: HashSet<String> = HashSet::new();
        for reg in &self.registries {
            let found = reg.search(q, want_refs).await?;
            for r in found.refs.iter().flatten() {
                if provided.contains(r)
                    && let Some(h) = hits.get_mut(r)
                {
                    h.shadows.push(reg.name.clone());
                }
            }
            for row in found.rows {
                if !provided.contains(&row.pack_ref) {
                    hits.insert(
                        row.pack_ref.clone(),
                        SearchHit {
                            registry: reg.name.clone(),
                            row,
                            shadows: Vec::new(),
                        },
                    );
                }
            }
            provided.extend(found.refs.into_iter().flatten());
        }
        Ok(hits.into_values().collect())
    }
}

/// Records what `reg` lists: it provides the refs nobody ahead of it did,
/// and is a shadowed provider of the others.
fn provide(
    out: &mut BTreeMap<String, Provided>,
    reg: &Registry,
    found: impl IntoIterator<Item = (String, Vec<Entry>)>,
) {
    for (r, entries) in found {
        match out.get_mut(&r) {
            Some(p) => p.shadows.push(reg.name.clone()),
            None => {
                out.insert(
                    r,
                    Provided {
                        registry: reg.name.clone(),
                        priority: reg.priority,
                        entries,
                        shadows: Vec::new(),
                    },
                );
            }
        }
    }
}

/// The refs an entry depends on (unparsable strings are skipped; the index
/// validation reports them).
pub fn dependency_refs(e: &Entry) -> Vec<String> {
    e.dependencies
        .iter()
        .flat_map(|d| d.packs.iter())
        .filter_map(|s| Dependency::parse(s).ok().map(|d| d.pack.into()))
        .collect()
}
