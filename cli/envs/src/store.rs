//! The environments directory (formats.md section 8):
//!
//! ```text
//! <envs_dir>/<ref>/python-3.11-<id12>/   a venv
//! <envs_dir>/<ref>/node-20-<id12>/       node_modules and the package files
//! <envs_dir>/<ref>/<dir>/.knap-env.json  written last: the environment is complete
//! <envs_dir>/<ref>/.trash-*              an environment being removed
//! <envs_dir>/<ref>/.prev-<dir>            the environment a forced rebuild replaces,
//!                                         put back if the rebuild fails
//! <envs_dir>/.locks/<ref>.lock           held while a pack's environments change
//! ```
//!
//! Environments are built in their final directory (venvs hold absolute
//! paths), so a build that dies leaves a directory without a complete
//! `.knap-env.json`: debris, which [`EnvStore::recover`] removes once no
//! process holds the pack's lock. Lock files are never removed, so two
//! processes always lock the same file.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use knap_schema::PackRef;
use knap_schema::env::{ENV_RECORD_FILE, EnvDir, EnvRecord};
use knap_schema::lock::Lockfile;

const LOCKS: &str = ".locks";
const TRASH_PREFIX: &str = ".trash-";
const PREV_PREFIX: &str = ".prev-";

/// The entries of `dir`; none when it does not exist.
fn entries(dir: &Path) -> io::Result<Vec<std::fs::DirEntry>> {
    match std::fs::read_dir(dir) {
        Ok(items) => items.collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// The environments directory.
#[derive(Debug, Clone)]
pub struct EnvStore {
    dir: PathBuf,
}

/// A pack's lock, held while its environments are built, removed or
/// recovered; released when dropped.
#[derive(Debug)]
pub struct PackLock {
    _file: File,
}

/// An environment directory found on disk.
#[derive(Debug, Clone)]
pub struct Found {
    pub dir: EnvDir,
    pub path: PathBuf,
    /// Its `.knap-env.json`, when complete and agreeing with its name.
    pub record: Option<EnvRecord>,
}

impl EnvStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// `<envs_dir>/<ref>`.
    pub fn pack_dir(&self, pack: &PackRef) -> PathBuf {
        pack.dir_in(&self.dir)
    }

    /// `<envs_dir>/<ref>/<dir>`.
    pub fn env_path(&self, pack: &PackRef, dir: &EnvDir) -> PathBuf {
        dir.dir_in(&self.pack_dir(pack))
    }

    fn lock_file(&self, pack: &PackRef) -> io::Result<File> {
        let dir = self.dir.join(LOCKS);
        std::fs::create_dir_all(&dir)?;
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(format!("{pack}.lock")))
    }

    /// Takes `pack`'s lock, waiting for another process that holds it.
    pub fn lock(&self, pack: &PackRef) -> io::Result<PackLock> {
        let f = self.lock_file(pack)?;
        f.lock()?;
        Ok(PackLock { _file: f })
    }

    /// Takes `pack`'s lock if no one holds it.
    pub fn try_lock(&self, pack: &PackRef) -> io::Result<Option<PackLock>> {
        let f = self.lock_file(pack)?;
        match f.try_lock() {
            Ok(()) => Ok(Some(PackLock { _file: f })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }

    /// The complete record of the environment at `path` named `dir`: its
    /// `.knap-env.json` reads and agrees with the name (runtime, id).
    pub fn read_record(path: &Path, dir: &EnvDir) -> Option<EnvRecord> {
        // Through `knap_schema::fs`: the record is knap's own file (no
        // link), and a FIFO there is a broken record, not a wait.
        let bytes = knap_schema::fs::read(
            &path.join(ENV_RECORD_FILE),
            knap_schema::fs::Links::Refuse,
            16 << 20,
        )
        .ok()?;
        let r: EnvRecord = serde_json::from_slice(&bytes).ok()?;
        (r.runtime == dir.runtime() && r.id.hex().starts_with(dir.id12())).then_some(r)
    }

    /// Writes the record, the last step of a build (atomically: the file
    /// is there whole or not at all).
    pub fn write_record(path: &Path, record: &EnvRecord) -> io::Result<()> {
        let mut bytes = serde_json::to_vec_pretty(record).expect("a record serialises");
        bytes.push(b'\n');
        knap_schema::atomic::write_atomic(&path.join(ENV_RECORD_FILE), &bytes)
    }

    /// The environment directories of `pack` on disk, complete or not.
    pub fn found(&self, pack: &PackRef) -> io::Result<Vec<Found>> {
        let mut out = Vec::new();
        for item in entries(&self.pack_dir(pack))? {
            let Some(dir) = item
                .file_name()
                .to_str()
                .and_then(|n| EnvDir::parse(n).ok())
            else {
                continue;
            };
            let path = item.path();
            out.push(Found {
                record: Self::read_record(&path, &dir),
                dir,
                path,
            });
        }
        out.sort_by(|a, b| a.dir.cmp(&b.dir));
        Ok(out)
    }

    /// The refs that have a directory here.
    pub fn packs(&self) -> io::Result<Vec<PackRef>> {
        let mut out = Vec::new();
        for item in entries(&self.dir)? {
            if let Some(r) = item.file_name().to_str().and_then(|n| n.parse().ok())
                && item.file_type()?.is_dir()
            {
                out.push(r);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Removes a directory as one step for readers: renamed aside first
    /// (`.trash-*`, which recovery also removes), then deleted.
    pub fn remove_dir(&self, pack: &PackRef, path: &Path) -> io::Result<()> {
        static N: AtomicU64 = AtomicU64::new(0);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let aside = self.pack_dir(pack).join(format!(
            "{TRASH_PREFIX}{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        match std::fs::rename(path, &aside) {
            Ok(()) => std::fs::remove_dir_all(&aside),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Under `pack`'s lock: moves the complete environment at `path`
    /// aside (`.prev-<dir>`), so that a forced rebuild can build in its
    /// directory and [`EnvStore::put_back`] restore it if the rebuild
    /// fails. Returns where it went, or `None` when there was nothing.
    pub fn set_aside(
        &self,
        pack: &PackRef,
        path: &Path,
        _held: &PackLock,
    ) -> io::Result<Option<PathBuf>> {
        let Some(name) = path.file_name() else {
            return Ok(None);
        };
        let aside = self
            .pack_dir(pack)
            .join(format!("{PREV_PREFIX}{}", name.to_string_lossy()));
        self.remove_dir(pack, &aside)?;
        match std::fs::rename(path, &aside) {
            Ok(()) => Ok(Some(aside)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Under `pack`'s lock: the environment set aside at `aside` back at
    /// `path`, whatever a failed rebuild left there removed first.
    pub fn put_back(
        &self,
        pack: &PackRef,
        aside: &Path,
        path: &Path,
        _held: &PackLock,
    ) -> io::Result<()> {
        self.remove_dir(pack, path)?;
        std::fs::rename(aside, path)
    }

    /// Under `pack`'s lock: puts back an environment a forced rebuild set
    /// aside when the rebuild did not complete (else drops it), removes
    /// its half-built environments (no complete record) and half-removed
    /// ones. Returns what was removed.
    pub fn recover(&self, pack: &PackRef, held: &PackLock) -> io::Result<Vec<PathBuf>> {
        let mut removed = Vec::new();
        for item in entries(&self.pack_dir(pack))? {
            let name = item.file_name().to_string_lossy().into_owned();
            let Some(dir) = name
                .strip_prefix(PREV_PREFIX)
                .and_then(|d| EnvDir::parse(d).ok())
            else {
                continue;
            };
            let target = self.env_path(pack, &dir);
            if Self::read_record(&target, &dir).is_some() {
                self.remove_dir(pack, &item.path())?;
                removed.push(item.path());
            } else {
                tracing::info!("putting back the environment {}", target.display());
                self.put_back(pack, &item.path(), &target, held)?;
            }
        }
        for f in self.found(pack)? {
            if f.record.is_none() {
                tracing::info!("removing the half-built environment {}", f.path.display());
                self.remove_dir(pack, &f.path)?;
                removed.push(f.path);
            }
        }
        if let Ok(items) = std::fs::read_dir(self.pack_dir(pack)) {
            for item in items.flatten() {
                if item.file_name().to_string_lossy().starts_with(TRASH_PREFIX) {
                    std::fs::remove_dir_all(item.path())?;
                    removed.push(item.path());
                }
            }
        }
        Ok(removed)
    }

    /// Removes every environment of `pack` (under its lock).
    pub fn remove_pack(&self, pack: &PackRef, _held: &PackLock) -> io::Result<Vec<PathBuf>> {
        let mut removed = Vec::new();
        for f in self.found(pack)? {
            self.remove_dir(pack, &f.path)?;
            removed.push(f.path);
        }
        self.recover(pack, _held)?;
        match std::fs::remove_dir(self.pack_dir(pack)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            // Something knap did not write is left alone.
            Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => {}
            Err(e) => return Err(e),
        }
        Ok(removed)
    }

    /// Removes the environments `lock` does not name, and recovers
    /// half-built ones, for every pack whose lock is free (a pack being
    /// built by another process is left alone). Returns what was removed.
    pub fn collect_garbage(&self, lock: &Lockfile) -> io::Result<Vec<PathBuf>> {
        let mut removed = Vec::new();
        for pack in self.packs()? {
            let Some(held) = self.try_lock(&pack)? else {
                continue;
            };
            if lock.get(&pack).is_none() {
                removed.extend(self.remove_pack(&pack, &held)?);
                continue;
            }
            let named = lock.envs_of(&pack);
            for f in self.found(&pack)? {
                if f.record.is_some() && !named.iter().any(|e| e.dir == f.dir) {
                    self.remove_dir(&pack, &f.path)?;
                    removed.push(f.path);
                }
            }
            removed.extend(self.recover(&pack, &held)?);
        }
        Ok(removed)
    }
}
