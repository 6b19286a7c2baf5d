//! Where each part of an install root lives (see the layout in the
//! parent module's documentation), and the rule that none of the private
//! area's parts may be a symbolic link.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use knap_schema::{Checksum, PackRef};

use super::{InstallRoot, RootError, io_err};

/// The root's private area.
pub(super) const PRIVATE: &str = ".knap";
const LOCK_FILE: &str = "knap.lock";
/// The per-file records, in the private area.
const FILES: &str = "files";

impl InstallRoot {
    pub(super) fn private(&self) -> PathBuf {
        self.root.join(PRIVATE)
    }

    pub(super) fn staging_root(&self) -> PathBuf {
        self.private().join("staging")
    }

    pub(super) fn trash(&self) -> PathBuf {
        self.private().join("trash")
    }

    pub(super) fn journal_path(&self) -> PathBuf {
        self.private().join("journal.json")
    }

    pub fn lock_path(&self) -> PathBuf {
        self.root.join(LOCK_FILE)
    }

    pub(super) fn files_dir(&self) -> PathBuf {
        self.private().join(FILES)
    }

    /// The directory of an installed pack: `<root>/<ref>`. Refs are
    /// validated types, so this never names anything outside the root.
    pub fn pack_dir(&self, pack_ref: &PackRef) -> PathBuf {
        pack_ref.dir_in(&self.root)
    }

    /// Where the per-file record of `pack_ref` with tree digest `tree` lives.
    pub fn record_path(&self, pack_ref: &PackRef, tree: &Checksum) -> PathBuf {
        self.files_dir()
            .join(format!("{pack_ref}.{}.json", tree.hex()))
    }
}

/// Refuses a root whose private area, or a directory in it, is a symbolic
/// link (or a dangling one): opening, cleaning or writing through it would
/// reach whatever it names.
pub(super) fn refuse_links(root: &Path) -> Result<(), RootError> {
    let private = root.join(PRIVATE);
    for path in [
        private.clone(),
        private.join("staging"),
        private.join("trash"),
        private.join(FILES),
        private.join("lock"),
        private.join("journal.json"),
    ] {
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => return Err(RootError::Symlink { path }),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) if e.kind() == io::ErrorKind::NotADirectory => {}
            Err(e) => return Err(io_err("inspect", &path)(e)),
        }
    }
    Ok(())
}
