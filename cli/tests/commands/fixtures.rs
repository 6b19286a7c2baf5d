//! Scenes several test modules start from: a root with `victim` 1.0.0
//! installed, with 2.0.0 offered by an attacker ([`Scene`]) or published
//! ([`Installed`]); the example registry; a small git index; a sparse
//! registry added; and the machinery of the I/O failure tests (a shell
//! running knap, a private mount namespace).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use knap_test_support::prelude::*;
use serde_json::{Value, json};

/// The `pack.yaml` of the `victim` 2.0.0 that attacks offer: valid, so
/// that only the attack can be the reason for a refusal.
pub(crate) const PACK_YAML: &[u8] = b"ref: victim\nversion: 2.0.0\nname: The victim pack\ndescription: Does victim things\nauthor: Test Author\n";

/// A root with `victim` 1.0.0 from an HTTP registry, and a sentinel
/// directory beside the root that the attacks aim at.
pub(crate) struct Scene {
    pub(crate) site: Site,
    pub(crate) k: Knap,
    pub(crate) root: PathBuf,
    pub(crate) good_tree: String,
    /// The knap's home as it was, but for [`SKIP`].
    pub(crate) before: Tree,
}

/// What an attack may change: the cache and the root's private area.
pub(crate) const SKIP: &[&str] = &["cache", "root/.knap"];

impl Scene {
    pub(crate) fn new() -> Self {
        let mut site = Site::new();
        site.publish("victim", "1.0.0", &[], &[]);
        let k = site.knap();
        let root = k.dir.path().join("root");
        k.at(&root, &["install", "victim"]).ok();
        let sentinel = k.dir.path().join("sentinel");
        std::fs::create_dir_all(sentinel.join("sub")).unwrap();
        std::fs::write(sentinel.join("keep.txt"), b"untouched\n").unwrap();
        let good_tree = digest(&root.join("victim"));
        let before = Tree::skipping(k.dir.path(), SKIP);
        Self {
            site,
            k,
            root,
            good_tree,
            before,
        }
    }

    /// Publishes `bytes` as the archive of `victim` 2.0.0 (replacing any
    /// earlier 2.0.0) and refreshes the index.
    pub(crate) fn publish_archive(&mut self, bytes: &[u8]) {
        let name = "archives/victim-2.0.0.bin";
        std::fs::write(self.site.dir.path().join(name), bytes).unwrap();
        self.publish_sources(json!([{"type": "archive", "url": name, "checksum": sha(bytes)}]))
            .ok();
    }

    /// Publishes `victim` 2.0.0 with `sources`; returns what `knap update`
    /// said of the new index.
    pub(crate) fn publish_sources(&mut self, sources: Value) -> Out {
        self.site
            .add_entry(entry_with("victim", "2.0.0", &[], sources));
        self.k.run(&["update"])
    }

    /// An index naming `url` as victim 2.0.0's archive: refused, at update
    /// (the index is invalid: exit 4, the last good copy kept) or at
    /// install (exit 4), giving `reason`, harming nothing.
    #[track_caller]
    pub(crate) fn assert_source_url_refused(&mut self, url: &str, reason: &str) {
        let u =
            self.publish_sources(json!([{"type": "archive", "url": url, "checksum": sha(b"x")}]));
        let o = self.install_v2();
        assert!(u.code == 4 || o.code == 4, "{url:?}: {u:?} {o:?}");
        assert_ne!(o.code, 0, "{url:?}: {o:?}");
        assert!(
            u.stderr.contains(reason) || o.stderr.contains(reason),
            "{url:?}: neither says `{reason}`: {u:?} {o:?}"
        );
        assert_no_raw_controls(url, &u);
        assert_no_raw_controls(url, &o);
        self.assert_unharmed(url);
    }

    pub(crate) fn install_v2(&self) -> Out {
        self.k.at(&self.root, &["install", "victim@2.0.0"])
    }

    /// The run exited `code` naming `reason`, printed no raw control
    /// character, and harmed nothing.
    #[track_caller]
    pub(crate) fn assert_refused(&self, what: &str, out: &Out, code: i32, reason: &str) {
        assert_eq!(out.code, code, "{what}: {out:#?}");
        assert!(
            out.stderr.contains(reason),
            "{what}: the message does not say `{reason}`: {}",
            out.stderr
        );
        assert_no_raw_controls(what, out);
        self.assert_unharmed(what);
    }

    #[track_caller]
    pub(crate) fn assert_unharmed(&self, what: &str) {
        self.before.assert_unchanged(
            self.k.dir.path(),
            SKIP,
            &format!("{what}, outside the private area"),
        );
        assert_eq!(
            lock_of(&self.root)["packs"][0]["version"],
            "1.0.0",
            "{what}"
        );
        assert_eq!(digest(&self.root.join("victim")), self.good_tree, "{what}");
        assert_root_consistent(&self.root);
    }
}

