//! `knap doctor`: check what the installed packs need from this machine.
//!
//! What each installed pack needs is its manifest's to say
//! (`knap_schema::runtime`: `runtime_deps`, `python_versions`,
//! `stackstorm_version`, `attune_version`, the `*_version` requirements of
//! `dependencies`); from `knap.lock` come each pack's dependencies on other
//! packs, against what is installed. This module finds out what the
//! machine has.
//!
//! A runtime knap knows is probed by running its version flag
//! (`python3 --version`, `node --version`, `st2 --version`, `go version`,
//! ...) once per run, all in parallel, each with a timeout; any other name
//! is only looked for on PATH (a pack's metadata never makes knap run an
//! arbitrary program). Probes are cached in `<cache>/doctor/probes.json`,
//! keyed by the executable found on `PATH` (its resolved path, size and
//! modification time) and kept a day; `--refresh` probes again.
//!
//! The configured `[[mirror]]`s are listed too, each with the installed
//! packs whose source it serves.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use knap_schema::Requirement;
use knap_schema::lock::Lockfile;
use knap_schema::manifest::{MANIFEST_FILE, ManifestError};
use knap_schema::runtime::{self, Runtime};
use serde::{Deserialize, Serialize};

use super::Ctx;
use super::lock_of;
use crate::output::Style;

/// How long a probe result stays valid in the cache.
const CACHE_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long a `--version` may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The flags of `knap doctor`.
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Probe every runtime again instead of using cached results.
    #[arg(long)]
    pub refresh: bool,
}

/// A program that provides a runtime, and the commands that may be it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Tool {
    /// What the table calls it.
    name: String,
    /// Executables to look for on PATH, in order.
    commands: Vec<String>,
    /// The arguments that make it print its version; `None`: it is only
    /// looked for on PATH, never run.
    version_args: Option<Vec<&'static str>>,
}

impl Tool {
    fn new(name: &str, commands: &[&str], version_args: Option<&[&'static str]>) -> Self {
        Self {
            name: name.to_owned(),
            commands: commands.iter().map(|c| c.to_string()).collect(),
            version_args: version_args.map(<[_]>::to_vec),
        }
    }
}

const DASH_VERSION: Option<&[&str]> = Some(&["--version"]);

/// The tool that provides `runtime`. Only runtimes knap knows are run
/// (with their version flag): a name it does not know is only looked for
/// on PATH, since running an arbitrary program a pack names is not a check.
fn tool_for(runtime: &Runtime) -> Tool {
    let r = runtime.as_str();
    match r {
        "python3" => Tool::new("python3", &["python3", "python"], DASH_VERSION),
        "python2" => Tool::new("python2", &["python2"], DASH_VERSION),
        "node" => Tool::new("node", &["node", "nodejs"], DASH_VERSION),
        "sh" => Tool::new("sh", &["sh"], None),
        "st2" => Tool::new("st2", &["st2"], DASH_VERSION),
        "attune" => Tool::new("attune", &["attune"], DASH_VERSION),
        "go" => Tool::new("go", &["go"], Some(&["version"])),
        "java" => Tool::new("java", &["java"], Some(&["-version"])),
        "ruby" | "perl" | "bash" | "php" | "pwsh" | "dotnet" | "docker" | "git" => {
            Tool::new(r, &[r], DASH_VERSION)
        }
        other => Tool::new(other, &[other], None),
    }
}

/// What a pack needs and how to tell whether it has it.
#[derive(Debug, Clone)]
enum Want {
    /// The tool must be on PATH (any version).
    Present,
    /// Its version must match.
    Version(Requirement),
    /// Its major version must be one of these (`python_versions`).
    Majors(Vec<u64>),
    /// Needs nothing from the machine.
    Builtin,
    /// An installed pack at a matching version.
    Pack { pack_ref: String, req: Requirement },
    /// The requirement itself cannot be read.
    Unreadable(String),
}

/// One requirement of one pack.
#[derive(Debug, Clone)]
struct Need {
    pack: String,
    /// Where it comes from, e.g. `runtime_deps`, `python_versions`.
    field: String,
    /// As the pack writes it.
    text: String,
    tool: Option<Tool>,
    want: Want,
}

/// What a probe found.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Probe {
    /// The executable found on PATH.
    path: Option<PathBuf>,
    /// Parsed from its `--version` output.
    version: Option<String>,
    /// The first line of that output.
    output: String,
    /// Why it could not be run.
    error: Option<String>,
    /// Seconds since the epoch.
    probed_at: u64,
    /// Identity of the executable the result is valid for.
    key: Option<String>,
    #[serde(skip)]
    cached: bool,
}

