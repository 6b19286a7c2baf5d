//! Archives that an index names by a relative URL live beside it: the site
//! must serve them at the same relative path. Each is copied from the
//! source registry into the site and its checksum verified on the way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use knap_schema::digest::sha256_file;
use knap_schema::index::{Index, InstallSource};
use knap_schema::urls::{SourceUrlKind, classify_source_url};

use crate::failure::{Kind, fail};

/// Top-level names the site itself writes; an archive may not take them.
pub const RESERVED: [&str; 10] = [
    "index.json",
    "config.json",
    "index.html",
    "packs",
    "p",
    "list",
    "search",
    "site.css",
    "site.js",
    ".nojekyll",
];

/// Copies every archive named by a relative URL from `root` into `site`,
/// verifying its checksum. Returns how many files were copied.
pub fn copy_relative_archives(index: &Index, root: &Path, site: &Path) -> anyhow::Result<usize> {
    let root = root
        .canonicalize()
        .with_context(|| format!("cannot read {}", root.display()))?;
    let base = url::Url::from_directory_path(&root)
        .map_err(|()| anyhow::anyhow!("{}: not an absolute path", root.display()))?;
    // relative path -> (checksum, who names it)
    let mut wanted: BTreeMap<PathBuf, (String, String)> = BTreeMap::new();
    let mut problems = Vec::new();
    for e in &index.packs {
        for s in &e.install_sources {
            if classify_source_url(s.url()) != Ok(SourceUrlKind::Relative) {
                continue;
            }
            let who = format!("{} {} source `{}`", e.pack_ref, e.version, s.url());
            let InstallSource::Archive(a) = s else {
                tell!(
                    "warning: {who}: a relative git source is not copied into the site; clients will not find it there"
                );
                continue;
            };
            let rel = match relative_path(&base, &root, &a.url) {
                Ok(rel) => rel,
                Err(m) => {
                    problems.push(format!("  {who}: {m}"));
                    continue;
                }
            };
            match wanted.get(&rel) {
                Some((sum, other)) if *sum != a.checksum => problems.push(format!(
                    "  {who}: the same file as {other}, with a different checksum"
                )),
                Some(_) => {}
                None => {
                    wanted.insert(rel, (a.checksum.clone(), who));
                }
            }
        }
    }
    for (rel, (checksum, who)) in &wanted {
        if let Err(m) = copy_verified(&root, rel, checksum, site) {
            problems.push(format!("  {who}: {m}"));
        }
    }
    if !problems.is_empty() {
        return Err(fail(
            Kind::Integrity,
            format!(
                "archives named by relative URLs must be in the registry beside the index, with their published checksums; nothing was written:\n{}",
                problems.join("\n")
            ),
        ));
    }
    Ok(wanted.len())
}

/// The path below `root` that a relative URL names; it must stay inside
/// `root` and not take a name the site writes itself.
fn relative_path(base: &url::Url, root: &Path, u: &str) -> Result<PathBuf, String> {
    let resolved = base.join(u).map_err(|e| format!("cannot resolve: {e}"))?;
    let path = resolved
        .to_file_path()
        .map_err(|()| "does not name a file".to_owned())?;
    let rel = path
        .strip_prefix(root)
        .map_err(|_| {
            format!(
                "resolves to {}, outside the registry {}",
                path.display(),
                root.display()
            )
        })?
        .to_owned();
    let first = rel
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned());
    match first {
        None => Err("names the registry directory itself".to_owned()),
        Some(f) if RESERVED.contains(&f.as_str()) => Err(format!(
            "`{f}` is written by knap-index build; keep archives elsewhere (e.g. archives/)"
        )),
        Some(_) => Ok(rel),
    }
}

/// Copies `root/rel` to `site/rel`, checking its SHA-256 on the way.
fn copy_verified(root: &Path, rel: &Path, checksum: &str, site: &Path) -> Result<(), String> {
    let from = root.join(rel);
    let real = from
        .canonicalize()
        .map_err(|e| format!("{}: {e}", from.display()))?;
    if !real.starts_with(root) || !real.is_file() {
        return Err(format!(
            "{} is not a file inside the registry",
            from.display()
        ));
    }
    let to = site.join(rel);
    // The copy is what the site serves, so its bytes are the ones checked.
    let copy = || -> std::io::Result<String> {
        std::fs::create_dir_all(to.parent().expect("below the site"))?;
        // Through `knap_schema::fs`: a FIFO is refused, not waited on.
        let (mut from, _) = knap_schema::fs::open(&real, knap_schema::fs::Links::Follow)?;
        std::io::copy(&mut from, &mut std::fs::File::create(&to)?)?;
        sha256_file(&to)
    };
    let actual = copy().map_err(|e| format!("cannot copy {}: {e}", from.display()))?;
    if actual != checksum {
        return Err(format!(
            "{} has checksum {actual}, but the index publishes {checksum}",
            from.display()
        ));
    }
    Ok(())
}
