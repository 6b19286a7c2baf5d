//! A registry kept in a git repository (`git+https://` or `git+file://`):
//! a shallow (depth 1) gix clone on first use, a shallow fetch after. The
//! index is `index.json` or the sparse layout at the root of the remote's
//! HEAD commit; it is validated, then copied into the cache (with the commit
//! it came from), so reading never touches the repository and a bad commit
//! leaves the last good copy in place. An `index.json` is also split once
//! per ref ([`SplitCache`]), which is what lookups and search read: by
//! the first command that reads the registry after an update (checking the
//! copy again, as the cache is untrusted), so that a cold update costs
//! about what `git clone` does.
//!
//! `git+file://` spawns `git upload-pack` (gix's file transport), so it
//! needs a git binary on the PATH; `git+https://` does not.
//!
//! Over `git+https://`, gix's reqwest transport is given what the other
//! HTTP registries get ([`HttpPolicy`]): the registry's token, sent as
//! `Authorization: Bearer` to the registry's own scheme, host and port only (gix then refuses
//! to follow redirects, so it cannot leak elsewhere), and the extra CA roots
//! (per-registry `ca_file`, global `ca_file`, `SSL_CERT_FILE`). gix's
//! `http.sslCAInfo` / `http.extraHeader` keys are not used: its reqwest
//! backend ignores `sslCAInfo`, so the roots are added through the
//! backend's `configure_client` hook instead. gix never prompts for
//! credentials here: a server that asks for them gets an error that
//! points at `token_env`; and a server that redirects to a URL with
//! credentials gets no further request (the transport is wrapped by
//! [`refuse_credentials_in_url`]).

use std::num::NonZeroU32;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};
use url::Url;

use knap_schema::progress::Event;

use super::{Common, RegistryError, UpdateOutcome};
use crate::cache::{Staged, write_atomic, write_unsynced};
use crate::git_transport::{
    Deadline, GitError, TransportSetup, no_prompt, refuse_credentials_in_url,
};
use crate::http::{HttpPolicy, Limit};
use crate::index::parse::{count, too_large};
use crate::index::split::Stamp;
use crate::index::whole::{check_git_index, names_relative};
use crate::index::{Copy, SplitCache, View, parse_sparse_config, parse_sparse_pack};

/// A cause as the fetch's thread hands it over.
type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a fetch of the index failed: the transfer (exit 5; classified into
/// a [`GitError`] once the deadline is known), the fetched commit
/// (exit 5), or a document of the commit over the size limit (exit 4, as
/// from any registry).
enum Failure {
    Transfer(Cause),
    Git(GitError),
    Repository {
        message: String,
        source: Option<Cause>,
    },
    TooLarge {
        location: String,
        size: u64,
        limit: u64,
    },
}

/// A failure to read the fetched repository.
fn repository(message: impl Into<String>) -> impl FnOnce(Cause) -> Failure {
    let message = message.into();
    move |source| Failure::Repository {
        message,
        source: Some(source),
    }
}

/// [`repository`] for the usual `into` of a gix error.
fn read_error<E: std::error::Error + Send + Sync + 'static>(e: E) -> Failure {
    repository("cannot read the fetched commit")(Box::new(e))
}

/// A transfer error.
fn transfer<E: std::error::Error + Send + Sync + 'static>(e: E) -> Cause {
    Box::new(e)
}

pub struct GitIndex {
    pub common: Common,
    url: Url,
    http: HttpPolicy,
    /// The per-ref cache of `index.json` (and, for the sparse layout, the
    /// view this run reads).
    split: SplitCache,
}

/// What the cache holds for a git registry.
#[derive(Debug, Serialize, Deserialize)]
struct State {
    url: String,
    commit: String,
    /// "index" (`index.json`) or "sparse" (`sparse/`).
    layout: String,
    /// How many versions name an install source by a relative URL (counted
    /// when the commit was checked).
    #[serde(default)]
    relative_sources: usize,
}

/// The files of the index at one commit.
enum Tree {
    Index(Vec<u8>),
    Sparse {
        config: Vec<u8>,
        packs: Vec<(String, Vec<u8>)>,
    },
}

/// The files of the commit's `tuf/` directory (a signed registry).
type TufFiles = std::collections::BTreeMap<String, Vec<u8>>;

/// The largest `tuf/` file read from a commit (the verifier's own limits
/// are smaller for everything but targets).
const MAX_TUF_FILE: u64 = 64 * 1024 * 1024;

