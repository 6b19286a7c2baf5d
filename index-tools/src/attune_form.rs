//! The Attune form of an index (formats.md §3 and §4): what Attune's own
//! client and `scripts/validate_index.py --custom` (attune-system/index)
//! accept. Attune's types deny unknown fields, its `search_pack` takes the
//! first entry of a ref, and its outbound policy accepts only `https://`
//! URLs, so the form keeps one entry per ref (the newest not yanked), makes
//! every install source URL absolute against a base URL, and drops every
//! field Attune does not know (`meta` is free-form there and kept).
//!
//! `knap-index build` writes it as the site's `index.json`; `merge --compat
//! attune` writes it as its output. The full knap form stays where it was
//! (the registry's git repository, the site's `packs/<ref>.json`).

use knap_schema::index::{Component, Entry, Index, InstallSource};
use knap_schema::urls::{SourceUrlKind, classify_source_url};
use knap_schema::validate::ATTUNE_DEPENDENCY_VERSIONS;
use serde_json::{Map, Value};

use crate::failure::{Kind, fail};

/// What to do with a source whose URL is not `https://` once resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonHttps {
    /// Leave it: validation then says it is not the Attune form
    /// (`merge --compat attune`).
    Keep,
    /// Leave it out with a note; an entry left without a source is left
    /// out too (the site's `index.json`: a local or test registry still
    /// gets a site).
    Drop,
}

/// The Attune form of `full`, with one line for each thing left out.
/// `base` resolves relative source URLs (it ends in `/`); without it, a
/// relative URL is a usage error that says to pass `flag`.
pub fn attune_form(
    full: &Index,
    base: Option<&url::Url>,
    flag: &str,
    non_https: NonHttps,
) -> anyhow::Result<(Index, Vec<String>)> {
    let mut notes = Vec::new();
    let mut index = full.clone();
    to_attune_form(&mut index);

    let relative: Vec<String> = index
        .packs
        .iter()
        .flat_map(|e| {
            e.install_sources
                .iter()
                .filter(|s| matches!(classify_source_url(s.url()), Ok(SourceUrlKind::Relative)))
                .map(move |s| format!("  {} {}: {}", e.pack_ref, e.version, s.url()))
        })
        .collect();
    let base = match base {
        Some(b) => Some(b),
        None if relative.is_empty() => None,
        None => {
            return Err(fail(
                Kind::Usage,
                format!(
                    "the index has relative install source URLs, and Attune's client accepts only absolute https:// URLs: pass {flag} URL (where the site is served, e.g. https://OWNER.github.io/REPO/) to resolve them against; nothing was written. Relative URLs:\n{}",
                    relative.join("\n")
                ),
            ));
        }
    };

    let mut kept = Vec::with_capacity(index.packs.len());
    for mut e in std::mem::take(&mut index.packs) {
        let id = format!("{} {}", e.pack_ref, e.version);
        let mut sources = Vec::with_capacity(e.install_sources.len());
        for mut s in std::mem::take(&mut e.install_sources) {
            let resolved = match (classify_source_url(s.url()), base) {
                (Ok(SourceUrlKind::Relative), Some(b)) => match b.join(s.url()) {
                    Ok(u) => u.to_string(),
                    Err(err) => {
                        return Err(fail(
                            Kind::Integrity,
                            format!("{id}: cannot resolve `{}` against {b}: {err}", s.url()),
                        ));
                    }
                },
                _ => s.url().to_owned(),
            };
            set_url(&mut s, resolved);
            if non_https == NonHttps::Drop && !s.url().starts_with("https://") {
                notes.push(format!(
                    "{id}: {} source {} left out of the Attune form (Attune accepts only https://)",
                    s.kind(),
                    s.url()
                ));
                continue;
            }
            strip_source(&mut s, &id, &mut notes);
            sources.push(s);
        }
        if sources.is_empty() && non_https == NonHttps::Drop {
            notes.push(format!(
                "{id}: left out of the Attune form: no https:// install source (knap users still get it from packs/{}.json)",
                e.pack_ref
            ));
            continue;
        }
        e.install_sources = sources;
        strip_entry(&mut e, &id, &mut notes);
        kept.push(e);
    }
    index.packs = kept;
    drop_fields(&mut index.extra, "the index", &mut notes);
    Ok((index, notes))
}

