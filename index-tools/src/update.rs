//! `knap-index update`: add one entry to an index, or replace an identical
//! one; a published `(ref, version)` with different content needs `--force`.

use std::path::Path;

use knap_schema::index::{Entry, Index};
use knap_schema::json::from_json_str;
use knap_schema::problem::Problems;
use knap_schema::validate::{Compat, validate_entry, validate_index};

use crate::cli::UpdateArgs;
use crate::entry::make_entry;
use crate::failure::{Kind, fail};
use crate::index_file::{
    IndexFile, indent_lines, now_rfc3339, print_warnings, read_index, to_json, write_atomic,
};

pub fn update_command(a: UpdateArgs) -> anyhow::Result<()> {
    let entry = match (&a.entry, &a.pack_dir) {
        (Some(file), _) => read_entry_file(file)?,
        (None, Some(dir)) => make_entry(dir, &a.sources)?,
        (None, None) => unreachable!("clap requires one"),
    };
    let IndexFile {
        mut index,
        indent,
        warnings,
    } = if a.index.exists() {
        read_index(&a.index)?
    } else if a.create {
        let name = a.name.as_deref().unwrap_or_default();
        let url = a.url.as_deref().unwrap_or_default();
        IndexFile {
            index: Index::new(name, url, &now_rfc3339()),
            indent: b"  ".to_vec(),
            warnings: Problems::new(),
        }
    } else {
        return Err(fail(
            Kind::Other,
            format!(
                "{} does not exist; pass --create --name NAME --url URL to start a new index",
                a.index.display()
            ),
        ));
    };
    print_warnings(&a.index, &warnings);

    let what = apply(&mut index, entry, a.force)?;
    let changed = !matches!(what, Change::Unchanged);
    if changed || !a.index.exists() {
        index.last_updated = now_rfc3339();
    }
    let problems = validate_index(&index, Compat::Knap);
    if problems.has_errors() {
        return Err(fail(
            Kind::Integrity,
            format!(
                "the updated index would be invalid, so {} was left as it was:\n{}",
                a.index.display(),
                indent_lines(&problems)
            ),
        ));
    }
    if changed || !a.index.exists() {
        write_atomic(&a.index, &to_json(&index, &indent))?;
    }
    tell!("{}: {what}", a.index.display());
    Ok(())
}

/// Reads and validates an entry file.
pub fn read_entry_file(file: &Path) -> anyhow::Result<Entry> {
    let text = crate::index_file::read_named(file)?;
    let entry: Entry = from_json_str(&text).map_err(|e| {
        fail(
            Kind::Integrity,
            format!("{} is not a valid entry: {e}", file.display()),
        )
    })?;
    let mut p = Problems::new();
    validate_entry(&entry, "$", Compat::Knap, &mut p);
    if p.has_errors() {
        return Err(fail(
            Kind::Integrity,
            format!(
                "{} is not a valid entry:\n{}",
                file.display(),
                indent_lines(&p)
            ),
        ));
    }
    print_warnings(file, &p);
    Ok(entry)
}

/// What an update did.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    Added(String),
    Replaced(String),
    Unchanged,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Added(id) => write!(f, "added {id}"),
            Change::Replaced(id) => write!(f, "replaced {id} (--force)"),
            Change::Unchanged => f.write_str("unchanged (the same entry is already published)"),
        }
    }
}

/// Adds `entry` to `index`, keeping it sorted.
pub fn apply(index: &mut Index, entry: Entry, force: bool) -> anyhow::Result<Change> {
    let id = format!("{} {}", entry.pack_ref, entry.version);
    match index.packs.iter().position(|e| e.same_version(&entry)) {
        Some(i) if index.packs[i] == entry => Ok(Change::Unchanged),
        Some(i) if force => {
            index.packs[i] = entry;
            index.sort();
            Ok(Change::Replaced(id))
        }
        Some(i) => Err(fail(
            Kind::Integrity,
            format!(
                "{id} is already published with different content ({}); a published version is immutable: publish a new version, or pass --force to replace it",
                differing_fields(&index.packs[i], &entry).join(", ")
            ),
        )),
        None => {
            index.packs.push(entry);
            index.sort();
            Ok(Change::Added(id))
        }
    }
}

/// The top-level fields in which two entries differ.
pub fn differing_fields(a: &Entry, b: &Entry) -> Vec<String> {
    let (serde_json::Value::Object(x), serde_json::Value::Object(y)) = (
        serde_json::to_value(a).unwrap_or_default(),
        serde_json::to_value(b).unwrap_or_default(),
    ) else {
        return Vec::new();
    };
    let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| x.get(*k) != y.get(*k))
        .map(|k| k.to_string())
        .collect()
}