impl GitIndex {
    pub fn new(common: Common, url: Url, http: HttpPolicy) -> Self {
        let split = SplitCache::new(common.cache.path("refs"));
        Self {
            common,
            url,
            http,
            split,
        }
    }

    /// Splits the cached `index.json` again (checking it again): for a
    /// cache written before the split existed, or a damaged split.
    pub async fn resplit(&self, damaged: bool) -> Result<View, RegistryError> {
        self.split
            .resplit(&self.common.name, damaged, || self.cached_copy())
            .await
    }

    /// The cached `index.json` of the cached commit.
    fn cached_copy(&self) -> Result<Copy, RegistryError> {
        let name = &self.common.name;
        let state = self
            .state()
            .ok_or_else(|| self.other(format!("no cached copy; run `knap update {name}`")))?;
        let path = self.common.cache.path("index.json");
        let bytes = crate::cache::read_cached(&path).map_err(|e| {
            self.other(format!(
                "cannot read the cached index {}: {}; run `knap update {name}`",
                path.display(),
                e.reason()
            ))
        })?;
        Ok(Copy {
            stamp: Stamp {
                len: bytes.len() as u64,
                id: format!("commit:{}", state.commit),
            },
            location: path.display().to_string(),
            bytes,
        })
    }

    /// Warns that `n` versions name an archive by a relative URL, which
    /// nothing serves from a git repository.
    fn warn_relative(&self, n: usize) {
        if n == 0 {
            return;
        }
        let (s, verb, them) = if n == 1 {
            ("", "names", "it")
        } else {
            ("s", "name", "them")
        };
        self.common.reporter.report(Event::Warning {
            message: format!(
                "registry `{}`: {n} version{s} {verb} an archive by a relative URL, which a git registry cannot serve: installing {them} fails (see `knap info REF`); its index should give absolute https:// URLs",
                self.common.name
            ),
        });
    }

    /// How many versions of the cached commit name an install source by a
    /// relative URL (counted when it was checked at update).
    pub fn relative_sources(&self) -> usize {
        self.state().map_or(0, |s| s.relative_sources)
    }

    fn state(&self) -> Option<State> {
        let bytes = crate::cache::read_cached(&self.common.cache.path("git-state.json")).ok()?;
        serde_json::from_slice::<State>(&bytes)
            .ok()
            .filter(|s| s.url == self.url.as_str())
    }

    fn other(&self, message: String) -> RegistryError {
        RegistryError::Other {
            registry: self.common.name.clone(),
            message,
        }
    }

