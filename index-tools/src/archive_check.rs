//! `entry --archive FILE` (and `update` from a pack directory): the archive
//! an entry publishes must hold the pack the entry describes. It is
//! extracted with the client's own hardened extractor
//! ([`knap_installer::extract`], the rules `knap install` applies, with no
//! network involved) into a temporary directory, and its `pack.yaml` (ref,
//! version) and tree digest are compared with the pack directory's. A
//! difference is an integrity error (exit 4) naming it: a version published
//! with another version's archive would otherwise be caught only at
//! install time, after it is published and immutable.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use knap_installer::{ExtractError, Limits};
use knap_schema::KnapError;
use knap_schema::digest::{pack_files, sha256_file, tree_digest};
use knap_schema::manifest::{self, Manifest};

use crate::failure::{Kind, fail};

/// How many differing file names an error lists.
const NAMED: usize = 5;

/// Checks that `archive` holds the pack in `pack_dir`, whose manifest is
/// `m`: the same ref, version and tree digest.
pub fn check_archive_holds_pack(
    pack_dir: &Path,
    m: &Manifest,
    archive: &Path,
) -> anyhow::Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix(".knap-archive-check-")
        .tempdir()
        .context("cannot create a temporary directory to read the archive in")?;
    let dest = tmp.path().join("pack");
    knap_installer::extract(archive, &dest, &Limits::default())
        .map_err(|e| extract_failure(archive, e))?;
    let what = format!("--archive {}", archive.display());
    let inside = manifest::read_pack_dir(&dest)
        .map_err(|e| KnapError::integrity(format!("{what} holds no valid pack")).caused_by(e))?;
    if inside.pack_ref != m.pack_ref || inside.version != m.version {
        return Err(fail(
            Kind::Integrity,
            format!(
                "{what} holds {} {}, but {} is {} {}: the entry would publish another pack's archive; pass the archive made from this directory (knap-index pack {} -o FILE)",
                inside.pack_ref,
                inside.version,
                pack_dir.display(),
                m.pack_ref,
                m.version,
                pack_dir.display()
            ),
        ));
    }
    let (ours, theirs) = (tree_digest(pack_dir)?, tree_digest(&dest)?);
    if ours.checksum != theirs.checksum {
        return Err(fail(
            Kind::Integrity,
            format!(
                "{what} holds {} {} with other files than {} (tree digest {} against {}): {}; make the archive again from this directory (knap-index pack {} -o FILE)",
                m.pack_ref,
                m.version,
                pack_dir.display(),
                theirs.checksum,
                ours.checksum,
                differences(pack_dir, &dest)?,
                pack_dir.display()
            ),
        ));
    }
    Ok(())
}

/// The archive could not be extracted: refused as a pack (exit 4) or not
/// read (exit 1), the extractor's error as the cause.
fn extract_failure(archive: &Path, e: ExtractError) -> anyhow::Error {
    let mut k = KnapError::new(
        e.kind(),
        format!("--archive {}: cannot read it as a pack", archive.display()),
    );
    if let Some(h) = e.hint() {
        k = k.with_hint(h);
    }
    k.caused_by(e).into()
}

/// The files that differ between the pack directory and the extracted
/// archive, a few of each kind by name.
fn differences(dir: &Path, extracted: &Path) -> anyhow::Result<String> {
    let list = |d: &Path| -> anyhow::Result<BTreeMap<String, std::path::PathBuf>> {
        Ok(pack_files(d)?
            .into_iter()
            .map(|f| (f.path, f.full))
            .collect())
    };
    let (ours, theirs) = (list(dir)?, list(extracted)?);
    let mut changed = Vec::new();
    let mut only_dir = Vec::new();
    let mut only_archive = Vec::new();
    for (path, full) in &ours {
        match theirs.get(path) {
            None => only_dir.push(path.as_str()),
            Some(other) if sha256_file(full)? != sha256_file(other)? => changed.push(path.as_str()),
            Some(_) => {}
        }
    }
    for path in theirs.keys() {
        if !ours.contains_key(path) {
            only_archive.push(path.as_str());
        }
    }
    let mut parts = Vec::new();
    for (what, names) in [
        ("changed", changed),
        ("only in the directory", only_dir),
        ("only in the archive", only_archive),
    ] {
        if names.is_empty() {
            continue;
        }
        let more = names.len().saturating_sub(NAMED);
        let shown: Vec<String> = names[..names.len().min(NAMED)]
            .iter()
            .map(|n| knap_schema::entry_name::escape_str(n))
            .collect();
        let mut text = format!("{what}: {}", shown.join(", "));
        if more > 0 {
            text.push_str(&format!(" and {more} more"));
        }
        parts.push(text);
    }
    Ok(parts.join("; "))
}
