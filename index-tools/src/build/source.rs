//! What `knap-index build` reads a registry from: an index file, a registry
//! directory (`entries/` and/or `index.json`), or a directory of entry files
//! (`<ref>/<version>.json`). Every file is validated; every problem is
//! reported with its file and JSON path before anything is written.

use std::path::{Path, PathBuf};

use anyhow::Context;
use knap_schema::index::{Entry, Index};
use knap_schema::json::from_json_str;
use knap_schema::problem::Problems;
use knap_schema::validate::{Compat, validate_entry};

use crate::failure::{Kind, fail};
use crate::index_file::{now_rfc3339, print_warnings, read_held, read_index};

/// The largest `config.json` read (a real one is a few hundred bytes).
const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// A registry read from SRC, ready to publish.
pub struct Source {
    /// Sorted; its identity may still need [`Source::identity`].
    pub index: Index,
    /// The directory relative install source URLs resolve against.
    pub root: PathBuf,
    /// The files read, for messages.
    pub described: String,
    /// The `description` of the `config.json` beside SRC's `index.json` or
    /// `entries/`, when there is one.
    pub description: Option<String>,
}

/// Where the packs of SRC are.
enum Layout {
    /// An `index.json` file.
    Index(PathBuf),
    /// A directory with `entries/`, and maybe `index.json` beside it.
    Registry {
        index: Option<PathBuf>,
        entries: PathBuf,
    },
    /// A directory of entry files.
    Entries(PathBuf),
}

/// Reads SRC. `name` and `url` override (or, without an `index.json`,
/// supply) the registry identity.
pub fn read_source(src: &Path, name: Option<&str>, url: Option<&str>) -> anyhow::Result<Source> {
    let (layout, root) = if src.is_file() {
        let root = match src.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        (Layout::Index(src.to_owned()), root)
    } else if src.is_dir() {
        let entries = src.join("entries");
        let index = src.join("index.json");
        if entries.is_dir() {
            let index = index.is_file().then_some(index);
            (Layout::Registry { index, entries }, src.to_owned())
        } else if index.is_file() {
            (Layout::Index(index), src.to_owned())
        } else {
            let root = std::path::absolute(src)
                .ok()
                .and_then(|a| a.parent().map(Path::to_owned))
                .unwrap_or_else(|| src.to_owned());
            (Layout::Entries(src.to_owned()), root)
        }
    } else {
        return Err(fail(
            Kind::Other,
            format!(
                "{}: no such file or directory; SRC is an index.json, a registry directory or a directory of entry files",
                src.display()
            ),
        ));
    };

    let (index_file, entries_dir) = match &layout {
        Layout::Index(p) => (Some(p.as_path()), None),
        Layout::Registry { index, entries } => (index.as_deref(), Some(entries.as_path())),
        Layout::Entries(dir) => (None, Some(dir.as_path())),
    };
    if index_file.is_none() && (name.is_none() || url.is_none()) {
        return Err(fail(
            Kind::Usage,
            format!(
                "{} has no index.json to take the registry's identity from: pass --name NAME and --base-url URL, or put an index.json beside entries/ (`knap-index update --index index.json --create --name NAME --url URL --entry ENTRY.json` makes one)",
                src.display()
            ),
        ));
    }
    let index_file = match index_file {
        Some(p) => {
            let f = read_index(p)?;
            print_warnings(p, &f.warnings);
            Some((p.to_owned(), f))
        }
        None => None,
    };
    let entries = match entries_dir {
        Some(dir) => Some(read_entries(dir)?),
        None => None,
    };
    let described = match (&index_file, entries_dir) {
        (Some((p, _)), Some(d)) => format!("{} and {}", p.display(), d.display()),
        (Some((p, _)), None) => p.display().to_string(),
        (None, Some(d)) => d.display().to_string(),
        (None, None) => unreachable!("every layout has an index or entries"),
    };

    let mut index = match (index_file, entries) {
        (Some((path, f)), Some(entries)) => {
            let (mut index, unchanged) = union(&path, f.index, entries)?;
            if !unchanged {
                index.last_updated = new_time();
            }
            index
        }
        (Some((_, mut f)), None) => {
            f.index.sort();
            f.index
        }
        (None, Some(entries)) => {
            if entries.is_empty() {
                return Err(fail(
                    Kind::Other,
                    format!(
                        "{}: no entry files (<ref>/<version>.json) and no index.json; nothing to build",
                        src.display()
                    ),
                ));
            }
            // Entry files alone do not say when they last changed.
            let mut index = Index::new("", "", &new_time());
            index.packs = union_entries(Vec::new(), entries)?;
            index
        }
        (None, None) => unreachable!("every layout has an index or entries"),
    };
    if let Some(n) = name {
        index.registry_name = n.to_owned();
    }
    if let Some(u) = url {
        index.registry_url = u.to_owned();
    }
    let description = match &layout {
        Layout::Index(p) => config_description(&root, p.parent())?,
        Layout::Registry { .. } => config_description(&root, Some(src))?,
        Layout::Entries(_) => None,
    };
    Ok(Source {
        index,
        root,
        described,
        description,
    })
}

