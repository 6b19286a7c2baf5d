//! An install root (formats.md §5) and the transaction that changes it.
//!
//! ```text
//! <root>/<ref>/            one active version of each pack
//! <root>/knap.lock         the root's state, replaced atomically
//! <root>/.knap/lock        exclusive process-wide lock (held while open)
//! <root>/.knap/staging/    new pack trees, prepared before a commit
//! <root>/.knap/trash/      old pack trees during a commit
//! <root>/.knap/journal.json  the planned swaps of a commit in progress
//! ```
//!
//! [`InstallRoot::commit`] writes and fsyncs a journal naming every swap and
//! the SHA-256 of the new `knap.lock`, moves each old pack dir to the trash
//! and each staged dir into place (renames, so a pack dir is always wholly
//! old or wholly new), replaces `knap.lock` (temp file, fsync, rename,
//! directory fsync), then deletes the journal and the trash.
//!
//! [`InstallRoot::open`] takes the lock and recovers from a crash: with a
//! journal present it rolls forward when the new `knap.lock` is in place
//! and every swap completed, and otherwise rolls back (trash back into
//! place, half-swapped new dirs removed). Either way every pack dir then
//! agrees with `knap.lock`, and staging and trash debris is removed.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use knap_schema::lock::Lockfile;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const PRIVATE: &str = ".knap";
const LOCK_FILE: &str = "knap.lock";

/// Why an install root operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: {message}", path.display())]
    InvalidLock { path: PathBuf, message: String },
    #[error("{}: unreadable journal ({message}); inspect {} and the pack directories by hand, then delete it", path.display(), path.display())]
    InvalidJournal { path: PathBuf, message: String },
    #[error("invalid commit: {0}")]
    InvalidCommit(String),
    /// The commit was stopped by its step hook (crash simulation).
    #[error("commit interrupted after {0:?}")]
    Interrupted(Step),
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
    JournalWritten,
    OldMovedToTrash(String),
    NewMovedIntoPlace(String),
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
    version: u32,
    /// `sha256:` of the new knap.lock's bytes.
    new_lock_sha256: String,
    /// Packs replaced or added: ref and staged dir relative to the root.
    swaps: Vec<Swap>,
    /// Packs removed.
    removed: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Swap {
    #[serde(rename = "ref")]
    pack_ref: String,
    staged: PathBuf,
}

/// An open install root, holding its exclusive lock until dropped.
#[derive(Debug)]
pub struct InstallRoot {
    root: PathBuf,
    recovery: Recovery,
    _lock: File,
}

impl InstallRoot {
    /// Opens (creating if needed) the root, takes its lock (printing once
    /// to stderr and blocking if another process holds it), and recovers
    /// from any interrupted commit.
    pub fn open(root: &Path) -> Result<Self, RootError> {
        Self::open_with(root, |root| {
            eprintln!(
                "waiting for another knap process to finish with {}",
                root.display()
            );
        })
    }

    /// [`open`](Self::open), calling `on_wait` once instead of printing when
    /// the lock is held elsewhere.
    pub fn open_with(root: &Path, on_wait: impl FnOnce(&Path)) -> Result<Self, RootError> {
        let private = root.join(PRIVATE);
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
            _lock: lock,
        };
        me.recovery = me.recover()?;
        Ok(me)
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

    /// Installs `new_packs` (ref, staged dir under [`new_staging_dir`]),
    /// removes `removed`, and writes `new_lock`, all or nothing.
    ///
    /// [`new_staging_dir`]: Self::new_staging_dir
    pub fn commit(
        &self,
        new_packs: Vec<(String, PathBuf)>,
        removed: Vec<String>,
        new_lock: &Lockfile,
    ) -> Result<(), RootError> {
        self.commit_with(new_packs, removed, new_lock, |_| true)
    }

    /// [`commit`](Self::commit) calling `hook` after each step; when it
    /// returns false, the commit stops there as if the process had died
    /// (for crash tests), returning [`RootError::Interrupted`].
    pub fn commit_with(
        &self,
        new_packs: Vec<(String, PathBuf)>,
        removed: Vec<String>,
        new_lock: &Lockfile,
        mut hook: impl FnMut(&Step) -> bool,
    ) -> Result<(), RootError> {
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
            knap_schema::ident::check_ref(r)
                .map_err(|e| RootError::InvalidCommit(format!("`{r}`: {e}")))?;
            let rel = staged
                .strip_prefix(&self.root)
                .ok()
                .filter(|_| staged.starts_with(&staging_root))
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
            swaps.push(Swap {
                pack_ref: r.clone(),
                staged: rel.to_owned(),
            });
        }
        for r in &removed {
            knap_schema::ident::check_ref(r)
                .map_err(|e| RootError::InvalidCommit(format!("`{r}`: {e}")))?;
            if new_packs.iter().any(|(n, _)| n == r) {
                return Err(RootError::InvalidCommit(format!(
                    "`{r}` is both installed and removed"
                )));
            }
        }
        let mut all: Vec<&String> = new_packs.iter().map(|(r, _)| r).chain(&removed).collect();
        all.sort();
        if all.windows(2).any(|w| w[0] == w[1]) {
            return Err(RootError::InvalidCommit("a ref appears twice".into()));
        }

