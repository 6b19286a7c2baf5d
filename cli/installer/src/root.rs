//! An install root (formats.md §5) and the transaction that changes it.
//!
//! ```text
//! <root>/<ref>/            one active version of each pack
//! <root>/knap.lock         the root's state, replaced atomically
//! <root>/.knap/lock        exclusive process-wide lock (held while open)
//! <root>/.knap/staging/    new pack trees, prepared before a commit
//! <root>/.knap/trash/      old pack trees during a commit
//! <root>/.knap/journal.json  the planned swaps of a commit in progress
//! <root>/.knap/files/<ref>.<hex>.json  per-file record of the tree <hex>
//! ```
//!
//! [`InstallRoot::commit`] first scans every staged pack (see `record.rs`),
//! checks that its tree digest is the one the new `knap.lock` names,
//! writes its per-file record (immutable, named by that digest), and
//! fsyncs every staged file and directory (from many threads: extraction
//! itself does not fsync file by file). Then it
//! writes and fsyncs a journal naming every swap and the SHA-256 of the new
//! `knap.lock`, moves each old pack dir to the trash and each staged dir
//! into place (renames, so a pack dir is always wholly old or wholly new),
//! replaces `knap.lock` (temp file, fsync, rename, directory fsync), then
//! deletes the journal, the trash, and the records the new lock no longer
//! names. The lock's `tree` fields select the live records, so the records
//! and the lock change together at the one atomic rename of `knap.lock`.
//!
//! A commit that fails (an I/O error: a full disk, a read-only or
//! unwritable root) before `knap.lock` is replaced undoes itself at once:
//! old pack dirs back, staged trees and new records removed. After the lock
//! is replaced the commit has happened; a later failure only leaves debris
//! that the next [`InstallRoot::open`] removes.
//!
//! [`InstallRoot::open`] takes the lock and recovers from a crash: with a
//! journal present it rolls forward when the new `knap.lock` is in place
//! and every swap completed, and otherwise rolls back (trash back into
//! place, half-swapped new dirs removed). Either way every pack dir then
//! agrees with `knap.lock`, and staging and trash debris and records that
//! the lock does not name are removed.
//!
//! Progress (waiting for the lock, committing) goes to the
//! [`Reporter`] the root is opened with; nothing here prints.
//!
//! For crash tests, and only in builds with the `failpoints` cargo feature
//! (never a release build), `KNAP_TEST_CRASH_AFTER_STEP=N` makes
//! [`InstallRoot::commit`] abort the process (no unwinding, no cleanup)
//! right after its N-th [`Step`].

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use std::sync::Arc;

use knap_schema::atomic::{self, is_temp_name};
use knap_schema::lock::{LockedPack, Lockfile};
use knap_schema::progress::{Event, Reporter};
use knap_schema::report::chain_line;
use knap_schema::{Checksum, PackRef};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::record::{self, FileRecord, ScanError};

const PRIVATE: &str = ".knap";
const LOCK_FILE: &str = "knap.lock";
const FILES: &str = "files";
/// The crash-test failpoint (see the module documentation; read only with
/// the `failpoints` feature).
pub const CRASH_AFTER_STEP_ENV: &str = "KNAP_TEST_CRASH_AFTER_STEP";

/// Why an install root operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A staged pack could not be scanned.
    #[error("cannot scan the staged pack `{pack_ref}`")]
    Scan {
        pack_ref: String,
        #[source]
        source: ScanError,
    },
    /// A staged pack is not the tree the new `knap.lock` names.
    #[error(
        "the staged pack `{pack_ref}` has the tree digest {actual}, but the new knap.lock says {expected}; nothing was changed"
    )]
    TreeMismatch {
        pack_ref: String,
        expected: String,
        actual: String,
    },
    #[error("{}: {message}", path.display())]
    InvalidLock { path: PathBuf, message: String },
    #[error("{}: not a journal this knap can replay ({message}); nothing was changed. Move it aside, then run `knap verify` to see whether the interrupted commit left a pack half-changed (`knap install` restores such packs)", path.display())]
    InvalidJournal { path: PathBuf, message: String },
    /// A commit was interrupted (its journal is there) and the root cannot
    /// be written, so it can be neither finished nor undone now.
    #[error(
        "{}: a knap commit was interrupted (the process was killed or the machine stopped while it changed the root), and the root is not writable, so the commit can be neither finished nor undone now; make the root writable and run `knap install` (with no arguments) on it: it completes or rolls back the interrupted commit, then restores the root to knap.lock",
        root.display()
    )]
    InterruptedReadOnly { root: PathBuf },
    /// Part of the root's private area is a symbolic link: knap never
    /// follows one there (it would empty or write the directory it names).
    #[error(
        "{} is a symbolic link; knap's private area (`.knap` and its `staging`, `trash` and `files`) must be plain directories inside the root, so nothing was read or changed; remove the link (and check where it pointed)",
        path.display()
    )]
    Symlink { path: PathBuf },
    #[error("invalid commit: {0}")]
    InvalidCommit(String),
    /// The commit was stopped by its step hook (crash simulation).
    #[error("commit interrupted after {0:?}")]
    Interrupted(Step),
}