    pub async fn update(&self) -> Result<UpdateOutcome, RegistryError> {
        let name = self.common.name.clone();
        let url = self.url.to_string();
        let repo_dir = self.common.cache.path("repo");
        let previous = self.state().map(|s| s.commit);
        let started = std::time::Instant::now();
        let roots = match self.url.scheme() {
            "https" | "http" => self
                .http
                .tls
                .certificates()
                .map_err(|e| RegistryError::Fetch {
                    registry: name.clone(),
                    source: e,
                })?,
            _ => Vec::new(),
        };
        // gix asks for the local time zone when it writes the fetched refs,
        // and the first such query reads the whole time zone database; it
        // is read here on the side instead, while the fetch starts.
        std::thread::spawn(gix::date::Time::now_local_or_utc);
        let settings = self.http.settings.clone();
        let limit = Limit::IndexTotal(settings.timeout);
        let fetched = {
            let url = url.clone();
            let dir = repo_dir.clone();
            let setup = TransportSetup {
                url: url.clone(),
                auth: self.http.auth.clone(),
                roots,
                connect_timeout: settings.connect_timeout,
                read_timeout: settings.read_timeout,
            };
            let max_size = self.common.max_size;
            let url_of_fetch = url.clone();
            let cache = self.common.cache.clone();
            tokio::task::spawn_blocking(move || {
                // The registry's cache lock, held until this update has
                // written its cache (it is returned with the outcome): one
                // fetch into the clone at a time, and what a dead process
                // left there is cleaned before this one fetches.
                let lock = cache.lock().map_err(|e| {
                    repository(format!(
                        "cannot lock the cache {}",
                        cache.path(".lock").display()
                    ))(Box::new(e))
                })?;
                let deadline = Deadline::start(limit, &settings);
                let progress = deadline.progress();
                let fresh = !dir.join(".git").is_dir();
                if !fresh {
                    remove_leftovers(&dir.join(".git"));
                }
                let target = dir.clone();
                let fetched = deadline.run(move |interrupt| {
                    clone_or_fetch(&url, &target, setup, max_size, progress, interrupt)
                });
                let fetched = match fetched {
                    Some(Err(Failure::Transfer(e))) => Err(Failure::Git(GitError::of(
                        &url_of_fetch,
                        e,
                        &settings,
                        &deadline,
                    ))),
                    Some(r) => r,
                    // Abandoned at the deadline (gix honours its interrupt
                    // flag only at some points of a fetch): a first clone
                    // is removed, as if never started.
                    None => {
                        if fresh {
                            let _ = std::fs::remove_dir_all(&dir);
                        }
                        Err(Failure::Git(GitError::deadline(&url_of_fetch, &deadline)))
                    }
                };
                fetched.map(|f| (f, lock))
            })
            .await
            .expect("the git task panicked")
        };
        let (fetched, _cache_lock) = match fetched {
            Ok((f, lock)) => (Ok(f), Some(lock)),
            Err(e) => (Err(e), None),
        };
        let (commit, tree, tuf, cloned) = fetched.map_err(|e| match e {
            Failure::Git(source) => RegistryError::Git {
                registry: name.clone(),
                source,
            },
            Failure::Transfer(source) => RegistryError::Repository {
                registry: name.clone(),
                message: format!("git {url}: the transfer failed"),
                source: Some(source),
            },
            Failure::Repository { message, source } => RegistryError::Repository {
                registry: name.clone(),
                message: format!("git {url}: {message}"),
                source,
            },
            Failure::TooLarge {
                location,
                size,
                limit,
            } => too_large(&name, &format!("git {url}: {location}"), size, limit),
        })?;
        // A signed registry: the commit's tuf/ is verified and every index
        // file held to its targets entry before anything is cached.
        if let Some(t) = &self.common.trust {
            t.ensure_with(Arc::new(crate::registry::trust::MemFetch(tuf)))
                .await?;
            match &tree {
                Tree::Index(bytes) => t.check("index.json", bytes)?,
                Tree::Sparse { config, packs } => {
                    t.check("config.json", config)?;
                    // `<sha256>.<ref>.json` copies are not refs: never read.
                    for (r, bytes) in packs
                        .iter()
                        .filter(|(r, _)| knap_schema::ident::is_valid_ref(r))
                    {
                        t.check(&format!("packs/{r}.json"), bytes)?;
                    }
                }
            }
        }
        tracing::debug!("git {url}: fetched in {:?}", started.elapsed());
        if previous.as_deref() == Some(commit.as_str()) {
            self.warn_relative(self.relative_sources());
            return Ok(UpdateOutcome::NotModified {
                detail: format!("at {}", &commit[..12]),
            });
        }
        let location = |f: &str| format!("{url} ({f} at commit {})", &commit[..12]);
        let cache_error = |e| self.common.cache_error(e);
        let mut relative = 0;
        let (layout, detail) = match &tree {
            Tree::Index(bytes) => {
                // The copy is written while the index is checked (the
                // check starts on one core), and put in place only if it
                // is valid. It is split per ref on first use ([`Self::view`]),
                // not here: writing a file per ref would make a cold update
                // cost far more than the `git clone` it stands for.
                let path = self.common.cache.path("index.json");
                let (checked, staged) = std::thread::scope(|s| {
                    let staged = s.spawn(|| Staged::write(&path, bytes));
                    let checked = check_git_index(&name, &location("index.json"), bytes);
                    (checked, staged.join().expect("the cache writer panicked"))
                });
                let (summary, rel) = checked?;
                relative = rel;
                tracing::debug!("git {url}: validated after {:?}", started.elapsed());
                staged.and_then(Staged::commit).map_err(cache_error)?;
                ("index", summary.to_string())
            }
            Tree::Sparse { config, packs } => {
                parse_sparse_config(&name, &location("config.json"), config)?;
                for (r, bytes) in packs {
                    let p =
                        parse_sparse_pack(&name, &location(&format!("packs/{r}.json")), bytes, r)?;
                    relative += p.versions.iter().filter(|e| names_relative(e)).count();
                }
                tracing::debug!("git {url}: validated after {:?}", started.elapsed());
                self.store_sparse(config, packs).map_err(cache_error)?;
                (
                    "sparse",
                    format!("sparse layout, {}", count(packs.len(), "pack", "packs")),
                )
            }
        };
        let state = State {
            url: url.clone(),
            commit: commit.clone(),
            layout: layout.into(),
            relative_sources: relative,
        };
        write_atomic(
            &self.common.cache.path("git-state.json"),
            &serde_json::to_vec_pretty(&state).expect("state serialises"),
        )
        .map_err(|e| self.other(format!("cannot write the cache: {e}")))?;
        self.split.forget();
        self.warn_relative(relative);
        let verb = if cloned { "cloned" } else { "fetched" };
        Ok(UpdateOutcome::Updated {
            detail: format!("{verb} {}: {detail}", &commit[..12]),
        })
    }

