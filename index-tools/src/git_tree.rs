//! The checksum of a git source (`entry`/`update --git-url URL --git-ref
//! SHA`): the pack tree digest of the commit's tree, read from the local
//! repository's object database with gix, never from the work tree and
//! never over the network. That is what `knap install` of the source hashes
//! (the commit's blobs as stored), so an uncommitted change or an ignored
//! build artefact cannot slip into the published checksum.
//!
//! The repository is the one holding the pack directory (discovered
//! upwards), or `--repo DIR`. A git source installs the repository's root
//! tree, so the pack directory must be that repository's work tree root.
//! Two things make a checkout differ from the blobs, and are warned about:
//! a work tree that differs from the commit (the commit is still used), and
//! `.gitattributes` rules for eol conversion, filters (Git LFS among them),
//! working-tree encodings or `ident`.

use std::path::{Path, PathBuf};

use gix_local as gix;
use knap_schema::digest::{format_sha256, path_order, tree_digest};
use sha2::{Digest, Sha256};

use crate::failure::{Kind, fail};

/// The digest of a commit's tree, with what was found on the way.
pub struct CommitDigest {
    pub checksum: String,
    /// One line per thing that makes a checkout differ from the blobs.
    pub warnings: Vec<String>,
}

/// A regular file of the commit's tree.
struct Blob {
    path: String,
    id: gix::ObjectId,
}

/// Opens the repository (`repo`, or the one holding `pack_dir`), finds
/// `sha` in it and hashes its tree by formats.md §2.
pub fn commit_digest(
    pack_dir: &Path,
    repo: Option<&Path>,
    sha: &str,
) -> anyhow::Result<CommitDigest> {
    let repository = match repo {
        Some(dir) => gix::open(dir).map_err(|e| {
            fail(
                Kind::Usage,
                format!("--repo {}: not a git repository: {e}", dir.display()),
            )
        })?,
        None => gix::discover(pack_dir).map_err(|e| {
            fail(
                Kind::Usage,
                format!(
                    "{} is not in a git repository, so the commit's tree cannot be read ({e}); pass --repo DIR (a clone holding the commit)",
                    pack_dir.display()
                ),
            )
        })?,
    };
    let where_ = repository
        .workdir()
        .map(Path::to_owned)
        .unwrap_or_else(|| repository.git_dir().to_owned());
    let where_ = where_.canonicalize().unwrap_or(where_);
    if repo.is_none() {
        check_pack_at_root(pack_dir, &where_)?;
    }
    let id = gix::ObjectId::from_hex(sha.as_bytes()).map_err(|_| {
        fail(
            Kind::Usage,
            format!("--git-ref `{sha}` is not a 40-hex commit SHA"),
        )
    })?;
    let missing = |detail: String| {
        fail(
            Kind::Integrity,
            format!(
                "commit {sha} is not in the repository at {} ({detail}); fetch it first (git fetch origin {sha}), or pass --repo DIR of a clone that has it",
                where_.display()
            ),
        )
    };
    let object = repository
        .find_object(id)
        .map_err(|e| missing(e.to_string()))?;
    let commit = object
        .try_into_commit()
        .map_err(|e| missing(format!("not a commit: {e}")))?;
    let tree = commit
        .tree()
        .map_err(|e| missing(format!("its tree is unreadable: {e}")))?;

    let mut blobs = Vec::new();
    let mut attributes = Vec::new();
    list(&repository, &tree, "", &mut blobs, &mut attributes)?;
    blobs.sort_by(|a, b| path_order(&a.path, &b.path));

    let mut warnings = Vec::new();
    for (path, text) in &attributes {
        warnings.extend(checkout_attributes(path, text));
    }
    let mut hasher = Sha256::new();
    for b in &blobs {
        let data = repository
            .find_object(b.id)
            .map_err(|e| fail(Kind::Integrity, format!("{sha}: {}: {e}", b.path)))?
            .detach()
            .data;
        if data.starts_with(b"version https://git-lfs.github.com/spec/") {
            warnings.push(format!(
                "{} is a Git LFS pointer in the commit: the checksum is of the pointer, which is what knap installs, not of the file LFS would check out",
                b.path
            ));
        }
        hasher.update(b"attune-pack-file-v1");
        hasher.update((b.path.len() as u64).to_be_bytes());
        hasher.update(b.path.as_bytes());
        hasher.update((data.len() as u64).to_be_bytes());
        hasher.update(&data);
    }
    let checksum = format_sha256(&hasher.finalize());

    if repo.is_none() {
        match tree_digest(pack_dir) {
            Ok(d) if d.checksum == checksum => {}
            Ok(d) => warnings.push(format!(
                "the work tree {} differs from commit {sha} (uncommitted changes or untracked files; its digest is {}); the entry uses the commit's tree, {checksum}",
                pack_dir.display(),
                d.checksum
            )),
            Err(e) => warnings.push(format!(
                "the work tree {} cannot be compared with commit {sha} ({e}); the entry uses the commit's tree",
                pack_dir.display()
            )),
        }
    }
    Ok(CommitDigest { checksum, warnings })
}

