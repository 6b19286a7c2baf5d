//! What a registry directory holds now: the metadata already in `tuf/`
//! (the root chain, and the timestamp, snapshot and targets it names) and
//! the index files to sign.

use std::path::Path;

use serde::de::DeserializeOwned;
use tough::schema::{Root, Signed, Snapshot, Targets, Timestamp as TimestampRole};

use super::SignError;
use crate::layout::{TUF_DIR, is_target_name};

/// The metadata already in `tuf/`.
pub(super) struct Current {
    pub(super) roots: Vec<Signed<Root>>,
    pub(super) timestamp: Option<Signed<TimestampRole>>,
    pub(super) snapshot: Option<Signed<Snapshot>>,
    pub(super) targets: Option<Signed<Targets>>,
}

/// The registry's index files, by target name, with their bytes.
pub(super) fn target_files(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, SignError> {
    let mut files = vec![("index.json".to_string(), read(&dir.join("index.json"))?)];
    let config = dir.join("config.json");
    if config.is_file() {
        files.push(("config.json".into(), read(&config)?));
    }
    let packs = dir.join("packs");
    if packs.is_dir() {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&packs).map_err(|source| SignError::Io {
            path: packs.clone(),
            source,
        })? {
            let entry = entry.map_err(|source| SignError::Io {
                path: packs.clone(),
                source,
            })?;
            if let Some(name) = entry.file_name().to_str() {
                let target = format!("packs/{name}");
                if is_target_name(&target) && entry.file_type().is_ok_and(|t| t.is_file()) {
                    names.push(target);
                }
            }
        }
        names.sort();
        for name in names {
            let bytes = read(&dir.join(&name))?;
            files.push((name, bytes));
        }
    }
    Ok(files)
}

/// The largest file of a site read for signing (its `index.json` is the
/// largest: ~80 MB for 100,000 versions).
const MAX_SITE_FILE: u64 = 1 << 30;

/// Reads a file of the site or of its `tuf/` through `knap_schema::fs`: a
/// FIFO or a device is refused, not waited on.
pub(super) fn read(path: &Path) -> Result<Vec<u8>, SignError> {
    Ok(knap_schema::fs::read(
        path,
        knap_schema::fs::Links::Follow,
        MAX_SITE_FILE,
    )?)
}

fn parse<T: DeserializeOwned>(path: &Path) -> Result<T, SignError> {
    let bytes = read(path)?;
    serde_json::from_slice(&bytes).map_err(|e| SignError::BadMetadata {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

pub(super) fn read_current(dir: &Path) -> Result<Current, SignError> {
    let tuf = dir.join(TUF_DIR);
    let mut versions = Vec::new();
    if tuf.is_dir() {
        for entry in std::fs::read_dir(&tuf).map_err(|source| SignError::Io {
            path: tuf.clone(),
            source,
        })? {
            let entry = entry.map_err(|source| SignError::Io {
                path: tuf.clone(),
                source,
            })?;
            if let Some(v) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".root.json"))
                .and_then(|v| v.parse::<u64>().ok())
            {
                versions.push(v);
            }
        }
    }
    versions.sort_unstable();
    let mut roots = Vec::new();
    for (i, v) in versions.iter().enumerate() {
        if *v != i as u64 + 1 {
            return Err(SignError::RootGap {
                dir: tuf.clone(),
                missing: i as u64 + 1,
                newest: *versions.last().unwrap_or(v),
            });
        }
        let path = tuf.join(format!("{v}.root.json"));
        let root: Signed<Root> = parse(&path)?;
        if root.signed.version.get() != *v {
            return Err(SignError::BadMetadata {
                path,
                reason: format!("it says version {}", root.signed.version),
            });
        }
        roots.push(root);
    }
    let ts_path = tuf.join("timestamp.json");
    let timestamp: Option<Signed<TimestampRole>> = if ts_path.is_file() {
        Some(parse(&ts_path)?)
    } else {
        None
    };
    let snapshot: Option<Signed<Snapshot>> = match timestamp
        .as_ref()
        .and_then(|t| t.signed.meta.get("snapshot.json"))
    {
        Some(m) => Some(parse(&tuf.join(format!("{}.snapshot.json", m.version)))?),
        None => None,
    };
    let targets: Option<Signed<Targets>> = match snapshot
        .as_ref()
        .and_then(|s| s.signed.meta.get("targets.json"))
    {
        Some(m) => Some(parse(&tuf.join(format!("{}.targets.json", m.version)))?),
        None => None,
    };
    Ok(Current {
        roots,
        timestamp,
        snapshot,
        targets,
    })
}