/// stderr holds no terminal escape, no carriage return, and no line that
/// an archive could have started (every line is knap's own).
#[track_caller]
pub(crate) fn assert_no_raw_controls(what: &str, out: &Out) {
    for (name, text) in [("stderr", &out.stderr), ("stdout", &out.stdout)] {
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{what}: a raw control character reached {name}: {text:?}"
        );
        assert!(
            !text.lines().any(|l| l.starts_with("INJECTED")),
            "{what}: an archive started a line on {name}: {text:?}"
        );
    }
}

/// A root with `victim` 1.0.0 from a local registry, which then offers
/// 2.0.0 from a git repository whose commit has `tree`.
pub(crate) fn git_scene(tree: &[(&str, &[u8])], config_extra: &str) -> (Scene, Out) {
    let mut s = Scene::new();
    let repo = s.site.work.path().join("hostile-git");
    let commit = knap_test_support::git::commit_of_tree(&repo, tree);
    let url = url::Url::from_directory_path(&repo).unwrap().to_string();
    // file:// git sources are allowed from a local index only.
    let local = s.site.work.path().join("local-index");
    write_json(
        &local.join("index.json"),
        &index(
            "Local",
            vec![entry_with(
                "victim",
                "2.0.0",
                &[],
                json!([{"type": "git", "url": url, "ref": commit, "checksum": format!("sha256:{}", "1".repeat(64))}]),
            )],
        ),
    );
    s.k.run(&["registry", "add", "local", local.to_str().unwrap()])
        .ok();
    if !config_extra.is_empty() {
        let c = std::fs::read_to_string(s.k.config()).unwrap();
        std::fs::write(s.k.config(), format!("{c}\n{config_extra}\n")).unwrap();
    }
    s.k.run(&["update"]).ok();
    s.before = Tree::skipping(s.k.dir.path(), SKIP);
    let o = s.install_v2();
    (s, o)
}

/// Runs knap as `k` would, with `env` instead of `k.env`.
pub(crate) fn run_with(k: &Knap, env: Vec<(String, String)>, args: &[&str]) -> Out {
    let mut c = k.command();
    for (name, _) in &k.env {
        c.env_remove(name);
    }
    c.envs(env).args(args);
    k.out(args, c.output().unwrap())
}

#[track_caller]
pub(crate) fn assert_exit(o: &Out, code: i32, reason: &str) {
    assert_eq!(o.code, code, "{o:#?}");
    assert!(
        o.stderr.contains(reason),
        "expected `{reason}` in:\n{}",
        o.stderr
    );
}

/// A root with `victim` 1.0.0 installed from a site that also lists
/// 2.0.0 (published, not installed).
pub(crate) struct Installed {
    pub(crate) site: Site,
    pub(crate) k: Knap,
    pub(crate) root: PathBuf,
    pub(crate) tree: String,
    pub(crate) lock: Vec<u8>,
    pub(crate) archives: Vec<PathBuf>,
}

impl Installed {
    pub(crate) fn new() -> Self {
        let mut site = Site::new();
        site.publish("victim", "1.0.0", &[], &[]);
        let k = site.knap();
        let root = k.dir.path().join("root");
        k.at(&root, &["install", "victim@=1.0.0"]).ok();
        site.publish("victim", "2.0.0", &[], &[]);
        k.run(&["update"]).ok();
        let tree = digest(&root.join("victim"));
        let lock = std::fs::read(root.join("knap.lock")).unwrap();
        let archives = files_under(&k.cache().join("archives"));
        Self {
            site,
            k,
            root,
            tree,
            lock,
            archives,
        }
    }

    /// The site answers the archive of 2.0.0 with `reply`, the rest as
    /// files.
    pub(crate) fn serve_v2_with(
        &self,
        reply: impl Fn(&Req, Vec<u8>) -> Reply + Send + Sync + 'static,
    ) {
        let files = files(self.site.dir.path().to_path_buf());
        self.site.server.set_handler(Arc::new(move |req: &Req| {
            if req.path().ends_with("victim-2.0.0.tar.gz") {
                let body = match files(req) {
                    Reply::Full { body, .. } => body,
                    _ => unreachable!("the archive is a file"),
                };
                reply(req, body)
            } else {
                files(req)
            }
        }));
    }

    pub(crate) fn v2_url(&self) -> String {
        self.site.server.url("/archives/victim-2.0.0.tar.gz")
    }

