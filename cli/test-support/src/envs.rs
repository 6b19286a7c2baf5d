//! Pack environments' test kit, all real and all local: an
//! [`IndexServer`] on 127.0.0.1 serving a PEP 503 simple index
//! ([`PyIndex`], `text/html` as pip requires) of wheels the tests write
//! ([`wheel`]: a wheel is a zip of METADATA, WHEEL, RECORD), and an npm
//! registry ([`NpmRegistry`]: package documents and tarballs made by `npm
//! pack`), with a request log; packs with dependency files on disk
//! ([`pack`]); and `uv`, installed from PyPI into a venv under `target/`
//! when it is not there yet ([`uv_bin`]).
//!
//! Used by `knap-envs`' tests (`cli/envs/tests`) and the `knap` binary's
//! (`cli/tests/commands/env.rs`).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use sha2::{Digest, Sha256, Sha512};

use crate::server::{Reply, Req};

/// One file the server holds.
#[derive(Clone)]
struct File {
    content_type: String,
    body: Vec<u8>,
    /// Wait this long before answering.
    delay: Duration,
}

/// A package index server on 127.0.0.1 (the kit's [`crate::server`] with
/// a table of files): what [`PyIndex`] and [`NpmRegistry`] publish, each
/// answered with its content type (`text/html` for the PEP 503 pages, as
/// pip requires), after an optional delay, and a log of the paths asked.
#[derive(Clone)]
pub struct IndexServer {
    pub base: String,
    files: Arc<Mutex<BTreeMap<String, File>>>,
    server: Arc<crate::server::Server>,
}

impl IndexServer {
    pub fn start() -> Self {
        let files: Arc<Mutex<BTreeMap<String, File>>> = Arc::default();
        let table = files.clone();
        let server = crate::server::Server::start(Arc::new(move |req: &Req| {
            let path = req.path();
            let file = {
                let t = table.lock().unwrap();
                t.get(path)
                    .or_else(|| t.get(path.trim_end_matches('/')))
                    .cloned()
            };
            match file {
                Some(f) => {
                    std::thread::sleep(f.delay);
                    Reply::Full {
                        status: 200,
                        headers: vec![("Content-Type".into(), f.content_type)],
                        body: f.body,
                    }
                }
                None => Reply::status(404, b"not found"),
            }
        }));
        Self {
            base: server.url(""),
            files,
            server: Arc::new(server),
        }
    }

    pub fn put(&self, path: &str, content_type: &str, body: Vec<u8>) {
        self.files.lock().unwrap().insert(
            path.to_owned(),
            File {
                content_type: content_type.to_owned(),
                body,
                delay: Duration::ZERO,
            },
        );
    }

    /// Makes the answers for paths starting with `prefix` wait `delay`.
    pub fn delay(&self, prefix: &str, delay: Duration) {
        for (p, f) in self.files.lock().unwrap().iter_mut() {
            if p.starts_with(prefix) {
                f.delay = delay;
            }
        }
    }

    /// The paths requested so far.
    pub fn log(&self) -> Vec<String> {
        self.server
            .requests()
            .into_iter()
            .map(|r| r.path.split('?').next().unwrap_or("").to_owned())
            .collect()
    }

    pub fn clear_log(&self) {
        self.server.clear_log();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A pure-Python wheel of `name` `version` (importable as `name`, with
/// `VERSION`), requiring `requires` (`Requires-Dist` lines).
pub fn wheel(name: &str, version: &str, requires: &[&str]) -> (String, Vec<u8>) {
    let module = name.replace('-', "_");
    let dist = format!("{module}-{version}.dist-info");
    let mut meta = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
    for r in requires {
        meta.push_str(&format!("Requires-Dist: {r}\n"));
    }
    let files: Vec<(String, Vec<u8>)> = vec![
        (
            format!("{module}/__init__.py"),
            format!("VERSION = {version:?}\n").into_bytes(),
        ),
        (format!("{dist}/METADATA"), meta.into_bytes()),
        (
            format!("{dist}/WHEEL"),
            b"Wheel-Version: 1.0\nGenerator: knap-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                .to_vec(),
        ),
    ];
    let mut record = String::new();
    for (p, b) in &files {
        record.push_str(&format!(
            "{p},sha256={},{}\n",
            b64(&Sha256::digest(b)),
            b.len()
        ));
    }
    record.push_str(&format!("{dist}/RECORD,,\n"));
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut out);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (p, b) in files.iter().chain(std::iter::once(&(
            format!("{dist}/RECORD"),
            record.into_bytes(),
        ))) {
            z.start_file(p.as_str(), opts).unwrap();
            z.write_all(b).unwrap();
        }
        z.finish().unwrap();
    }
    (
        format!("{module}-{version}-py3-none-any.whl"),
        out.into_inner(),
    )
}

/// A PEP 503 simple index on an [`IndexServer`]: `/simple/<name>/` pages
/// linking `/files/<wheel>` with its sha256.
pub struct PyIndex {
    pub server: IndexServer,
    projects: Mutex<BTreeMap<String, Vec<(String, String)>>>,
}

impl PyIndex {
    pub fn new(server: IndexServer) -> Self {
        let me = Self {
            server,
            projects: Mutex::new(BTreeMap::new()),
        };
        me.publish_root();
        me
    }

