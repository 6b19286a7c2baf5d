//! `knap-index checksum` and `knap-index entry`: from a pack directory to
//! its tree digest and its index entry.

use std::path::Path;

use anyhow::Context;
use knap_schema::contents;
use knap_schema::digest::{digest_files, publishable_files, sha256_file, tree_digest};
use knap_schema::ident::{check_checksum, is_commit_sha};
use knap_schema::index::{ArchiveSource, Entry, GitSource, InstallSource};
use knap_schema::manifest::{self, Manifest};
use knap_schema::problem::Problems;
use knap_schema::urls::{SourceUrlKind, classify_source_url};
use knap_schema::validate::{Compat, validate_entry};
use serde_json::{Map, Value};

use crate::cli::{ChecksumArgs, EntryArgs, SourceArgs};
use crate::failure::{Kind, fail};
use crate::index_file::{indent_lines, to_json};

/// Prints the tree digest of a pack directory, after checking that it is a
/// pack: its `pack.yaml` is read and validated with or without `--json`
/// (exit 4 when it is missing or invalid), since a digest of a directory
/// that is no pack is of no use to anyone.
pub fn checksum_command(a: ChecksumArgs) -> anyhow::Result<()> {
    let digest = digest_files(&publishable_files(&a.pack_dir)?)?;
    let m = manifest::read_pack_dir(&a.pack_dir)?;
    for w in &m.warnings {
        tell!("warning: {}: {w}", a.pack_dir.display());
    }
    if a.json {
        let v = serde_json::json!({
            "ref": m.pack_ref,
            "version": m.version.to_string(),
            "checksum": digest.checksum,
            "files": digest.files,
            "bytes": digest.bytes,
        });
        knap_term::out_raw(&v.to_string());
    } else {
        knap_term::out(&digest.checksum.to_string());
    }
    Ok(())
}

pub fn entry_command(a: EntryArgs) -> anyhow::Result<()> {
    let entry = make_entry(&a.pack_dir, &a.sources)?;
    let out = to_json(&entry, b"  ");
    use std::io::Write;
    std::io::stdout().write_all(&out)?;
    Ok(())
}

