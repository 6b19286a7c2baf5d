//! Local pack directories: a copy of exactly the files the pack tree digest
//! covers (regular files, no `.git`), refusing links and special files the
//! same way the digest does.

use std::path::Path;

use knap_schema::KnapError;

/// Copies the pack at `src` into `dest` (which must not exist). On failure
/// nothing is left at `dest`.
pub fn copy_pack(src: &Path, dest: &Path) -> Result<(), KnapError> {
    let files = knap_schema::digest::publishable_files(src).map_err(|e| {
        KnapError::integrity(format!(
            "{}: not installable: {}",
            src.display(),
            knap_schema::report::chain_line(&e)
        ))
    })?;
    let result = (|| {
        std::fs::create_dir(dest).map_err(|e| {
            KnapError::other(format!("cannot create {}", dest.display())).caused_by(e)
        })?;
        for f in &files {
            let to = dest.join(&f.path);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    KnapError::other(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
            // std::fs::copy keeps the permission bits (the executable bit
            // of scripts matters to a pack).
            std::fs::copy(&f.full, &to).map_err(|e| {
                KnapError::other(format!(
                    "cannot copy {} to {}: {e}",
                    f.full.display(),
                    to.display()
                ))
            })?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(dest);
    }
    result
}
