//! Writing a signing run's files: the consistent-snapshot copy of every
//! target (`<sha256>.<name>`), then the metadata, `timestamp.json` last, so
//! that a reader never sees a timestamp naming a snapshot not yet written;
//! then the copies older than the previous publication are removed.

use std::collections::BTreeSet;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};

use tough::TargetName;
use tough::schema::{Signed, Targets};

use super::SignError;
use super::current::target_files;
use crate::hex;
use crate::layout::{TUF_DIR, hashed_name, is_target_name};

/// Writes the target copies, then `written` (timestamp last), then prunes.
pub(super) fn publish(
    dir: &Path,
    files: &[(String, Vec<u8>)],
    mut written: Vec<(PathBuf, Vec<u8>)>,
    previous: Option<&Signed<Targets>>,
    snapshot: NonZeroU64,
    targets: NonZeroU64,
) -> Result<(), SignError> {
    // Write: target copies, then metadata, timestamp last.
    for (name, bytes) in files {
        let copy = dir.join(hashed_name(name, &hex::sha256(bytes)));
        if !copy.is_file() {
            write_atomic(&copy, bytes)?;
        }
    }
    written.sort_by_key(|(p, _)| p.ends_with("timestamp.json"));
    for (path, bytes) in &written {
        write_atomic(path, bytes)?;
    }
    prune(dir, files, previous, snapshot, targets)
}

/// Restores the consistent-snapshot copies a rebuilt site lacks, for the
/// files that are still what `targets` says (`--timestamp-only`).
pub(super) fn restore_copies(dir: &Path, targets: &Signed<Targets>) -> Result<(), SignError> {
    for (name, bytes) in target_files(dir)? {
        let hash = hex::sha256(&bytes);
        let listed = TargetName::new(name.as_str()).ok().and_then(|n| {
            targets
                .signed
                .targets
                .get(&n)
                .map(|t| hex::encode(&t.hashes.sha256))
        });
        let copy = dir.join(hashed_name(&name, &hash));
        if listed.as_deref() == Some(hash.as_str()) && !copy.is_file() {
            write_atomic(&copy, &bytes)?;
        }
    }
    Ok(())
}

/// Removes consistent-snapshot files older than the previous publication:
/// the current and the previous ones stay, for readers mid-update.
fn prune(
    dir: &Path,
    files: &[(String, Vec<u8>)],
    previous: Option<&Signed<Targets>>,
    snapshot: NonZeroU64,
    targets: NonZeroU64,
) -> Result<(), SignError> {
    let mut keep: BTreeSet<String> = files
        .iter()
        .map(|(n, b)| hashed_name(n, &hex::sha256(b)))
        .collect();
    if let Some(prev) = previous {
        for (name, t) in &prev.signed.targets {
            keep.insert(hashed_name(name.raw(), &hex::encode(&t.hashes.sha256)));
        }
    }
    for sub in ["", "packs"] {
        let d = if sub.is_empty() {
            dir.to_path_buf()
        } else {
            dir.join(sub)
        };
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let Some((hash, rest)) = name.split_once('.') else {
                continue;
            };
            let rel = if sub.is_empty() {
                name.clone()
            } else {
                format!("{sub}/{name}")
            };
            let plain = if sub.is_empty() {
                rest.to_string()
            } else {
                format!("{sub}/{rest}")
            };
            if crate::hex::is_sha256_hex(hash) && is_target_name(&plain) && !keep.contains(&rel) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    let tuf = dir.join(TUF_DIR);
    let Ok(entries) = std::fs::read_dir(&tuf) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        for (suffix, current) in [(".snapshot.json", snapshot), (".targets.json", targets)] {
            if let Some(v) = name
                .strip_suffix(suffix)
                .and_then(|v| v.parse::<u64>().ok())
                && v + 1 < current.get()
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    Ok(())
}

/// [`knap_schema::atomic::write_atomic`] (temporary file in the same
/// directory, fsync, rename, directory fsync), creating the directory
/// first, with the path in the error.
pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SignError> {
    let io = |source| SignError::Io {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).map_err(io)?;
    knap_schema::atomic::write_atomic(path, bytes).map_err(io)
}
