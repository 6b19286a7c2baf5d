//! knap's test kit, shared by the `knap` binary's tests and the library
//! crates' tests (as cargo's `cargo-test-support` is for cargo). Everything
//! here is real: processes, files, archives, git repositories and servers
//! on 127.0.0.1; nothing is mocked.
//!
//! - [`knap`]: [`Knap`], the `knap` binary run in a home of its own (its
//!   own working directory, default root, configuration, cache and `HOME`,
//!   no inherited knap, XDG or CA variables), and [`Out`], what a run gave,
//!   with [`Out::transcript`] for snapshots;
//! - [`snapshot`]: the filters that make a transcript stable (temporary
//!   paths, ports, times, durations) and [`assert_out!`], an `insta`
//!   snapshot of a run;
//! - [`server`]: a small HTTP/1.1 server (optional TLS, a request log,
//!   replies that misbehave on purpose, `git http-backend` as a CGI), and
//!   [`tls`] for a test CA;
//! - [`registry`]: packs and registries built the way cargo-test-support
//!   builds crates: `Pack::new("core", "1.0.0").dep("util@^1").publish(&mut
//!   site)`, index entries and documents ([`entry`], [`index`]);
//! - [`archive`]: tar, tar.gz and zip builders, down to raw headers, and
//!   [`hostile`]: the catalogue of archives a pack install must refuse;
//! - [`envs`]: pack environments' package indexes (a PEP 503 index of
//!   wheels written by the test, an npm registry of `npm pack` tarballs),
//!   packs with dependency files, and `uv` for the tests;
//! - [`dir`]: snapshots of a directory tree, to show that nothing changed;
//! - [`root`]: reading an install root back (`knap.lock`, tree digests)
//!   and its invariant ([`root::assert_consistent`]);
//! - [`git`]: git run with a fixed identity and clock, and commits built
//!   from raw trees;
//! - [`prelude`]: what most tests of the `knap` binary use.
//!
//! Updating snapshots: see the README's test section (`cargo insta review`,
//! or `INSTA_UPDATE=always cargo test`).

pub mod archive;
pub mod dir;
pub mod envs;
pub mod git;
pub mod hostile;
pub mod knap;
pub mod prelude;
pub mod registry;
pub mod root;
pub mod server;
pub mod snapshot;
pub mod tls;

pub use insta;
pub use knap::{Knap, Out};
pub use registry::{Pack, Site, entry, entry_with, index, write_json};

use std::path::{Path, PathBuf};

/// The shared corpus (`../shared/corpus` beside the workspace), if it is
/// there; otherwise says `skipped: ...` on stderr (`cargo test --
/// --nocapture` shows it) and gives `None`.
pub fn corpus() -> Option<PathBuf> {
    let p = workspace().join("../shared/corpus");
    if p.join("attune/index.json").is_file() {
        Some(p)
    } else {
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "skipped: the corpus ../shared/corpus is absent (looked at {})",
                p.display()
            );
        }
        None
    }
}

/// The workspace root (where `Cargo.lock` is).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace exists")
}

/// The project's `example-index/`.
pub fn example_index() -> PathBuf {
    workspace().join("example-index")
}

/// A fresh temporary directory at a path of one length on every machine
/// (`/tmp/.tmpXXXXXX` where `/tmp` exists, whatever `TMPDIR` says), so that
/// a table that holds it keeps its column widths in a snapshot.
pub fn tempdir() -> tempfile::TempDir {
    let tmp = Path::new("/tmp");
    if tmp.is_dir() {
        tempfile::tempdir_in(tmp).expect("a temporary directory in /tmp")
    } else {
        tempfile::tempdir().expect("a temporary directory")
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// The pack tree digest of a directory (formats.md §2).
pub fn digest(dir: &Path) -> String {
    knap_schema::tree_digest(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .checksum
}

/// Writes `content` to `path`, creating its parent directories.
pub fn write(path: &Path, content: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().expect("a file has a parent")).unwrap();
    std::fs::write(path, content).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}
