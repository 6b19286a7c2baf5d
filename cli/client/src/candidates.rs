//! The resolver's view of the registries: [`knap_resolver::Candidates`]
//! answered lazily, one ref at a time, as the resolver asks.
//!
//! A ref's versions are looked up (over every registry, in priority order,
//! see `IndexSet::lookup`) the first time the resolver asks for them or
//! hints that it will ([`Candidates::prefetch`]), or as soon as its name is
//! known: each answer that comes in starts, at once and on the runtime,
//! the lookups of the dependencies of the version resolution will most
//! likely choose (the locked one, else the newest that is not yanked,
//! within the requirement that named the ref), before the resolver gets
//! to it. So a sparse registry fetches the files along the dependency
//! graph as fast as they come back (the critical path is the graph's
//! depth in round trips, whatever order the resolver decides in), and only
//! those of the versions resolution will most likely take: where it takes
//! others (a conflict), it asks for what else it needs. Each ref is looked
//! up once per run. Refs pinned to a direct pack (named on the command
//! line or kept from the lock) are never looked up, and with `--no-deps`
//! no dependency is.
//!
//! The resolver sees each entry as a [`Candidate`]; the entries stay here,
//! so the caller maps a resolved version back to its entry with
//! [`Lazy::entry`].

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use knap_registry::index_set::{IndexSet, Provided};
use knap_registry::registry::RegistryError;
use knap_resolver::{Candidate, Candidates, Options};
use knap_schema::index::Entry;
use knap_schema::requirement::Requirement;
use knap_schema::{Dependency, PackRef};
use semver::Version;
use tokio::runtime::Handle;
use tokio::sync::watch;

/// The outcome of one ref's lookup: who provides it, if anyone.
/// Shared, so that handing an answer out clones no entry.
type Answer = Result<Option<Arc<Provided>>, Arc<RegistryError>>;

/// Why the versions of a ref could not be read: the registry's error
/// (shared by every ref that waited on the same lookup), told as itself.
#[derive(Debug, Clone)]
pub struct LookupFailed(pub Arc<RegistryError>);

impl LookupFailed {
    pub fn kind(&self) -> knap_registry::error::Kind {
        self.0.kind()
    }
}

impl std::fmt::Display for LookupFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for LookupFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&*self.0)
    }
}

/// Registries looked up on demand, plus the refs pinned to one entry.
pub struct Lazy {
    inner: Arc<Inner>,
}

/// What the lookup tasks share with the resolver's side.
struct Inner {
    set: Option<Arc<IndexSet>>,
    runtime: Handle,
    pinned: BTreeMap<String, Entry>,
    /// The versions resolution keeps (the lock's, but for refs upgraded):
    /// the dependencies of these are followed.
    preferred: HashMap<String, Version>,
    /// Whether dependencies are looked up at all (not with `--no-deps`).
    follow: bool,
    slots: Mutex<HashMap<String, watch::Receiver<Option<Answer>>>>,
}