pub fn run(ctx: &Ctx, args: &DoctorArgs) -> anyhow::Result<()> {
    let root_path = ctx.root_dir();
    let (lock, needs) = {
        let root = ctx.open_for_reading()?;
        let lock = lock_of(root.as_ref())?;
        // Under the root's lock, so each pack.yaml is that of the locked
        // version; released before the probes, which may take seconds.
        let needs = needs(&root_path, &lock);
        (lock, needs)
    };

    // Probe each tool once, all at once.
    let mut tools: Vec<Tool> = needs.iter().filter_map(|n| n.tool.clone()).collect();
    tools.sort();
    tools.dedup();
    let cache_file = ctx.env.cache_root.join("doctor/probes.json");
    let mut cache: BTreeMap<String, Probe> = if args.refresh {
        BTreeMap::new()
    } else {
        knap_schema::fs::read(
            &cache_file,
            knap_schema::fs::Links::Refuse,
            16 * 1024 * 1024,
        )
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
    };
    let probes: BTreeMap<String, Probe> = std::thread::scope(|s| {
        let handles: Vec<_> = tools
            .iter()
            .map(|t| {
                let cached = cache.get(&t.name).cloned();
                s.spawn(move || (t.name.clone(), probe(t, cached)))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a probe thread panicked"))
            .collect()
    });
    let fresh = probes.values().any(|p| !p.cached);
    if fresh {
        for (k, p) in &probes {
            cache.insert(k.clone(), p.clone());
        }
        if let Some(dir) = cache_file.parent()
            && std::fs::create_dir_all(dir).is_ok()
        {
            let bytes = serde_json::to_vec_pretty(&cache).expect("probes serialise");
            if let Err(e) = knap_schema::atomic::write_atomic(&cache_file, &bytes) {
                ctx.warn(&format!("the probe cache is not saved: {e}"));
            }
        }
    }

    let rows: Vec<Row> = needs.iter().map(|n| evaluate(n, &probes, &lock)).collect();
    // Environments count as failures only where knap builds them.
    let environments = super::env::states(ctx, &root_path, &lock, &[])?;
    let bad_envs = if ctx.config.builds_envs() {
        environments.iter().filter(|e| !e.state.is_ok()).count()
    } else {
        0
    };
    let unmet = rows.iter().filter(|r| r.status.fails()).count();
    let failed = unmet + bad_envs;
    let probes = probes
        .into_iter()
        .map(|(k, p)| {
            (
                k,
                ProbeRow {
                    path: p.path,
                    version: p.version,
                    output: p.output,
                    error: p.error,
                    cached: p.cached,
                },
            )
        })
        .collect();
    ctx.print(&DoctorReport {
        root: root_path,
        ok: failed == 0,
        checks: rows,
        probes,
        environments,
        mirrors: knap_client::sources::mirror::uses(&ctx.config, &lock),
    });
    if unmet > 0 {
        return Err(anyhow::anyhow!(
            "{unmet} requirement{} of the installed packs {} not met on this machine{}",
            if unmet == 1 { "" } else { "s" },
            if unmet == 1 { "is" } else { "are" },
            ctx.see_above()
        ));
    }
    if bad_envs > 0 {
        return Err(anyhow::anyhow!(
            "{bad_envs} pack environment{} not ready{}; `knap env build` builds them",
            if bad_envs == 1 { " is" } else { "s are" },
            ctx.see_above()
        ));
    }
    Ok(())
}

/// Every requirement of every installed pack.
fn needs(root: &Path, lock: &Lockfile) -> Vec<Need> {
    let mut out = Vec::new();
    for p in &lock.packs {
        let pack = p.pack_ref.to_string();
        let dir = p.pack_ref.dir_in(root);
        let m = match knap_schema::manifest::read_pack_dir(&dir) {
            Ok(m) => m,
            Err(e) => {
                out.push(Need {
                    pack: pack.clone(),
                    field: "pack.yaml".into(),
                    text: dir.join(MANIFEST_FILE).display().to_string(),
                    tool: None,
                    want: Want::Unreadable(match e {
                        ManifestError::Io { .. } => "missing; run `knap verify`".into(),
                        ManifestError::Invalid { .. } => {
                            "not a valid pack manifest; run `knap verify`".into()
                        }
                    }),
                });
                continue;
            }
        };
        for n in m.runtime_needs() {
            out.push(Need {
                pack: pack.clone(),
                field: n.field,
                text: n.text,
                tool: n.runtime.as_ref().map(tool_for),
                want: match n.want {
                    runtime::Want::Present => Want::Present,
                    runtime::Want::Version(r) => Want::Version(r),
                    runtime::Want::Majors(m) => Want::Majors(m),
                    runtime::Want::Nothing => Want::Builtin,
                    runtime::Want::Unreadable(why) => Want::Unreadable(why),
                },
            });
        }
        for d in &p.dependencies {
            let want = Want::Pack {
                pack_ref: d.pack.to_string(),
                req: d.req.clone(),
            };
            out.push(Need {
                pack: pack.clone(),
                field: "pack dependency".into(),
                text: d.to_string(),
                tool: None,
                want,
            });
        }
    }
    out
}

/// The verdict on one requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    /// Found, at a version that does not match.
    NotMet,
    /// Not found at all.
    Missing,
    /// Cannot tell (unreadable requirement or version).
    Unknown,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::NotMet => "not met",
            Status::Missing => "missing",
            Status::Unknown => "unknown",
        }
    }
    fn fails(self) -> bool {
        matches!(self, Status::NotMet | Status::Missing)
    }
}

