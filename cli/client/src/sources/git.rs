//! Git sources: a gix fetch (bare, into a temporary directory) of the
//! repository's branches and tags from `file://` or smart HTTP(S), then a
//! checkout of the pinned commit's tree into staging without `.git`.
//!
//! The tree is written entry by entry under the same limits as an archive
//! (`limits.entries`, `limits.extracted_size`: each blob's size is read
//! from its header before it is loaded, and one buffer serves every
//! object, so memory stays at the largest allowed blob). A symlink, a
//! submodule, or a name [`knap_schema::entry_name`] refuses (`..`, a
//! separator, a control character, `.git` in any spelling and at any
//! depth) is a safety violation, with the name escaped in the message.
//! The caller then compares the pack tree digest of what was written with
//! the source's checksum.
//!
//! Over HTTPS the transport follows the registry's [`HttpPolicy`]: its CA
//! files (and `SSL_CERT_FILE`), and its token for the registry's own
//! scheme, host and port only, as the registry's own git transport does.

use std::num::NonZeroU32;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use knap_installer::Limits;
use knap_registry::git_transport::{
    Deadline, GitError, TransportSetup, no_prompt, refuse_credentials_in_url,
};
use knap_registry::http::{HttpPolicy, Limit};
use knap_schema::{KnapError, entry_name};

/// A failure of the fetch, as its thread hands it over (classified into a
/// [`GitError`] once the deadline is known).
type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

fn cause<E: std::error::Error + Send + Sync + 'static>(e: E) -> Cause {
    Box::new(e)
}

/// Fetches `url` and writes the tree of `commit` (40 hex) into `dest`,
/// which must not exist (its parent must: the fetched repository is kept
/// there meanwhile). Blocking: call it from `spawn_blocking`.
pub fn fetch_and_checkout(
    url: &str,
    commit: &str,
    dest: &Path,
    http: &HttpPolicy,
    limits: Limits,
) -> Result<(), KnapError> {
    let id = gix::ObjectId::from_hex(commit.as_bytes()).map_err(|_| {
        KnapError::integrity(format!(
            "git {url}: `{commit}` is not a 40-hex commit SHA; a published source must pin a commit"
        ))
    })?;
    // The fetched repository goes beside `dest` (in the caller's staging
    // directory): removed when this returns, and with the staging
    // directory if the process is interrupted meanwhile.
    let tmp = match dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => tempfile::Builder::new()
            .prefix(".git-fetch-")
            .tempdir_in(parent),
        None => tempfile::tempdir(),
    }
    .map_err(|e| KnapError::other("cannot create a temporary directory").caused_by(e))?;
    let is_http = url.starts_with("https://") || url.starts_with("http://");
    let roots = if is_http {
        http.tls
            .certificates()
            .map_err(|e| KnapError::other(format!("git {url}: cannot set up HTTP")).caused_by(e))?
    } else {
        Vec::new()
    };
    let setup = TransportSetup {
        url: url.to_owned(),
        auth: http.auth.clone(),
        roots,
        connect_timeout: http.settings.connect_timeout,
        read_timeout: http.settings.read_timeout,
    };
    // One total deadline for the fetch (both of its tries), as for an
    // archive download; the temporary directory stays this thread's, so
    // it is removed even when the fetch is abandoned at the deadline.
    let deadline = Deadline::start(
        Limit::DownloadTotal(http.settings.download_timeout),
        &http.settings,
    );
    let (u, dir) = (url.to_owned(), tmp.path().to_owned());
    let progress = deadline.progress();
    let fetched =
        deadline.run(move |interrupt| fetch(&u, &dir, id, || setup.clone(), progress, interrupt));
    let repo = match fetched {
        Some(Ok(repo)) => repo,
        Some(Err(e)) => {
            return Err(fetch_failure(
                commit,
                GitError::of(url, e, &http.settings, &deadline),
            ));
        }
        None => return Err(fetch_failure(commit, GitError::deadline(url, &deadline))),
    };
    drop(deadline);
    let commit_obj = repo.find_commit(id).map_err(|_| {
        KnapError::not_found(format!(
            "commit {commit} is not in {url} (not on any branch or tag it serves, and the server would not send it by id)"
        ))
    })?;
    let tree = commit_obj.tree().map_err(|e| {
        KnapError::other(format!("git {url}: cannot read the commit's tree")).caused_by(e)
    })?;
    std::fs::create_dir(dest)
        .map_err(|e| KnapError::other(format!("cannot create {}", dest.display())).caused_by(e))?;
    let mut writer = TreeWriter {
        repo: &repo,
        url,
        limits,
        entries: 0,
        bytes: 0,
        buf: Vec::new(),
    };
    let result = writer.write(&tree.id, dest, &mut Vec::new());
    if result.is_err() {
        let _ = std::fs::remove_dir_all(dest);
    }
    result
}

