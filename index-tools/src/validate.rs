//! `knap-index validate`: every problem of index, entry and sparse files,
//! each with its JSON path; exit 4 if any is an error.
//!
//! A directory is searched for what a registry holds: `index.json`, the
//! sparse layout (`config.json`, `packs/<ref>.json`) and entry files
//! (`entries/<ref>/<version>.json`).

use std::path::{Path, PathBuf};

use knap_schema::index::Entry;
use knap_schema::json::from_json_str;
use knap_schema::problem::{Problem, Problems};
use knap_schema::sparse::{SparseConfig, SparsePack};
use knap_schema::validate::{
    Compat, check_index_streaming, validate_entry, validate_sparse_config, validate_sparse_pack,
};

use crate::cli::{CompatArg, ValidateArgs};
use crate::failure::{Kind, fail};

/// The kinds of file `validate` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Index,
    Entry,
    SparseConfig,
    SparsePack,
}

pub fn validate_command(a: ValidateArgs) -> anyhow::Result<()> {
    let compat = match a.compat {
        Some(CompatArg::Attune) => Compat::Attune,
        None => Compat::Knap,
    };
    let mut files = Vec::new();
    for p in &a.paths {
        collect(p, &mut files)?;
    }
    let mut report = Vec::new();
    let mut errors = 0usize;
    for (path, kind) in &files {
        let problems = check_file(path, *kind, compat);
        errors += problems.errors().count();
        report.push((path.clone(), problems));
    }
    if a.json {
        let v: Vec<_> = report
            .iter()
            .map(|(path, problems)| {
                serde_json::json!({
                    "file": path.display().to_string(),
                    "valid": !problems.has_errors(),
                    "problems": problems.iter().collect::<Vec<&Problem>>(),
                })
            })
            .collect();
        knap_term::out_raw(&serde_json::to_string_pretty(&v)?);
    } else {
        for (path, problems) in &report {
            for p in problems.iter() {
                tell!("{}: {p}", path.display());
            }
            if !problems.has_errors() {
                knap_term::out(&format!("{}: valid", path.display()));
            }
        }
    }
    if errors > 0 {
        let bad = report.iter().filter(|(_, p)| p.has_errors()).count();
        return Err(fail(
            Kind::Integrity,
            format!(
                "{errors} problem{} in {bad} of {} files",
                plural(errors),
                files.len()
            ),
        ));
    }
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn collect(path: &Path, out: &mut Vec<(PathBuf, Option<FileKind>)>) -> anyhow::Result<()> {
    if path.is_file() {
        out.push((path.to_owned(), None));
        return Ok(());
    }
    if !path.is_dir() {
        // There, but not a file or directory: a FIFO, socket or device.
        if let Err(e) = knap_schema::fs::open(path, knap_schema::fs::Links::Follow)
            && !e.is_not_found()
        {
            return Err(fail(Kind::Usage, e.to_string()));
        }
        return Err(fail(
            Kind::Other,
            format!("{}: no such file or directory", path.display()),
        ));
    }
    let before = out.len();
    let index = path.join("index.json");
    if index.is_file() {
        out.push((index, Some(FileKind::Index)));
    }
    let config = path.join("config.json");
    if config.is_file() {
        out.push((config, Some(FileKind::SparseConfig)));
    }
    for (sub, kind) in [
        ("packs", FileKind::SparsePack),
        ("entries", FileKind::Entry),
    ] {
        let dir = path.join(sub);
        if dir.is_dir() {
            let mut found: Vec<PathBuf> = walkdir::WalkDir::new(&dir)
                .into_iter()
                .filter_map(|e| e.ok())
                .filter(|e| {
                    e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "json")
                })
                .map(|e| e.into_path())
                .collect();
            found.sort();
            out.extend(found.into_iter().map(|p| (p, Some(kind))));
        }
    }
    if out.len() == before {
        return Err(fail(
            Kind::Other,
            format!(
                "{}: nothing to validate (no index.json, config.json, packs/ or entries/)",
                path.display()
            ),
        ));
    }
    Ok(())
}