/// What `knap doctor` found.
#[derive(Debug, Serialize)]
pub struct DoctorReport {
    root: PathBuf,
    /// No requirement is unmet.
    ok: bool,
    checks: Vec<Row>,
    /// What each tool's probe found, by tool.
    probes: BTreeMap<String, ProbeRow>,
    /// The state of each pack environment (`knap env list`).
    environments: Vec<knap_envs::EnvCheck>,
    /// The configured `[[mirror]]`s and the installed packs each serves.
    mirrors: Vec<knap_client::sources::mirror::MirrorUse>,
}

/// A probe as the report shows it.
#[derive(Debug, Serialize)]
struct ProbeRow {
    path: Option<PathBuf>,
    version: Option<String>,
    output: String,
    error: Option<String>,
    /// Taken from the probe cache.
    cached: bool,
}

impl fmt::Display for DoctorReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = Style::of(f);
        let rows = &self.checks;
        if !self.mirrors.is_empty() {
            let mirrors: Vec<[String; 4]> = self
                .mirrors
                .iter()
                .map(|m| {
                    [
                        m.prefix.clone(),
                        m.replace.clone(),
                        match &m.token_env {
                            Some(v) if m.token_set => format!("${v}"),
                            Some(v) => format!("${v} ({})", s.yellow("not set")),
                            None => "-".into(),
                        },
                        if m.packs.is_empty() {
                            "-".into()
                        } else {
                            m.packs.join(", ")
                        },
                    ]
                })
                .collect();
            let header = ["PREFIX", "MIRROR", "TOKEN", "SERVES"].map(String::from);
            crate::output::table(f, &header, &mirrors)?;
        }
        if !self.environments.is_empty() {
            let envs: Vec<[String; 4]> = self
                .environments
                .iter()
                .map(|e| {
                    [
                        e.pack.to_string(),
                        e.runtime.map_or("-".into(), |r| r.to_string()),
                        e.dir.as_ref().map_or("-".into(), |d| d.to_string()),
                        super::env::state_word(&s, e.state),
                    ]
                })
                .collect();
            let header = ["PACK", "ENVIRONMENT", "DIRECTORY", "STATE"].map(String::from);
            crate::output::table(f, &header, &envs)?;
            for e in &self.environments {
                for p in &e.problems {
                    writeln!(f, "{}: {p}", e.pack)?;
                }
            }
        }
        if rows.is_empty() {
            return write!(
                f,
                "nothing to check: no installed pack in {} states a runtime or version requirement",
                self.root.display()
            );
        }
        let table: Vec<[String; 4]> = rows
            .iter()
            .map(|r| {
                let status = match r.status {
                    Status::Ok => s.green("ok"),
                    Status::Unknown => s.yellow("unknown"),
                    _ => s.red(r.status.word()),
                };
                let status = match &r.detail {
                    Some(d) => format!("{status} ({d})"),
                    None => status,
                };
                [
                    r.pack.clone(),
                    format!("{}: {}", r.field, r.text),
                    r.found.clone(),
                    status,
                ]
            })
            .collect();
        let header = ["PACK", "REQUIREMENT", "FOUND", "STATUS"].map(String::from);
        crate::output::table(f, &header, &table)?;
        let failed = rows.iter().filter(|r| r.status.fails()).count();
        let unknown = rows.iter().filter(|r| r.status == Status::Unknown).count();
        write!(
            f,
            "{} requirements: {} met, {failed} not met, {unknown} unknown{}",
            rows.len(),
            rows.len() - failed - unknown,
            if self.probes.values().any(|p| p.cached) {
                " (some probes cached; --refresh to run them again)"
            } else {
                ""
            }
        )
    }
}

