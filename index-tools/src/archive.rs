//! `knap-index pack`: a reproducible `.tar.gz` of a pack directory.
//!
//! Entries are in digest order (Attune's `Path` order, directories before
//! their contents), with mtime 0, uid/gid 0, no user or group names, and
//! modes 0755 for directories and executables and 0644 otherwise; every
//! `.git` file or directory is left out, as the digest leaves it out. The same tree always gives the same bytes, whatever its
//! mtimes, owners or umask. Files sit at the archive root (no wrapping
//! directory).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use flate2::Compression;
use knap_schema::digest::{PackFile, publishable_files, sha256_file};
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
    write_archive(&files, tmp.as_file())?;
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

/// Writes the deterministic archive of `files` (in digest order) to `out`.
pub fn write_archive(files: &[PackFile], out: &File) -> anyhow::Result<()> {
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(BufWriter::new(out), Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    let mut dirs_done = BTreeSet::new();
    for f in files {
        // Every parent directory, once, before the first file under it.
        let mut prefix = String::new();
        for part in f
            .path
            .split('/')
            .collect::<Vec<_>>()
            .split_last()
            .map(|(_, d)| d)
            .unwrap_or(&[])
        {
            prefix.push_str(part);
            prefix.push('/');
            if dirs_done.insert(prefix.clone()) {
                let mut h = header(tar::EntryType::Directory, 0o755, 0);
                tar.append_data(&mut h, &prefix, std::io::empty())
                    .with_context(|| format!("cannot archive {prefix}"))?;
            }
        }
        let mode = if executable(&f.full)? { 0o755 } else { 0o644 };
        let mut h = header(tar::EntryType::Regular, mode, f.size);
        let file = knap_schema::digest::open_listed(&f.full)?;
        tar.append_data(&mut h, &f.path, file)
            .with_context(|| format!("cannot archive {}", f.path))?;
    }
    let gz = tar.into_inner()?;
    let mut buf = gz.finish()?;
    buf.flush()?;
    Ok(())
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    let _ = h.set_username("");
    let _ = h.set_groupname("");
    h
}

#[cfg(unix)]
fn executable(path: &Path) -> anyhow::Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    let m = std::fs::metadata(path).with_context(|| format!("cannot stat {}", path.display()))?;
    Ok(m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn executable(_path: &Path) -> anyhow::Result<bool> {
    Ok(false)
}