/// A failed fetch as the user is told it: its kind is the git error's (a
/// place that holds no git repository is "not found", exit 3; anything
/// else, from a server that cannot be reached to a broken transfer, the
/// network's, exit 5), the git error itself the cause.
fn fetch_failure(commit: &str, e: GitError) -> KnapError {
    let hint = e.hint();
    let err = KnapError::new(e.kind(), format!("cannot fetch commit {commit}")).caused_by(e);
    match hint {
        Some(h) => err.with_hint(h),
        None => err,
    }
}

/// A bare fetch: first only the pinned commit at depth 1 (servers that
/// allow fetching by id), else every branch and tag in full.
fn fetch(
    url: &str,
    dir: &Path,
    id: gix::ObjectId,
    setup: impl Fn() -> TransportSetup,
    mut progress: gix::progress::tree::Item,
    interrupt: &AtomicBool,
) -> Result<gix::Repository, Cause> {
    let shallow = dir.join("shallow");
    let by_id = (|| -> Result<gix::Repository, Cause> {
        std::fs::create_dir(&shallow).map_err(cause)?;
        let depth = gix::remote::fetch::Shallow::DepthAtRemote(NonZeroU32::new(1).expect("1 > 0"));
        let spec = format!("{id}:refs/knap/pinned");
        let (repo, _) = gix::prepare_clone_bare(url, &shallow)
            .map_err(cause)?
            .with_shallow(depth)
            .configure_remote(move |r| {
                r.with_refspecs([spec.as_str()], gix::remote::Direction::Fetch)
            })
            .configure_connection(connection(setup()))
            .fetch_only(progress.add_child("by id"), interrupt)
            .map_err(cause)?;
        repo.find_commit(id).map_err(cause)?;
        Ok(repo)
    })();
    match by_id {
        Ok(repo) => return Ok(repo),
        // Past the deadline: no second try.
        Err(e) if interrupt.load(std::sync::atomic::Ordering::SeqCst) => return Err(e),
        Err(e) => {
            tracing::debug!("git {url}: fetching {id} by id failed ({e}); fetching every branch")
        }
    }
    let full = dir.join("full");
    std::fs::create_dir(&full).map_err(cause)?;
    let (repo, _) = gix::prepare_clone_bare(url, &full)
        .map_err(cause)?
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
        .fetch_only(progress.add_child("every branch"), interrupt)
        .map_err(cause)?;
    Ok(repo)
}

type Connection<'a, 'b, 'c> = gix::remote::Connection<
    'a,
    'b,
    'c,
    Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>,
>;

/// Sets up a clone's connection: the transport options (extra roots, the
/// token), no credential prompts, and no request to a URL with credentials.
fn connection(setup: TransportSetup) -> impl FnMut(&mut Connection<'_, '_, '_>) -> gix::Result {
    move |conn| {
        let opts = setup.options(conn.remote().repo())?;
        if let Some(o) = opts {
            conn.set_transport_options(o);
        }
        conn.set_credentials(no_prompt);
        refuse_credentials_in_url(conn.transport_mut());
        Ok(())
    }
}

/// Writes a git tree into a fresh directory under the archive limits,
/// refusing what a pack may not hold.
struct TreeWriter<'r> {
    repo: &'r gix::Repository,
    url: &'r str,
    limits: Limits,
    entries: u64,
    bytes: u64,
    /// One buffer for every object, so memory stays at the largest blob
    /// (itself bounded by the limit, checked from its header first).
    buf: Vec<u8>,
}

/// The largest a tree object can be per entry it holds: mode, space, a
/// 255-byte name, NUL and a 20-byte id.
const MAX_TREE_ENTRY_BYTES: u64 = 7 + 255 + 1 + 20;