    /// Copies a validated sparse tree into the cache: written to a new
    /// directory that then replaces the old one.
    fn store_sparse(&self, config: &[u8], packs: &[(String, Vec<u8>)]) -> std::io::Result<()> {
        let cache = &self.common.cache;
        let new = cache.path("sparse.new");
        let _ = std::fs::remove_dir_all(&new);
        std::fs::create_dir_all(new.join("packs"))?;
        // A new directory, put in place whole below: its files need no
        // fsync each (see `crate::cache`).
        write_unsynced(&new.join("config.json"), config)?;
        for (r, bytes) in packs {
            write_unsynced(&new.join("packs").join(format!("{r}.json")), bytes)?;
        }
        let live = cache.path("sparse");
        let old = cache.path("sparse.old");
        let _ = std::fs::remove_dir_all(&old);
        if live.exists() {
            std::fs::rename(&live, &old)?;
        }
        std::fs::rename(&new, &live)?;
        let _ = std::fs::remove_dir_all(&old);
        Ok(())
    }

    pub async fn view(&self) -> Result<View, RegistryError> {
        if let Some(v) = self.split.loaded() {
            return Ok(v);
        }
        let name = self.common.name.clone();
        let state = match self.state() {
            Some(s) => s,
            None if self.common.offline => {
                return Err(RegistryError::Unavailable {
                    registry: name.clone(),
                    message: format!(
                        "no cached copy of {} and --offline; run `knap update {name}` while online",
                        self.url
                    ),
                });
            }
            None => {
                self.common
                    .first_fetch(self.url.as_str(), self.update())
                    .await?;
                self.state()
                    .ok_or_else(|| self.other("the clone left no index in the cache".into()))?
            }
        };
        if state.layout == "sparse" {
            let dir = self.common.cache.path("sparse");
            return Ok(self.split.keep(View::SparseDir(dir, self.common.max_size)));
        }
        let len = std::fs::metadata(self.common.cache.path("index.json")).map(|m| m.len());
        let current = len.ok().map(|len| Stamp {
            len,
            id: format!("commit:{}", state.commit),
        });
        self.split.view(&name, current, || self.cached_copy()).await
    }
}

/// What a fetch asks the remote for: its HEAD, and main and master for a
/// remote that advertises no HEAD. Written under `refs/knap/`, so the next
/// fetch offers them as what it already has.
const REFSPECS: [&str; 3] = [
    "+HEAD:refs/knap/head",
    "+refs/heads/main:refs/knap/main",
    "+refs/heads/master:refs/knap/master",
];

