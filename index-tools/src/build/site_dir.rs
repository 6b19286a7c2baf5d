//! The site directory: built complete in a staging directory beside
//! SITE_DIR, then swapped in with renames, so a failed build leaves the old
//! site (or nothing) and never half a site. Refuses to replace a directory
//! that is not a site `knap-index build` wrote.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::failure::{Kind, fail};

/// A staging directory beside SITE_DIR; removed on drop unless swapped in.
pub struct Staging {
    dir: tempfile::TempDir,
    target: PathBuf,
}

impl Staging {
    /// Checks that `target` may be (re)placed and makes the staging
    /// directory beside it. `source_root` must not be inside `target`.
    pub fn new(target: &Path, source_root: &Path) -> anyhow::Result<Self> {
        let target = std::path::absolute(target)
            .with_context(|| format!("{}: not a usable path", target.display()))?;
        let parent = target.parent().ok_or_else(|| {
            fail(
                Kind::Usage,
                format!(
                    "{}: the site cannot be the root directory",
                    target.display()
                ),
            )
        })?;
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        if target.exists() {
            check_replaceable(&target, source_root)?;
        }
        let dir = tempfile::Builder::new()
            .prefix(".knap-site-")
            .tempdir_in(parent)
            .with_context(|| {
                format!("cannot create a staging directory in {}", parent.display())
            })?;
        Ok(Self { dir, target })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Replaces the target with the staged site: the old site is renamed
    /// aside, the new one renamed in, then the old one removed.
    pub fn swap_in(self) -> anyhow::Result<()> {
        let target = self.target;
        let staged = self.dir.keep();
        let restore = |e: anyhow::Error| {
            let _ = std::fs::remove_dir_all(&staged);
            e
        };
        set_dir_mode(&staged).map_err(restore)?;
        let parent = target.parent().expect("checked in new");
        if target.exists() {
            let old = tempfile::Builder::new()
                .prefix(".knap-site-old-")
                .tempdir_in(parent)
                .with_context(|| format!("cannot create a directory in {}", parent.display()))
                .map_err(restore)?
                .keep();
            std::fs::rename(&target, &old)
                .with_context(|| format!("cannot move the old site {} aside", target.display()))
                .map_err(restore)?;
            if let Err(e) = std::fs::rename(&staged, &target) {
                let _ = std::fs::rename(&old, &target);
                let _ = std::fs::remove_dir_all(&staged);
                return Err(anyhow::Error::new(e)
                    .context(format!("cannot move the new site to {}", target.display())));
            }
            std::fs::remove_dir_all(&old).with_context(|| {
                format!(
                    "the new site is in place, but the old one is left at {}",
                    old.display()
                )
            })?;
        } else {
            std::fs::rename(&staged, &target)
                .with_context(|| format!("cannot move the new site to {}", target.display()))
                .map_err(restore)?;
        }
        if let Ok(d) = std::fs::File::open(parent) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// An existing SITE_DIR may be replaced when it is empty or a site built
/// before (sparse `config.json` and `index.html`, no `.git`), and does not
/// hold the source.
fn check_replaceable(target: &Path, source_root: &Path) -> anyhow::Result<()> {
    if !target.is_dir() {
        return Err(fail(
            Kind::Usage,
            format!(
                "{} exists and is not a directory; choose another -o",
                target.display()
            ),
        ));
    }
    let (t, s) = (target.canonicalize()?, source_root.canonicalize()?);
    if s.starts_with(&t) {
        return Err(fail(
            Kind::Usage,
            format!(
                "{} holds the source {}; the site is replaced as a whole, so write it elsewhere (e.g. -o _site)",
                target.display(),
                source_root.display()
            ),
        ));
    }
    let empty = std::fs::read_dir(target)
        .with_context(|| format!("cannot read {}", target.display()))?
        .next()
        .is_none();
    if empty || (is_built_site(target) && !target.join(".git").exists()) {
        return Ok(());
    }
    Err(fail(
        Kind::Usage,
        format!(
            "{} exists and is not a site built by knap-index build; the site is replaced as a whole, so choose a new or empty directory",
            target.display()
        ),
    ))
}

fn is_built_site(dir: &Path) -> bool {
    // Through `knap_schema::fs`: a FIFO there is no site, not a wait.
    let config = knap_schema::fs::read(
        &dir.join("config.json"),
        knap_schema::fs::Links::Follow,
        16 * 1024 * 1024,
    )
    .ok();
    let sparse = config
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v["format"] == knap_schema::sparse::SPARSE_FORMAT);
    sparse && dir.join("index.html").is_file()
}

/// A staging directory is private (0700); a site is readable by a web
/// server.
fn set_dir_mode(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("cannot set the mode of {}", dir.display()))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
