//! `knap verify [REF...]`: recompute the pack tree digest of every
//! installed pack (or the named ones) and compare it with `knap.lock`; for
//! a pack that differs, name every changed, added and missing file by
//! comparing each file's SHA-256 with the per-file record written when the
//! pack was committed. Any difference exits 4.
//!
//! Each pack is read on every core (`knap_installer::scan_tree`); only a
//! pack whose digest differs is read a second time for the per-file
//! hashes (`knap_installer::scan`).
//!
//! A root installed by an older knap recorded digests by the older rule
//! (whole paths sorted by their bytes, only the top-level `.git` skipped:
//! formats.md §2 before it followed Attune). When the digest differs from
//! `knap.lock` and the pack holds nothing a pack may not, the older rule is
//! tried too; a match is intact, reported as made by an older knap. Any
//! `.git` entry (any depth, any case) is an added file in every case.

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;

use knap_installer::{Diff, InstallRoot, Scan, compare, scan, scan_tree};
use knap_schema::digest::Rule;
use knap_schema::lock::LockedPack;
use serde::Serialize;

use super::Ctx;
use super::lock_of;
use crate::output::Style;
use knap_installer::state::installed_refs;
use knap_schema::{ErrorKind as Kind, KnapError};

/// The flags of `knap verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Packs to verify (default: every installed pack).
    pub refs: Vec<String>,
}

/// The state of one installed pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Its tree digest is the one knap.lock records.
    Ok,
    /// It differs from knap.lock.
    Modified,
    /// Its directory is gone.
    Missing,
    /// It could not be read.
    Unreadable(String),
}

impl Status {
    fn word(&self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Modified => "modified",
            Status::Missing => "missing",
            Status::Unreadable(_) => "unreadable",
        }
    }
}

/// The result of checking one pack.
#[derive(Debug, Clone)]
pub struct Check {
    pub pack_ref: String,
    pub version: String,
    pub expected: String,
    /// The recomputed digest; `None` when the directory is missing,
    /// unreadable or holds something a pack may not.
    pub actual: Option<String>,
    pub status: Status,
    pub diff: Diff,
    /// Whether a per-file record was there to name files with.
    pub has_record: bool,
    /// Entries a pack may not hold: (path, kind).
    pub irregular: Vec<(String, String)>,
    /// The digest rule `expected` was made with, when known to match:
    /// `Rule::LegacyBytes` for a pack an older knap installed.
    pub rule: Rule,
}

/// How verify names a digest rule: `Rule::Attune` is also what it reports
/// when the pack differs by both rules.
fn rule_word(rule: Rule) -> &'static str {
    match rule {
        Rule::Attune => "attune-path-order",
        Rule::LegacyBytes => "older-knap-byte-order",
    }
}

/// Checks one locked pack against its directory.
pub fn check(root: &InstallRoot, p: &LockedPack) -> Check {
    let dir = root.pack_dir(&p.pack_ref);
    let mut c = Check {
        pack_ref: p.pack_ref.to_string(),
        version: p.version.to_string(),
        expected: p.tree.to_string(),
        actual: None,
        status: Status::Ok,
        diff: Diff::default(),
        has_record: root.record_path(&p.pack_ref, &p.tree).is_file(),
        irregular: Vec::new(),
        rule: Rule::Attune,
    };
    if !dir.is_dir() {
        c.status = Status::Missing;
        let record = root.read_record(p);
        c.has_record = record.is_some();
        if let Some(r) = record {
            c.diff.missing = r.files.into_iter().map(|f| f.path).collect();
        }
        return c;
    }
    // The tree digest alone first; the per-file hashes only to name what
    // differs.
    let s: Scan = match scan_tree(&dir) {
        Ok(s) => s,
        Err(e) => {
            c.status = Status::Unreadable(knap_schema::report::chain_line(&e));
            return c;
        }
    };
    c.actual = s.tree.clone();
    c.irregular = s
        .irregular
        .iter()
        .map(|i| (i.path.clone(), i.kind.to_owned()))
        .collect();
    if s.tree.as_ref().is_some_and(|t| p.tree == *t) {
        return c;
    }
    // Only now is the record read: a clean pack never needs it. A record
    // of this knap's format was written with this knap's digest rule, so
    // the older rule is tried only for a pack without one, or with an
    // older knap's record.
    let record = root.read_record(p);
    let made_by_this_rule = record
        .as_ref()
        .is_some_and(|r| r.version == knap_installer::record::RECORD_VERSION);
    if !made_by_this_rule
        && let Some(t) = &s.tree
        && knap_schema::digest::rule_matching(&dir, t, &p.tree) == Some(Rule::LegacyBytes)
    {
        c.actual = Some(p.tree.to_string());
        c.rule = Rule::LegacyBytes;
        return c;
    }
    c.status = Status::Modified;
    c.has_record = record.is_some();
    if let Some(r) = &record {
        match scan(&dir) {
            Ok(full) => {
                c.actual = full.tree.clone();
                c.diff = compare(r, &full);
            }
            Err(e) => c.status = Status::Unreadable(knap_schema::report::chain_line(&e)),
        }
    }
    c
}

