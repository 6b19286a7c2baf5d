//! `knap-index build SRC -o SITE_DIR`: the static site of a registry, for
//! GitHub Pages or any web host. It holds `index.json` (validated, sorted),
//! the sparse layout (`config.json`, `packs/<ref>.json`), the archives the
//! index names by relative URL, and browsable pages (`index.html`,
//! `p/<ref>.html`). The site is built beside SITE_DIR and swapped in whole;
//! invalid input exits 4 and writes nothing. The same input gives the same
//! bytes.

mod archives;
mod pages;
mod site_dir;
mod source;

use std::path::Path;

use anyhow::Context;
use knap_schema::index::{Entry, Index};
use knap_schema::sparse::{SPARSE_FORMAT, SparseConfig, SparsePack};
use knap_schema::validate::{Compat, validate_index, validate_sparse_config, validate_sparse_pack};

use crate::cli::BuildArgs;
use crate::failure::{Kind, fail};
use crate::index_file::{indent_lines, print_warnings, to_json};

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
    print_warnings(Path::new("index.json"), &problems);
    let base_url = a.base_url.as_deref().unwrap_or(&index.registry_url);

    let staging = site_dir::Staging::new(&a.output, &src.root)?;
    let site = staging.path();
    let copied = archives::copy_relative_archives(&index, &src.root, site)?;
    let files = site_files(&index, &src.indent, base_url)?;
    for (rel, bytes) in &files {
        let path = site.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    staging.swap_in()?;
    let refs = files
        .iter()
        .filter(|(p, _)| p.starts_with("packs/"))
        .count();
    eprintln!(
        "{}: {} packs, {} versions, {} files{}",
        a.output.display(),
        refs,
        index.packs.len(),
        files.len() + copied,
        if copied > 0 {
            format!(" ({copied} archives copied and verified)")
        } else {
            String::new()
        }
    );
    Ok(())
}

/// Every file the site holds besides copied archives, as (path, bytes).
fn site_files(
    index: &Index,
    indent: &[u8],
    base_url: &str,
) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    let mut served = index.clone();
    served.registry_url = base_url.to_owned();
    files.push(("index.json".to_owned(), to_json(&served, indent)));

    let config = SparseConfig {
        format: SPARSE_FORMAT.to_owned(),
        registry_name: index.registry_name.clone(),
        registry_url: base_url.to_owned(),
        last_updated: index.last_updated.clone(),
        extra: Default::default(),
    };
    check_sparse("config.json", validate_sparse_config(&config))?;
    files.push(("config.json".to_owned(), to_json(&config, indent)));

    for versions in by_ref(&index.packs) {
        let pack = SparsePack {
            pack_ref: versions[0].pack_ref.clone(),
            versions: versions.to_vec(),
            extra: Default::default(),
        };
        let name = format!("packs/{}.json", pack.pack_ref);
        check_sparse(&name, validate_sparse_pack(&pack, Some(&pack.pack_ref)))?;
        files.push((name, to_json(&pack, indent)));
    }
    files.extend(pages::render(index, base_url)?);
    // Served as is by GitHub Pages when it is published from a branch.
    files.push((".nojekyll".to_owned(), Vec::new()));
    Ok(files)
}

/// Consecutive runs of one ref in an index-ordered list.
fn by_ref(packs: &[Entry]) -> impl Iterator<Item = &[Entry]> {
    packs.chunk_by(|a, b| a.pack_ref == b.pack_ref)
}

fn check_sparse(name: &str, problems: knap_schema::problem::Problems) -> anyhow::Result<()> {
    if problems.has_errors() {
        return Err(fail(
            Kind::Integrity,
            format!(
                "{name} would be invalid, so nothing was written:\n{}",
                indent_lines(&problems)
            ),
        ));
    }
    Ok(())
}
