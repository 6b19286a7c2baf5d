//! Packs and registries, built the way cargo-test-support builds crates:
//!
//! ```no_run
//! use knap_test_support::{Pack, Site};
//! let mut site = Site::new();
//! Pack::new("util", "1.0.0").publish(&mut site);
//! Pack::new("core", "1.0.0")
//!     .dep("util@^1")
//!     .file("actions/run.py", "print('hi')\n")
//!     .publish(&mut site);
//! let k = site.knap(); // a knap with the site as its registry `site`
//! ```
//!
//! A [`Site`] is a registry directory (`index.json`, `archives/`) served
//! over HTTP on 127.0.0.1 by [`crate::server`], and readable as a local
//! registry too ([`Site::knap_local`]: no port in the output). Publishing
//! writes the pack's reproducible `.tar.gz` under `archives/` and rewrites
//! `index.json` with every entry so far, in index order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::knap::Knap;
use crate::server::{Server, files};

/// A valid index entry for `r` at `version`, depending on `deps`, with an
/// archive source at example.org (for tests that never install it).
pub fn entry(r: &str, version: &str, deps: &[&str]) -> Value {
    let mut e = json!({
        "ref": r,
        "label": format!("The {r} pack"),
        "description": format!("Does {r} things"),
        "version": version,
        "author": "Test Author",
        "license": "Apache-2.0",
        "keywords": [r, "test"],
        "runtime_deps": [],
        "install_sources": [{
            "type": "archive",
            "url": format!("https://example.org/{r}-{version}.tar.gz"),
            "checksum": format!("sha256:{}", "ab".repeat(32)),
        }],
        "contents": {"actions": [], "sensors": [], "triggers": [], "rules": [], "workflows": []},
    });
    if !deps.is_empty() {
        e["dependencies"] = json!({"packs": deps});
    }
    e
}

/// [`entry`] with the given install sources.
pub fn entry_with(r: &str, version: &str, deps: &[&str], sources: Value) -> Value {
    let mut e = entry(r, version, deps);
    e["install_sources"] = sources;
    e
}

/// A valid index of `entries` (in the order given).
pub fn index(name: &str, entries: Vec<Value>) -> Value {
    json!({
        "registry_name": name,
        "registry_url": "https://example.org/registry/",
        "version": "1.0",
        "last_updated": "2026-11-21T12:00:00Z",
        "packs": entries,
    })
}

/// Writes `v` as pretty JSON to `path`, creating its directory.
pub fn write_json(path: &Path, v: &Value) {
    crate::write(path, serde_json::to_vec_pretty(v).unwrap());
}

/// A git registry's repository: a bare `index.git` in `dir` whose one
/// commit holds `index.json` = `index`, made from the work tree
/// `dir/work`. Returns the bare repository's path.
pub fn git_index_repo(dir: &Path, index: &Value) -> PathBuf {
    let work = dir.join("work");
    write_json(&work.join("index.json"), index);
    crate::git::commit_all(&work, "index");
    crate::git::git(dir, &["clone", "-q", "--bare", "work", "index.git"]);
    dir.join("index.git")
}

/// Writes the pack directory `<dir>/<ref>-<version>` of
/// `Pack::new(r, version).deps(deps)` and returns it.
pub fn make_pack(dir: &Path, r: &str, version: &str, deps: &[&str]) -> PathBuf {
    Pack::new(r, version).deps(deps).write_to(dir)
}

/// Builds the pack in `work`, writes its archive to
/// `<site>/archives/<ref>-<version>.tar.gz` and returns its entry (a
/// relative archive URL) and the pack directory: for tests that write
/// their own `index.json`.
pub fn publish(
    site: &Path,
    work: &Path,
    r: &str,
    version: &str,
    deps: &[&str],
) -> (Value, PathBuf) {
    Pack::new(r, version).deps(deps).archive_into(site, work)
}

/// A git repository holding one pack (`make_pack`) at its root, with one
/// commit: (work tree, commit id).
pub fn git_pack(parent: &Path, r: &str, version: &str) -> (PathBuf, String) {
    let pack = make_pack(parent, r, version, &[]);
    let commit = crate::git::commit_all(&pack, "pack");
    (pack, commit)
}

