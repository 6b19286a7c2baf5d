//! tough's [`Transport`] over the caller's [`Fetch`]: the timestamp
//! fetched once per update, the root probe skipped when that timestamp is
//! the one already verified, immutable metadata read from the trusted
//! state's verified copies, every read bounded, and every root file
//! checked for a public key listed twice before tough counts its
//! signatures. What was fetched and the first failure are kept in
//! [`State`] for the verifier to store or explain.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tough::{Transport, TransportError, TransportErrorKind, TransportStream, async_trait};
use url::Url;

use super::SizeLimits;
use super::error::{TrustError, fetch_error};
use super::fetch::Fetch;
use super::root;

/// `N.snapshot.json` or `N.targets.json`: immutable under consistent snapshots.
pub(super) fn is_versioned(file: &str) -> bool {
    file.split_once('.').is_some_and(|(v, rest)| {
        !v.is_empty()
            && v.bytes().all(|b| b.is_ascii_digit())
            && (rest == "snapshot.json" || rest == "targets.json")
    })
}

#[derive(Debug, Clone)]
pub(super) struct State {
    pub timestamp: Vec<u8>,
    pub skip_root_probe: bool,
    /// Every file fetched from the registry in this update, by path.
    pub fetched: BTreeMap<String, Vec<u8>>,
    /// The first fetch failure that is not "not found" (tough may hide it).
    pub error: Option<TrustError>,
    /// A root file refused before tough saw it (tough takes any failure
    /// of a root probe for "no newer root", so the update must fail on
    /// its own).
    pub root_refused: Option<TrustError>,
}

impl State {
    pub(super) fn new(timestamp: Vec<u8>, skip_root_probe: bool) -> Self {
        State {
            timestamp,
            skip_root_probe,
            fetched: BTreeMap::new(),
            error: None,
            root_refused: None,
        }
    }
}

/// tough's transport over the caller's [`Fetch`], with the trusted state's
/// verified copies of immutable metadata.
#[derive(Debug, Clone)]
pub(super) struct Adapter {
    pub fetch: Arc<dyn Fetch>,
    /// Where verified copies of `N.snapshot.json` and `N.targets.json` are.
    pub raw: PathBuf,
    pub limits: SizeLimits,
    pub state: Arc<Mutex<State>>,
}

fn stream(bytes: Vec<u8>) -> TransportStream {
    Box::pin(futures_util::stream::once(async move {
        Ok::<_, TransportError>(tough::Bytes::from(bytes))
    }))
}

#[async_trait]
impl Transport for Adapter {
    async fn fetch(&self, url: Url) -> Result<TransportStream, TransportError> {
        let path = url.path().trim_start_matches('/').to_string();
        let file = path.strip_prefix("tuf/").unwrap_or("");
        let not_found = || TransportError::new(TransportErrorKind::FileNotFound, url.as_str());
        {
            let state = self.state.lock().map_err(|_| not_found())?;
            if path == "tuf/timestamp.json" {
                return Ok(stream(state.timestamp.clone()));
            }
            if file.ends_with(".root.json") && state.skip_root_probe {
                return Err(not_found());
            }
        }
        let limit = if file.ends_with(".root.json") {
            self.limits.root
        } else if file.ends_with("snapshot.json") {
            self.limits.snapshot
        } else {
            self.limits.targets
        };
        if is_versioned(file)
            && let Ok(bytes) =
                knap_schema::fs::read(&self.raw.join(file), knap_schema::fs::Links::Refuse, limit)
        {
            return Ok(stream(bytes));
        }
        let result = self.fetch.fetch(&path, limit).await;
        let mut state = self.state.lock().map_err(|_| not_found())?;
        let refuse = |e: TrustError| {
            TransportError::new_with_cause(TransportErrorKind::Other, url.as_str(), e)
        };
        match result {
            Ok(Some(bytes)) if bytes.len() as u64 <= limit => {
                if file.ends_with(".root.json")
                    && let Err(e) = root::distinct_keys(&bytes, &path)
                {
                    state.root_refused.get_or_insert(e.clone());
                    state.error.get_or_insert(e.clone());
                    return Err(refuse(e));
                }
                state.fetched.insert(path, bytes.clone());
                Ok(stream(bytes))
            }
            Ok(Some(_)) => {
                let e = TrustError::TooLarge { path, limit };
                state.error.get_or_insert(e.clone());
                Err(refuse(e))
            }
            Ok(None) => Err(not_found()),
            Err(e) => {
                let e = fetch_error(&path, e);
                // A root probe that fails is "no newer root" for tough; a
                // failure anywhere else is the registry's, and so is a
                // root that is there but not a file (a FIFO, a device).
                if !file.ends_with(".root.json") {
                    state.error.get_or_insert(e.clone());
                } else if matches!(e, TrustError::NotAFile { .. }) {
                    state.root_refused.get_or_insert(e.clone());
                    state.error.get_or_insert(e.clone());
                }
                Err(refuse(e))
            }
        }
    }
}
