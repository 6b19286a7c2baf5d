//! The docs run as written: every `sh` and `console` block of the README,
//! `example-index/README.md` and every guide in `docs/` is run, in order,
//! in a temporary directory per document, with the built `knap-index` (and
//! `knap`) first on `PATH`, as a reader following the document would run
//! it. The README's `cargo run -q -p knap -- ARGS` runs that `knap` (a
//! `cargo` on `PATH` that does only this), and its configuration and root
//! go under `target/` as in a checkout. Every `toml` block that is a client
//! configuration (it has a `[[registry]]`, `[[mirror]]` or `[limits]` table) is read by
//! `knap`, so that a key the docs show is one knap knows.
//!
//! - A `sh` block runs as one `bash -e` script and must succeed.
//! - A `console` block's `$ ` lines (with `\` continuations) run one by one;
//!   the lines after a command are output it must print (stdout or stderr),
//!   `…` standing for any text. A command whose shown output has an
//!   `error:` line must fail; any other must succeed.
//! - `cwd=DIR` after the language runs the block in DIR of the document's
//!   directory (the README of example-index has commands for the knap
//!   checkout and for the registry itself).
//! - `network` after the language marks a block that cannot run offline
//!   (it names placeholder hosts, or needs GitHub, PyPI or npm): it must be
//!   one of [`NETWORK`], each with its reason, and each `knap` or
//!   `knap-index` command in it must pass the tool's argument parser as
//!   written (it runs with `--help` added: [`check_network_commands`]).
//! - `norun` marks a block that no test may run (the test suite itself);
//!   it must be one of [`NOT_RUN`], each with its reason.
//! - `bench` marks a benchmark's command lines (minutes of release builds
//!   and measurements): each script they name must exist, be executable
//!   and parse (`bash -n`).
//!
//! What a reader has before the first block is set up by [`prelude`]: for
//! the operators' guide, a registry (a copy of example-index in git) with an
//! author's `entry.json`; for the README of example-index, a copy of it
//! beside the reader; for the authors' guide, nothing (it starts with
//! `knap-index new`). Blocks that run `knap` need its binary beside
//! `knap-index` (`cargo test --workspace` builds it); without it they are
//! skipped and say so, unless `CI` is set.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

/// The blocks that need the network, by document and first line, and why.
const NETWORK: &[(&str, &str, &str)] = &[
    (
        "docs/operators.md",
        "knap registry add community sparse+https://OWNER.github.io/REPO/",
        "adds the published site of a registry on GitHub Pages (a placeholder address)",
    ),
    (
        "docs/operators.md",
        "git clone https://github.com/knap-registry/knap",
        "clones the knap repository from GitHub",
    ),
    (
        "docs/operators.md",
        "knap registry add community sparse+https://me.github.io/registry/",
        "adds the operator's own site once it is published on GitHub Pages",
    ),
    (
        "docs/operators.md",
        "knap mirror sparse+https://OWNER.github.io/REPO/",
        "mirrors a registry at a placeholder address and publishes it at another",
    ),
    (
        "docs/users.md",
        "knap registry add community https://example.github.io/registry/",
        "adds registries at placeholder hosts (example.github.io, packs.corp.example, git.example.org, ...)",
    ),
    (
        "docs/users.md",
        "knap registry add community sparse+https://example.github.io/registry/ --root",
        "pins a signed registry at a placeholder host",
    ),
    (
        "docs/users.md",
        "knap update",
        "updates the registries at placeholder hosts",
    ),
    (
        "docs/users.md",
        "knap search slack",
        "searches the community registry (a placeholder host)",
    ),
    (
        "docs/users.md",
        "knap info ansible",
        "reads the community registry (a placeholder host)",
    ),
    (
        "docs/users.md",
        "knap install slack",
        "installs from the community registry (a placeholder host) and from example.org",
    ),
    (
        "docs/users.md",
        "knap outdated",
        "refreshes the registries (placeholder hosts) first",
    ),
    (
        "docs/users.md",
        "knap upgrade",
        "refreshes the registries (placeholder hosts) first",
    ),
    (
        "docs/users.md",
        "knap env build",
        "builds Python and Node.js environments with packages from PyPI and npm",
    ),
    (
        "docs/users.md",
        "knap install ./slack",
        "installs a placeholder pack and builds its environments with packages from PyPI and npm",
    ),
];