pub fn run(ctx: &Ctx, args: &VerifyArgs) -> anyhow::Result<()> {
    let root = ctx.open_for_reading()?;
    let root_path = ctx.root_dir();
    let lock = lock_of(root.as_ref())?;
    installed_refs(&lock, &args.refs, &root_path)?;
    let Some(root) = root else {
        ctx.print(&VerifyReport::new(root_path, Vec::new(), Vec::new()));
        return Ok(());
    };
    let wanted: BTreeSet<&str> = args.refs.iter().map(String::as_str).collect();
    let checks: Vec<Check> = lock
        .packs
        .iter()
        .filter(|p| wanted.is_empty() || wanted.contains(p.pack_ref.as_str()))
        .map(|p| check(&root, p))
        .collect();
    let untracked = if wanted.is_empty() {
        untracked(&root, &lock)
    } else {
        Vec::new()
    };
    let report = VerifyReport::new(root.path().to_owned(), checks, untracked);
    ctx.print(&report);
    let checks = report.packs;

    let bad: Vec<&Check> = checks.iter().filter(|c| c.status != Status::Ok).collect();
    if bad.is_empty() {
        return Ok(());
    }
    if bad
        .iter()
        .all(|c| matches!(c.status, Status::Unreadable(_)))
    {
        let list: Vec<String> = bad
            .iter()
            .map(|c| match &c.status {
                Status::Unreadable(m) => format!("{}: {m}", c.pack_ref),
                _ => unreachable!(),
            })
            .collect();
        return Err(anyhow::anyhow!(
            "cannot read every installed pack:\n  {}",
            list.join("\n  ")
        ));
    }
    let names: Vec<String> = bad
        .iter()
        .map(|c| format!("{} ({})", c.pack_ref, c.status.word()))
        .collect();
    Err(KnapError::new(
        Kind::Integrity,
        format!(
            "{} of {} installed packs in {} do not match knap.lock: {}; run `knap install` to restore them from knap.lock",
            bad.len(),
            checks.len(),
            root.path().display(),
            names.join(", ")
        ),
    )
    .into())
}

/// Directories in the root that knap.lock does not list.
fn untracked(root: &InstallRoot, lock: &knap_schema::lock::Lockfile) -> Vec<String> {
    let Ok(items) = std::fs::read_dir(root.path()) else {
        return Vec::new();
    };
    let mut out: Vec<String> = items
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".knap" && lock.get(n).is_none())
        .collect();
    out.sort();
    out
}

/// What `knap verify` found.
#[derive(Debug, Serialize)]
pub struct VerifyReport {
    root: PathBuf,
    /// Every pack checked is intact.
    ok: bool,
    packs: Vec<Check>,
    /// Directories in the root that knap.lock does not list.
    untracked: Vec<String>,
}

