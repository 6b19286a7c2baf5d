//! `knap-index build SRC -o SITE_DIR`: the static site of a registry, for
//! GitHub Pages or any web host. It holds `index.json` in the Attune form
//! (for Attune's own client: [`crate::attune_form`]), the sparse layout
//! (`config.json`, `packs/<ref>.json`), the archives the index names by
//! relative URL, and browsable pages ([`pages`]: `index.html`, `list/`,
//! `p/<ref>.html`, with the search index of [`search`]). The JSON files are
//! written without indentation: clients parse them, and at registry scale
//! the whitespace would be a third of the site. The site is built beside
//! SITE_DIR and swapped in whole; invalid input exits 4 and writes nothing.
//! The same input gives the same bytes. The build ends by printing the
//! site's size and file count, with a warning when it nears what GitHub
//! Pages publishes.

mod archives;
mod pages;
mod search;
mod site_dir;
mod source;

use std::path::Path;

use anyhow::Context;
use knap_schema::index::{Entry, Index};
use knap_schema::sparse::{SPARSE_FORMAT, SparseConfig, SparsePack};
use knap_schema::validate::{Compat, UnmetDependency, validate_index, validate_index_with};

use crate::attune_form::NonHttps;

use crate::cli::BuildArgs;
use crate::failure::{Kind, fail};
use crate::index_file::indent_lines;

/// GitHub Pages publishes sites of at most 1 GB; past this, the build warns.
const SIZE_WARNING: u64 = 800_000_000;

pub fn build_command(a: BuildArgs) -> anyhow::Result<()> {
    let src = source::read_source(&a.src, a.name.as_deref(), a.base_url.as_deref())?;
    let index = src.index;
    let problems = validate_index(&index, Compat::Knap);
    if problems.has_errors() {
        return Err(fail(
            Kind::Integrity,
            format!(
                "the registry read from {} is not a valid index, so nothing was written:\n{}",
                src.described,
                indent_lines(&problems)
            ),
        ));
    }
    // Warnings were printed as each file was read.
    let staging = site_dir::Staging::new(&a.output, &src.root)?;
    let attune = site_attune_index(&index, a.base_url.as_deref())?;
    let copied = archives::copy_relative_archives(&index, &src.root, staging.path())?;
    let mut site = SiteWriter {
        dir: staging.path(),
    };
    let description = match a.description {
        Some(d) => Some(d),
        None => src.description,
    }
    .filter(|d| !d.trim().is_empty());
    let info = pages::SiteInfo {
        base_url: a.base_url.as_deref(),
        description: description.as_deref(),
    };
    let refs = write_site(&index, &attune, info, &mut site)?;
    let signed = if a.sign.is_empty() {
        if a.output.join(knap_trust::TUF_DIR).is_dir() {
            tell!(
                "note: the site in {} was signed (tuf/), this build is not: add --sign KEY to sign it, continuing its tuf/",
                a.output.display()
            );
        }
        None
    } else {
        let previous = a.previous.as_deref().unwrap_or(&a.output);
        let carried = carry_over_tuf(previous, staging.path())?;
        if !carried && a.previous.is_some() {
            return Err(fail(
                Kind::Usage,
                format!(
                    "--previous {}: no tuf/ with a root there; give a copy of the published site (or a directory holding its tuf/), or leave --previous out to sign a new root; nothing was written",
                    previous.display()
                ),
            ));
        }
        if !carried {
            tell!(
                "note: no previous tuf/ in {}: signing a new root (version 1) with the --sign keys; to continue a published registry's signatures, pass --previous DIR (a copy of the published site)",
                previous.display()
            );
        }
        Some(crate::sign::sign_site(staging.path(), &a.sign)?)
    };
    let (files, bytes) = site_size(staging.path())?;
    staging.swap_in()?;
    if let Some(report) = &signed {
        crate::sign::print_report(&a.output, report);
    }
    tell!(
        "{}: {}, {}, {}, {}{}",
        a.output.display(),
        pages::plural(refs, "pack", "packs"),
        pages::plural(index.packs.len(), "version", "versions"),
        pages::plural(files, "file", "files"),
        megabytes(bytes),
        if copied > 0 {
            format!(" ({copied} archives copied and verified)")
        } else {
            String::new()
        }
    );
    if let Some(w) = size_warning(bytes) {
        tell!("warning: {w}");
    }
    Ok(())
}