/// One requirement of one pack, and the verdict.
#[derive(Debug, Serialize)]
struct Row {
    pack: String,
    field: String,
    /// As the pack writes it.
    #[serde(rename = "requirement")]
    text: String,
    tool: Option<String>,
    found: String,
    version: Option<String>,
    status: Status,
    detail: Option<String>,
}

impl Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.word())
    }
}

fn evaluate(n: &Need, probes: &BTreeMap<String, Probe>, lock: &Lockfile) -> Row {
    let mut row = Row {
        pack: n.pack.clone(),
        field: n.field.clone(),
        text: n.text.clone(),
        tool: n.tool.as_ref().map(|t| t.name.clone()),
        found: "-".into(),
        version: None,
        status: Status::Unknown,
        detail: None,
    };
    match &n.want {
        Want::Builtin => {
            row.found = "(nothing needed)".into();
            row.status = Status::Ok;
            return row;
        }
        Want::Unreadable(m) => {
            row.detail = Some(m.clone());
            return row;
        }
        Want::Pack { pack_ref, req } => {
            match lock.get(pack_ref) {
                None => {
                    row.status = Status::Missing;
                    row.detail = Some(format!(
                        "`{pack_ref}` is not installed; `knap install {pack_ref}`"
                    ));
                }
                Some(p) => {
                    row.found = format!("{} {}", p.pack_ref, p.version);
                    row.version = Some(p.version.to_string());
                    let ok = req.matches(&p.version);
                    row.status = if ok { Status::Ok } else { Status::NotMet };
                }
            }
            return row;
        }
        _ => {}
    }
    let tool = n.tool.as_ref().expect("runtime needs have a tool");
    let Some(p) = probes.get(&tool.name) else {
        return row;
    };
    let Some(path) = &p.path else {
        row.status = Status::Missing;
        row.found = format!("{} not found", tool.commands.join(" or "));
        row.detail = Some("not on PATH".into());
        return row;
    };
    row.version = p.version.clone();
    row.found = match &p.version {
        Some(v) => format!("{} {v}", path.display()),
        None => path.display().to_string(),
    };
    if let Some(e) = &p.error {
        row.detail = Some(e.clone());
    }
    let version = p
        .version
        .as_deref()
        .and_then(|v| semver::Version::parse(v).ok());
    row.status = match (&n.want, version) {
        (Want::Present, _) => Status::Ok,
        (_, None) if tool.version_args.is_none() => {
            row.detail = Some(format!(
                "found, but knap does not run programs it does not know to read a version; check `{}` by hand",
                n.text
            ));
            Status::Unknown
        }
        (_, None) => {
            row.detail
                .get_or_insert_with(|| "no version in its --version output".into());
            Status::Unknown
        }
        (Want::Version(req), Some(v)) => {
            if req.matches(&v) {
                Status::Ok
            } else {
                Status::NotMet
            }
        }
        (Want::Majors(m), Some(v)) => {
            if m.contains(&v.major) {
                Status::Ok
            } else {
                Status::NotMet
            }
        }
        _ => Status::Unknown,
    };
    row
}

