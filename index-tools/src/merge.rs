//! `knap-index merge`: the union of several indices. Identical duplicates
//! collapse; a `(ref, version)` whose content differs between inputs is an
//! error naming both, unless `--prefer`. Nothing is written unless the
//! result validates.

use std::collections::HashMap;
use std::path::PathBuf;

use knap_schema::PackRef;
use knap_schema::dependency::Dependency;
use knap_schema::index::{Entry, Index};
use knap_schema::problem::{Problems, at};
use knap_schema::validate::{Compat, UnmetDependency, validate_index_with};

use crate::attune_form::{NonHttps, attune_form};

use crate::cli::{CompatArg, MergeArgs, Prefer};
use crate::failure::{Kind, fail};
use crate::index_file::{
    IndexFile, indent_lines, parse_time, print_warnings, read_index, to_json, write_atomic,
};
use crate::update::differing_fields;

pub fn merge_command(a: MergeArgs) -> anyhow::Result<()> {
    let mut inputs = Vec::new();
    let mut failures = Vec::new();
    for path in &a.inputs {
        match read_index(path) {
            Ok(f) => {
                print_warnings(path, &f.warnings);
                inputs.push((path.clone(), f));
            }
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    if !failures.is_empty() {
        return Err(fail(
            Kind::Integrity,
            format!("nothing was written:\n{}", failures.join("\n")),
        ));
    }
    let compat = match a.compat {
        Some(CompatArg::Attune) => Compat::Attune,
        None => Compat::Knap,
    };
    let indent = inputs[0].1.indent.clone();
    let mut merged = merge(inputs, a.prefer)?;
    let mut problems = Problems::new();
    if compat == Compat::Attune {
        let base = a.base_url.as_deref().map(url::Url::parse).transpose()?;
        let full = merged;
        let (form, notes) = attune_form(&full, base.as_ref(), "--base-url", NonHttps::Keep)?;
        for n in &notes {
            tell!("note: {n}");
        }
        unkept_dependencies(&full, &form, &mut problems);
        merged = form;
    }
    // An unmet dependency is said, not fatal: one version per ref cannot
    // always meet every requirement (`validate --compat attune` refuses it).
    problems.extend(validate_index_with(
        &merged,
        compat,
        UnmetDependency::Warning,
    ));
    if problems.has_errors() {
        return Err(fail(
            Kind::Integrity,
            format!(
                "the merged index would be invalid, so {} was not written:\n{}",
                a.output.display(),
                indent_lines(&problems)
            ),
        ));
    }
    for w in problems.warnings() {
        tell!("{w}");
    }
    write_atomic(&a.output, &to_json(&merged, &indent))?;
    tell!(
        "{}: {} entries from {} inputs",
        a.output.display(),
        merged.packs.len(),
        a.inputs.len()
    );
    Ok(())
}

/// Merges read indices (the first gives the identity).
pub fn merge(inputs: Vec<(PathBuf, IndexFile)>, prefer: Option<Prefer>) -> anyhow::Result<Index> {
    let mut iter = inputs.into_iter();
    let (first_path, first) = iter.next().expect("at least one input");
    let mut out = first.index;
    let mut tagged: Vec<(String, Entry)> = std::mem::take(&mut out.packs)
        .into_iter()
        .map(|e| (first_path.display().to_string(), e))
        .collect();
    for (path, f) in iter {
        if parse_time(&f.index.last_updated) > parse_time(&out.last_updated) {
            out.last_updated = f.index.last_updated.clone();
        }
        let origin = path.display().to_string();
        tagged.extend(f.index.packs.into_iter().map(|e| (origin.clone(), e)));
    }
    let (packs, conflicts) = union(tagged, prefer);
    if !conflicts.is_empty() {
        return Err(fail(
            Kind::Integrity,
            format!(
                "{} published versions differ between inputs; nothing was written. Pass --prefer first or --prefer last to choose:\n{}",
                conflicts.len(),
                conflicts.join("\n")
            ),
        ));
    }
    out.packs = packs;
    out.sort();
    Ok(out)
}

/// The union of entries, each tagged with where it came from, in the order
/// first seen: identical duplicates collapse; the same `(ref, version)` with
/// different content keeps the first or the last with `prefer`, else is a
/// conflict line naming both origins and the fields that differ.
pub(crate) fn union(
    entries: impl IntoIterator<Item = (String, Entry)>,
    prefer: Option<Prefer>,
) -> (Vec<Entry>, Vec<String>) {
    let mut at: HashMap<(PackRef, semver::Version), usize> = HashMap::new();
    let mut out: Vec<(String, Entry)> = Vec::new();
    let mut conflicts = Vec::new();
    for (origin, entry) in entries {
        match at.entry(entry.version_key()) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(out.len());
                out.push((origin, entry));
            }
            std::collections::hash_map::Entry::Occupied(o) => {
                let i = *o.get();
                if out[i].1 == entry {
                    continue;
                }
                match prefer {
                    Some(Prefer::First) => {}
                    Some(Prefer::Last) => out[i] = (origin, entry),
                    None => conflicts.push(format!(
                        "  {} {}: {} and {} differ in {}",
                        entry.pack_ref,
                        entry.version,
                        out[i].0,
                        origin,
                        differing_fields(&out[i].1, &entry).join(", ")
                    )),
                }
            }
        }
    }
    (out.into_iter().map(|(_, e)| e).collect(), conflicts)
}

/// A kept entry's dependency on a ref that the inputs list but the Attune
/// form keeps no version of (every one yanked): it cannot be met from the
/// output (a warning, as for every unmet dependency of the form). (A dependency on a kept ref at a version the form does not keep
/// is found by `validate_index`.)
fn unkept_dependencies(full: &Index, form: &Index, p: &mut Problems) {
    for (i, e) in form.packs.iter().enumerate() {
        let Some(deps) = &e.dependencies else {
            continue;
        };
        for (j, d) in deps.packs.iter().enumerate() {
            let Ok(dep) = Dependency::parse(d) else {
                continue;
            };
            let kept = form.packs.iter().any(|k| k.pack_ref == dep.pack);
            let listed: Vec<String> = full
                .versions(&dep.pack)
                .map(|v| v.version.to_string())
                .collect();
            if !kept && !listed.is_empty() {
                p.warning(
                    format!("{}.dependencies.packs[{j}]", at("$.packs", i)),
                    format!(
                        "`{}` {} needs `{d}`, but the Attune form keeps no version of {} (the inputs list only yanked ones: {}); Attune's client cannot install its dependencies",
                        e.pack_ref,
                        e.version,
                        dep.pack,
                        listed.join(", ")
                    ),
                );
            }
        }
    }
}