/// The number of files in the built site and their total size in bytes
/// (what a host such as GitHub Pages counts, not the disk blocks).
fn site_size(dir: &Path) -> anyhow::Result<(usize, u64)> {
    let mut files = 0;
    let mut bytes = 0;
    for e in walkdir::WalkDir::new(dir) {
        let e = e.with_context(|| format!("cannot read {}", dir.display()))?;
        if e.file_type().is_file() {
            files += 1;
            bytes += e
                .metadata()
                .with_context(|| format!("cannot read {}", e.path().display()))?
                .len();
        }
    }
    Ok((files, bytes))
}

/// `12.3 MB` (decimal megabytes, as hosts state their limits).
fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// What to say when a site of `bytes` nears GitHub Pages' limit.
fn size_warning(bytes: u64) -> Option<String> {
    (bytes > SIZE_WARNING).then(|| {
        format!(
            "the site is {}: GitHub Pages publishes at most 1 GB (1000 MB), so this registry will soon outgrow it; serve it from another host (any static web server), or publish fewer archives in the site (an archive source may be an https:// URL elsewhere)",
            megabytes(bytes)
        )
    })
}

/// Copies the TUF metadata of the previous publication (and its
/// `<sha256>.<name>` target copies, for readers of that publication) into
/// the new site, so that signing continues its root chain and versions
/// instead of starting over. Returns whether there was a `tuf/` with a
/// root to carry over.
fn carry_over_tuf(old_site: &Path, staging: &Path) -> anyhow::Result<bool> {
    let tuf = old_site.join(knap_trust::TUF_DIR);
    let has_root = std::fs::read_dir(&tuf).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().ends_with(".root.json"))
    });
    if !has_root {
        return Ok(false);
    }
    let copy = |from: &Path, to: &Path| -> anyhow::Result<()> {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::copy(from, to)
            .map(|_| ())
            .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))
    };
    for sub in [knap_trust::TUF_DIR, "", "packs"] {
        let dir = old_site.join(sub);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
            if !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let hashed = name
                .split_once('.')
                .is_some_and(|(h, _)| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
            if sub == knap_trust::TUF_DIR || hashed {
                copy(&entry.path(), &staging.join(sub).join(name))?;
            }
        }
    }
    Ok(true)
}

/// Writes files into the staging directory as they are made, so a large
/// site is never held in memory whole.
pub struct SiteWriter<'a> {
    dir: &'a Path,
}

impl SiteWriter<'_> {
    pub fn write(&mut self, rel: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let path = self.dir.join(rel);
        if let Some(parent) = path.parent()
            && !parent.is_dir()
        {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }
}