impl RootError {
    /// True for an integrity failure (an invalid lock or journal, a staged tree that
    /// is not what the lock names), as opposed to an I/O problem.
    pub fn is_integrity(&self) -> bool {
        matches!(
            self,
            RootError::InvalidLock { .. }
                | RootError::InvalidJournal { .. }
                | RootError::TreeMismatch { .. }
                | RootError::Symlink { .. }
        )
    }

    /// What to do about it, when there is something: for an I/O failure,
    /// the usual reasons a root cannot be written.
    pub fn hint(&self) -> Option<String> {
        match self {
            RootError::Io { source, .. } => io_hint(source).map(str::to_owned),
            _ => None,
        }
    }

    /// The exit-code class: integrity for [`Self::is_integrity`], else
    /// other.
    pub fn kind(&self) -> knap_schema::ErrorKind {
        if self.is_integrity() {
            knap_schema::ErrorKind::Integrity
        } else {
            knap_schema::ErrorKind::Other
        }
    }
}

/// What to do about the usual reasons a root cannot be written.
pub(crate) fn io_hint(e: &io::Error) -> Option<&'static str> {
    match e.kind() {
        io::ErrorKind::ReadOnlyFilesystem => Some(
            "the install root is on a read-only file system: remount it read-write or choose another root with --root",
        ),
        io::ErrorKind::PermissionDenied => Some(
            "the install root is not writable by this user: fix its permissions or choose another root with --root",
        ),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => Some(
            "the file system of the install root is full: free some space and run the command again",
        ),
        io::ErrorKind::FileTooLarge => {
            Some("a file exceeds the size limit of this process or file system (see `ulimit -f`)")
        }
        _ => None,
    }
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> RootError + 'a {
    move |source| RootError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// A point in [`InstallRoot::commit_with`] after which a hook may stop it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Every staged pack was scanned and its per-file record written.
    RecordsWritten,
    JournalWritten,
    OldMovedToTrash(PackRef),
    NewMovedIntoPlace(PackRef),
    LockWritten,
    JournalRemoved,
    Cleaned,
}

/// What [`InstallRoot::open`] found and did about an interrupted commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// No commit was in progress.
    Clean,
    /// The interrupted commit was completed.
    RolledForward,
    /// The interrupted commit was undone.
    RolledBack,
}

#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    #[serde(deserialize_with = "journal_version")]
    version: u32,
    /// `sha256:` of the new knap.lock's bytes.
    new_lock_sha256: String,
    /// Packs replaced or added: ref and staged dir relative to the root.
    swaps: Vec<Swap>,
    /// Packs removed.
    removed: Vec<PackRef>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Swap {
    #[serde(rename = "ref")]
    pack_ref: PackRef,
    #[serde(deserialize_with = "staged_path")]
    staged: PathBuf,
}

/// Reads a journal's staged directory: relative, under `.knap/staging/`,
/// plain components only (the journal is read back after a crash, and is
/// as untrusted as any file in the root).
fn staged_path<'de, D: serde::Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
    let p = PathBuf::deserialize(d)?;
    if is_staged_path(&p) {
        Ok(p)
    } else {
        Err(serde::de::Error::custom(format!(
            "{}: a staged directory must be under {PRIVATE}/staging/",
            p.display()
        )))
    }
}

/// Whether `p` (relative to the root) names a directory inside
/// `.knap/staging/`: plain components only. The one rule for what a
/// journal may name, used when it is written and when it is read.
fn is_staged_path(p: &Path) -> bool {
    p.components()
        .all(|c| matches!(c, std::path::Component::Normal(_)))
        && p.starts_with(Path::new(PRIVATE).join("staging"))
        && p.components().count() > 2
}

/// The journal format this crate writes and reads.
const JOURNAL_VERSION: u32 = 1;

/// Reads a journal's `version`: only [`JOURNAL_VERSION`] (a journal of
/// another format is not replayed).
fn journal_version<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = u32::deserialize(d)?;
    if v == JOURNAL_VERSION {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!(
            "journal format version {v} is not the one this knap writes ({JOURNAL_VERSION})"
        )))
    }
}

/// An open install root, holding its lock until dropped: exclusive, or
/// shared when opened read-only (see [`InstallRoot::open_for_reading`]).
#[derive(Debug)]
pub struct InstallRoot {
    root: PathBuf,
    recovery: Recovery,
    read_only: bool,
    reporter: Arc<dyn Reporter>,
    _lock: File,
}

impl InstallRoot {
    /// Opens (creating if needed) the root, takes its lock (blocking if
    /// another process holds it), and recovers from any interrupted commit;
    /// reports nothing (see [`open_reporting`](Self::open_reporting)).
    pub fn open(root: &Path) -> Result<Self, RootError> {
        Self::open_with(root, |_| {})
    }