/// The executable `name` on PATH, if any.
fn which(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// What identifies an executable for the cache: its resolved path, size
/// and modification time.
fn identity(path: &Path) -> Option<String> {
    let real = std::fs::canonicalize(path).ok()?;
    let m = std::fs::metadata(&real).ok()?;
    let mtime = m
        .modified()
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(format!(
        "{}|{}|{mtime}|{}",
        path.display(),
        real.display(),
        m.len()
    ))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Finds the tool and runs its `--version`, unless `cached` still holds.
fn probe(tool: &Tool, cached: Option<Probe>) -> Probe {
    let found = tool.commands.iter().find_map(|c| which(c));
    let key = found.as_deref().and_then(identity);
    if let Some(c) = cached
        && c.key == key
        && now().saturating_sub(c.probed_at) < CACHE_TTL.as_secs()
        && (c.path.is_none() == found.is_none())
    {
        return Probe { cached: true, ..c };
    }
    let mut p = Probe {
        path: found.clone(),
        version: None,
        output: String::new(),
        error: None,
        probed_at: now(),
        key,
        cached: false,
    };
    let Some(exe) = found else {
        return p;
    };
    let Some(args) = &tool.version_args else {
        return p;
    };
    match run_version(&exe, args) {
        Ok(text) => {
            p.output = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .to_owned();
            p.version = version_in(&text);
        }
        Err(e) => p.error = Some(e),
    }
    p
}

/// `EXE ARGS`' stdout and stderr (the version), within the timeout.
fn run_version(exe: &Path, args: &[&str]) -> Result<String, String> {
    let what = format!("{} {}", exe.display(), args.join(" "));
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        s
    });
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() > PROBE_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{what} did not finish within {} s",
                    PROBE_TIMEOUT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("{what}: {e}")),
        }
    }
    let mut text = String::from_utf8_lossy(&out.join().unwrap_or_default()).into_owned();
    text.push('\n');
    text.push_str(&String::from_utf8_lossy(&err.join().unwrap_or_default()));
    Ok(text)
}

/// The first `N.N[.N]` in `text` (a lone number is skipped), as a SemVer
/// version (missing parts 0): `Python 3.11.7` -> 3.11.7, `v20.20.2` ->
/// 20.20.2, `st2 3.8.0, on Python 3.8.10` -> 3.8.0, `go1.22.1` -> 1.22.1.
fn version_in(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit()
            && (i == 0 || !(bytes[i - 1].is_ascii_digit() || bytes[i - 1] == b'.'))
        {
            let mut parts: Vec<u64> = Vec::new();
            let mut j = i;
            loop {
                let start = j;
                while j < bytes.len() && bytes[j].is_ascii_digit() {
                    j += 1;
                }
                if j == start {
                    break;
                }
                parts.push(text[start..j].parse().ok()?);
                if parts.len() < 3
                    && j + 1 < bytes.len()
                    && bytes[j] == b'.'
                    && bytes[j + 1].is_ascii_digit()
                {
                    j += 1;
                } else {
                    break;
                }
            }
            if parts.len() >= 2 {
                parts.resize(3, 0);
                return Some(format!("{}.{}.{}", parts[0], parts[1], parts[2]));
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_real_version_lines() {
        assert_eq!(version_in("Python 3.11.7\n").as_deref(), Some("3.11.7"));
        assert_eq!(version_in("v20.20.2\n").as_deref(), Some("20.20.2"));
        assert_eq!(
            version_in("st2 3.8.0, on Python 3.8.10\n").as_deref(),
            Some("3.8.0")
        );
        assert_eq!(
            version_in("GNU bash, version 5.2.15(1)-release").as_deref(),
            Some("5.2.15")
        );
        assert_eq!(
            version_in("go version go1.22.1 linux/amd64").as_deref(),
            Some("1.22.1")
        );
        assert_eq!(version_in("Python 3.12").as_deref(), Some("3.12.0"));
        assert_eq!(version_in("no digits"), None);
        assert_eq!(version_in("build 7"), None);
    }
}