    pub fn url(&self) -> String {
        self.server.url("/simple/")
    }

    /// Adds a wheel of `name` `version`.
    pub fn add(&self, name: &str, version: &str, requires: &[&str]) {
        let (file, bytes) = wheel(name, version, requires);
        let sha = format!("{:x}", Sha256::digest(&bytes));
        self.server
            .put(&format!("/files/{file}"), "application/octet-stream", bytes);
        let mut p = self.projects.lock().unwrap();
        let links = p.entry(name.to_owned()).or_default();
        links.push((file, sha));
        let body: String = links
            .iter()
            .map(|(f, s)| format!("<a href=\"/files/{f}#sha256={s}\">{f}</a><br/>\n"))
            .collect();
        self.server.put(
            &format!("/simple/{name}/"),
            "text/html",
            format!("<!DOCTYPE html><html><body>\n{body}</body></html>\n").into_bytes(),
        );
        drop(p);
        self.publish_root();
    }

    fn publish_root(&self) {
        let body: String = self
            .projects
            .lock()
            .unwrap()
            .keys()
            .map(|n| format!("<a href=\"/simple/{n}/\">{n}</a><br/>\n"))
            .collect();
        self.server.put(
            "/simple/",
            "text/html",
            format!("<!DOCTYPE html><html><body>\n{body}</body></html>\n").into_bytes(),
        );
    }
}

/// An npm registry on an [`IndexServer`]: a package document per name at
/// `/<name>` and tarballs made by `npm pack` at `/-/<file>`.
pub struct NpmRegistry {
    pub server: IndexServer,
    work: tempfile::TempDir,
    docs: Mutex<BTreeMap<String, serde_json::Value>>,
}

impl NpmRegistry {
    pub fn new(server: IndexServer) -> Self {
        Self {
            server,
            work: tempfile::tempdir().unwrap(),
            docs: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn url(&self) -> String {
        self.server.url("/")
    }

    /// Packs `name@version` (an `index.js` exporting its version) with
    /// `npm pack` and publishes it.
    pub fn add(&self, name: &str, version: &str, deps: &[(&str, &str)]) {
        let dir = self.work.path().join(format!("{name}-{version}"));
        std::fs::create_dir_all(&dir).unwrap();
        let deps: serde_json::Map<String, serde_json::Value> = deps
            .iter()
            .map(|(n, r)| ((*n).to_owned(), serde_json::Value::String((*r).to_owned())))
            .collect();
        let manifest = serde_json::json!({
            "name": name, "version": version, "main": "index.js", "dependencies": deps,
        });
        std::fs::write(dir.join("package.json"), manifest.to_string()).unwrap();
        std::fs::write(
            dir.join("index.js"),
            format!("module.exports = {{ version: {version:?} }};\n"),
        )
        .unwrap();
        let out = Command::new("npm")
            .args(["pack", "--silent", "--pack-destination"])
            .arg(self.work.path())
            .current_dir(&dir)
            .env("npm_config_cache", self.work.path().join("cache"))
            .env("npm_config_update_notifier", "false")
            .output()
            .expect("npm runs");
        assert!(out.status.success(), "npm pack: {out:?}");
        let file = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let bytes = std::fs::read(self.work.path().join(&file)).unwrap();
        let integrity = format!(
            "sha512-{}",
            base64::engine::general_purpose::STANDARD.encode(Sha512::digest(&bytes))
        );
        self.server
            .put(&format!("/-/{file}"), "application/octet-stream", bytes);
        let mut docs = self.docs.lock().unwrap();
        let doc = docs
            .entry(name.to_owned())
            .or_insert_with(|| serde_json::json!({"name": name, "versions": {}, "dist-tags": {}}));
        let mut v = manifest.clone();
        v["dist"] = serde_json::json!({
            "tarball": self.server.url(&format!("/-/{file}")),
            "integrity": integrity,
        });
        doc["versions"][version] = v;
        doc["dist-tags"]["latest"] = serde_json::Value::String(version.to_owned());
        self.server.put(
            &format!("/{name}"),
            "application/json",
            doc.to_string().into_bytes(),
        );
    }
}

/// Writes a pack `r` into `root/r` with `pack.yaml` (`extra` appended)
/// and the given files.
pub fn pack(root: &Path, r: &str, extra: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = root.join(r);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("pack.yaml"),
        format!("ref: {r}\nversion: 1.0.0\n{extra}"),
    )
    .unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir
}

/// The cargo target directory of this test build.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // <target>/<profile>/deps/<test>
    exe.ancestors().nth(3).unwrap().to_owned()
}

/// The directory holding `uv`: installed from PyPI with pip into
/// `target/knap-test-tools/uv` the first time (under a file lock, as
/// several test binaries may ask at once).
pub fn uv_bin() -> PathBuf {
    match try_uv_bin() {
        Ok(bin) => bin,
        Err(why) => panic!("{why}"),
    }
}

/// [`uv_bin`], or why uv cannot be had.
fn try_uv_bin() -> Result<PathBuf, String> {
    let base = target_dir().join("knap-test-tools");
    std::fs::create_dir_all(&base).unwrap();
    let bin = base.join("uv/bin");
    let lock = std::fs::File::create(base.join("uv.lock")).unwrap();
    lock.lock().unwrap();
    if !bin.join("uv").exists() {
        let venv = base.join("uv");
        let ran = |c: &mut Command| c.status().is_ok_and(|s| s.success());
        let ok = ran(Command::new("python3").args(["-m", "venv"]).arg(&venv))
            && ran(Command::new(venv.join("bin/python"))
                .args(["-m", "pip", "install", "--quiet", "uv"]));
        if !ok {
            // A half-made venv would be taken for a good one next time.
            let _ = std::fs::remove_dir_all(&venv);
            return Err(format!(
                "installing uv from PyPI into {} failed (python3 with venv and pip, and PyPI, are needed)",
                venv.display()
            ));
        }
    }
    Ok(bin)
}

/// Whether what the environment tests run is here: python3 with venv and
/// pip, node and npm on `PATH`, and uv (under `target/`, installed from
/// PyPI the first time). When something is missing, a test that needs them
/// passes as skipped and says so on stderr (`cargo test -- --nocapture`
/// shows it), except under `CI`, where `.ci/run` installs them and a
/// missing one fails the test.
#[allow(clippy::print_stderr)]
pub fn installers_present() -> bool {
    static PRESENT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let present = PRESENT.get_or_init(|| {
        let runs = |program: &str, args: &[&str]| {
            Command::new(program)
                .args(args)
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if !runs("python3", &["-c", "import venv, ensurepip"]) {
            return Err("python3 with venv and ensurepip is not on PATH".into());
        }
        for tool in ["node", "npm"] {
            if !runs(tool, &["--version"]) {
                return Err(format!("`{tool}` is not on PATH"));
            }
        }
        try_uv_bin().map(|_| ())
    });
    match present {
        Ok(()) => true,
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("{why}; under CI the environment tests need them")
        }
        Err(why) => {
            eprintln!("skipped: {why}; the environment tests pass as skipped");
            false
        }
    }
}

/// The process's `PATH` without any directory holding `uv`, so that the
/// pip path is taken.
pub fn path_without_uv() -> OsString {
    let p = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::env::split_paths(&p).filter(|d| !d.join("uv").exists())).unwrap()
}

