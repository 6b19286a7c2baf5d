//! What long operations tell whoever drives them, without printing: the
//! libraries (`knap-registry`, `knap-resolver`, `knap-installer`) report
//! [`Event`]s to a [`Reporter`] they are given; the `knap` binary renders
//! them (progress bars on a terminal, plain lines with `-v`, NDJSON with
//! `--progress json`) and an embedding program does what it likes.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

/// One thing that happened. Serialised (for NDJSON) as an object whose
/// `event` names the variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Resolution of `packs` requested refs started.
    Resolving { packs: usize },
    /// A registry's index (or some of its files) is being fetched.
    FetchingIndex { registry: String, url: String },
    /// The fetch of a registry's index ended (fetched, current, or failed).
    IndexFetched { registry: String },
    /// A download started; `total` is the declared size, when there is one.
    DownloadStarted { url: String, total: Option<u64> },
    /// `bytes` of a download have arrived so far.
    Downloaded { url: String, bytes: u64 },
    /// A download finished with `bytes` in all.
    DownloadFinished { url: String, bytes: u64 },
    /// A pack's source is being unpacked (archive) or checked out (git) or
    /// copied (path) into staging.
    Extracting {
        pack: String,
        version: String,
        from: String,
    },
    /// A pack's install source `source` (its URL as the index and
    /// `knap.lock` have it) is fetched from a `[[mirror]]`, at `url`;
    /// `mirror` is the mirror's `replace` URL.
    Mirrored {
        pack: String,
        version: String,
        source: String,
        mirror: String,
        url: String,
    },
    /// A staged pack's tree digest is being checked.
    Verifying { pack: String, version: String },
    /// A staged pack's check ended (passed or failed).
    Verified { pack: String, version: String },
    /// The root is being changed: packs installed and removed.
    Committing { install: usize, remove: usize },
    /// The change is in place, `knap.lock` written.
    Committed { root: PathBuf },
    /// Another process holds the root's lock; this one waits for it.
    WaitingForLock { root: PathBuf },
    /// A pack's environment is being built (`runtime`: `python` or `node`)
    /// in `dir`, by `installer` (`uv`, `pip` or `npm`).
    EnvBuilding {
        pack: String,
        runtime: String,
        dir: PathBuf,
        installer: String,
    },
    /// A pack's environment is built, holding `packages` packages.
    EnvBuilt {
        pack: String,
        runtime: String,
        dir: PathBuf,
        packages: usize,
    },
    /// A pack's environment could not be built; the pack's previous one
    /// (if any) stays in use.
    EnvFailed {
        pack: String,
        runtime: String,
        message: String,
    },
    /// One of a pack's install sources could not be used (refused by the
    /// URL policy, or its fetch or check failed); the next one is tried.
    /// `reason` names the source and why.
    SourceSkipped {
        pack: String,
        version: String,
        reason: String,
    },
    /// Something the user should know that does not stop the work.
    Warning { message: String },
}

/// Receives the [`Event`]s of an operation (from several threads at once).
pub trait Reporter: Send + Sync {
    fn report(&self, event: Event);
}

impl std::fmt::Debug for dyn Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reporter")
    }
}

/// A reporter that drops everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Reporter for Silent {
    fn report(&self, _event: Event) {}
}

/// Every reporter behind an `Arc` is one.
impl<R: Reporter + ?Sized> Reporter for Arc<R> {
    fn report(&self, event: Event) {
        (**self).report(event)
    }
}

/// A shared silent reporter, the default of every library entry point.
pub fn silent() -> Arc<dyn Reporter> {
    Arc::new(Silent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialise_with_their_name() {
        let v = serde_json::to_value(Event::Downloaded {
            url: "https://h/a.tgz".into(),
            bytes: 10,
        })
        .unwrap();
        assert_eq!(v["event"], "downloaded");
        assert_eq!(v["bytes"], 10);
        let v = serde_json::to_value(Event::WaitingForLock { root: "/r".into() }).unwrap();
        assert_eq!(v["event"], "waiting_for_lock");
        assert_eq!(v["root"], "/r");
    }
}
