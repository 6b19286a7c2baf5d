//! The resolver's view of the registries: [`knap_resolver::Candidates`]
//! answered lazily, one ref at a time, as the resolver asks.
//!
//! A ref's versions are looked up (over every registry, in priority order,
//! see `IndexSet::lookup`) the first time the resolver asks for them or
//! hints that it will ([`Candidates::prefetch`]); hinted refs are looked up
//! on the runtime in parallel while resolution goes on, so a sparse
//! registry fetches the files of the dependencies of the versions being
//! chosen ahead of need, and only those. Each ref is looked up once per
//! run. Refs pinned to a direct pack (named on the command line or kept
//! from the lock) are never looked up.
//!
//! The resolver sees each entry as a [`Candidate`]; the entries stay here,
//! so the caller maps a resolved version back to its entry with
//! [`Lazy::entry`].

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use knap_registry::index_set::{IndexSet, Provided};
use knap_registry::registry::RegistryError;
use knap_resolver::{Candidate, Candidates};
use knap_schema::PackRef;
use knap_schema::index::Entry;
use tokio::runtime::Handle;
use tokio::sync::watch;

/// The outcome of one ref's lookup: who provides it, if anyone.
type Answer = Result<Option<Provided>, Arc<RegistryError>>;

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
    set: Option<Arc<IndexSet>>,
    runtime: Handle,
    pinned: BTreeMap<String, Entry>,
    slots: Mutex<HashMap<String, watch::Receiver<Option<Answer>>>>,
}

impl Lazy {
    /// `set` is `None` when nothing needs a registry (every ref pinned).
    /// Must be created on the runtime; [`Candidates::versions`] must then
    /// be called off it (from `tokio::task::block_in_place`).
    pub fn new(set: Option<Arc<IndexSet>>, pinned: BTreeMap<String, Entry>) -> Self {
        Self {
            set,
            runtime: Handle::current(),
            pinned,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// Starts the lookup of `pack_ref` unless it has started; its answer
    /// will be in its slot.
    fn start(&self, pack_ref: &str) -> Option<watch::Receiver<Option<Answer>>> {
        let set = self.set.as_ref()?;
        let mut slots = self.slots.lock().expect("lock");
        if let Some(rx) = slots.get(pack_ref) {
            return Some(rx.clone());
        }
        let (tx, rx) = watch::channel(None);
        slots.insert(pack_ref.to_owned(), rx.clone());
        let set = Arc::clone(set);
        let r = pack_ref.to_owned();
        self.runtime.spawn(async move {
            let answer = set
                .lookup(std::slice::from_ref(&r))
                .await
                .map(|mut found| found.remove(&r))
                .map_err(Arc::new);
            let _ = tx.send(Some(answer));
        });
        Some(rx)
    }

    /// Waits for the lookup of `pack_ref` (starting it if needed).
    fn answer(&self, pack_ref: &str) -> Answer {
        let Some(mut rx) = self.start(pack_ref) else {
            return Ok(None);
        };
        let got = self.runtime.block_on(async move {
            rx.wait_for(Option::is_some)
                .await
                .map(|v| v.clone().expect("waited for an answer"))
        });
        got.unwrap_or_else(|_| panic!("the lookup task of `{pack_ref}` ended without an answer"))
    }

    /// The entry of `pack_ref` at `version`: the pinned one, or the one
    /// its registry lists (once looked up).
    pub fn entry(&self, pack_ref: &str, version: &semver::Version) -> Option<Entry> {
        if let Some(e) = self.pinned.get(pack_ref) {
            return (e.version == *version).then(|| e.clone());
        }
        self.provider(pack_ref)?
            .entries
            .into_iter()
            .find(|e| e.version == *version)
    }

    /// Who provides each ref looked up and found so far.
    pub fn providers(&self) -> BTreeMap<PackRef, Provided> {
        let slots = self.slots.lock().expect("lock");
        slots
            .iter()
            .filter_map(|(r, rx)| {
                let p = rx.borrow().clone()?.ok()??;
                Some((PackRef::parse(r).ok()?, p))
            })
            .collect()
    }

    /// Who provides `pack_ref`, if it was looked up and found.
    pub fn provider(&self, pack_ref: &str) -> Option<Provided> {
        let rx = self.slots.lock().expect("lock").get(pack_ref).cloned()?;
        let v = rx.borrow().clone();
        v.and_then(|a| a.ok()).flatten()
    }
}

impl Candidates for Lazy {
    type Error = LookupFailed;

    fn versions(&self, pack_ref: &str) -> Result<Vec<Candidate>, Self::Error> {
        if let Some(e) = self.pinned.get(pack_ref) {
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
            if !self.pinned.contains_key(*r) {
                self.start(r);
            }
        }
    }
}