    /// [`open`](Self::open), reporting [`Event::WaitingForLock`] when
    /// another process holds the lock, and the commits, to `reporter`.
    pub fn open_reporting(root: &Path, reporter: Arc<dyn Reporter>) -> Result<Self, RootError> {
        let r = reporter.clone();
        Self::open_with(root, move |root| {
            r.report(Event::WaitingForLock {
                root: root.to_owned(),
            })
        })
        .map(|me| me.with_reporter(reporter))
    }

    /// The same root, reporting its commits to `reporter`.
    pub fn with_reporter(mut self, reporter: Arc<dyn Reporter>) -> Self {
        self.reporter = reporter;
        self
    }

    /// [`open`](Self::open), calling `on_wait` once when the lock is held
    /// elsewhere, and reporting nothing.
    pub fn open_with(root: &Path, on_wait: impl FnOnce(&Path)) -> Result<Self, RootError> {
        let private = root.join(PRIVATE);
        refuse_links(root)?;
        fs::create_dir_all(&private).map_err(io_err("create", &private))?;
        let lock_path = private.join("lock");
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io_err("open", &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                on_wait(root);
                lock.lock().map_err(io_err("lock", &lock_path))?;
            }
            Err(TryLockError::Error(e)) => return Err(io_err("lock", &lock_path)(e)),
        }
        let mut me = Self {
            root: root.to_owned(),
            recovery: Recovery::Clean,
            read_only: false,
            reporter: knap_schema::progress::silent(),
            _lock: lock,
        };
        me.recovery = me.recover()?;
        Ok(me)
    }

    /// Opens an existing root for commands that only read it: `Ok(None)`
    /// when `root` does not exist. Nothing is created or written: a
    /// directory that is not yet a root (no `.knap`) is read without a
    /// lock, and an existing root under a shared lock (which commits wait
    /// for, and which never waits for another reader). Only when a commit
    /// was interrupted (a journal, or staging or trash debris) does it
    /// recover the root as [`open_with`](Self::open_with) does, under the
    /// exclusive lock; when the root is not writable it refuses a root with
    /// an interrupted commit instead, saying which command recovers it. A
    /// symlinked private area is refused.
    pub fn open_for_reading(
        root: &Path,
        on_wait: impl FnOnce(&Path),
    ) -> Result<Option<Self>, RootError> {
        match fs::metadata(root) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("inspect", root)(e)),
            Ok(m) if !m.is_dir() => {
                return Err(io_err("open", root)(io::Error::new(
                    io::ErrorKind::NotADirectory,
                    "the install root is not a directory",
                )));
            }
            Ok(_) => {}
        }
        refuse_links(root)?;
        let mut waited = Some(on_wait);
        let mut wait = |p: &Path| {
            if let Some(f) = waited.take() {
                f(p)
            }
        };
        let lock_path = root.join(PRIVATE).join("lock");
        let lock = match File::open(&lock_path) {
            Ok(f) => {
                match f.try_lock_shared() {
                    Ok(()) => {}
                    Err(TryLockError::WouldBlock) => {
                        wait(root);
                        f.lock_shared().map_err(io_err("lock", &lock_path))?;
                    }
                    Err(TryLockError::Error(e)) => return Err(io_err("lock", &lock_path)(e)),
                }
                f
            }
            // Never written by knap: nothing can be changing it.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                File::open(root).map_err(io_err("open", root))?
            }
            Err(e) => return Err(io_err("open", &lock_path)(e)),
        };
        let me = Self {
            root: root.to_owned(),
            recovery: Recovery::Clean,
            read_only: true,
            reporter: knap_schema::progress::silent(),
            _lock: lock,
        };
        if !me.needs_recovery()? {
            return Ok(Some(me));
        }
        drop(me);
        match Self::open_with(root, &mut wait) {
            Ok(r) => Ok(Some(r)),
            Err(RootError::Io { source, .. })
                if matches!(
                    source.kind(),
                    io::ErrorKind::ReadOnlyFilesystem | io::ErrorKind::PermissionDenied
                ) =>
            {
                Err(RootError::InterruptedReadOnly {
                    root: root.to_owned(),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Whether an interrupted commit left anything that
    /// [`recover`](Self::recover) would act on: a journal, staging or
    /// trash entries, or temp files.
    fn needs_recovery(&self) -> Result<bool, RootError> {
        let non_empty = |dir: &Path| match fs::read_dir(dir) {
            Ok(mut i) => Ok(i.next().is_some()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err("list", dir)(e)),
        };
        // Temporary files of `write_atomic` (the same names `remove_debris`
        // removes).
        let temp_files = |dir: &Path| match fs::read_dir(dir) {
            Ok(items) => {
                for item in items {
                    if is_temp_name(&item.map_err(io_err("list", dir))?.file_name()) {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err("list", dir)(e)),
        };
        // Staging that a live install holds (see [`StagingDir`]) is not
        // debris.
        let debris_in = |dir: &Path| match fs::read_dir(dir) {
            Ok(items) => {
                for item in items {
                    if !staging_in_use(&item.map_err(io_err("list", dir))?.path()) {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err("list", dir)(e)),
        };
        Ok(exists(&self.journal_path())?
            || temp_files(&self.private())?
            || temp_files(&self.root)?
            || debris_in(&self.staging_root())?
            || non_empty(&self.trash())?)
    }

    /// True when opened with a shared lock because the root is not writable.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// What opening did about an interrupted commit.
    pub fn recovery(&self) -> Recovery {
        self.recovery
    }

    fn private(&self) -> PathBuf {
        self.root.join(PRIVATE)
    }

    fn staging_root(&self) -> PathBuf {
        self.private().join("staging")
    }

    fn trash(&self) -> PathBuf {
        self.private().join("trash")
    }

    fn journal_path(&self) -> PathBuf {
        self.private().join("journal.json")
    }

    pub fn lock_path(&self) -> PathBuf {
        self.root.join(LOCK_FILE)
    }

    fn files_dir(&self) -> PathBuf {
        self.private().join(FILES)
    }

    /// The directory of an installed pack: `<root>/<ref>`. Refs are
    /// validated types, so this never names anything outside the root.
    pub fn pack_dir(&self, pack_ref: &PackRef) -> PathBuf {
        pack_ref.dir_in(&self.root)
    }

    /// Where the per-file record of `pack_ref` with tree digest `tree` lives.
    pub fn record_path(&self, pack_ref: &PackRef, tree: &Checksum) -> PathBuf {
        self.files_dir()
            .join(format!("{pack_ref}.{}.json", tree.hex()))
    }

    /// The per-file record of a locked pack, `None` when there is none
    /// (a root written by an older knap) or it is unreadable, does not
    /// describe that pack's tree, or names a file that no pack can hold
    /// (an absolute path, `..`, a control character).
    pub fn read_record(&self, pack: &LockedPack) -> Option<FileRecord> {
        let bytes = fs::read(self.record_path(&pack.pack_ref, &pack.tree)).ok()?;
        let r: FileRecord = serde_json::from_slice(&bytes).ok()?;
        let sound = record::RECORD_VERSIONS_READ.contains(&r.version)
            && r.pack_ref == pack.pack_ref
            && pack.tree == r.tree
            && r.files.iter().all(|f| record_file_path_ok(&f.path));
        if !sound {
            self.reporter.report(Event::Warning {
                message: format!(
                    "ignoring the per-file record of `{}`: it does not describe the locked tree or names an impossible file",
                    pack.pack_ref
                ),
            });
        }
        sound.then_some(r)
    }

    /// The root's `knap.lock`, if it has one.
    pub fn read_lock(&self) -> Result<Option<Lockfile>, RootError> {
        let path = self.lock_path();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("read", &path)(e)),
        };
        knap_schema::index::from_json_str(&text)
            .map(Some)
            .map_err(|e| RootError::InvalidLock {
                path,
                message: e.to_string(),
            })
    }

    /// A fresh, empty directory `<root>/.knap/staging/<id>/` to prepare new
    /// pack trees in (on the root's file system, so commit can rename).
    pub fn new_staging_dir(&self) -> Result<PathBuf, RootError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let base = self.staging_root();
        fs::create_dir_all(&base).map_err(io_err("create", &base))?;
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir = base.join(format!("{}-{n}", std::process::id()));
            match fs::create_dir(&dir) {
                Ok(()) => return Ok(dir),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_err("create", &dir)(e)),
            }
        }
    }

    /// A staging area for an install that goes on without the root's lock
    /// (downloads take long): `<root>/.knap/staging/<id>/`, marked in use
    /// by a lock on its `.in-use` file for as long as the [`StagingDir`]
    /// lives, so that other knap processes (which open the root and remove
    /// staging debris meanwhile) leave it alone. Dropping it removes it.
    pub fn new_staging(&self) -> Result<StagingDir, RootError> {
        let path = self.new_staging_dir()?;
        let marker = path.join(IN_USE);
        let file = File::create(&marker).map_err(io_err("create", &marker))?;
        file.try_lock().map_err(|e| {
            io_err("lock", &marker)(match e {
                TryLockError::Error(e) => e,
                TryLockError::WouldBlock => io::Error::other("held by another process"),
            })
        })?;
        Ok(StagingDir {
            path,
            next: AtomicU64::new(0),
            _in_use: file,
        })
    }

    /// Installs `new_packs` (ref, staged dir under [`new_staging_dir`]),
    /// removes `removed`, and writes `new_lock`, all or nothing.
    ///
    /// [`new_staging_dir`]: Self::new_staging_dir
    pub fn commit(
        &self,
        new_packs: Vec<(PackRef, PathBuf)>,
        removed: Vec<PackRef>,
        new_lock: &Lockfile,
    ) -> Result<(), RootError> {
        self.reporter.report(Event::Committing {
            install: new_packs.len(),
            remove: removed.len(),
        });
        #[cfg(feature = "failpoints")]
        let hook = {
            let crash_after: Option<usize> = std::env::var(CRASH_AFTER_STEP_ENV)
                .ok()
                .and_then(|v| v.trim().parse().ok());
            let mut n = 0;
            move |s: &Step| {
                n += 1;
                if crash_after == Some(n) {
                    // The failpoint (test builds only) tells the crash test
                    // where it stopped.
                    #[allow(clippy::print_stderr)]
                    {
                        eprintln!("{CRASH_AFTER_STEP_ENV}={n}: aborting after {s:?}");
                    }
                    std::process::abort();
                }
                true
            }
        };
        #[cfg(not(feature = "failpoints"))]
        let hook = |_: &Step| true;
        self.commit_with(new_packs, removed, new_lock, hook)?;
        self.reporter.report(Event::Committed {
            root: self.root.clone(),
        });
        Ok(())
    }

    /// [`commit`](Self::commit) calling `hook` after each step; when it
    /// returns false, the commit stops there as if the process had died
    /// (for crash tests), returning [`RootError::Interrupted`].
    pub fn commit_with(
        &self,
        new_packs: Vec<(PackRef, PathBuf)>,
        removed: Vec<PackRef>,
        new_lock: &Lockfile,
        mut hook: impl FnMut(&Step) -> bool,
    ) -> Result<(), RootError> {
        if self.read_only {
            return Err(RootError::InvalidCommit(
                "the root was opened read-only".into(),
            ));
        }
        let mut step = |s: Step| {
            tracing::debug!("commit step {s:?}");
            if hook(&s) {
                Ok(())
            } else {
                Err(RootError::Interrupted(s))
            }
        };
        let staging_root = self.staging_root();
        let mut swaps = Vec::new();
        for (r, staged) in &new_packs {
            let rel = staged
                .strip_prefix(&self.root)
                .ok()
                .filter(|rel| staged.starts_with(&staging_root) && is_staged_path(rel))
                .ok_or_else(|| {
                    RootError::InvalidCommit(format!(
                        "{} is not under {}",
                        staged.display(),
                        staging_root.display()
                    ))
                })?;
            let meta = fs::symlink_metadata(staged).map_err(io_err("inspect", staged))?;
            if !meta.is_dir() {
                return Err(RootError::InvalidCommit(format!(
                    "{} is not a directory",
                    staged.display()
                )));
            }
            if new_lock.get(r).is_none() {
                return Err(RootError::InvalidCommit(format!(
                    "`{r}` is installed but the new knap.lock does not list it"
                )));
            }
            swaps.push(Swap {
                pack_ref: r.clone(),
                staged: rel.to_owned(),
            });
        }
        for r in &removed {
            if new_packs.iter().any(|(n, _)| n == r) {
                return Err(RootError::InvalidCommit(format!(
                    "`{r}` is both installed and removed"
                )));
            }
            if new_lock.get(r).is_some() {
                return Err(RootError::InvalidCommit(format!(
                    "`{r}` is removed but the new knap.lock still lists it"
                )));
            }
        }
        let mut all: Vec<&PackRef> = new_packs.iter().map(|(r, _)| r).chain(&removed).collect();
        all.sort();
        if all.windows(2).any(|w| w[0] == w[1]) {
            return Err(RootError::InvalidCommit("a ref appears twice".into()));
        }

        let lock_bytes = new_lock.to_pretty_json().into_bytes();
        let journal = Journal {
            version: JOURNAL_VERSION,
            new_lock_sha256: knap_schema::digest::format_sha256(&Sha256::digest(&lock_bytes)),
            swaps,
            removed: removed.clone(),
        };
        let mut lock_written = false;
        let result = self.apply(
            &new_packs,
            &journal,
            &lock_bytes,
            new_lock,
            &mut step,
            &mut lock_written,
        );
        match result {
            Ok(()) => Ok(()),
            // A simulated crash: leave everything as a dead process would.
            Err(e @ RootError::Interrupted(_)) => Err(e),
            Err(e) if lock_written => {
                // The commit happened; what failed was cleaning up, which
                // the next open finishes.
                self.reporter.report(Event::Warning {
                    message: format!(
                        "{}; the install succeeded, and the next knap command will remove the leftovers",
                        knap_schema::report::chain_line(&e)
                    ),
                });
                Ok(())
            }
            Err(e) => Err(self.undo(e)),
        }
    }

    /// The steps of a validated commit.
    fn apply(
        &self,
        new_packs: &[(PackRef, PathBuf)],
        journal: &Journal,
        lock_bytes: &[u8],
        new_lock: &Lockfile,
        step: &mut impl FnMut(Step) -> Result<(), RootError>,
        lock_written: &mut bool,
    ) -> Result<(), RootError> {
        let private = self.private();
        let files = self.files_dir();
        fs::create_dir_all(&files).map_err(io_err("create", &files))?;
        for (r, staged) in new_packs {
            let expected = &new_lock.get(r).expect("checked by commit_with").tree;
            let scan = record::scan(staged).map_err(|source| RootError::Scan {
                pack_ref: r.to_string(),
                source,
            })?;
            let rec = match scan.to_record(r) {
                Some(rec) if *expected == rec.tree => rec,
                Some(rec) => {
                    return Err(RootError::TreeMismatch {
                        pack_ref: r.to_string(),
                        expected: expected.to_string(),
                        actual: rec.tree,
                    });
                }
                None => {
                    let what: Vec<String> = scan
                        .irregular
                        .iter()
                        .map(|i| format!("{} ({})", i.path, i.kind))
                        .collect();
                    return Err(RootError::TreeMismatch {
                        pack_ref: r.to_string(),
                        expected: expected.to_string(),
                        actual: format!("none: it holds {}", what.join(", ")),
                    });
                }
            };
            let bytes = serde_json::to_vec(&rec).expect("a record serialises");
            write_atomic(&self.record_path(r, expected), &bytes)?;
        }
        // The staged trees' data must be on disk before any rename can
        // make them live.
        let staged: Vec<&Path> = new_packs.iter().map(|(_, p)| p.as_path()).collect();
        sync_trees(&staged)?;
        step(Step::RecordsWritten)?;

        let trash = self.trash();
        fs::create_dir_all(&trash).map_err(io_err("create", &trash))?;
        let journal_bytes = serde_json::to_vec_pretty(journal).expect("journal serialises");
        write_atomic(&self.journal_path(), &journal_bytes)?;
        step(Step::JournalWritten)?;

        let moves = journal
            .swaps
            .iter()
            .map(|s| (&s.pack_ref, Some(&s.staged)))
            .chain(journal.removed.iter().map(|r| (r, None)));
        for (r, staged) in moves {
            let live = self.pack_dir(r);
            if exists(&live)? {
                rename(&live, &r.dir_in(&trash))?;
                sync_dir(&trash)?;
                sync_dir(&self.root)?;
                step(Step::OldMovedToTrash(r.clone()))?;
            }
            if let Some(staged) = staged {
                rename(&self.root.join(staged), &live)?;
                sync_dir(&self.root)?;
                step(Step::NewMovedIntoPlace(r.clone()))?;
            }
        }

        write_atomic(&self.lock_path(), lock_bytes)?;
        *lock_written = true;
        step(Step::LockWritten)?;
        remove_file(&self.journal_path())?;
        sync_dir(&private)?;
        step(Step::JournalRemoved)?;
        clean_dir(&trash)?;
        clean_staging(&self.staging_root())?;
        self.collect_records(Some(new_lock))?;
        step(Step::Cleaned)?;
        Ok(())
    }

    /// Undoes a commit that failed before `knap.lock` was replaced, so the
    /// root is as it was. Returns `error`, saying so when the undo itself
    /// failed (the next open then finishes it).
    fn undo(&self, error: RootError) -> RootError {
        let result = (|| -> Result<(), RootError> {
            let journal_path = self.journal_path();
            if exists(&journal_path)? {
                let bytes = fs::read(&journal_path).map_err(io_err("read", &journal_path))?;
                let journal: Journal =
                    serde_json::from_slice(&bytes).map_err(|e| RootError::InvalidJournal {
                        path: journal_path.clone(),
                        message: e.to_string(),
                    })?;
                self.roll_back(&journal)?;
                remove_file(&journal_path)?;
                sync_dir(&self.private())?;
            }
            self.remove_debris()?;
            let lock = self.read_lock().ok().flatten();
            self.collect_records(lock.as_ref())
        })();
        match result {
            Ok(()) => error,
            Err(undo) => {
                let (error, undo) = (chain_line(&error), chain_line(&undo));
                tracing::debug!("undoing the failed commit: {undo}");
                RootError::InvalidCommit(format!(
                    "{error}; undoing the commit also failed ({undo}); the next knap command with write access to {} restores it",
                    self.root.display()
                ))
            }
        }
    }

    /// Removes every per-file record that `lock` does not name (all of them
    /// without a lock), and temp files.
    fn collect_records(&self, lock: Option<&Lockfile>) -> Result<(), RootError> {
        let live: Vec<PathBuf> = lock
            .iter()
            .flat_map(|l| l.packs.iter())
            .map(|p| self.record_path(&p.pack_ref, &p.tree))
            .collect();
        remove_entries(&self.files_dir(), |path| live.iter().any(|l| l == path))
    }

    /// Empties staging and trash and removes temp files.
    fn remove_debris(&self) -> Result<(), RootError> {
        clean_dir(&self.trash())?;
        clean_staging(&self.staging_root())?;
        for dir in [self.root.clone(), self.private()] {
            remove_temp_files(&dir)?;
        }
        Ok(())
    }

    /// Completes or undoes an interrupted commit, then removes debris.
    fn recover(&self) -> Result<Recovery, RootError> {
        let journal_path = self.journal_path();
        let outcome = match fs::read(&journal_path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Recovery::Clean,
            Err(e) => return Err(io_err("read", &journal_path)(e)),
            Ok(bytes) => {
                let journal: Journal =
                    serde_json::from_slice(&bytes).map_err(|e| RootError::InvalidJournal {
                        path: journal_path.clone(),
                        message: e.to_string(),
                    })?;
                let outcome = if self.commit_completed(&journal)? {
                    Recovery::RolledForward
                } else {
                    self.roll_back(&journal)?;
                    Recovery::RolledBack
                };
                remove_file(&journal_path)?;
                sync_dir(&self.private())?;
                tracing::info!(
                    "recovered {} from an interrupted commit: {outcome:?}",
                    self.root.display()
                );
                outcome
            }
        };
        self.remove_debris()?;
        // An unreadable lock is reported by the command that reads it; its
        // records are kept until then.
        if let Ok(lock) = self.read_lock() {
            self.collect_records(lock.as_ref())?;
        }
        Ok(outcome)
    }

    /// True when the new lock is in place and every move happened.
    fn commit_completed(&self, journal: &Journal) -> Result<bool, RootError> {
        let lock = self.lock_path();
        let current = match knap_schema::digest::sha256_file(&lock) {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_err("read", &lock)(e)),
        };
        if current != journal.new_lock_sha256 {
            return Ok(false);
        }
        for s in &journal.swaps {
            if exists(&self.root.join(&s.staged))? || !exists(&self.pack_dir(&s.pack_ref))? {
                return Ok(false);
            }
        }
        for r in &journal.removed {
            if exists(&self.pack_dir(r))? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Puts every old pack dir back and every new one back into staging
    /// (renames only, so a second crash here is recovered the same way).
    /// The lock was never replaced (or was replaced with identical content),
    /// so it still agrees.
    fn roll_back(&self, journal: &Journal) -> Result<(), RootError> {
        let trash = self.trash();
        for s in &journal.swaps {
            let live = self.pack_dir(&s.pack_ref);
            let staged = self.root.join(&s.staged);
            // The live dir is the new one once the staged dir has moved:
            // put it back where it came from.
            if exists(&live)? && !exists(&staged)? {
                if let Some(parent) = staged.parent() {
                    fs::create_dir_all(parent).map_err(io_err("create", parent))?;
                }
                rename(&live, &staged)?;
            }
            // The old dir is in the trash only if it left its place.
            let old = s.pack_ref.dir_in(&trash);
            if !exists(&live)? && exists(&old)? {
                rename(&old, &live)?;
            }
        }
        for r in &journal.removed {
            let live = self.pack_dir(r);
            let old = r.dir_in(&trash);
            if !exists(&live)? && exists(&old)? {
                rename(&old, &live)?;
            }
        }
        sync_dir(&self.root)?;
        Ok(())
    }
}

fn exists(path: &Path) -> Result<bool, RootError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err("inspect", path)(e)),
    }
}