/// Fetches (depth 1) into the repository at `dir`, creating it first when
/// there is none (a clone); returns the remote HEAD commit, the index files
/// at it, and whether this was a clone.
///
/// A clone is an empty repository plus the same fetch, not
/// `gix::prepare_clone`: that connects to the remote twice for a shallow
/// clone (once to find the default branch, once to fetch) and runs the
/// `git` binary once to locate its installation's configuration, and
/// neither is needed here. Nothing is checked out: the index files are read
/// from the fetched objects.
fn clone_or_fetch(
    url: &str,
    dir: &Path,
    setup: TransportSetup,
    limit: u64,
    progress: gix::progress::tree::Item,
    interrupt: &AtomicBool,
) -> Result<(String, Tree, TufFiles, bool), Failure> {
    let existing = dir
        .join(".git")
        .is_dir()
        .then(|| gix::open(dir).ok())
        .flatten();
    let cloned = existing.is_none();
    let mut repo = match existing {
        Some(repo) => repo,
        None => {
            let _ = std::fs::remove_dir_all(dir);
            std::fs::create_dir_all(dir)
                .map_err(|e| repository(format!("cannot create {}", dir.display()))(Box::new(e)))?;
            // Nothing is ever checked out, so the file system need not be
            // probed for what a checkout could do (symlinks, executable bit).
            let options = gix::create::Options {
                fs_capabilities: Some(gix::fs::Capabilities::default()),
                ..Default::default()
            };
            gix::ThreadSafeRepository::init(dir, gix::create::Kind::WithWorktree, options)
                .map_err(|e| {
                    repository(format!("cannot create a repository in {}", dir.display()))(
                        Box::new(e),
                    )
                })?
                .to_thread_local()
        }
    };
    let outcome = match fetch(&mut repo, url, setup, progress, interrupt) {
        Ok(o) => o,
        Err(e) => {
            if cloned {
                // As if never started: the next update clones again.
                drop(repo);
                let _ = std::fs::remove_dir_all(dir);
            }
            return Err(Failure::Transfer(e));
        }
    };
    let head = remote_head(&outcome.ref_map.remote_refs).ok_or_else(|| Failure::Repository {
        message: "the remote advertises no HEAD or branch (is it empty?)".into(),
        source: None,
    })?;
    let tree = read_tree(&repo, head, limit)?;
    let tuf = read_tuf(&repo, head)?;
    Ok((head.to_string(), tree, tuf, cloned))
}

/// Removes what a fetch into the repository whose `.git` is `git_dir`
/// leaves behind when its process dies (SIGKILL, Ctrl-C, a power cut):
/// gix's lock files (`shallow.lock`, `index.lock`, `refs/**/*.lock`,
/// `packed-refs.lock`, `config.lock`) and its temporary packs
/// (`objects/pack/.tmp*`, `objects/pack/tmp*`). Left there, they make
/// every later fetch fail ("'shallow' file could not be locked"). Called
/// only under the registry's cache lock, so no live fetch owns them; the
/// repository's committed files are untouched (a lock file is the next
/// version of a file, never the file itself).
fn remove_leftovers(git_dir: &Path) {
    for entry in walkdir::WalkDir::new(git_dir)
        .follow_links(false)
        .into_iter()
        .filter_map(Result::ok)
    {
        let name = entry.file_name().to_string_lossy();
        let in_pack_dir = entry
            .path()
            .parent()
            .is_some_and(|p| p.ends_with("objects/pack"));
        let leftover = (entry.file_type().is_file() && name.ends_with(".lock"))
            || (in_pack_dir && (name.starts_with(".tmp") || name.starts_with("tmp")));
        if leftover {
            tracing::debug!(
                "removing {} left by a fetch that died",
                entry.path().display()
            );
            let _ = if entry.file_type().is_dir() {
                std::fs::remove_dir_all(entry.path())
            } else {
                std::fs::remove_file(entry.path())
            };
        }
    }
}

/// One shallow fetch of [`REFSPECS`] from `url` into `repo`.
fn fetch(
    repo: &mut gix::Repository,
    url: &str,
    setup: TransportSetup,
    progress: gix::progress::tree::Item,
    interrupt: &AtomicBool,
) -> Result<gix::remote::fetch::Outcome, Cause> {
    let depth = gix::remote::fetch::Shallow::DepthAtRemote(NonZeroU32::new(1).expect("1 > 0"));
    // Reflog entries need a committer; the user may have none configured.
    repo.committer_or_set_generic_fallback().map_err(transfer)?;
    // The pack of an index holds a handful of objects: indexing it on one
    // thread does the same work without the other threads' busy waiting.
    {
        let mut config = repo.config_snapshot_mut();
        config
            .set_value(&gix::config::tree::Pack::THREADS, "1")
            .map_err(transfer)?;
        config.commit().map_err(transfer)?;
    }
    let remote = repo
        .remote_at(url)
        .map_err(transfer)?
        .with_refspecs(REFSPECS, gix::remote::Direction::Fetch)
        .map_err(transfer)?
        .with_fetch_tags(gix::remote::fetch::Tags::None);
    let mut conn = remote
        .connect(gix::remote::Direction::Fetch)
        .map_err(transfer)?
        .with_credentials(no_prompt);
    refuse_credentials_in_url(conn.transport_mut());
    if let Some(o) = setup.options(repo).map_err(transfer)? {
        conn = conn.with_transport_options(o);
    }
    conn.prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(transfer)?
        .with_shallow(depth)
        .receive(progress, interrupt)
        .map_err(transfer)
}