/// That `PATH` with `uv` first.
pub fn path_with_uv() -> OsString {
    let p = path_without_uv();
    std::env::join_paths(std::iter::once(uv_bin()).chain(std::env::split_paths(&p))).unwrap()
}

/// The variables that point the installers at the test's index and
/// registry, with caches under `cache`.
pub fn index_env(py: &PyIndex, npm: &NpmRegistry, cache: &Path) -> Vec<(OsString, OsString)> {
    [
        ("PIP_INDEX_URL", py.url()),
        ("UV_INDEX_URL", py.url()),
        ("PIP_CACHE_DIR", cache.join("pip").display().to_string()),
        ("UV_CACHE_DIR", cache.join("uv").display().to_string()),
        ("UV_PYTHON_DOWNLOADS", "never".into()),
        ("npm_config_registry", npm.url()),
        ("npm_config_cache", cache.join("npm").display().to_string()),
        ("npm_config_update_notifier", "false".into()),
    ]
    .into_iter()
    .map(|(k, v)| (OsString::from(k), OsString::from(v)))
    .collect()
}

/// Reads a whole file under `dir` into a string (for assertions).
pub fn read(path: &Path) -> String {
    let mut s = String::new();
    std::fs::File::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .read_to_string(&mut s)
        .unwrap();
    s
}