/// An entry for `r` with one git source.
pub fn git_entry(r: &str, version: &str, url: &str, commit: &str, checksum: &str) -> Value {
    entry_with(
        r,
        version,
        &[],
        json!([{"type": "git", "url": url, "ref": commit, "checksum": checksum}]),
    )
}

/// A pack to build: `pack.yaml` (ref, version, name, description, author,
/// dependencies, and any more lines), `README.md`, `actions/run.sh`, and
/// any more files.
#[derive(Debug, Clone)]
pub struct Pack {
    pack_ref: String,
    version: String,
    deps: Vec<String>,
    manifest: String,
    files: Vec<(String, Vec<u8>)>,
}

impl Pack {
    pub fn new(pack_ref: &str, version: &str) -> Self {
        Self {
            pack_ref: pack_ref.to_owned(),
            version: version.to_owned(),
            deps: Vec::new(),
            manifest: String::new(),
            files: Vec::new(),
        }
    }

    /// A dependency, `REF` or `REF@REQ`.
    pub fn dep(mut self, spec: &str) -> Self {
        self.deps.push(spec.to_owned());
        self
    }

    /// Several dependencies.
    pub fn deps(mut self, specs: &[&str]) -> Self {
        self.deps.extend(specs.iter().map(|s| s.to_string()));
        self
    }

    /// More `pack.yaml` lines (YAML, ending in a newline).
    pub fn manifest(mut self, yaml: &str) -> Self {
        self.manifest.push_str(yaml);
        self
    }

    /// One more file, at a relative path.
    pub fn file(mut self, path: &str, content: impl AsRef<[u8]>) -> Self {
        self.files
            .push((path.to_owned(), content.as_ref().to_vec()));
        self
    }

    /// More files.
    pub fn files(mut self, files: &[(String, Vec<u8>)]) -> Self {
        self.files.extend(files.iter().cloned());
        self
    }

    /// Writes the pack directory `<parent>/<ref>-<version>` and returns it.
    pub fn write_to(&self, parent: &Path) -> PathBuf {
        let (r, version) = (&self.pack_ref, &self.version);
        let p = parent.join(format!("{r}-{version}"));
        let deps_yaml = if self.deps.is_empty() {
            String::new()
        } else {
            format!(
                "dependencies:\n{}",
                self.deps
                    .iter()
                    .map(|d| format!("  - \"{d}\"\n"))
                    .collect::<String>()
            )
        };
        crate::write(
            &p.join("pack.yaml"),
            format!(
                "ref: {r}\nversion: {version}\nname: The {r} pack\ndescription: Does {r} things\nauthor: Test Author\n{deps_yaml}{}",
                self.manifest
            ),
        );
        crate::write(
            &p.join("actions/run.sh"),
            format!("#!/bin/sh\necho {r} {version}\n"),
        );
        crate::write(&p.join("README.md"), format!("# {r} {version}\n"));
        for (path, bytes) in &self.files {
            crate::write(&p.join(path), bytes);
        }
        p
    }

    /// Builds the pack in `work`, writes its reproducible archive to
    /// `<site>/archives/<ref>-<version>.tar.gz`, and returns its entry (a
    /// relative archive URL and the archive's checksum) and the pack
    /// directory.
    pub fn archive_into(&self, site: &Path, work: &Path) -> (Value, PathBuf) {
        let dir = self.write_to(work);
        let bytes = crate::archive::tar_gz_dir(&dir);
        let name = format!("archives/{}-{}.tar.gz", self.pack_ref, self.version);
        crate::write(&site.join(&name), &bytes);
        let deps: Vec<&str> = self.deps.iter().map(String::as_str).collect();
        let e = entry_with(
            &self.pack_ref,
            &self.version,
            &deps,
            json!([{"type": "archive", "url": name, "checksum": crate::sha(&bytes)}]),
        );
        (e, dir)
    }