/// The blocks no test runs, by document and first line, and why.
const NOT_RUN: &[(&str, &str, &str)] = &[(
    "README.md",
    "cargo test --workspace",
    "the test suite itself, which runs this test",
)];

struct Block {
    line: usize,
    lang: String,
    attrs: Vec<String>,
    body: String,
}

/// The fenced blocks of a Markdown text, indented ones (in lists) included.
fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = markdown.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let trimmed = line.trim_start();
        let Some(info) = trimmed.strip_prefix("```") else {
            continue;
        };
        let indent = line.len() - trimmed.len();
        let mut words = info.split_whitespace().map(str::to_owned);
        let lang = words.next().unwrap_or_default();
        let attrs = words.collect();
        let mut body = String::new();
        for (_, l) in lines.by_ref() {
            if l.trim() == "```" {
                break;
            }
            let cut = l.len() - l.trim_start().len();
            body.push_str(&l[cut.min(indent)..]);
            body.push('\n');
        }
        out.push(Block {
            line: n + 1,
            lang,
            attrs,
            body,
        });
    }
    out
}

/// One `$ ` command of a console block and the output it shows.
struct Step {
    command: String,
    shown: Vec<String>,
}

fn steps(body: &str) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    let mut continued = false;
    for line in body.lines() {
        if continued {
            let step = out.last_mut().unwrap();
            step.command.push('\n');
            step.command.push_str(line);
            continued = line.ends_with('\\');
        } else if let Some(cmd) = line.strip_prefix("$ ") {
            out.push(Step {
                command: cmd.to_owned(),
                shown: Vec::new(),
            });
            continued = cmd.ends_with('\\');
        } else if !line.trim().is_empty() {
            out.last_mut()
                .expect("output before any command")
                .shown
                .push(line.to_owned());
        }
    }
    out
}