/// A git source installs the repository's root tree: the pack directory is
/// the work tree root.
fn check_pack_at_root(pack_dir: &Path, root: &Path) -> anyhow::Result<()> {
    let canon = |p: &Path| -> PathBuf { p.canonicalize().unwrap_or_else(|_| p.to_owned()) };
    let (pack, root) = (canon(pack_dir), canon(root));
    if pack == root {
        return Ok(());
    }
    Err(fail(
        Kind::Usage,
        format!(
            "{} is inside the git repository {} but not at its root; a git source installs the repository's root tree, so the pack must be the whole repository (or publish an archive of the directory)",
            pack.display(),
            root.display()
        ),
    ))
}

/// Every regular file of `tree` (recursively) and every `.gitattributes`
/// text; `.git` entries skipped as the digest skips them; symlinks and
/// submodules refused, as `knap install` refuses them.
fn list(
    repo: &gix::Repository,
    tree: &gix::Tree<'_>,
    prefix: &str,
    blobs: &mut Vec<Blob>,
    attributes: &mut Vec<(String, String)>,
) -> anyhow::Result<()> {
    for entry in tree.iter() {
        let entry = entry.map_err(|e| fail(Kind::Integrity, format!("a git tree: {e}")))?;
        let name = entry.filename().to_string();
        if name == ".git" {
            continue;
        }
        let path = format!("{prefix}{name}");
        if let Err(problem) = knap_schema::entry_name::check_component(&name) {
            return Err(fail(
                Kind::Integrity,
                format!(
                    "{} in the commit: refused as a name in a pack: {problem} (knap install refuses it)",
                    knap_schema::entry_name::escape(path.as_bytes())
                ),
            ));
        }
        let mode = entry.mode();
        if mode.is_tree() {
            let sub = repo
                .find_object(entry.oid())
                .map_err(|e| fail(Kind::Integrity, format!("{path}: {e}")))?
                .peel_to_tree()
                .map_err(|e| fail(Kind::Integrity, format!("{path}: {e}")))?;
            list(repo, &sub, &format!("{path}/"), blobs, attributes)?;
        } else if mode.is_link() {
            return Err(fail(
                Kind::Integrity,
                format!(
                    "{path} is a symlink in the commit; a pack holds only regular files and directories (knap install refuses it)"
                ),
            ));
        } else if mode.is_commit() {
            return Err(fail(
                Kind::Integrity,
                format!(
                    "{path} is a submodule in the commit; a pack holds only regular files and directories (knap install refuses it)"
                ),
            ));
        } else {
            if name == ".gitattributes" {
                let data = repo
                    .find_object(entry.oid())
                    .map_err(|e| fail(Kind::Integrity, format!("{path}: {e}")))?
                    .detach()
                    .data;
                attributes.push((path.clone(), String::from_utf8_lossy(&data).into_owned()));
            }
            blobs.push(Blob {
                path,
                id: entry.oid().to_owned(),
            });
        }
    }
    Ok(())
}

/// The lines of a `.gitattributes` that make a checkout differ from the
/// blobs: eol conversion (`eol=`, `text`, `crlf`), filters (`filter=`, Git
/// LFS is `filter=lfs`), `working-tree-encoding=` and `ident`.
pub fn checkout_attributes(path: &str, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let Some(pattern) = parts.next() else {
            continue;
        };
        let found: Vec<&str> = parts
            .filter(|a| {
                let a = a.trim_start_matches('!');
                a.starts_with("eol=")
                    || a.starts_with("filter=")
                    || a.starts_with("working-tree-encoding=")
                    || matches!(a, "text" | "text=auto" | "crlf" | "ident")
            })
            .collect();
        if found.is_empty() || found.iter().all(|a| a.starts_with('!')) {
            continue;
        }
        let what = if found.contains(&"filter=lfs") {
            "Git LFS"
        } else if found.iter().any(|a| a.starts_with("filter=")) {
            "a filter"
        } else if found
            .iter()
            .any(|a| a.starts_with("working-tree-encoding="))
        {
            "an encoding conversion"
        } else if found.contains(&"ident") {
            "ident expansion"
        } else {
            "eol conversion"
        };
        out.push(format!(
            "{path}:{}: `{pattern} {}` declares {what}: a git checkout of those files can differ from the commit's blobs, which are what the checksum and knap install use",
            n + 1,
            found.join(" ")
        ));
    }
    out
}