fn set_url(s: &mut InstallSource, url: String) {
    match s {
        InstallSource::Git(g) => g.url = url,
        InstallSource::Archive(a) => a.url = url,
    }
}

fn drop_fields(extra: &mut Map<String, Value>, what: &str, notes: &mut Vec<String>) {
    for k in std::mem::take(extra).keys() {
        notes.push(format!(
            "{what}: field `{k}` left out of the Attune form (Attune's types refuse unknown fields)"
        ));
    }
}

fn strip_source(s: &mut InstallSource, id: &str, notes: &mut Vec<String>) {
    let what = format!("{id} {} source", s.kind());
    match s {
        InstallSource::Git(g) => drop_fields(&mut g.extra, &what, notes),
        InstallSource::Archive(a) => drop_fields(&mut a.extra, &what, notes),
    }
}

fn strip_entry(e: &mut Entry, id: &str, notes: &mut Vec<String>) {
    // Not yanked: the form keeps only entries that are not.
    e.yanked = false;
    // Optional links the Attune schema would refuse: a repository that is
    // not https://, a homepage that is not an absolute URL.
    let https = |u: &str| url::Url::parse(u).is_ok_and(|u| u.scheme() == "https");
    if e.repository.as_deref().is_some_and(|u| !https(u)) {
        let u = e.repository.take().unwrap_or_default();
        notes.push(format!(
            "{id}: repository `{u}` left out of the Attune form (Attune wants an https:// URL)"
        ));
    }
    let web = |u: &str| url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "https" | "http"));
    if e.homepage.as_deref().is_some_and(|u| !web(u)) {
        let u = e.homepage.take().unwrap_or_default();
        notes.push(format!(
            "{id}: homepage `{u}` left out of the Attune form (not a web address)"
        ));
    }
    drop_fields(&mut e.extra, id, notes);
    drop_fields(&mut e.contents.extra, &format!("{id} contents"), notes);
    let c = &mut e.contents;
    for list in [
        &mut c.actions,
        &mut c.sensors,
        &mut c.triggers,
        &mut c.rules,
        &mut c.workflows,
    ] {
        for comp in list.iter_mut() {
            strip_component(comp, id, notes);
        }
    }
    if let Some(d) = &mut e.dependencies {
        let unknown: Vec<String> = d
            .versions
            .keys()
            .filter(|k| !ATTUNE_DEPENDENCY_VERSIONS.contains(&k.as_str()))
            .cloned()
            .collect();
        for k in unknown {
            d.versions.shift_remove(&k);
            notes.push(format!(
                "{id}: dependencies.{k} left out of the Attune form (Attune knows only {})",
                ATTUNE_DEPENDENCY_VERSIONS.join(", ")
            ));
        }
    }
}

fn strip_component(c: &mut Component, id: &str, notes: &mut Vec<String>) {
    let what = format!("{id} component {}", c.name);
    drop_fields(&mut c.extra, &what, notes);
}

/// Keeps the newest non-yanked version of each ref (the Attune form lists
/// one version per ref): the first of each ref in index order.
pub fn to_attune_form(index: &mut Index) {
    let mut kept: Vec<Entry> = Vec::new();
    index.sort();
    for e in std::mem::take(&mut index.packs)
        .into_iter()
        .filter(|e| !e.yanked)
    {
        if kept.last().is_none_or(|last| last.pack_ref != e.pack_ref) {
            kept.push(e);
        }
    }
    index.packs = kept;
}