/// Whether an output line matches a shown one, `…` standing for any text.
fn matches(shown: &str, line: &str) -> bool {
    let mut parts = shown.split('…');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = line.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, p) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.ends_with(p);
        }
        match rest.find(p) {
            Some(at) => rest = &rest[at + p.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// The command words a block runs first on each line (`knap`, `git`, ...).
fn runs_knap(body: &str) -> bool {
    body.lines()
        .map(|l| l.trim_start().trim_start_matches("$ "))
        .any(|l| l.starts_with("knap ") || l.contains("&& knap "))
}

struct Reader {
    dir: PathBuf,
    bin: PathBuf,
    home: PathBuf,
    has_knap: bool,
}

impl Reader {
    fn new(tmp: &Path) -> Self {
        let bin = tmp.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let index = PathBuf::from(env!("CARGO_BIN_EXE_knap-index"));
        let knap = index.with_file_name("knap");
        std::os::unix::fs::symlink(&index, bin.join("knap-index")).unwrap();
        let has_knap = knap.is_file();
        if has_knap {
            std::os::unix::fs::symlink(&knap, bin.join("knap")).unwrap();
        }
        // The README's `cargo run -q -p knap -- ARGS`, with the knap the
        // test suite built (and nothing else of cargo).
        let cargo = bin.join("cargo");
        std::fs::write(
            &cargo,
            "#!/bin/sh\nif [ \"$1 $2 $3 $4 $5\" = \"run -q -p knap --\" ]; then shift 5; exec knap \"$@\"; fi\n\
             echo \"the docs test runs only 'cargo run -q -p knap -- ...', not: cargo $*\" >&2; exit 1\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
        let home = tmp.join("home");
        std::fs::create_dir_all(&home).unwrap();
        let dir = tmp.join("work");
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            dir,
            bin,
            home,
            has_knap,
        }
    }

    fn bash(&self, cwd: &Path, script: &str, strict: bool) -> Output {
        let path = std::env::join_paths(std::iter::once(self.bin.clone()).chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ))
        .unwrap();
        let mut c = Command::new("bash");
        if strict {
            c.args(["-e", "-o", "pipefail"]);
        }
        c.arg("-c")
            .arg(script)
            .current_dir(cwd)
            .env("PATH", path)
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("XDG_CACHE_HOME", self.home.join(".cache"))
            .env("NO_COLOR", "1")
            .env("SOURCE_DATE_EPOCH", "1795000000")
            .env("GIT_AUTHOR_NAME", "Doc Reader")
            .env("GIT_AUTHOR_EMAIL", "reader@example.org")
            .env("GIT_COMMITTER_NAME", "Doc Reader")
            .env("GIT_COMMITTER_EMAIL", "reader@example.org")
            .env("GIT_AUTHOR_DATE", "2026-11-01T00:00:00Z")
            .env("GIT_COMMITTER_DATE", "2026-11-01T00:00:00Z")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1");
        for var in [
            "RUST_BACKTRACE",
            "KNAP_ROOT",
            "KNAP_CONFIG",
            "KNAP_CACHE_DIR",
            "CARGO_TARGET_DIR",
        ] {
            c.env_remove(var);
        }
        c.output().unwrap()
    }

    /// Runs a setup script that must succeed.
    fn setup(&self, script: &str) {
        let o = self.bash(&self.dir, script, true);
        assert!(
            o.status.success(),
            "setup failed: {script}\n{}{}",
            stdout(&o),
            stderr(&o)
        );
    }
}

/// What a reader of `doc` has before its first block.
fn prelude(doc: &str, reader: &Reader) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let example = root.join("example-index");
    match doc {
        "docs/authors.md" | "docs/security.md" | "docs/formats.md" | "docs/performance.md" => {}
        // A checkout: the example registry beside the README.
        "README.md" => copy_tree(&example, &reader.dir.join("example-index")),
        "example-index/README.md" => copy_tree(&example, &reader.dir.join("example-index")),
        "docs/operators.md" => {
            // A registry repository (the template, in git), an author's
            // pack and its entry, and two indices that disagree on one
            // published version (for `merge`).
            copy_tree(&example, &reader.dir);
            reader.setup(
                "git init -q -b main && git add -A && git commit -qm registry \
                 && knap-index new my-pack --ref jira 2>/dev/null \
                 && (cd my-pack && git init -q -b main && git add -A && git commit -qm jira) \
                 && knap-index entry my-pack --git-url https://github.com/me/my-pack.git \
                      --git-ref \"$(git -C my-pack rev-parse HEAD)\" > entry.json \
                 && cp index.json old.json \
                 && sed 's/\"Print a greeting\"/\"Print a greeting, changed after publishing\"/' index.json > contributed.json \
                 && ! cmp -s old.json contributed.json",
            );
        }
        "docs/users.md" => {
            // The registries of the first block, added unread (their hosts
            // are placeholders); and a root where `knap install ticketing`
            // put the example registry's ticketing pack and what it needs,
            // then someone changed a script of `hello` and added a sensor.
            copy_tree(&example, &reader.dir.join("example-index"));
            reader.setup(
                "knap registry add corp sparse+https://packs.corp.example/ --priority 10 \
                      --token-env CORP_PACKS_TOKEN --no-fetch >/dev/null \
                 && knap registry add community https://example.github.io/registry/ --no-fetch >/dev/null \
                 && knap registry add mirror git+https://git.example.org/packs/index.git \
                      --priority 50 --no-fetch >/dev/null \
                 && knap --config example.toml registry add example ./example-index >/dev/null \
                 && knap --config example.toml install ticketing >/dev/null \
                 && echo 'echo changed' >> packs/hello/actions/farewell.sh \
                 && mkdir packs/hello/sensors && echo 'import os' > packs/hello/sensors/extra.py",
            );
        }
        _ => unreachable!("{doc}"),
    }
}