fn rename(from: &Path, to: &Path) -> Result<(), RootError> {
    fs::rename(from, to).map_err(|source| RootError::Io {
        action: "move",
        path: from.to_owned(),
        source: io::Error::new(source.kind(), format!("to {}: {source}", to.display())),
    })
}

fn remove_file(path: &Path) -> Result<(), RootError> {
    fs::remove_file(path).map_err(io_err("remove", path))
}

/// Makes renames and removals in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), RootError> {
    knap_schema::atomic::fsync_dir(dir).map_err(io_err("sync", dir))
}

/// Makes everything written under `trees` durable: an fsync of every file
/// and directory, from many threads at once (file systems batch
/// concurrent fsyncs into few journal commits: one thread needed seconds
/// for a 3,000-file pack, sixteen need a small fraction of that).
fn sync_trees(trees: &[&Path]) -> Result<(), RootError> {
    let mut paths = Vec::new();
    for t in trees {
        for e in walkdir::WalkDir::new(t) {
            let e = e.map_err(|e| {
                let p = e.path().unwrap_or(t).to_owned();
                let source = e
                    .into_io_error()
                    .unwrap_or_else(|| io::Error::other("filesystem loop"));
                RootError::Io {
                    action: "list",
                    path: p,
                    source,
                }
            })?;
            paths.push(e.into_path());
        }
    }
    let next = AtomicUsize::new(0);
    let threads = paths.len().clamp(1, 16);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| -> Result<(), RootError> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(p) = paths.get(i) else {
                            return Ok(());
                        };
                        File::open(p)
                            .and_then(|f| f.sync_all())
                            .map_err(io_err("sync", p))?;
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().expect("a sync thread panicked"))
    })
}

