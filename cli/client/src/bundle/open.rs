//! Reading a bundle for `knap install --bundle`: a directory, or a tar of
//! one (extracted into a temporary directory with the hardened extraction
//! of pack archives, `knap_installer::extract`). Every file is untrusted:
//! the lock and the index are validated as they are read, and an archive
//! is looked for only at the name joined from a locked (validated) ref and
//! version, never at a URL the index gives.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use knap_installer::Limits;
use knap_schema::fs::Links;
use knap_schema::index::InstallSource;
use knap_schema::lock::{LockedSource, Lockfile};
use knap_schema::{Checksum, ErrorKind as Kind, KnapError, PackRef};

use super::{ARCHIVES_DIR, BundleInfo, INDEX_FILE, INFO_FILE, LOCK_FILE, archive_name};

/// The largest `index.json`, `knap.lock` or `bundle.json` read (64 MiB).
const MAX_DOCUMENT: u64 = 64 << 20;

/// A bundle, checked to hold every pack its lock names.
#[derive(Debug)]
pub struct Bundle {
    /// The bundle as the user named it.
    pub path: PathBuf,
    /// Where its files are (a temporary directory for a tar).
    pub dir: PathBuf,
    /// The lock it reproduces.
    pub lock: Lockfile,
    pub info: BundleInfo,
    /// Each locked pack's archive and the checksum the bundle's index
    /// gives for it.
    pub archives: BTreeMap<PackRef, (PathBuf, Checksum)>,
    /// The extracted tar, removed when the bundle is dropped.
    _extracted: Option<tempfile::TempDir>,
}

impl Bundle {
    /// Reads the bundle at `path` (a directory or a tar of one; `limits`
    /// bound the tar's extraction). Not a bundle: a usage error (exit 2)
    /// naming what is missing; a lock entry the index or the archives
    /// lack, or a document that is not valid: an integrity error (exit 4)
    /// naming it.
    pub fn open(path: &Path, limits: Limits) -> Result<Bundle, KnapError> {
        let meta = std::fs::metadata(path).map_err(|e| {
            KnapError::usage(format!("--bundle {}: cannot read it", path.display())).caused_by(e)
        })?;
        let (dir, extracted) = if meta.is_dir() {
            (path.to_owned(), None)
        } else {
            let tmp = tempfile::Builder::new()
                .prefix("knap-bundle-")
                .tempdir()
                .map_err(|e| {
                    KnapError::new(Kind::Other, "cannot create a temporary directory").caused_by(e)
                })?;
            let dir = tmp.path().join("bundle");
            knap_installer::extract(path, &dir, &limits).map_err(|e| {
                let hint = e.hint();
                let err = KnapError::new(
                    e.kind(),
                    format!("--bundle {}: cannot extract the bundle", path.display()),
                )
                .caused_by(e);
                match hint {
                    Some(h) => err.with_hint(h),
                    None => err,
                }
            })?;
            (dir, Some(tmp))
        };
        // Not followed: a link in a bundle is no part of it.
        let is = |name: &str, dir_wanted: bool| {
            std::fs::symlink_metadata(dir.join(name))
                .is_ok_and(|m| if dir_wanted { m.is_dir() } else { m.is_file() })
        };
        let missing: Vec<&str> = [INFO_FILE, LOCK_FILE, INDEX_FILE]
            .into_iter()
            .filter(|f| !is(f, false))
            .chain((!is(ARCHIVES_DIR, true)).then_some("archives/"))
            .collect();
        if !missing.is_empty() {
            return Err(KnapError::usage(format!(
                "--bundle {}: not a knap bundle: it has no {}",
                path.display(),
                missing.join(", ")
            ))
            .with_hint("a bundle is what `knap bundle create -o DIR` writes (or a tar of it)"));
        }
        let read = |file: &str| -> Result<String, KnapError> {
            knap_schema::fs::read_to_string(&dir.join(file), Links::Refuse, MAX_DOCUMENT).map_err(
                |e| {
                    KnapError::integrity(format!("bundle {}: cannot read {file}", path.display()))
                        .caused_by(e)
                },
            )
        };
        let invalid = |file: &str| {
            KnapError::integrity(format!("bundle {}: {file} is not valid", path.display()))
        };
        let lock: Lockfile = knap_schema::json::from_json_str(&read(LOCK_FILE)?)
            .map_err(|e| invalid(LOCK_FILE).caused_by(e))?;
        let info: BundleInfo = knap_schema::json::from_json_str(&read(INFO_FILE)?)
            .map_err(|e| invalid(INFO_FILE).caused_by(e))?;
        let index =
            knap_registry::index::parse_index("bundle", INDEX_FILE, read(INDEX_FILE)?.as_bytes())
                .map_err(|e| invalid(INDEX_FILE).caused_by(e))?;

        let mut archives = BTreeMap::new();
        let mut lacking = Vec::new();
        for p in &lock.packs {
            let name = archive_name(&p.pack_ref, &p.version);
            let file = dir.join(&name);
            let listed = index
                .versions(p.pack_ref.as_str())
                .find(|e| e.version == p.version)
                .and_then(|e| {
                    e.install_sources.iter().find_map(|s| match s {
                        InstallSource::Archive(a) if a.url == name => Some(a.checksum.clone()),
                        _ => None,
                    })
                });
            let Some(checksum) = listed else {
                lacking.push(format!(
                    "{} {} (index.json lists no `{name}` for it)",
                    p.pack_ref, p.version
                ));
                continue;
            };
            if !std::fs::symlink_metadata(&file).is_ok_and(|m| m.is_file()) {
                lacking.push(format!("{} {} ({name} is missing)", p.pack_ref, p.version));
                continue;
            }
            let checksum = Checksum::parse(&checksum).map_err(|e| {
                KnapError::integrity(format!(
                    "bundle {}: {} {}: {e}",
                    path.display(),
                    p.pack_ref,
                    p.version
                ))
            })?;
            // The archive a locked archive source offered is copied as it
            // is: the lock's checksum is the one to meet.
            if let LockedSource::Archive {
                checksum: locked, ..
            } = &p.source
                && *locked != checksum
            {
                return Err(KnapError::integrity(format!(
                    "bundle {}: index.json gives {} {} the checksum {checksum}, knap.lock says {locked}; nothing was installed",
                    path.display(),
                    p.pack_ref,
                    p.version
                )));
            }
            archives.insert(p.pack_ref.clone(), (file, checksum));
        }
        if !lacking.is_empty() {
            return Err(KnapError::integrity(format!(
                "bundle {}: its knap.lock names packs the bundle does not hold: {}; nothing was installed",
                path.display(),
                lacking.join(", ")
            ))
            .with_hint("make the bundle again with `knap bundle create`"));
        }
        Ok(Bundle {
            path: path.to_owned(),
            dir,
            lock,
            info,
            archives,
            _extracted: extracted,
        })
    }
}