fn run_doc(doc: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join(doc)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let reader = Reader::new(tmp.path());
    prelude(doc, &reader);
    let mut ran = 0;
    for b in blocks(&text) {
        if b.lang == "toml" {
            ran += check_config(doc, &b, &reader);
            continue;
        }
        if b.lang != "sh" && b.lang != "console" {
            continue;
        }
        let first = b
            .body
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("$ ")
            .trim();
        let at = format!("{doc}:{}", b.line);
        if b.attrs.iter().any(|a| a == "network") {
            assert!(
                NETWORK
                    .iter()
                    .any(|(d, line, _)| *d == doc && first.starts_with(line)),
                "{at}: a block marked `network` that is not in NETWORK: {first}"
            );
            ran += check_network_commands(&at, &b, &reader);
            continue;
        }
        if b.attrs.iter().any(|a| a == "norun") {
            assert!(
                NOT_RUN
                    .iter()
                    .any(|(d, line, _)| *d == doc && first.starts_with(line)),
                "{at}: a block marked `norun` that is not in NOT_RUN: {first}"
            );
            continue;
        }
        if b.attrs.iter().any(|a| a == "bench") {
            check_bench(&at, &b.body, &root);
            ran += 1;
            continue;
        }
        if runs_knap(&b.body) && !reader.has_knap {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "{at} runs knap, whose binary is not beside knap-index (cargo build -p knap)"
                );
            }
            eprintln!(
                "skipped: {at} runs knap, whose binary is not beside knap-index (cargo test --workspace builds it)"
            );
            continue;
        }
        let cwd = match b.attrs.iter().find_map(|a| a.strip_prefix("cwd=")) {
            Some(d) => reader.dir.join(d),
            None => reader.dir.clone(),
        };
        if b.lang == "sh" {
            let o = reader.bash(&cwd, &b.body, true);
            assert!(
                o.status.success(),
                "{at}: the block failed ({}):\n{}\nstdout:\n{}\nstderr:\n{}",
                o.status,
                b.body,
                stdout(&o),
                stderr(&o)
            );
        } else {
            for step in steps(&b.body) {
                let o = reader.bash(&cwd, &step.command, false);
                let out = format!("{}{}", stdout(&o), stderr(&o));
                let fails = step.shown.iter().any(|l| l.starts_with("error:"));
                assert_eq!(
                    !o.status.success(),
                    fails,
                    "{at}: `{}` {} ({}):\n{out}",
                    step.command,
                    if fails { "should fail" } else { "failed" },
                    o.status
                );
                for shown in &step.shown {
                    assert!(
                        out.lines().any(|l| matches(shown, l)),
                        "{at}: `{}` does not print\n  {shown}\nit printed:\n{out}",
                        step.command
                    );
                }
            }
        }
        ran += 1;
    }
    assert!(ran > 0, "{doc}: no block ran");
}

/// The `knap` and `knap-index` command lines of a block that cannot run
/// offline, each with its `\` continuations, as bash reads them.
fn network_commands(b: &Block) -> Vec<String> {
    let lines: Vec<String> = if b.lang == "console" {
        steps(&b.body).into_iter().map(|s| s.command).collect()
    } else {
        let mut out: Vec<String> = Vec::new();
        let mut continued = false;
        for line in b.body.lines() {
            if continued {
                let last = out.last_mut().unwrap();
                last.push('\n');
                last.push_str(line);
            } else {
                out.push(line.to_owned());
            }
            continued = line.trim_end().ends_with('\\');
        }
        out
    };
    lines
        .into_iter()
        .filter(|l| {
            let l = l.trim_start();
            l.starts_with("knap ") || l.starts_with("knap-index ")
        })
        .collect()
}

/// Every `knap` and `knap-index` command of a `network` block is one the
/// tool accepts as written: its command, flags, values and arguments pass
/// the argument parser (the command runs with `--help` added, which clap
/// answers only once everything before it parsed; nothing reaches the
/// network). 1 when the block was checked, 0 when knap is not built.
fn check_network_commands(at: &str, b: &Block, reader: &Reader) -> usize {
    let commands = network_commands(b);
    if commands.is_empty() {
        return 0;
    }
    if !reader.has_knap {
        eprintln!("skipped: {at} names knap commands, and knap is not built");
        return 0;
    }
    // Functions, so that bash itself reads the line (quotes, comments,
    // continuations) and the tool gets the arguments as a reader's shell
    // would give them.
    let wrap = "knap() { command knap \"$@\" --help; }\n\
                knap-index() { command knap-index \"$@\" --help; }\n";
    for c in commands {
        let o = reader.bash(&reader.dir, &format!("{wrap}{c}\n"), false);
        assert!(
            o.status.success(),
            "{at}: knap does not accept `{c}` as written:\n{}",
            stderr(&o)
        );
    }
    1
}