        let lock_bytes = new_lock.to_pretty_json().into_bytes();
        let journal = Journal {
            version: 1,
            new_lock_sha256: knap_schema::digest::format_sha256(&Sha256::digest(&lock_bytes)),
            swaps,
            removed: removed.clone(),
        };
        let private = self.private();
        let trash = self.trash();
        fs::create_dir_all(&trash).map_err(io_err("create", &trash))?;
        let journal_bytes = serde_json::to_vec_pretty(&journal).expect("journal serialises");
        write_atomic(&self.journal_path(), &journal_bytes, &private)?;
        step(Step::JournalWritten)?;

        let moves = journal
            .swaps
            .iter()
            .map(|s| (&s.pack_ref, Some(&s.staged)))
            .chain(journal.removed.iter().map(|r| (r, None)));
        for (r, staged) in moves {
            let live = self.root.join(r);
            if exists(&live)? {
                rename(&live, &trash.join(r))?;
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

        write_atomic(&self.lock_path(), &lock_bytes, &self.root)?;
        step(Step::LockWritten)?;
        remove_file(&self.journal_path())?;
        sync_dir(&private)?;
        step(Step::JournalRemoved)?;
        clean_dir(&trash)?;
        clean_dir(&self.staging_root())?;
        step(Step::Cleaned)?;
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
        clean_dir(&self.trash())?;
        clean_dir(&self.staging_root())?;
        for tmp in [
            self.root.join(format!("{LOCK_FILE}.tmp")),
            self.private().join("journal.json.tmp"),
        ] {
            if exists(&tmp)? {
                remove_file(&tmp)?;
            }
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
            if exists(&self.root.join(&s.staged))? || !exists(&self.root.join(&s.pack_ref))? {
                return Ok(false);
            }
        }
        for r in &journal.removed {
            if exists(&self.root.join(r))? {
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
            let live = self.root.join(&s.pack_ref);
            let staged = self.root.join(&s.staged);
            let old_saved = exists(&trash.join(&s.pack_ref))?;
            // The live dir is the new one once the staged dir has moved:
            // put it back where it came from.
            if exists(&live)? && !exists(&staged)? {
                if let Some(parent) = staged.parent() {
                    fs::create_dir_all(parent).map_err(io_err("create", parent))?;
                }
                rename(&live, &staged)?;
            }
            if old_saved {
                rename(&trash.join(&s.pack_ref), &live)?;
            }
        }
        for r in &journal.removed {
            if exists(&trash.join(r))? {
                rename(&trash.join(r), &self.root.join(r))?;
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
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|f| f.sync_all())
            .map_err(io_err("sync", dir))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Writes `path` via a temp file beside it in `dir`: write, fsync, rename,
/// fsync the directory.
fn write_atomic(path: &Path, bytes: &[u8], dir: &Path) -> Result<(), RootError> {
    let name = path
        .file_name()
        .expect("a file path has a name")
        .to_string_lossy();
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = File::create(&tmp).map_err(io_err("create", &tmp))?;
    f.write_all(bytes).map_err(io_err("write", &tmp))?;
    f.sync_all().map_err(io_err("sync", &tmp))?;
    drop(f);
    rename(&tmp, path)?;
    sync_dir(dir)
}

/// Removes everything inside `dir` (which may not exist).
fn clean_dir(dir: &Path) -> Result<(), RootError> {
    let items = match fs::read_dir(dir) {
        Ok(i) => i,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("list", dir)(e)),
    };
    for item in items {
        let path = item.map_err(io_err("list", dir))?.path();
        let meta = fs::symlink_metadata(&path).map_err(io_err("inspect", &path))?;
        if meta.is_dir() {
            fs::remove_dir_all(&path).map_err(io_err("remove", &path))?;
        } else {
            remove_file(&path)?;
        }
    }
    Ok(())
}