/// Guesses a lone file's kind from its name and shape (its top-level
/// keys).
fn kind_of_file(path: &Path, shape: &Shape) -> FileKind {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let parent = path
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str());
    if name == "config.json" {
        return FileKind::SparseConfig;
    }
    if parent == Some("packs") {
        return FileKind::SparsePack;
    }
    match &shape.keys {
        Some(k) if k.contains("versions") && !k.contains("packs") => FileKind::SparsePack,
        Some(k) if k.contains("install_sources") => FileKind::Entry,
        _ => FileKind::Index,
    }
}

/// What a JSON document is, read without building it: whether it is
/// well-formed (the parse fails otherwise) and, for an object, its
/// top-level keys. A whole index is read once more as an `Index`; holding
/// it as a `serde_json::Value` as well cost about ten times the file.
struct Shape {
    keys: Option<std::collections::BTreeSet<String>>,
}

impl<'de> serde::Deserialize<'de> for Shape {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Shape;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON document")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Shape, A::Error> {
                let mut keys = std::collections::BTreeSet::new();
                while let Some((k, IgnoredAny)) = m.next_entry::<String, IgnoredAny>()? {
                    keys.insert(k);
                }
                Ok(Shape { keys: Some(keys) })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Shape, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Shape { keys: None })
            }
            fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
                Ok(Shape { keys: None })
            }
            fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
                Ok(Shape { keys: None })
            }
            fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
                Ok(Shape { keys: None })
            }
            fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
                Ok(Shape { keys: None })
            }
            fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
                Ok(Shape { keys: None })
            }
            fn visit_unit<E>(self) -> Result<Shape, E> {
                Ok(Shape { keys: None })
            }
        }
        d.deserialize_any(V)
    }
}

fn check_file(path: &Path, kind: Option<FileKind>, compat: Compat) -> Problems {
    let mut p = Problems::new();
    let read = knap_schema::fs::read_to_string(
        path,
        knap_schema::fs::Links::Follow,
        crate::index_file::MAX_FILE_BYTES,
    );
    let text = match read {
        Ok(t) => t,
        Err(e) => {
            p.error("$", format!("cannot read: {}", e.reason()));
            return p;
        }
    };
    let shape = match serde_json::from_str::<Shape>(&text) {
        Ok(shape) => shape,
        Err(e) => {
            p.error("$", format!("not valid JSON: {e}"));
            return p;
        }
    };
    match kind.unwrap_or_else(|| kind_of_file(path, &shape)) {
        FileKind::Index => check_index_streaming(&text, compat),
        FileKind::Entry => match from_json_str::<Entry>(&text) {
            Err(e) => {
                p.error(e.path, e.message);
                p
            }
            Ok(entry) => {
                validate_entry(&entry, "$", compat, &mut p);
                check_entry_location(path, &entry, &mut p);
                p
            }
        },
        FileKind::SparseConfig => match from_json_str::<SparseConfig>(&text) {
            Err(e) => {
                p.error(e.path, e.message);
                p
            }
            Ok(c) => validate_sparse_config(&c),
        },
        FileKind::SparsePack => match from_json_str::<SparsePack>(&text) {
            Err(e) => {
                p.error(e.path, e.message);
                p
            }
            Ok(s) => validate_sparse_pack(&s, path.file_stem().and_then(|s| s.to_str())),
        },
    }
}

/// An entry at `entries/<ref>/<version>.json` must be that ref and version.
fn check_entry_location(path: &Path, entry: &Entry, p: &mut Problems) {
    let parent = path
        .parent()
        .and_then(|d| d.file_name())
        .and_then(|n| n.to_str());
    let grandparent = path
        .parent()
        .and_then(|d| d.parent())
        .and_then(|d| d.file_name())
        .and_then(|n| n.to_str());
    if grandparent != Some("entries") {
        return;
    }
    if parent != Some(entry.pack_ref.as_str()) {
        p.error(
            "$.ref",
            format!(
                "`{}` is filed under entries/{}/",
                entry.pack_ref,
                parent.unwrap_or("")
            ),
        );
    }
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if stem != entry.version.to_string() {
        p.error(
            "$.version",
            format!("`{}` is filed as {stem}.json", entry.version),
        );
    }
}