/// Each benchmark script a `bench` block names exists, is executable and
/// parses.
fn check_bench(at: &str, body: &str, root: &Path) {
    for line in body.lines().filter(|l| !l.trim().is_empty()) {
        let script = line
            .split_whitespace()
            .find(|w| w.ends_with(".sh"))
            .unwrap_or_else(|| panic!("{at}: no script in `{line}`"));
        let path = root.join(script);
        let meta = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{at}: {script}: {e}"));
        use std::os::unix::fs::PermissionsExt;
        assert!(
            meta.permissions().mode() & 0o111 != 0,
            "{at}: {script} is not executable"
        );
        let o = Command::new("bash").arg("-n").arg(&path).output().unwrap();
        assert!(o.status.success(), "{at}: {script}: {}", stderr(&o));
    }
}

/// A `toml` block that is a client configuration is one knap reads
/// (`knap --config FILE registry list`); 1 when it was read, 0 when the
/// block is no configuration or knap is not built.
fn check_config(doc: &str, b: &Block, reader: &Reader) -> usize {
    let at = format!("{doc}:{}", b.line);
    if !(b.body.contains("[[registry]]")
        || b.body.contains("[[mirror]]")
        || b.body.contains("[limits]"))
    {
        return 0;
    }
    if !reader.has_knap {
        eprintln!("skipped: {at} is a configuration knap should read, and knap is not built");
        return 0;
    }
    let file = reader.home.join("docs-config.toml");
    std::fs::write(&file, &b.body).unwrap();
    let o = reader.bash(
        &reader.dir,
        &format!("knap --config '{}' registry list", file.display()),
        false,
    );
    assert!(
        o.status.success(),
        "{at}: knap does not read this configuration:\n{}\n{}",
        b.body,
        stderr(&o)
    );
    1
}

#[test]
fn the_readme_runs_as_written() {
    run_doc("README.md");
}

/// The quick start's first run compiles for minutes with `-q` hiding
/// cargo's progress: the README says so beside the command.
#[test]
fn the_readme_says_the_quick_start_compiles_first() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("README.md")).unwrap();
    let quick = text
        .split("## Quick start")
        .nth(1)
        .and_then(|t| t.split("\n## ").next())
        .expect("a Quick start section");
    assert!(quick.contains("cargo run -q -p knap"), "{quick}");
    assert!(
        quick.contains("The first run compiles knap")
            && quick.contains("leave\nthe first `-q` out"),
        "the quick start does not say that its first run compiles:\n{quick}"
    );
}

#[test]
fn the_users_guide_runs_as_written() {
    run_doc("docs/users.md");
}

#[test]
fn the_security_model_runs_as_written() {
    run_doc("docs/security.md");
}

#[test]
fn the_benchmarks_named_by_the_performance_figures_exist() {
    run_doc("docs/performance.md");
}

#[test]
fn the_authors_guide_runs_as_written() {
    run_doc("docs/authors.md");
}

#[test]
fn the_operators_guide_runs_as_written() {
    run_doc("docs/operators.md");
}

#[test]
fn the_example_registrys_readme_runs_as_written() {
    run_doc("example-index/README.md");
}

#[test]
fn blocks_and_shown_output_are_read_as_a_reader_reads_them() {
    let md = "text\n```console\n$ a \\\n    --b\nout …x\n$ c\n```\n\n1. step\n\n   ```sh network\n   echo hi\n   ```\n";
    let b = blocks(md);
    assert_eq!(b.len(), 2);
    assert_eq!((b[0].line, b[0].lang.as_str()), (2, "console"));
    assert_eq!(b[1].attrs, ["network"]);
    assert_eq!(b[1].body, "echo hi\n");
    let s = steps(&b[0].body);
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].command, "a \\\n    --b");
    assert_eq!(s[0].shown, ["out …x"]);
    assert!(matches("out …x", "out 12 x"));
    assert!(matches("a…b…c", "aXXbYYc"));
    assert!(!matches("a…b", "a b c"));
    assert!(!matches("out", "out more"));
    assert!(matches(
        "{\"checksum\":\"sha256:c0…\",\"files\":4}",
        "{\"checksum\":\"sha256:c0ff\",\"files\":4}"
    ));
}