/// Builds and validates the index entry of a pack directory.
pub fn make_entry(pack_dir: &Path, s: &SourceArgs) -> anyhow::Result<Entry> {
    if s.git_url.is_none() && s.archive_url.is_none() {
        return Err(fail(
            Kind::Usage,
            "an entry needs at least one install source: pass --git-url URL --git-ref SHA and/or --archive-url URL (--archive-checksum sha256:HEX | --archive FILE)",
        ));
    }
    // The tree rules first, as `checksum` and `pack` apply them: a pack of
    // links, FIFOs or unpublishable names (a `pack.yaml` that links out of
    // the pack included) is refused before anything in it is read.
    publishable_files(pack_dir)?;
    let m = manifest::read_pack_dir(pack_dir)?;
    for w in &m.warnings {
        tell!("warning: {}: {w}", pack_dir.display());
    }
    let manifest_path = pack_dir.join(manifest::MANIFEST_FILE);
    let author = m.author.clone().filter(|a| !a.trim().is_empty()).ok_or_else(|| {
        fail(
            Kind::Integrity,
            format!(
                "{}: invalid pack manifest:\n  - field `author`: is required for an index entry",
                manifest_path.display()
            ),
        )
    })?;

    let mut sources = Vec::new();
    if let (Some(url), Some(git_ref)) = (&s.git_url, &s.git_ref) {
        check_url(url, "--git-url")?;
        if !is_commit_sha(git_ref) {
            if s.allow_mutable_ref {
                tell!(
                    "warning: --git-ref `{git_ref}` is not a commit SHA; this entry is for development only and `validate` rejects it"
                );
            } else {
                return Err(fail(
                    Kind::Usage,
                    format!(
                        "--git-ref `{git_ref}` is not a commit: pass the 40-hex commit SHA (git rev-parse HEAD), or --allow-mutable-ref for development"
                    ),
                ));
            }
        }
        // The commit's tree, as `knap install` hashes it; a branch or tag
        // (development only) has no fixed tree: the work tree is hashed.
        let checksum = if is_commit_sha(git_ref) {
            let d = crate::git_tree::commit_digest(pack_dir, s.repo.as_deref(), git_ref)?;
            for w in &d.warnings {
                tell!("warning: {w}");
            }
            d.checksum
        } else {
            tree_digest(pack_dir)?.checksum
        };
        sources.push(InstallSource::Git(GitSource {
            url: url.clone(),
            git_ref: git_ref.clone(),
            checksum,
            extra: Map::new(),
        }));
    }
    if let Some(url) = &s.archive_url {
        check_url(url, "--archive-url")?;
        let checksum = match (&s.archive_checksum, &s.archive) {
            (Some(c), _) => {
                check_checksum(c)
                    .map_err(|e| fail(Kind::Usage, format!("--archive-checksum: {e}")))?;
                c.clone()
            }
            (None, Some(file)) => {
                // Read first: a FIFO or device named as the archive is
                // refused (exit 2) before the extractor would open it.
                let checksum = sha256_file(file)
                    .map_err(|e| fail(Kind::Usage, format!("--archive {}: {e}", file.display())))?;
                crate::archive_check::check_archive_holds_pack(pack_dir, &m, file)?;
                checksum
            }
            (None, None) => {
                return Err(fail(
                    Kind::Usage,
                    "--archive-url needs --archive-checksum sha256:HEX or --archive FILE",
                ));
            }
        };
        sources.push(InstallSource::Archive(ArchiveSource {
            url: url.clone(),
            checksum,
            extra: Map::new(),
        }));
    }

    let (contents, warnings) = contents::summarize(pack_dir, &m.pack_ref)
        .with_context(|| format!("cannot read the components of {}", pack_dir.display()))?;
    for w in warnings {
        tell!("warning: {w}");
    }
    let repository = s
        .repository
        .clone()
        .or_else(|| repository_from_git(s.git_url.as_deref()))
        .or_else(|| m.repository_url.clone());
    let entry = entry_from_manifest(
        &m,
        author,
        repository,
        sources,
        contents,
        s.git_ref.as_deref(),
    );

    let mut p = Problems::new();
    validate_entry(&entry, "$", Compat::Knap, &mut p);
    // A mutable ref was allowed explicitly and already warned about; the git
    // source, when there is one, is the first.
    if s.allow_mutable_ref && s.git_url.is_some() {
        p.0.retain(|x| x.path != "$.install_sources[0].ref");
    }
    if p.has_errors() {
        return Err(fail(
            Kind::Integrity,
            format!(
                "the entry made from {} is invalid:\n{}",
                pack_dir.display(),
                indent_lines(&p)
            ),
        ));
    }
    Ok(entry)
}

fn entry_from_manifest(
    m: &Manifest,
    author: String,
    repository: Option<String>,
    install_sources: Vec<InstallSource>,
    contents: knap_schema::index::Contents,
    commit: Option<&str>,
) -> Entry {
    let base = Entry::from_manifest(m);
    let mut meta = base.meta.clone().unwrap_or_default();
    if let Some(c) = commit {
        meta.insert("commit".into(), Value::String(c.to_owned()));
    }
    Entry {
        author,
        repository,
        install_sources,
        contents,
        meta: (!meta.is_empty()).then_some(meta),
        ..base
    }
}

fn repository_from_git(url: Option<&str>) -> Option<String> {
    let u = url?;
    u.starts_with("https://")
        .then(|| u.strip_suffix(".git").unwrap_or(u).to_owned())
}

fn check_url(url: &str, flag: &str) -> anyhow::Result<()> {
    match classify_source_url(url) {
        Err(e) => Err(fail(Kind::Usage, format!("{flag} `{url}`: {e}"))),
        Ok(SourceUrlKind::Http) => {
            tell!(
                "warning: {flag} `{url}` is plain http://: clients accept it only from loopback hosts or registries added with --allow-http"
            );
            Ok(())
        }
        Ok(SourceUrlKind::File) => {
            tell!(
                "warning: {flag} `{url}` is file://: clients accept it only from an index read from a local path"
            );
            Ok(())
        }
        Ok(_) => Ok(()),
    }
}