/// The commit the remote's HEAD points to, else its main/master branch.
fn remote_head(refs: &[gix::protocol::handshake::Ref]) -> Option<gix::ObjectId> {
    let find = |want: &str| {
        refs.iter().find_map(|r| {
            let (name, id, peeled) = r.unpack();
            (name == want)
                .then(|| peeled.or(id).map(|o| o.to_owned()))
                .flatten()
        })
    };
    find("HEAD")
        .or_else(|| find("refs/heads/main"))
        .or_else(|| find("refs/heads/master"))
}

/// The blobs directly under `tuf/` at `commit`, by path (`tuf/<name>`);
/// none when the commit has no `tuf/`. A blob above [`MAX_TUF_FILE`] is
/// refused by its header, before it is read.
fn read_tuf(repo: &gix::Repository, commit: gix::ObjectId) -> Result<TufFiles, Failure> {
    let tree = repo
        .find_commit(commit)
        .map_err(read_error)?
        .tree()
        .map_err(read_error)?;
    let mut out = TufFiles::new();
    let Some(entry) = tree.lookup_entry_by_path("tuf").map_err(read_error)? else {
        return Ok(out);
    };
    let sub = entry
        .object()
        .map_err(read_error)?
        .peel_to_tree()
        .map_err(read_error)?;
    for e in sub.iter() {
        let e = e.map_err(read_error)?;
        if !e.mode().is_blob() {
            continue;
        }
        let header = repo.find_header(e.oid()).map_err(read_error)?;
        if header.size() > MAX_TUF_FILE {
            return Err(Failure::Repository {
                message: format!("tuf/{} is larger than {MAX_TUF_FILE} bytes", e.filename()),
                source: None,
            });
        }
        let data = repo.find_object(e.oid()).map_err(read_error)?.detach().data;
        out.insert(format!("tuf/{}", e.filename()), data);
    }
    Ok(out)
}

/// The index files at `commit`; a file (or a sparse layout in all) larger
/// than `limit` bytes is refused before it is read into memory.
fn read_tree(repo: &gix::Repository, commit: gix::ObjectId, limit: u64) -> Result<Tree, Failure> {
    let tree = repo
        .find_commit(commit)
        .map_err(read_error)?
        .tree()
        .map_err(read_error)?;
    let mut total = 0u64;
    let mut sized = |id: gix::ObjectId, path: &str| -> Result<Vec<u8>, Failure> {
        let size = repo.find_header(id).map_err(read_error)?.size();
        total += size;
        if size > limit || total > limit {
            return Err(Failure::TooLarge {
                location: format!("{path} at commit {}", commit.to_hex_with_len(12)),
                size: size.max(total),
                limit,
            });
        }
        Ok(repo.find_object(id).map_err(read_error)?.detach().data)
    };
    let mut blob = |tree: &gix::Tree<'_>, path: &str| -> Result<Option<Vec<u8>>, Failure> {
        match tree.lookup_entry_by_path(path).map_err(read_error)? {
            Some(entry) => Ok(Some(sized(entry.object_id(), path)?)),
            None => Ok(None),
        }
    };
    if let Some(bytes) = blob(&tree, "index.json")? {
        return Ok(Tree::Index(bytes));
    }
    let config = blob(&tree, "config.json")?.ok_or_else(|| Failure::Repository {
        message: format!(
            "commit {} holds neither index.json nor config.json at its root",
            commit.to_hex_with_len(12)
        ),
        source: None,
    })?;
    let mut packs = Vec::new();
    if let Some(entry) = tree.lookup_entry_by_path("packs").map_err(read_error)? {
        let sub = entry
            .object()
            .map_err(read_error)?
            .peel_to_tree()
            .map_err(read_error)?;
        for e in sub.iter() {
            let e = e.map_err(read_error)?;
            let file = e.filename().to_string();
            let Some(r) = file.strip_suffix(".json") else {
                continue;
            };
            if !e.mode().is_blob() {
                continue;
            }
            let data = sized(e.oid().to_owned(), &format!("packs/{file}"))?;
            packs.push((r.to_owned(), data));
        }
    }
    Ok(Tree::Sparse { config, packs })
}