/// Replaces `path` atomically (`knap_schema::atomic`).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RootError> {
    atomic::write_atomic(path, bytes).map_err(io_err("write", path))
}

/// Removes the temporary files a crashed [`write_atomic`] left in `dir`.
fn remove_temp_files(dir: &Path) -> Result<(), RootError> {
    let items = match fs::read_dir(dir) {
        Ok(i) => i,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("list", dir)(e)),
    };
    for item in items {
        let item = item.map_err(io_err("list", dir))?;
        if is_temp_name(&item.file_name()) {
            remove_file(&item.path())?;
        }
    }
    Ok(())
}

/// Refuses a root whose private area, or a directory in it, is a symbolic
/// link (or a dangling one): opening, cleaning or writing through it would
/// reach whatever it names.
fn refuse_links(root: &Path) -> Result<(), RootError> {
    let private = root.join(PRIVATE);
    for path in [
        private.clone(),
        private.join("staging"),
        private.join("trash"),
        private.join(FILES),
        private.join("lock"),
        private.join("journal.json"),
    ] {
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => return Err(RootError::Symlink { path }),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) if e.kind() == io::ErrorKind::NotADirectory => {}
            Err(e) => return Err(io_err("inspect", &path)(e)),
        }
    }
    Ok(())
}

/// True for a file path a per-file record may hold: relative,
/// '/'-separated plain names, no control characters.
fn record_file_path_ok(path: &str) -> bool {
    let components: Vec<&str> = path.split('/').collect();
    knap_schema::entry_name::check_path(&components).is_ok()
}

