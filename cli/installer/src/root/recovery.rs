//! Recovery: an interrupted commit (its journal is there) is completed
//! when the new `knap.lock` is in place and every swap happened, and undone
//! otherwise; then staging and trash debris, temp files and the per-file
//! records the lock does not name are removed.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use knap_schema::atomic::is_temp_name;
use knap_schema::lock::Lockfile;

use super::disk::{
    clean_dir, exists, remove_entries, remove_file, remove_temp_files, rename, sync_dir,
};
use super::journal::Journal;
use super::staging::{clean_staging, staging_in_use};
use super::{InstallRoot, RootError, io_err};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// No commit was in progress.
    Clean,
    /// The interrupted commit was completed.
    RolledForward,
    /// The interrupted commit was undone.
    RolledBack,
}

impl InstallRoot {
    /// Whether an interrupted commit left anything that
    /// [`recover`](Self::recover) would act on: a journal, staging or
    /// trash entries, or temp files.
    pub(super) fn needs_recovery(&self) -> Result<bool, RootError> {
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

    /// Removes every per-file record that `lock` does not name (all of them
    /// without a lock), and temp files.
    pub(super) fn collect_records(&self, lock: Option<&Lockfile>) -> Result<(), RootError> {
        let live: Vec<PathBuf> = lock
            .iter()
            .flat_map(|l| l.packs.iter())
            .map(|p| self.record_path(&p.pack_ref, &p.tree))
            .collect();
        remove_entries(&self.files_dir(), |path| live.iter().any(|l| l == path))
    }

    /// Empties staging and trash and removes temp files.
    pub(super) fn remove_debris(&self) -> Result<(), RootError> {
        clean_dir(&self.trash())?;
        clean_staging(&self.staging_root())?;
        for dir in [self.root.clone(), self.private()] {
            remove_temp_files(&dir)?;
        }
        Ok(())
    }

    /// Completes or undoes an interrupted commit, then removes debris.
    pub(super) fn recover(&self) -> Result<Recovery, RootError> {
        let outcome = match self.read_journal()? {
            None => Recovery::Clean,
            Some(journal) => {
                let outcome = if self.commit_completed(&journal)? {
                    Recovery::RolledForward
                } else {
                    self.roll_back(&journal)?;
                    Recovery::RolledBack
                };
                remove_file(&self.journal_path())?;
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
    pub(super) fn roll_back(&self, journal: &Journal) -> Result<(), RootError> {
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
