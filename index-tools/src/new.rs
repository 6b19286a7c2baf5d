//! `knap-index new DIR --ref REF`: a minimal valid pack to start from
//! (`pack.yaml`, one shell action, a README), so that an author's first
//! `checksum`, `pack` and `entry` have something to work on. The pack is
//! written beside DIR and renamed into place, then read back with the same
//! manifest and component rules as every other command.

use std::path::Path;

use anyhow::Context;
use knap_schema::ident::PackRef;
use knap_schema::{contents, manifest};

use crate::cli::NewArgs;
use crate::failure::{Kind, fail};

pub fn new_command(a: NewArgs) -> anyhow::Result<()> {
    let dir = &a.dir;
    let name = match &a.pack_ref {
        Some(r) => r.clone(),
        None => dir
            .file_name()
            .and_then(|n| n.to_str())
            .map(|n| n.to_owned())
            .ok_or_else(|| fail(Kind::Usage, "name the pack with --ref REF"))?,
    };
    let pack_ref = PackRef::parse(&name).map_err(|e| {
        let from = if a.pack_ref.is_some() {
            "--ref".to_owned()
        } else {
            format!("the directory name `{name}` (give --ref REF)")
        };
        fail(
            Kind::Usage,
            format!(
                "{from}: {e}; a ref is lower-case letters, digits, `_` and `-`, starting with a letter"
            ),
        )
    })?;
    let files = pack_files(&pack_ref, &a.author, &a.license);

    let empty_dir = match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(fail(
                    Kind::Usage,
                    format!(
                        "{} exists and is not empty; `new` writes a pack into a new or empty directory",
                        dir.display()
                    ),
                ));
            }
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".knap-new-")
        .tempdir_in(&parent)
        .with_context(|| format!("cannot create a directory in {}", parent.display()))?;
    for (rel, text, executable) in &files {
        write_file(&staging.path().join(rel), text, *executable)?;
    }
    check(staging.path(), &pack_ref)?;
    set_mode(staging.path(), 0o755)?;
    if empty_dir {
        std::fs::remove_dir(dir).with_context(|| format!("cannot replace {}", dir.display()))?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, dir).map_err(|e| {
        let _ = std::fs::remove_dir_all(&staged);
        anyhow::Error::new(e).context(format!("cannot create {}", dir.display()))
    })?;
    let names: Vec<&str> = files.iter().map(|(rel, _, _)| *rel).collect();
    tell!(
        "{}: a new pack `{pack_ref}` 0.1.0 ({}); edit pack.yaml (author, description), then `knap-index checksum {}`",
        dir.display(),
        names.join(", "),
        dir.display()
    );
    Ok(())
}

/// The files of the new pack: (relative path, content, executable).
fn pack_files(
    pack_ref: &PackRef,
    author: &str,
    license: &str,
) -> Vec<(&'static str, String, bool)> {
    let label = label_of(pack_ref);
    let yaml_str = |s: &str| serde_json::to_string(s).expect("a string serialises");
    vec![
        (
            "pack.yaml",
            format!(
                "# The pack's manifest: what `knap-index entry` turns into an index entry.\n\
                 ref: {pack_ref}\n\
                 label: {}\n\
                 description: {}\n\
                 version: \"0.1.0\"\n\
                 author: {}\n\
                 license: {}\n\
                 keywords: [example]\n\
                 runtime_deps: [shell]\n",
                yaml_str(&label),
                yaml_str(&format!("{label}: what it automates, in a sentence.")),
                yaml_str(author),
                yaml_str(license),
            ),
            false,
        ),
        (
            "actions/hello.yaml",
            format!(
                "ref: {pack_ref}.hello\n\
                 description: Print a greeting\n\
                 runner_type: shell\n\
                 entry_point: hello.sh\n\
                 parameters:\n  \
                   name:\n    \
                     type: string\n    \
                     default: world\n"
            ),
            false,
        ),
        (
            "actions/hello.sh",
            "#!/bin/sh\necho \"Hello, ${1:-world}!\"\n".to_owned(),
            true,
        ),
        (
            "README.md",
            format!(
                "# {label}\n\n\
                 The `{pack_ref}` pack. Its actions are in `actions/`: `hello` prints a greeting.\n\n\
                 Publish it (see knap's docs/authors.md):\n\n\
                 ```sh\n\
                 knap-index checksum .                        # check pack.yaml, print the tree digest\n\
                 knap-index pack . -o {pack_ref}-0.1.0.tar.gz  # a reproducible archive\n\
                 ```\n"
            ),
            false,
        ),
    ]
}

/// `net_tools` -> `Net Tools`.
fn label_of(pack_ref: &PackRef) -> String {
    pack_ref
        .split(['_', '-'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads the new pack back as every other command does: its manifest is
/// valid and names the ref, and its action is listed.
fn check(dir: &Path, pack_ref: &PackRef) -> anyhow::Result<()> {
    let m = manifest::read_pack_dir(dir)?;
    let (c, warnings) = contents::summarize(dir, pack_ref)
        .with_context(|| format!("cannot read the components of {}", dir.display()))?;
    if m.pack_ref != *pack_ref || c.actions.len() != 1 || !warnings.is_empty() {
        return Err(anyhow::anyhow!(
            "the new pack does not read back as written ({warnings:?}); this is a bug in knap-index new"
        ));
    }
    Ok(())
}

fn write_file(path: &Path, text: &str, executable: bool) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    if executable {
        set_mode(path, 0o755)?;
    }
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", path.display()))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_the_ref_in_words() {
        assert_eq!(label_of(&PackRef::parse("net_tools").unwrap()), "Net Tools");
        assert_eq!(label_of(&PackRef::parse("jira").unwrap()), "Jira");
        assert_eq!(label_of(&PackRef::parse("a-b_c").unwrap()), "A B C");
    }
}
