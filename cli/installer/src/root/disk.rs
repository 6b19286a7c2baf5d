//! The file-system steps of a commit and of recovery, each error naming
//! its action and path ([`RootError::Io`]).

use std::fs::{self, File};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use knap_schema::atomic::{self, is_temp_name};

use super::{RootError, io_err};

pub(super) fn exists(path: &Path) -> Result<bool, RootError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err("inspect", path)(e)),
    }
}

pub(super) fn rename(from: &Path, to: &Path) -> Result<(), RootError> {
    fs::rename(from, to).map_err(|source| RootError::Io {
        action: "move",
        path: from.to_owned(),
        source: io::Error::new(source.kind(), format!("to {}: {source}", to.display())),
    })
}

pub(super) fn remove_file(path: &Path) -> Result<(), RootError> {
    fs::remove_file(path).map_err(io_err("remove", path))
}

/// Makes renames and removals in `dir` durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), RootError> {
    knap_schema::atomic::fsync_dir(dir).map_err(io_err("sync", dir))
}

/// Makes everything written under `trees` durable: an fsync of every file
/// and directory, from many threads at once (file systems batch
/// concurrent fsyncs into few journal commits: one thread needed seconds
/// for a 3,000-file pack, sixteen need a small fraction of that).
pub(super) fn sync_trees(trees: &[&Path]) -> Result<(), RootError> {
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
pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RootError> {
    atomic::write_atomic(path, bytes).map_err(io_err("write", path))
}

/// Removes the temporary files a crashed [`write_atomic`] left in `dir`.
pub(super) fn remove_temp_files(dir: &Path) -> Result<(), RootError> {
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

/// Removes everything inside `dir` (which may not exist).
pub(super) fn clean_dir(dir: &Path) -> Result<(), RootError> {
    remove_entries(dir, |_| false)
}

/// Removes every entry of `dir` (which may not exist) but those `keep`
/// says to keep.
pub(super) fn remove_entries(dir: &Path, keep: impl Fn(&Path) -> bool) -> Result<(), RootError> {
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
