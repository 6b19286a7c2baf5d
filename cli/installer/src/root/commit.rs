//! The commit: every staged pack scanned and recorded, a journal, the
//! renames, the new `knap.lock`, then the cleaning; undone at once when it
//! fails before `knap.lock` is replaced (see the parent module).

use std::fs;
use std::path::{Path, PathBuf};

use knap_schema::PackRef;
use knap_schema::lock::Lockfile;
use knap_schema::progress::Event;
use knap_schema::report::chain_line;
use sha2::{Digest, Sha256};

use super::disk::{clean_dir, exists, remove_file, rename, sync_dir, sync_trees, write_atomic};
use super::journal::{JOURNAL_VERSION, Journal, Swap, is_staged_path};
use super::staging::clean_staging;
use super::{InstallRoot, RootError, io_err};
use crate::record;

/// The crash-test failpoint (see the module documentation; read only with
/// the `failpoints` feature).
pub const CRASH_AFTER_STEP_ENV: &str = "KNAP_TEST_CRASH_AFTER_STEP";

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

impl InstallRoot {
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
                        chain_line(&e)
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
            if let Some(journal) = self.read_journal()? {
                self.roll_back(&journal)?;
                remove_file(&self.journal_path())?;
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
}
