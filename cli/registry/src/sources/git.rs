//! Git sources: a gix fetch (bare, into a temporary directory) of the
//! repository's branches and tags from `file://` or smart HTTP(S), then a
//! checkout of the pinned commit's tree into staging without `.git`.
//!
//! The tree is written entry by entry: a symlink, a submodule or a name
//! that could escape the destination (`..`, a separator, `.git` at the top)
//! is refused as a safety violation. The caller then compares the pack
//! tree digest of what was written with the source's checksum.
//!
//! Over HTTPS the transport trusts the registry's CA files (and
//! `SSL_CERT_FILE`) and sends the registry's token to its host only, as
//! the registry's own git transport does.

use std::num::NonZeroU32;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use super::SourceError;
use crate::registry::git::{GitHttp, TransportSetup, no_prompt};

fn err(e: impl std::error::Error) -> String {
    crate::http::chain(&e)
}

/// Fetches `url` and writes the tree of `commit` (40 hex) into `dest`,
/// which must not exist. Blocking: call it from `spawn_blocking`.
pub fn fetch_and_checkout(
    url: &str,
    commit: &str,
    dest: &Path,
    http: &GitHttp,
) -> Result<(), SourceError> {
    let id = gix::ObjectId::from_hex(commit.as_bytes()).map_err(|_| {
        SourceError::integrity(format!(
            "git {url}: `{commit}` is not a 40-hex commit SHA; a published source must pin a commit"
        ))
    })?;
    let tmp = tempfile::tempdir()
        .map_err(|e| SourceError::other(format!("cannot create a temporary directory: {e}")))?;
    let is_http = url.starts_with("https://") || url.starts_with("http://");
    let roots = if is_http {
        crate::http::extra_roots(&http.ca_files)
            .map_err(|e| SourceError::other(format!("git {url}: {e}")))?
    } else {
        Vec::new()
    };
    let setup = || TransportSetup {
        url: url.to_owned(),
        token: http.token.clone(),
        roots: roots.clone(),
    };
    let repo = fetch(url, tmp.path(), id, setup)
        .map_err(|m| SourceError::network(format!("git {url}: {m}")))?;
    let commit_obj = repo.find_commit(id).map_err(|e| {
        SourceError::network(format!(
            "git {url}: commit {commit} is not in the repository's branches or tags: {}",
            err(e)
        ))
    })?;
    let tree = commit_obj
        .tree()
        .map_err(|e| SourceError::other(format!("git {url}: {}", err(e))))?;
    std::fs::create_dir(dest)
        .map_err(|e| SourceError::other(format!("cannot create {}: {e}", dest.display())))?;
    let result = write_tree(&repo, &tree, dest, "", url);
    if result.is_err() {
        let _ = std::fs::remove_dir_all(dest);
    }
    result
}

/// A bare fetch: first only the pinned commit at depth 1 (servers that
/// allow fetching by id), else every branch and tag in full.
fn fetch(
    url: &str,
    dir: &Path,
    id: gix::ObjectId,
    setup: impl Fn() -> TransportSetup,
) -> Result<gix::Repository, String> {
    let interrupt = AtomicBool::new(false);
    let shallow = dir.join("shallow");
    let by_id = (|| -> Result<gix::Repository, String> {
        std::fs::create_dir(&shallow).map_err(err)?;
        let depth = gix::remote::fetch::Shallow::DepthAtRemote(NonZeroU32::new(1).expect("1 > 0"));
        let spec = format!("{id}:refs/knap/pinned");
        let (repo, _) = gix::prepare_clone_bare(url, &shallow)
            .map_err(err)?
            .with_shallow(depth)
            .configure_remote(move |r| {
                r.with_refspecs([spec.as_str()], gix::remote::Direction::Fetch)
            })
            .configure_connection(connection(setup()))
            .fetch_only(gix::progress::Discard, &interrupt)
            .map_err(err)?;
        repo.find_commit(id).map_err(err)?;
        Ok(repo)
    })();
    match by_id {
        Ok(repo) => return Ok(repo),
        Err(e) => {
            tracing::debug!("git {url}: fetching {id} by id failed ({e}); fetching every branch")
        }
    }
    let full = dir.join("full");
    std::fs::create_dir(&full).map_err(err)?;
    let (repo, _) = gix::prepare_clone_bare(url, &full)
        .map_err(err)?
        .configure_remote(|r| {
            r.with_refspecs(
                [
                    "+refs/heads/*:refs/remotes/origin/*",
                    "+refs/tags/*:refs/tags/*",
                ],
                gix::remote::Direction::Fetch,
            )
        })
        .configure_connection(connection(setup()))
        .fetch_only(gix::progress::Discard, &interrupt)
        .map_err(err)?;
    Ok(repo)
}

type Connection<'a, 'b, 'c> = gix::remote::Connection<
    'a,
    'b,
    'c,
    Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>,
>;

/// Sets up a clone's connection: the transport options (extra roots, the
/// token) and no credential prompts.
fn connection(setup: TransportSetup) -> impl FnMut(&mut Connection<'_, '_, '_>) -> gix::Result {
    move |conn| {
        let opts = setup
            .options(conn.remote().repo())
            .map_err(|m| gix::Error::from_error(std::io::Error::other(m)))?;
        if let Some(o) = opts {
            conn.set_transport_options(o);
        }
        conn.set_credentials(no_prompt);
        Ok(())
    }
}

fn write_tree(
    repo: &gix::Repository,
    tree: &gix::Tree<'_>,
    dir: &Path,
    prefix: &str,
    url: &str,
) -> Result<(), SourceError> {
    let other = |m: String| SourceError::other(format!("git {url}: {m}"));
    for entry in tree.iter() {
        let entry = entry.map_err(|e| other(err(e)))?;
        let name = entry.filename().to_string();
        let path = format!("{prefix}{name}");
        if name.is_empty()
            || name == "."
            || name == ".."
            || name.contains('/')
            || name.contains('\\')
            || name.contains('\0')
        {
            return Err(SourceError::integrity(format!(
                "git {url}: unsafe path `{path}` in the tree refused"
            )));
        }
        if prefix.is_empty() && name == ".git" {
            continue;
        }
        let mode = entry.mode();
        let target = dir.join(&name);
        if mode.is_tree() {
            let sub = repo
                .find_object(entry.oid())
                .map_err(|e| other(err(e)))?
                .peel_to_tree()
                .map_err(|e| other(err(e)))?;
            std::fs::create_dir(&target)
                .map_err(|e| other(format!("cannot create {}: {e}", target.display())))?;
            write_tree(repo, &sub, &target, &format!("{path}/"), url)?;
        } else if mode.is_link() {
            return Err(SourceError::integrity(format!(
                "git {url}: `{path}` is a symlink; a pack holds only regular files and directories"
            )));
        } else if mode.is_commit() {
            return Err(SourceError::integrity(format!(
                "git {url}: `{path}` is a submodule; a pack holds only regular files and directories"
            )));
        } else {
            let data = repo
                .find_object(entry.oid())
                .map_err(|e| other(err(e)))?
                .detach()
                .data;
            std::fs::write(&target, &data)
                .map_err(|e| other(format!("cannot write {}: {e}", target.display())))?;
            #[cfg(unix)]
            if mode.is_executable() {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
                    .map_err(|e| other(format!("cannot chmod {}: {e}", target.display())))?;
            }
        }
    }
    Ok(())
}