/// The `description` string of `DIR/config.json` (DIR: where SRC's
/// `index.json` or `entries/` is), if the file exists. The file is a
/// sparse `config.json` or just `{"description": "..."}`; its other fields
/// are made anew by the build.
fn config_description(root: &Path, dir: Option<&Path>) -> anyhow::Result<Option<String>> {
    let dir = match dir {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => root,
    };
    let path = dir.join("config.json");
    let Some(bytes) = read_held(&path, MAX_CONFIG_BYTES)? else {
        return Ok(None);
    };
    let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        fail(
            Kind::Integrity,
            format!("{}: not valid JSON: {e}", path.display()),
        )
    })?;
    match v.get("description") {
        None => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(fail(
            Kind::Integrity,
            format!(
                "{}: error: $.description: must be a string (a sentence or two about the registry)",
                path.display()
            ),
        )),
    }
}

/// The time for a `last_updated` that changed: `SOURCE_DATE_EPOCH`, or now.
fn new_time() -> String {
    if std::env::var_os("SOURCE_DATE_EPOCH").is_none() {
        tell!(
            "note: last_updated is the current time; set SOURCE_DATE_EPOCH (e.g. to the last commit's time) for a reproducible site"
        );
    }
    now_rfc3339()
}

/// Every `*.json` file under `dir` is an entry file at `<ref>/<version>.json`.
/// Reads them all; every problem in every file is reported at once (exit 4).
fn read_entries(dir: &Path) -> anyhow::Result<Vec<(String, Entry)>> {
    let mut files = Vec::new();
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.with_context(|| format!("cannot read {}", dir.display()))?;
        let hidden = e.depth() > 0 && e.file_name().to_string_lossy().starts_with('.');
        if hidden || !e.file_type().is_file() {
            continue;
        }
        if e.path().extension().is_some_and(|x| x == "json") {
            files.push(e.into_path());
        }
    }
    let mut out = Vec::with_capacity(files.len());
    let mut report = Vec::new();
    for path in files {
        let shown = path.display().to_string();
        let mut p = Problems::new();
        // Through `knap_schema::fs`: a FIFO is refused, not waited on.
        match knap_schema::fs::read_to_string(
            &path,
            knap_schema::fs::Links::Follow,
            crate::index_file::MAX_FILE_BYTES,
        ) {
            Err(e) => p.error("$", format!("cannot read: {}", e.reason())),
            Ok(text) => match from_json_str::<Entry>(&text) {
                Err(e) => p.error(e.path, e.message),
                Ok(entry) => {
                    validate_entry(&entry, "$", Compat::Knap, &mut p);
                    check_location(dir, &path, &entry, &mut p);
                    if !p.has_errors() {
                        out.push((shown.clone(), entry));
                    }
                }
            },
        }
        if p.has_errors() {
            report.extend(p.iter().map(|problem| format!("  {shown}: {problem}")));
        } else {
            print_warnings(&path, &p);
        }
    }
    if !report.is_empty() {
        return Err(fail(
            Kind::Integrity,
            format!(
                "invalid entry files in {}; nothing was written:\n{}",
                dir.display(),
                report.join("\n")
            ),
        ));
    }
    Ok(out)
}

/// An entry file lies at `<ref>/<version>.json` below the entries directory.
fn check_location(dir: &Path, path: &Path, entry: &Entry, p: &mut Problems) {
    let rel: Vec<String> = path
        .strip_prefix(dir)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let expected = format!("{}/{}.json", entry.pack_ref, entry.version);
    match rel.as_slice() {
        [r, file] if *r == entry.pack_ref && *file == format!("{}.json", entry.version) => {}
        [r, _] if *r != entry.pack_ref => p.error(
            "$.ref",
            format!(
                "`{}` is filed under {r}/; an entry file lives at {expected}",
                entry.pack_ref
            ),
        ),
        [_, file] => p.error(
            "$.version",
            format!(
                "`{}` is filed as {file}; an entry file lives at {expected}",
                entry.version
            ),
        ),
        _ => p.error(
            "$",
            format!(
                "{} is not at <ref>/<version>.json; move it to {expected}",
                rel.join("/")
            ),
        ),
    }
}

/// The index's packs plus the entry files: identical duplicates collapse;
/// a `(ref, version)` published with different content is an error naming
/// both files. Also says whether the result equals the index's packs.
fn union(
    index_path: &Path,
    mut index: Index,
    entries: Vec<(String, Entry)>,
) -> anyhow::Result<(Index, bool)> {
    let from_index: Vec<(String, Entry)> = std::mem::take(&mut index.packs)
        .into_iter()
        .enumerate()
        .map(|(i, e)| (format!("{} $.packs[{i}]", index_path.display()), e))
        .collect();
    let mut before: Vec<Entry> = from_index.iter().map(|(_, e)| e.clone()).collect();
    before.sort_by(Entry::index_order);
    let packs = union_entries(from_index, entries)?;
    let unchanged = packs == before;
    index.packs = packs;
    Ok((index, unchanged))
}

/// Collapses identical duplicates; conflicting ones are an error. The
/// result is in index order.
fn union_entries(
    first: Vec<(String, Entry)>,
    then: Vec<(String, Entry)>,
) -> anyhow::Result<Vec<Entry>> {
    let (mut packs, conflicts) = crate::merge::union(first.into_iter().chain(then), None);
    if !conflicts.is_empty() {
        return Err(fail(
            Kind::Integrity,
            format!(
                "{} published version{} differ between files; a published version is immutable, so nothing was written. Publish a new version, or make the files agree:\n{}",
                conflicts.len(),
                if conflicts.len() == 1 { "" } else { "s" },
                conflicts.join("\n")
            ),
        ));
    }
    packs.sort_by(Entry::index_order);
    Ok(packs)
}
