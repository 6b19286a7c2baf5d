//! Staging areas: where installs prepare new pack trees, on the root's
//! file system so that a commit can rename them into place. A
//! [`StagingDir`] is marked in use by a lock on its `.in-use` file, so
//! that other processes' recovery leaves it alone.

use std::fs::{self, File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::disk::remove_entries;
use super::{InstallRoot, RootError, io_err};

impl InstallRoot {
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
pub(super) fn staging_in_use(entry: &Path) -> bool {
    match knap_schema::fs::open(&entry.join(IN_USE), knap_schema::fs::Links::Refuse) {
        Ok((f, _)) => matches!(f.try_lock(), Err(TryLockError::WouldBlock)),
        Err(_) => false,
    }
}

/// Empties the staging root but for the areas live installs hold.
pub(super) fn clean_staging(dir: &Path) -> Result<(), RootError> {
    remove_entries(dir, staging_in_use)
}