impl Lazy {
    /// `set` is `None` when nothing needs a registry (every ref pinned);
    /// `options` are the resolver's (the lock's versions are the ones
    /// whose dependencies are looked up ahead). Must be created on the
    /// runtime; [`Candidates::versions`] must then be called off it (from
    /// `tokio::task::block_in_place`).
    pub fn new(
        set: Option<Arc<IndexSet>>,
        pinned: BTreeMap<String, Entry>,
        options: &Options,
    ) -> Self {
        let preferred = options
            .lock
            .iter()
            .flat_map(|l| &l.packs)
            .filter(|p| !options.upgrade.allows(&p.pack_ref))
            .map(|p| (p.pack_ref.to_string(), p.version.clone()))
            .collect();
        Self {
            inner: Arc::new(Inner {
                set,
                runtime: Handle::current(),
                pinned,
                preferred,
                follow: !options.no_deps,
                slots: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Waits for the lookup of `pack_ref` (starting it if needed).
    fn answer(&self, pack_ref: &str) -> Answer {
        let Some(mut rx) = self.inner.start(pack_ref, None) else {
            return Ok(None);
        };
        let got = self.inner.runtime.block_on(async move {
            rx.wait_for(Option::is_some)
                .await
                .map(|v| v.clone().expect("waited for an answer"))
        });
        got.unwrap_or_else(|_| panic!("the lookup task of `{pack_ref}` ended without an answer"))
    }

    /// The entry of `pack_ref` at `version`: the pinned one, or the one
    /// its registry lists (once looked up).
    pub fn entry(&self, pack_ref: &str, version: &semver::Version) -> Option<Entry> {
        if let Some(e) = self.inner.pinned.get(pack_ref) {
            return (e.version == *version).then(|| e.clone());
        }
        self.provider(pack_ref)?
            .entries
            .iter()
            .find(|e| e.version == *version)
            .cloned()
    }

    /// Who provides each ref looked up and found so far.
    pub fn providers(&self) -> BTreeMap<PackRef, Arc<Provided>> {
        let slots = self.inner.slots.lock().expect("lock");
        slots
            .iter()
            .filter_map(|(r, rx)| {
                let p = rx.borrow().as_ref()?.as_ref().ok()?.clone()?;
                Some((PackRef::parse(r).ok()?, p))
            })
            .collect()
    }

    /// Who provides `pack_ref`, if it was looked up and found.
    pub fn provider(&self, pack_ref: &str) -> Option<Arc<Provided>> {
        let rx = self
            .inner
            .slots
            .lock()
            .expect("lock")
            .get(pack_ref)
            .cloned()?;
        let v = rx.borrow().clone();
        v.and_then(|a| a.ok()).flatten()
    }
}

impl Candidates for Lazy {
    type Error = LookupFailed;

    fn versions(&self, pack_ref: &str) -> Result<Vec<Candidate>, Self::Error> {
        if let Some(e) = self.inner.pinned.get(pack_ref) {
            return Ok(vec![Candidate::from_entry(e)]);
        }
        match self.answer(pack_ref) {
            Ok(p) => Ok(p
                .iter()
                .flat_map(|p| &p.entries)
                .map(Candidate::from_entry)
                .collect()),
            Err(e) => Err(LookupFailed(e)),
        }
    }

    fn prefetch(&self, pack_refs: &[&str]) {
        for r in pack_refs {
            self.inner.start(r, None);
        }
    }
}

impl Inner {
    /// Starts the lookup of `pack_ref` unless it has started (or the ref
    /// is pinned); its answer will be in its slot. `req` is the requirement
    /// that named it, when a dependency did. When the answer comes, the
    /// dependencies of its likely version are started in turn.
    fn start(
        self: &Arc<Self>,
        pack_ref: &str,
        req: Option<Requirement>,
    ) -> Option<watch::Receiver<Option<Answer>>> {
        let set = self.set.as_ref()?;
        if self.pinned.contains_key(pack_ref) {
            return None;
        }
        let mut slots = self.slots.lock().expect("lock");
        if let Some(rx) = slots.get(pack_ref) {
            return Some(rx.clone());
        }
        let (tx, rx) = watch::channel(None);
        slots.insert(pack_ref.to_owned(), rx.clone());
        let set = Arc::clone(set);
        let r = pack_ref.to_owned();
        let me = Arc::clone(self);
        self.runtime.spawn(async move {
            let answer = set
                .lookup(std::slice::from_ref(&r))
                .await
                .map(|mut found| found.remove(&r).map(Arc::new))
                .map_err(Arc::new);
            let next = match &answer {
                Ok(Some(p)) if me.follow => me.likely_dependencies(&r, &p.entries, req.as_ref()),
                _ => Vec::new(),
            };
            let _ = tx.send(Some(answer));
            for d in next {
                me.start(d.pack.as_str(), Some(d.req));
            }
        });
        Some(rx)
    }

    /// The dependencies of the version of `pack_ref` that resolution will
    /// most likely choose: the preferred (locked) one if listed and within
    /// `req`, else the newest within `req` that is not yanked.
    fn likely_dependencies(
        &self,
        pack_ref: &str,
        entries: &[Entry],
        req: Option<&Requirement>,
    ) -> Vec<Dependency> {
        let fits = |e: &&Entry| req.is_none_or(|q| q.matches(&e.version));
        let locked = self
            .preferred
            .get(pack_ref)
            .and_then(|v| entries.iter().filter(fits).find(|e| e.version == *v));
        let likely = locked.or_else(|| {
            entries
                .iter()
                .filter(fits)
                .filter(|e| !e.yanked)
                .max_by(|a, b| a.version.cmp_precedence(&b.version))
        });
        likely.map_or_else(Vec::new, |e| {
            Candidate::from_entry(e)
                .dependencies
                .into_iter()
                .filter(|d| d.pack.as_str() != pack_ref)
                .collect()
        })
    }
}
