//! `knap-index pack`: a reproducible `.tar.gz` of a pack directory, in the
//! format of `knap_installer::pack_archive` (the one writer, which bundles
//! use too): the same tree always gives the same bytes, whatever its
//! mtimes, owners or umask.

use std::path::Path;

use anyhow::Context;
use knap_schema::digest::{publishable_files, sha256_file};
use knap_schema::manifest;

use crate::cli::PackArgs;
use crate::failure::{Kind, fail};

pub fn pack_command(a: PackArgs) -> anyhow::Result<()> {
    // The tree rules first (as `checksum` and `entry`): a `pack.yaml` that
    // is a link or a FIFO is refused before anything reads it.
    let files = publishable_files(&a.pack_dir)?;
    let m = manifest::read_pack_dir(&a.pack_dir)?;
    let dir = match a.output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => std::path::PathBuf::from("."),
    };
    refuse_output_inside(&a.pack_dir, &dir, &a.output)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".knap-pack-");
    // Made to be published: 0644 before the umask (a temporary file's own
    // 0600 would keep a web server from serving it).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let tmp = builder
        .tempfile_in(&dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    knap_installer::pack_archive::write_archive(&files, tmp.as_file())?;
    tmp.as_file().sync_all()?;
    tmp.persist(&a.output)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write {}", a.output.display()))?;
    let checksum = sha256_file(&a.output)?;
    tell!(
        "{}: {} {} ({} files)",
        a.output.display(),
        m.pack_ref,
        m.version,
        files.len()
    );
    knap_term::out(&checksum.to_string());
    Ok(())
}

/// `-o` inside the pack directory would put the archive into the pack it
/// packs (and the next `pack` would pack its own previous output).
fn refuse_output_inside(pack_dir: &Path, out_dir: &Path, output: &Path) -> anyhow::Result<()> {
    let pack = pack_dir
        .canonicalize()
        .with_context(|| format!("cannot read {}", pack_dir.display()))?;
    let Ok(out) = out_dir.canonicalize() else {
        // A directory that does not exist is not inside the pack; creating
        // the temporary file there reports it.
        return Ok(());
    };
    if out.starts_with(&pack) {
        return Err(fail(
            Kind::Usage,
            format!(
                "-o {}: the archive would be written inside the pack directory {} and packed by the next `knap-index pack`; write it outside the pack",
                output.display(),
                pack_dir.display()
            ),
        ));
    }
    Ok(())
}