/// The site's `index.json`: the Attune form of the registry (one entry per
/// ref, the newest not yanked, absolute https:// URLs resolved against
/// `--base-url`, no knap-only fields), checked against the Attune rules.
/// What is left out is printed; an unmet dependency is a warning (the
/// sparse layout still has every version); anything else Attune would
/// refuse is an error (exit 4, nothing written).
///
/// A loopback `http://` base URL (`http://127.0.0.1:8765/`) builds a local
/// preview: the form keeps its `http://` URLs, which knap's client accepts
/// from a loopback host and Attune's refuses, so it is checked by knap's
/// rules, with a note. Any other `http://` base URL is a usage error: the
/// published site would serve Attune an index it refuses.
fn site_attune_index(index: &Index, base_url: Option<&str>) -> anyhow::Result<Index> {
    let base = base_url
        .map(url::Url::parse)
        .transpose()
        .map_err(|e| fail(Kind::Usage, format!("--base-url: {e}")))?;
    let preview = match &base {
        Some(b) if b.scheme() == "http" && knap_schema::urls::is_loopback(b) => true,
        Some(b) if b.scheme() == "http" => {
            return Err(fail(
                Kind::Usage,
                format!(
                    "--base-url {b}: the site's index.json is for Attune's client, which accepts only https:// registries; publish at an https:// address, or preview the site locally at a loopback one (--base-url http://127.0.0.1:8765/); nothing was written"
                ),
            ));
        }
        _ => false,
    };
    let non_https = if preview {
        NonHttps::Keep
    } else {
        NonHttps::Drop
    };
    let (attune, notes) =
        crate::attune_form::attune_form(index, base.as_ref(), "--base-url", non_https)?;
    for n in &notes {
        tell!("note: index.json (Attune form): {n}");
    }
    let compat = if preview {
        let b = base.as_ref().map(url::Url::as_str).unwrap_or_default();
        tell!(
            "note: --base-url {b} is a loopback address, so this site is a local preview: its index.json and config.json name http:// URLs, which knap's client accepts from this host (knap registry add preview sparse+{b}) and Attune's client refuses; build with an https:// --base-url to publish"
        );
        Compat::Knap
    } else {
        Compat::Attune
    };
    let problems = validate_index_with(&attune, compat, UnmetDependency::Warning);
    if problems.has_errors() {
        return Err(fail(
            Kind::Integrity,
            format!(
                "the site's index.json would not be in the form Attune's client accepts, so nothing was written:\n{}",
                indent_lines(&problems)
            ),
        ));
    }
    // In a preview, every source is http:// on purpose: the note said so.
    for w in problems
        .warnings()
        .filter(|w| !(preview && w.message.starts_with("plain http://")))
    {
        tell!("index.json (Attune form): {w}");
    }
    Ok(attune)
}

/// Writes every file of the site besides copied archives; returns the
/// number of refs. `index.registry_url` is already the site's URL
/// (`--base-url` when given); `attune` is its Attune form, the site's
/// `index.json`.
fn write_site(
    index: &Index,
    attune: &Index,
    info: pages::SiteInfo<'_>,
    site: &mut SiteWriter<'_>,
) -> anyhow::Result<usize> {
    site.write("index.json", &compact_json(attune))?;

    let config = SparseConfig {
        format: SPARSE_FORMAT.to_owned(),
        registry_name: index.registry_name.clone(),
        registry_url: index.registry_url.clone(),
        last_updated: index.last_updated.clone(),
        description: info.description.map(str::to_owned),
        extra: Default::default(),
    };
    site.write("config.json", &compact_json(&config))?;

    // The sparse files hold what validate_index accepted, split by ref, so
    // they need no check of their own (the tests check them with the
    // sparse validators).
    let mut refs = 0;
    for versions in by_ref(&index.packs) {
        let pack = SparsePack {
            pack_ref: versions[0].pack_ref.clone(),
            versions: versions.to_vec(),
            extra: Default::default(),
        };
        let name = format!("packs/{}.json", pack.pack_ref);
        site.write(&name, &compact_json(&pack))?;
        refs += 1;
    }
    pages::render(index, info, |rel, bytes| site.write(rel, bytes))?;
    // Served as is by GitHub Pages when it is published from a branch.
    site.write(".nojekyll", b"")?;
    Ok(refs)
}

/// JSON on one line, with a final newline.
fn compact_json(value: &impl serde::Serialize) -> Vec<u8> {
    let mut out = serde_json::to_vec(value).expect("JSON serialises");
    out.push(b'\n');
    out
}

/// Consecutive runs of one ref in an index-ordered list.
fn by_ref(packs: &[Entry]) -> impl Iterator<Item = &[Entry]> {
    packs.chunk_by(|a, b| a.pack_ref == b.pack_ref)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_warning_starts_past_800_mb_and_names_the_size() {
        assert_eq!(size_warning(800_000_000), None);
        let w = size_warning(812_345_678).unwrap();
        assert!(
            w.starts_with("the site is 812.3 MB: GitHub Pages publishes at most 1 GB"),
            "{w}"
        );
        assert_eq!(megabytes(0), "0.0 MB");
        assert_eq!(megabytes(1_260_000), "1.3 MB");
    }
}