impl VerifyReport {
    fn new(root: PathBuf, packs: Vec<Check>, untracked: Vec<String>) -> Self {
        Self {
            ok: packs.iter().all(|c| c.status == Status::Ok),
            root,
            packs,
            untracked,
        }
    }
}

/// A check as `--json` shows it.
impl Serialize for Check {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Irregular<'a> {
            path: &'a str,
            kind: &'a str,
        }
        #[derive(Serialize)]
        struct Row<'a> {
            #[serde(rename = "ref")]
            pack_ref: &'a str,
            version: &'a str,
            status: &'static str,
            expected_tree: &'a str,
            actual_tree: Option<&'a str>,
            changed: &'a [String],
            added: &'a [String],
            missing: &'a [String],
            irregular: Vec<Irregular<'a>>,
            per_file_record: bool,
            digest_rule: &'static str,
            error: Option<&'a str>,
        }
        Row {
            pack_ref: &self.pack_ref,
            version: &self.version,
            status: self.status.word(),
            expected_tree: &self.expected,
            actual_tree: self.actual.as_deref(),
            changed: &self.diff.changed,
            added: &self.diff.added,
            missing: &self.diff.missing,
            irregular: self
                .irregular
                .iter()
                .map(|(path, kind)| Irregular { path, kind })
                .collect(),
            per_file_record: self.has_record,
            digest_rule: rule_word(self.rule),
            error: match &self.status {
                Status::Unreadable(m) => Some(m),
                _ => None,
            },
        }
        .serialize(s)
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = Style::of(f);
        let checks = &self.packs;
        if checks.is_empty() {
            writeln!(f, "no packs installed in {}", self.root.display())?;
        }
        let width = checks.iter().map(|c| c.pack_ref.len()).max().unwrap_or(0);
        for c in checks {
            let label = format!("{:width$} {}", c.pack_ref, c.version);
            match &c.status {
                Status::Ok if c.rule == Rule::LegacyBytes => writeln!(
                    f,
                    "{label}  {} (knap.lock's digest was made by an older knap's rule)",
                    s.green("ok")
                )?,
                Status::Ok => writeln!(f, "{label}  {}", s.green("ok"))?,
                Status::Unreadable(m) => writeln!(f, "{label}  {}: {m}", s.red("unreadable"))?,
                Status::Missing | Status::Modified => {
                    let word = if c.status == Status::Missing {
                        "MISSING (the pack directory is gone)"
                    } else {
                        "MODIFIED"
                    };
                    writeln!(f, "{label}  {}", s.red(word))?;
                    if c.status == Status::Modified {
                        let kind = |p: &String| {
                            c.irregular
                                .iter()
                                .find(|(q, _)| q == p)
                                .map(|(_, k)| format!(" (now a {k})"))
                                .unwrap_or_default()
                        };
                        for p in &c.diff.changed {
                            writeln!(f, "    {}  {p}{}", s.yellow("changed"), kind(p))?;
                        }
                        for p in &c.diff.added {
                            writeln!(f, "    {}  {p}{}", s.yellow("added  "), kind(p))?;
                        }
                        for p in &c.diff.missing {
                            writeln!(f, "    {}  {p}", s.yellow("missing"))?;
                        }
                        if !c.has_record {
                            for (p, k) in &c.irregular {
                                writeln!(f, "    {}  {p} (a {k})", s.yellow("unsafe "))?;
                            }
                            writeln!(
                                f,
                                "    tree {} (knap.lock: {}); no per-file record to name the files (installed by an older knap)",
                                c.actual.as_deref().unwrap_or("none"),
                                c.expected
                            )?;
                        } else if c.diff.is_empty() && c.irregular.is_empty() {
                            writeln!(
                                f,
                                "    tree {} (knap.lock: {})",
                                c.actual.as_deref().unwrap_or("none"),
                                c.expected
                            )?;
                        }
                    }
                }
            }
        }
        for u in &self.untracked {
            writeln!(
                f,
                "{}: {u}/ is not listed in knap.lock (not checked)",
                s.dim("note")
            )?;
        }
        Ok(())
    }
}