    /// Publishes the pack on `site` (see [`Site::publish_pack`]); returns
    /// the pack directory it was built from.
    pub fn publish(self, site: &mut Site) -> PathBuf {
        site.publish_pack(self)
    }
}

/// A registry directory served over HTTP; see the module documentation.
pub struct Site {
    /// The registry directory.
    pub dir: tempfile::TempDir,
    /// Where packs are built before they are archived.
    pub work: tempfile::TempDir,
    /// Every entry, by (ref, version).
    pub entries: BTreeMap<(String, semver::Version), Value>,
    pub server: Server,
}

impl Default for Site {
    fn default() -> Self {
        Self::new()
    }
}

impl Site {
    pub fn new() -> Self {
        let dir = crate::tempdir();
        let server = Server::start(files(dir.path().to_path_buf()));
        Self {
            dir,
            work: crate::tempdir(),
            entries: BTreeMap::new(),
            server,
        }
    }

    /// The registry's HTTP URL.
    pub fn url(&self) -> String {
        self.server.url("/")
    }

    /// A knap with this site as its only registry, `site`, over HTTP; the
    /// site's directory shows as `[SITE]` in transcripts.
    pub fn knap(&self) -> Knap {
        let mut k = Knap::new();
        k.run(&["registry", "add", "site", &self.url()]).ok();
        self.name_in(&mut k);
        k
    }

    /// A knap reading this site's directory as a local registry, `site`.
    pub fn knap_local(&self) -> Knap {
        let mut k = Knap::new();
        k.run(&["registry", "add", "site", self.path_str()]).ok();
        self.name_in(&mut k);
        k
    }

    /// Shows this site's directories under names in `k`'s transcripts.
    pub fn name_in(&self, k: &mut Knap) {
        k.name(self.dir.path(), "[SITE]");
        k.name(self.work.path(), "[WORK]");
    }

    pub fn path_str(&self) -> &str {
        self.dir.path().to_str().expect("a UTF-8 temporary path")
    }

    /// Publishes `r` `version` depending on `deps`, with `extra` files;
    /// returns the pack directory.
    pub fn publish(
        &mut self,
        r: &str,
        version: &str,
        deps: &[&str],
        extra: &[(String, Vec<u8>)],
    ) -> PathBuf {
        self.publish_pack(Pack::new(r, version).deps(deps).files(extra))
    }

    /// [`publish`](Self::publish) with more `pack.yaml` lines.
    pub fn publish_with_manifest(
        &mut self,
        r: &str,
        version: &str,
        deps: &[&str],
        manifest_extra: &str,
        extra: &[(String, Vec<u8>)],
    ) -> PathBuf {
        self.publish_pack(
            Pack::new(r, version)
                .deps(deps)
                .manifest(manifest_extra)
                .files(extra),
        )
    }

    /// Builds `pack` in [`work`](Self::work), writes its archive to
    /// `archives/<ref>-<version>.tar.gz`, adds its entry (a relative
    /// archive URL and its checksum) and rewrites `index.json`.
    pub fn publish_pack(&mut self, pack: Pack) -> PathBuf {
        let (e, dir) = pack.archive_into(self.dir.path(), self.work.path());
        self.add_entry(e);
        dir
    }

    /// Adds (or replaces) an entry as given and rewrites `index.json`.
    pub fn add_entry(&mut self, e: Value) {
        let key = (
            e["ref"].as_str().expect("an entry has a ref").to_owned(),
            semver::Version::parse(e["version"].as_str().expect("an entry has a version"))
                .expect("a valid version"),
        );
        self.entries.insert(key, e);
        self.write_index();
    }

    /// Marks `r` `version` yanked and rewrites `index.json`.
    pub fn yank(&mut self, r: &str, version: &str) {
        let key = (r.to_owned(), semver::Version::parse(version).unwrap());
        self.entries.get_mut(&key).expect("published")["yanked"] = json!(true);
        self.write_index();
    }

    /// Writes `index.json` with every entry, by ref and version.
    pub fn write_index(&self) {
        let entries: Vec<Value> = self.entries.values().cloned().collect();
        write_json(&self.dir.path().join("index.json"), &index("Site", entries));
    }
}