    pub(crate) fn install_v2(&self) -> Out {
        self.k.at(&self.root, &["install", "victim@=2.0.0"])
    }

    /// The root, `knap.lock` and the archive cache are as they were.
    #[track_caller]
    pub(crate) fn assert_unchanged(&self) {
        assert_eq!(
            std::fs::read(self.root.join("knap.lock")).unwrap(),
            self.lock,
            "knap.lock changed"
        );
        assert_eq!(digest(&self.root.join("victim")), self.tree);
        assert_eq!(lock_of(&self.root)["packs"][0]["version"], "1.0.0");
        assert_eq!(
            files_under(&self.k.cache().join("archives")),
            self.archives,
            "a partial or new download was left in the cache"
        );
        assert_root_consistent(&self.root);
    }
}

/// A bare repository `index.git` under `root` holding a one-entry index
/// (`core` 1.0.0); needs no corpus.
pub(crate) fn repo_with_small_index(root: &Path) {
    let work = root.join("small");
    write_json(
        &work.join("index.json"),
        &index("Git", vec![entry("core", "1.0.0", &[])]),
    );
    git(&work, &["init", "-q"]);
    git(&work, &["add", "index.json"]);
    git(&work, &["commit", "-q", "-m", "index"]);
    git(root, &["clone", "-q", "--bare", "small", "index.git"]);
}

/// The environment `Knap::run` gives knap, for a shell that runs it.
pub(crate) fn shell(k: &Knap, prefix: &[&str], script: &str) -> Output {
    let (program, rest) = prefix.split_first().expect("a program");
    let mut c = Command::new(program);
    c.args(rest).args(["sh", "-c", script]);
    k.isolate(&mut c);
    c.env("KNAP", k.bin());
    c.output().expect("the shell runs")
}

/// How to get a private mount namespace in which `mount` works, if any.
pub(crate) fn mount_namespace() -> Option<Vec<&'static str>> {
    for prefix in [vec!["unshare", "-m"], vec!["unshare", "-r", "-m"]] {
        let ok = Command::new(prefix[0])
            .args(&prefix[1..])
            .args([
                "sh",
                "-c",
                "d=$(mktemp -d) && mount -t tmpfs -o size=64k knap-probe \"$d\" && umount \"$d\"; r=$?; rmdir \"$d\"; exit $r",
            ])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(prefix);
        }
    }
    println!(
        "SKIPPED: no private mount namespace here (needs `unshare -m` as root, or unprivileged user namespaces)"
    );
    None
}

pub(crate) fn read(p: PathBuf) -> String {
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A knap with `example-index/` added as the registry `example` and updated.
pub(crate) fn knap_with_example_index() -> Knap {
    let k = Knap::new();
    k.run(&[
        "registry",
        "add",
        "example",
        example_index().to_str().unwrap(),
    ])
    .ok();
    k.run(&["update"]).ok();
    k
}

pub(crate) fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A knap with a local registry `local` holding `entries`.
pub(crate) fn local_registry(entries: Vec<Value>) -> Knap {
    let k = Knap::new();
    let file = k.dir.path().join("site/index.json");
    write_json(&file, &index("Local", entries));
    k.run(&["registry", "add", "local", s(&file)]).ok();
    k
}

pub(crate) fn archive_requests(server: &Server) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.path.ends_with(".tar.gz"))
        .count()
}

/// A knap with `server` added as the sparse registry `sp`.
pub(crate) fn knap_with_sparse(server: &Server) -> Knap {
    let k = Knap::new();
    k.run(&[
        "registry",
        "add",
        "sp",
        &format!("sparse+{}", server.url("/")),
    ])
    .ok();
    k
}

/// The smart-HTTP git server of [`add_git_gamma`], serving its
/// repository while it is held.
pub(crate) struct GitGamma {
    pub(crate) server: Server,
    _served: tempfile::TempDir,
}

/// Adds `gamma` 1.0.0 to `site` with a git source: its repository cloned
/// bare into a directory of its own, served over smart HTTP by the
/// returned server.
pub(crate) fn add_git_gamma(site: &mut Site) -> GitGamma {
    let served = tempfile::tempdir().unwrap();
    let server = Server::start(git_cgi(served.path().to_path_buf()));
    let (pack, commit) = git_pack(site.work.path(), "gamma", "1.0.0");
    git(
        served.path(),
        &["clone", "-q", "--bare", pack.to_str().unwrap(), "gamma.git"],
    );
    site.add_entry(git_entry(
        "gamma",
        "1.0.0",
        &server.url("/gamma.git"),
        &commit,
        &digest(&pack),
    ));
    GitGamma {
        server,
        _served: served,
    }
}
