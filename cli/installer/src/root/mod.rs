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
//!
//! The modules, one job each: `layout` (where each part of the root
//! lives, and the refusal of a symlinked private area), `journal` (the
//! record of a commit in progress, as untrusted input when read back),
//! `commit` (the transaction), `recovery` (finishing or undoing an
//! interrupted commit, removing debris), `staging` (areas that installs
//! prepare pack trees in), and `disk` (the file-system steps, each with its
//! path in the error). This module opens the root and reads its state.

mod commit;
mod disk;
mod journal;
mod layout;
mod recovery;
mod staging;

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use knap_schema::lock::{LockedPack, Lockfile};
use knap_schema::progress::{Event, Reporter};

use crate::record::{self, FileRecord, ScanError};

pub use commit::{CRASH_AFTER_STEP_ENV, Step};
pub use recovery::Recovery;
pub use staging::StagingDir;

use layout::{PRIVATE, refuse_links};

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

pub(crate) fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> RootError + 'a {
    move |source| RootError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// The largest `knap.lock` or journal read.
const MAX_STATE_BYTES: u64 = 64 * 1024 * 1024;

/// Reads `knap.lock` or a file of the private area: paths knap manages, so
/// a link, a FIFO or a device there is refused without blocking (`invalid`
/// says how); `None` when it does not exist.
pub(crate) fn read_managed(
    path: &Path,
    invalid: impl FnOnce(String) -> RootError,
) -> Result<Option<Vec<u8>>, RootError> {
    use knap_schema::fs::{FileError, Links, read_if_exists};
    match read_if_exists(path, Links::Refuse, MAX_STATE_BYTES) {
        Ok(bytes) => Ok(bytes),
        Err(FileError::Io { error, .. }) => Err(io_err("read", path)(error)),
        Err(e) => Err(invalid(e.reason())),
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
        let lock = match knap_schema::fs::open(&lock_path, knap_schema::fs::Links::Refuse) {
            Ok((f, _)) => {
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
            Err(e) if e.is_not_found() => File::open(root).map_err(io_err("open", root))?,
            Err(knap_schema::fs::FileError::Io { error, .. }) => {
                return Err(io_err("open", &lock_path)(error));
            }
            Err(e) => {
                return Err(RootError::InvalidLock {
                    path: lock_path,
                    message: e.reason(),
                });
            }
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
        let Ok((lock, _)) =
            knap_schema::fs::open(&private.join("lock"), knap_schema::fs::Links::Refuse)
        else {
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

    /// The per-file record of a locked pack, `None` when there is none
    /// (a root written by an older knap) or it is unreadable, does not
    /// describe that pack's tree, or names a file that no pack can hold
    /// (an absolute path, `..`, a control character).
    pub fn read_record(&self, pack: &LockedPack) -> Option<FileRecord> {
        let path = self.record_path(&pack.pack_ref, &pack.tree);
        let bytes =
            knap_schema::fs::read(&path, knap_schema::fs::Links::Refuse, MAX_STATE_BYTES).ok()?;
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
        let invalid = |message| RootError::InvalidLock {
            path: path.clone(),
            message,
        };
        let Some(bytes) = read_managed(&path, invalid)? else {
            return Ok(None);
        };
        let text = String::from_utf8(bytes).map_err(|_| invalid("is not UTF-8 text".into()))?;
        knap_schema::json::from_json_str(&text)
            .map(Some)
            .map_err(|e| RootError::InvalidLock {
                path,
                message: e.to_string(),
            })
    }

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
        record::scan_tree(&dir).is_ok_and(|s| {
            s.tree
                .is_some_and(|t| knap_schema::digest::rule_matching(&dir, &t, &p.tree).is_some())
        })
    }
}

/// True for a file path a per-file record may hold: relative,
/// '/'-separated plain names, no control characters.
fn record_file_path_ok(path: &str) -> bool {
    let components: Vec<&str> = path.split('/').collect();
    knap_schema::entry_name::check_path(&components).is_ok()
}