/// The file whose lock marks a staging area in use.
const IN_USE: &str = ".in-use";

/// A staging area of an install in progress (see
/// [`InstallRoot::new_staging`]): other processes do not remove it while it
/// lives; dropping it removes what is left in it.
#[derive(Debug)]
pub struct StagingDir {
    path: PathBuf,
    next: AtomicU64,
    _in_use: File,
}

impl StagingDir {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A fresh, empty directory inside the area (one per pack fetched).
    pub fn new_dir(&self) -> Result<PathBuf, RootError> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let dir = self.path.join(n.to_string());
        fs::create_dir(&dir).map_err(io_err("create", &dir))?;
        Ok(dir)
    }
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// True when `entry` (of the staging root) is a [`StagingDir`] that a
/// live process holds.
fn staging_in_use(entry: &Path) -> bool {
    match File::open(entry.join(IN_USE)) {
        Ok(f) => matches!(f.try_lock(), Err(TryLockError::WouldBlock)),
        Err(_) => false,
    }
}

/// Empties the staging root but for the areas live installs hold.
fn clean_staging(dir: &Path) -> Result<(), RootError> {
    remove_entries(dir, staging_in_use)
}

/// Removes everything inside `dir` (which may not exist).
fn clean_dir(dir: &Path) -> Result<(), RootError> {
    remove_entries(dir, |_| false)
}

