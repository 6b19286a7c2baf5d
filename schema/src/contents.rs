//! The component summary (`contents`) of a pack directory: the top-level
//! `*.yaml`/`*.yml` files of `actions/`, `sensors/`, `triggers/`, `rules/`
//! and `workflows/`, each named and described from its own YAML.

use std::path::Path;

use serde_json::{Map, Value};

use crate::index::{Component, Contents};

/// The component directories, in `contents` order.
pub const COMPONENT_DIRS: [&str; 5] = ["actions", "sensors", "triggers", "rules", "workflows"];

/// Summarises the components of the pack at `pack_dir`, whose ref is
/// `pack_ref`. Returns warnings for component files that could not be read
/// (those are listed by file stem, with no description).
pub fn summarize(pack_dir: &Path, pack_ref: &str) -> std::io::Result<(Contents, Vec<String>)> {
    let mut contents = Contents::default();
    let mut warnings = Vec::new();
    for dir in COMPONENT_DIRS {
        let path = pack_dir.join(dir);
        let Ok(read) = std::fs::read_dir(&path) else {
            continue;
        };
        let mut names: Vec<_> = read
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        names.sort();
        for file in names {
            let stem = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let read = crate::fs::read_to_string(
                &file,
                crate::fs::Links::Refuse,
                crate::manifest::MAX_MANIFEST_BYTES,
            );
            let doc = match read
                .map_err(|e| e.reason())
                .and_then(|t| serde_saphyr::from_str::<Value>(&t).map_err(|e| e.to_string()))
            {
                Ok(Value::Object(m)) => m,
                Ok(_) => Map::new(),
                Err(e) => {
                    warnings.push(format!(
                        "{}: cannot read component ({e}); listed as `{stem}` without a description",
                        file.display()
                    ));
                    Map::new()
                }
            };
            let component = component(&doc, pack_ref, &stem);
            let is_workflow =
                dir == "workflows" || (dir == "actions" && doc.contains_key("workflow_file"));
            let list = match dir {
                _ if is_workflow => &mut contents.workflows,
                "actions" => &mut contents.actions,
                "sensors" => &mut contents.sensors,
                "triggers" => &mut contents.triggers,
                _ => &mut contents.rules,
            };
            list.push(component);
        }
    }
    for list in [
        &mut contents.actions,
        &mut contents.sensors,
        &mut contents.triggers,
        &mut contents.rules,
        &mut contents.workflows,
    ] {
        list.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok((contents, warnings))
}

fn component(doc: &Map<String, Value>, pack_ref: &str, stem: &str) -> Component {
    let text = |k: &str| doc.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let prefix = format!("{pack_ref}.");
    let name = text("ref")
        .map(|r| r.strip_prefix(&prefix).unwrap_or(r))
        .or_else(|| text("name"))
        .unwrap_or(stem)
        .to_owned();
    let description = text("description")
        .or_else(|| text("label"))
        .unwrap_or("")
        .to_owned();
    Component {
        name,
        description,
        extra: Map::new(),
    }
}