impl TreeWriter<'_> {
    fn other(&self, m: String) -> KnapError {
        KnapError::other(format!("git {}: {m}", self.url))
    }

    /// A gix error reading the fetched objects.
    fn unreadable(&self, e: impl std::error::Error + Send + Sync + 'static) -> KnapError {
        self.other("cannot read the fetched objects".into())
            .caused_by(e)
    }

    fn refuse(&self, m: String) -> KnapError {
        KnapError::integrity(format!("git {}: {m}", self.url))
    }

    /// An I/O error at `target`; a name that is already there is a tree
    /// that lists it twice.
    fn io(&self, e: std::io::Error, action: &str, target: &Path, path: &str) -> KnapError {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            self.refuse(format!("the tree lists `{path}` twice"))
        } else {
            self.other(format!("cannot {action} {}", target.display()))
                .caused_by(e)
        }
    }

    fn count(&mut self, path: &str) -> Result<(), KnapError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(self.refuse(format!(
                "the tree has more than {} entries (refused at `{path}`; raise `limits.entries` in the configuration)",
                self.limits.max_entries
            )));
        }
        Ok(())
    }

    /// The size of object `id` from its header, without loading it.
    fn size_of(&self, id: &gix::oid) -> Result<u64, KnapError> {
        use gix::odb::find::Header;
        self.repo
            .find_header(id)
            .map(|h| match h {
                Header::Loose { size, .. } => size,
                Header::Packed(o) => o.object_size,
            })
            .map_err(|e| self.unreadable(e))
    }

    /// Loads object `id` into the shared buffer.
    fn load(&mut self, id: &gix::oid) -> Result<(), KnapError> {
        use gix::prelude::Find;
        let found = self.repo.objects.try_find(id, &mut self.buf);
        let found = found.map(|f| f.is_some());
        if !found.map_err(|e| self.unreadable(e))? {
            return Err(self.other(format!("object {id} is missing from the fetch")));
        }
        Ok(())
    }

    fn write(
        &mut self,
        tree_id: &gix::oid,
        dir: &Path,
        parents: &mut Vec<String>,
    ) -> Result<(), KnapError> {
        let left = self.limits.max_entries.saturating_sub(self.entries) + 1;
        if self.size_of(tree_id)? > left.saturating_mul(MAX_TREE_ENTRY_BYTES) {
            return Err(self.refuse(format!(
                "a tree under `{}` holds more than the {} entries `limits.entries` allows",
                entry_name::escape_str(&parents.join("/")),
                self.limits.max_entries
            )));
        }
        self.load(tree_id)?;
        let tree = gix::objs::TreeRef::from_bytes(&self.buf, self.repo.object_hash())
            .map_err(|e| self.other("a corrupt tree".into()).caused_by(e))?;
        let entries: Vec<(String, gix::objs::tree::EntryMode, gix::ObjectId)> = tree
            .entries
            .iter()
            .map(|e| {
                let shown = entry_name::escape(e.filename);
                let path = if parents.is_empty() {
                    shown.clone()
                } else {
                    format!("{}/{shown}", parents.join("/"))
                };
                let name = std::str::from_utf8(e.filename)
                    .map_err(|_| format!("`{path}` is not valid UTF-8"))?;
                parents.push(name.to_owned());
                let checked = {
                    let parts: Vec<&str> = parents.iter().map(String::as_str).collect();
                    entry_name::check_path(&parts)
                };
                parents.pop();
                checked.map_err(|problem| {
                    format!("unsafe path `{path}` in the tree refused: {problem}")
                })?;
                Ok((name.to_owned(), e.mode, e.oid.to_owned()))
            })
            .collect::<Result<_, String>>()
            .map_err(|m| self.refuse(m))?;
        for (name, mode, oid) in entries {
            parents.push(name);
            let path = parents.join("/");
            let target = dir.join(parents.last().expect("just pushed"));
            self.count(&path)?;
            if mode.is_tree() {
                std::fs::create_dir(&target).map_err(|e| self.io(e, "create", &target, &path))?;
                self.write(&oid, &target, parents)?;
            } else if mode.is_link() {
                return Err(self.refuse(format!(
                    "`{path}` is a symlink; a pack holds only regular files and directories"
                )));
            } else if mode.is_commit() {
                return Err(self.refuse(format!(
                    "`{path}` is a submodule; a pack holds only regular files and directories"
                )));
            } else {
                self.blob(&oid, &target, &path, mode.is_executable())?;
            }
            parents.pop();
        }
        Ok(())
    }

    fn blob(
        &mut self,
        oid: &gix::oid,
        target: &Path,
        path: &str,
        executable: bool,
    ) -> Result<(), KnapError> {
        let size = self.size_of(oid)?;
        if size > self.limits.max_total_bytes.saturating_sub(self.bytes) {
            return Err(self.refuse(format!(
                "writing `{path}` ({size} bytes) would exceed the limit of {} bytes in total (raise `limits.extracted_size` in the configuration)",
                self.limits.max_total_bytes
            )));
        }
        self.load(oid)?;
        if self.buf.len() as u64 != size {
            return Err(self.refuse(format!(
                "`{path}` does not hold the {size} bytes its header declares"
            )));
        }
        self.bytes += size;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(if executable { 0o755 } else { 0o644 });
        }
        #[cfg(not(unix))]
        let _ = executable;
        let write = |options: &std::fs::OpenOptions| -> std::io::Result<()> {
            use std::io::Write;
            options.open(target)?.write_all(&self.buf)
        };
        write(&options).map_err(|e| self.io(e, "write", target, path))
    }
}