/// Removes every entry of `dir` (which may not exist) but those `keep`
/// says to keep.
fn remove_entries(dir: &Path, keep: impl Fn(&Path) -> bool) -> Result<(), RootError> {
    let items = match fs::read_dir(dir) {
        Ok(i) => i,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("list", dir)(e)),
    };
    for item in items {
        let path = item.map_err(io_err("list", dir))?.path();
        if keep(&path) {
            continue;
        }
        // An entry gone meanwhile (a live install's staging area, removed
        // by its process as it ends) is no longer there to remove.
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err("inspect", &path)(e)),
        };
        if meta.is_dir() {
            match fs::remove_dir_all(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("remove", &path)(e)),
            }
        } else {
            remove_file(&path)?;
        }
    }
    Ok(())
}

impl InstallRoot {
    /// True when the pack's directory is exactly the tree `knap.lock`
    /// records: the tree digest alone (no record, no per-file hashes), so
    /// an install can keep a pack that is already in place. A tree made by
    /// an older knap's digest rule is intact too.
    pub fn is_intact(&self, p: &LockedPack) -> bool {
        let dir = self.pack_dir(&p.pack_ref);
        // A link in place of the pack's directory is never intact: its
        // content would live outside the root.
        if !fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
            return false;
        }
        match record::scan_tree(&dir) {
            Ok(s) => match s.tree {
                Some(t) => {
                    p.tree == t
                        || knap_schema::digest::legacy_tree_digest_if_other(&dir)
                            .is_ok_and(|d| d.is_some_and(|d| p.tree == d.checksum))
                }
                None => false,
            },
            Err(_) => false,
        }
    }
}

impl InstallRoot {
    /// After a failed install into a root that did not exist before it:
    /// removes what opening it made (the root holding only knap's private
    /// area), so that a failure leaves nothing behind. A root that holds
    /// anything else is kept, and so is one that another install may be
    /// downloading into (it holds no lock then, only its staging area):
    /// the root goes only under its lock, taken without waiting, and with
    /// nothing staged.
    pub fn remove_if_unused(root: &Path) {
        let Ok(entries) = fs::read_dir(root) else {
            return;
        };
        let names: Vec<std::ffi::OsString> = entries.flatten().map(|e| e.file_name()).collect();
        if !names.iter().all(|n| n == PRIVATE) {
            return;
        }
        let private = root.join(PRIVATE);
        let Ok(lock) = File::open(private.join("lock")) else {
            return;
        };
        if lock.try_lock().is_err() {
            return;
        }
        let staged = fs::read_dir(private.join("staging"))
            .map(|mut d| d.next().is_some())
            .unwrap_or(false);
        if !staged {
            let _ = fs::remove_dir_all(&private);
            let _ = fs::remove_dir(root);
        }
    }
}
