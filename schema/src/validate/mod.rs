//! Every rule an index, entry or sparse file must satisfy, each problem
//! located by a JSON path.
//!
//! Two levels: [`Compat::Knap`] (the knap format) and [`Compat::Attune`]
//! (also passes the Attune schema and policy: one version per ref, absolute
//! `https://` sources, no knap additions or unknown fields outside `meta`).

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use crate::dependency::Dependency;
use crate::ident::{check_checksum, is_commit_sha};
use crate::index::{
    Component, Entry, INDEX_FORMAT_VERSION, Index, InstallSource, index_order_of_parts,
};
use crate::json::{from_json_str, from_json_value};
use crate::manifest::MAX_TEXT_FIELD_BYTES;
use crate::problem::{Problems, at, key};
use crate::sparse::{SPARSE_FORMAT, SparseConfig, SparsePack};
use crate::urls::{SourceUrlKind, classify_source_url};

mod sparse;
mod stream;

pub use sparse::{validate_sparse_config, validate_sparse_pack};
pub use stream::check_index_streaming;

/// Which format a document must conform to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Compat {
    /// The knap index format.
    #[default]
    Knap,
    /// The knap format restricted to what Attune clients accept.
    Attune,
}

/// The `*_version` keys the Attune schema allows in `dependencies`.
pub const ATTUNE_DEPENDENCY_VERSIONS: [&str; 3] =
    ["attune_version", "python_version", "nodejs_version"];

/// Parses and validates the text of an `index.json`. A document that cannot
/// be read as an index gives a problem at the offending path: one for the
/// document, or one for each entry that cannot be read (an invalid ref or
/// version is refused as the entry is read).
pub fn check_index_text(text: &str, compat: Compat) -> (Option<Index>, Problems) {
    // One plain parse on the common path; the slower path-tracking parse
    // only runs to locate an error.
    let mut p = Problems::new();
    match serde_json::from_str::<Index>(text) {
        Ok(index) => {
            let problems = validate_index(&index, compat);
            (Some(index), problems)
        }
        Err(e) if e.is_syntax() || e.is_eof() => {
            p.error("$", format!("not valid JSON: {e}"));
            (None, p)
        }
        Err(e) => {
            match from_json_str::<Index>(text) {
                Err(located) if located.path.starts_with("$.packs[") => {
                    unreadable_entries(text, located, &mut p)
                }
                Err(located) => p.error(located.path, located.message),
                Ok(_) => p.error("$", e.to_string()),
            }
            (None, p)
        }
    }
}

/// Reports every entry of an index whose first unreadable entry gave
/// `first`: each entry is read on its own, so one bad version does not
/// hide the next.
fn unreadable_entries(text: &str, first: crate::json::ParseError, p: &mut Problems) {
    let packs = serde_json::from_str::<Map<String, Value>>(text)
        .ok()
        .and_then(|mut m| match m.remove("packs") {
            Some(Value::Array(a)) => Some(a),
            _ => None,
        });
    let Some(packs) = packs else {
        p.error(first.path, first.message);
        return;
    };
    for (i, e) in packs.into_iter().enumerate() {
        if let Err(err) = from_json_value::<Entry>(e) {
            let path = at("$.packs", i);
            p.error(format!("{path}{}", &err.path[1..]), err.message);
        }
    }
    if !p.has_errors() {
        p.error(first.path, first.message);
    }
}

/// How [`validate_index_with`] reports an Attune-form entry whose pack
/// dependency no entry of the index satisfies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnmetDependency {
    /// An error (`validate --compat attune`, `merge --compat attune`).
    Error,
    /// A warning (the site's `index.json`: the knap sparse layout beside it
    /// still has every version).
    Warning,
}

/// Validates a whole index.
pub fn validate_index(index: &Index, compat: Compat) -> Problems {
    validate_index_with(index, compat, UnmetDependency::Error)
}

/// [`validate_index`], saying how an unmet dependency of the Attune form is
/// reported.
pub fn validate_index_with(index: &Index, compat: Compat, unmet: UnmetDependency) -> Problems {
    let mut p = Problems::new();
    if index.registry_name.trim().is_empty() {
        p.error("$.registry_name", "must not be empty");
    }
    check_registry_url(&index.registry_url, "$.registry_url", compat, &mut p);
    if index.version != INDEX_FORMAT_VERSION {
        p.error(
            "$.version",
            format!(
                "must be \"{INDEX_FORMAT_VERSION}\", found \"{}\"",
                index.version
            ),
        );
    }
    check_timestamp(&index.last_updated, "$.last_updated", &mut p);
    if compat == Compat::Attune {
        no_extra(&index.extra, "$", &mut p);
    }
    validate_entries(&index.packs, "$.packs", compat, true, &mut p);
    if compat == Compat::Attune {
        check_dependencies_within(&index.packs, "$.packs", unmet, &mut p);
    }
    p
}

/// The Attune form lists one version per ref, and Attune's client installs
/// a pack's dependencies from the same index: a dependency whose ref is
/// listed at a version its requirement does not allow cannot be met (an
/// error, or a warning by `unmet`). A ref the index does not list at all is
/// a warning: it must come from elsewhere (Attune's built-in `core`, or
/// another registry).
pub fn check_dependencies_within(
    packs: &[Entry],
    base: &str,
    unmet: UnmetDependency,
    p: &mut Problems,
) {
    let held: Vec<DepsOf<'_>> = packs.iter().map(DepsOf::of).collect();
    dependencies_within(&held, base, unmet, p);
}

/// What [`check_dependencies_within`] reads of an entry.
struct DepsOf<'a> {
    pack_ref: &'a str,
    version: &'a semver::Version,
    deps: &'a [String],
}

impl<'a> DepsOf<'a> {
    fn of(e: &'a Entry) -> Self {
        Self {
            pack_ref: &e.pack_ref,
            version: &e.version,
            deps: e.dependencies.as_ref().map_or(&[], |d| &d.packs),
        }
    }
}

fn dependencies_within(packs: &[DepsOf<'_>], base: &str, unmet: UnmetDependency, p: &mut Problems) {
    let listed: HashMap<&str, Vec<&DepsOf<'_>>> = packs.iter().fold(HashMap::new(), |mut m, e| {
        m.entry(e.pack_ref).or_default().push(e);
        m
    });
    for (i, e) in packs.iter().enumerate() {
        for (j, d) in e.deps.iter().enumerate() {
            let Ok(dep) = Dependency::parse(d) else {
                continue; // reported by validate_entry
            };
            let path = format!("{}.dependencies.packs[{j}]", at(base, i));
            match listed.get(dep.pack.as_str()) {
                None => p.warning(
                    path,
                    format!(
                        "`{}` {} needs `{d}`, which this index does not list; it must come from elsewhere (Attune's built-in packs or another registry)",
                        e.pack_ref, e.version
                    ),
                ),
                Some(have) => {
                    let ok = have.iter().any(|h| dep.req.matches(h.version));
                    if !ok {
                        let versions: Vec<String> =
                            have.iter().map(|h| h.version.to_string()).collect();
                        let message = format!(
                            "`{}` {} needs `{d}`, but this index lists only {} {}; Attune's client cannot install its dependencies (publish or un-yank a matching version)",
                            e.pack_ref,
                            e.version,
                            dep.pack,
                            versions.join(", ")
                        );
                        match unmet {
                            UnmetDependency::Error => p.error(path, message),
                            UnmetDependency::Warning => p.warning(path, message),
                        }
                    }
                }
            }
        }
    }
}

/// Validates a list of entries (the `packs` of an index or the `versions`
/// of a sparse file), including uniqueness and order.
pub fn validate_entries(
    entries: &[Entry],
    base: &str,
    compat: Compat,
    check_order: bool,
    p: &mut Problems,
) {
    let mut list = EntryListCheck::new(base, compat, check_order, entries.len());
    let mut path = String::with_capacity(base.len() + 8);
    for (i, e) in entries.iter().enumerate() {
        path.clear();
        {
            use std::fmt::Write;
            let _ = write!(path, "{base}[{i}]");
        }
        validate_entry(e, &path, compat, p);
        list.push(&e.pack_ref, &e.version, p);
    }
    list.finish(p);
}

/// The checks across the entries of a list: each (ref, version) is listed
/// once, the list is sorted and, for [`Compat::Attune`], one version per ref.
/// Entries are fed one at a time in list order, so a caller can check a
/// long list without holding every entry (and check the entries themselves
/// on several threads). [`validate_entries`] is this plus
/// [`validate_entry`].
pub struct EntryListCheck {
    base: String,
    compat: Compat,
    check_order: bool,
    seen: HashMap<(Box<str>, VersionId), usize>,
    per_ref: BTreeMap<Box<str>, Vec<usize>>,
    /// Ref and version of the entry before.
    previous: Option<(Box<str>, semver::Version)>,
    unsorted: Option<usize>,
    next: usize,
}

/// What makes a (ref, version) the same: semver precedence (build metadata
/// ignored).
#[derive(PartialEq, Eq, Hash)]
struct VersionId(u64, u64, u64, semver::Prerelease);

impl EntryListCheck {
    /// A check of the list at `base` (`$.packs`), expecting about
    /// `capacity` entries.
    pub fn new(base: &str, compat: Compat, check_order: bool, capacity: usize) -> Self {
        Self {
            base: base.to_owned(),
            compat,
            check_order,
            seen: HashMap::with_capacity(capacity),
            per_ref: BTreeMap::new(),
            previous: None,
            unsorted: None,
            next: 0,
        }
    }

    /// The next entry: its ref and version. Reports a (ref, version) seen
    /// before.
    pub fn push(&mut self, pack_ref: &str, version: &semver::Version, p: &mut Problems) {
        let i = self.next;
        self.next += 1;
        if self.check_order
            && self.unsorted.is_none()
            && let Some((pr, pv)) = &self.previous
            && index_order_of_parts(pr, pv, pack_ref, version) == Ordering::Greater
        {
            self.unsorted = Some(i);
        }
        let id = VersionId(
            version.major,
            version.minor,
            version.patch,
            version.pre.clone(),
        );
        if let Some(first) = self.seen.insert((pack_ref.into(), id), i) {
            p.error(
                format!("{}.version", at(&self.base, i)),
                format!(
                    "`{pack_ref}` version {version} is listed twice (also at {}); a (ref, version) is published once",
                    at(&self.base, first)
                ),
            );
        }
        if self.compat == Compat::Attune {
            self.per_ref.entry(pack_ref.into()).or_default().push(i);
        }
        if self.check_order {
            self.previous = Some((pack_ref.into(), version.clone()));
        }
    }

    /// Reports what can only be known at the end of the list.
    pub fn finish(self, p: &mut Problems) {
        let base = &self.base;
        for (r, idx) in self.per_ref {
            if idx.len() > 1 {
                let where_: Vec<String> = idx.iter().map(|i| at(base, *i)).collect();
                p.error(
                    format!("{}.ref", at(base, idx[1])),
                    format!(
                        "`{r}` has {} versions ({}); the Attune format lists one version per ref",
                        idx.len(),
                        where_.join(", ")
                    ),
                );
            }
        }
        if let Some(i) = self.unsorted {
            p.warning(
                at(base, i),
                "entries are not sorted by ref, then newest version first (the order Attune's client needs, as it takes the first entry of a ref); `knap-index update` and `merge` write them sorted",
            );
        }
    }
}

/// Validates one entry at `path`. Its ref and version were validated as
/// it was read.
pub fn validate_entry(e: &Entry, path: &str, compat: Compat, p: &mut Problems) {
    let attune = compat == Compat::Attune;
    if attune {
        let version = e.version.to_string();
        if !attune_version_shape(&version) {
            p.error(
                format!("{path}.version"),
                format!("`{version}` is valid SemVer but not of the form the Attune schema accepts (MAJOR.MINOR.PATCH[-+suffix])"),
            );
        }
    }
    for (field, value) in [
        ("label", &e.label),
        ("author", &e.author),
        ("license", &e.license),
    ] {
        if value.trim().is_empty() {
            p.error(format!("{path}.{field}"), "must not be empty");
        }
    }
    unique(&e.keywords, path, "keywords", p);
    unique(&e.runtime_deps, path, "runtime_deps", p);
    bounded_texts(e, path, p);
    if let Some(h) = &e.homepage
        && url::Url::parse(h).is_err()
    {
        p.error(
            format!("{path}.homepage"),
            format!("`{h}` is not an absolute URL"),
        );
    }
    if let Some(r) = &e.repository {
        match url::Url::parse(r) {
            Err(_) => p.error(
                format!("{path}.repository"),
                format!("`{r}` is not an absolute URL"),
            ),
            Ok(u) if attune && u.scheme() != "https" => p.error(
                format!("{path}.repository"),
                "the Attune format requires an https:// repository URL",
            ),
            Ok(_) => {}
        }
    }
    if let Some(d) = &e.dependencies {
        let dpath = format!("{path}.dependencies");
        for (i, s) in d.packs.iter().enumerate() {
            if let Err(err) = Dependency::parse(s) {
                p.error(at(&format!("{dpath}.packs"), i), err.to_string());
            }
        }
        for (k, v) in &d.versions {
            let kp = key(&dpath, k);
            if attune && !ATTUNE_DEPENDENCY_VERSIONS.contains(&k.as_str()) {
                p.error(
                    kp,
                    format!(
                        "`{k}` is not one of the Attune format's {}",
                        ATTUNE_DEPENDENCY_VERSIONS.join(", ")
                    ),
                );
            } else if !k.ends_with("_version") {
                p.error(
                    kp,
                    format!(
                        "`{k}`: only `packs` and `*_version` requirements belong in dependencies"
                    ),
                );
            } else if !v.is_string() {
                p.error(kp, "must be a string");
            }
        }
    }
    if e.install_sources.is_empty() {
        p.error(
            format!("{path}.install_sources"),
            "at least one install source is required",
        );
    }
    for (i, s) in e.install_sources.iter().enumerate() {
        validate_source(s, path, i, compat, p);
    }
    for (list, i, c) in components(e) {
        let cp = || at(&format!("{path}.contents.{list}"), i);
        if c.name.is_empty() {
            p.error(format!("{}.name", cp()), "must not be empty");
        }
        if attune && !c.extra.is_empty() {
            no_extra(&c.extra, &cp(), p);
        }
    }
    if attune {
        if e.yanked {
            p.error(
                format!("{path}.yanked"),
                "`yanked` is a knap addition the Attune format does not allow",
            );
        }
        no_extra(&e.contents.extra, &format!("{path}.contents"), p);
        no_extra(&e.extra, path, p);
    }
}

/// Validates `install_sources[i]` of the entry at `entry_path`.
fn validate_source(
    s: &InstallSource,
    entry_path: &str,
    i: usize,
    compat: Compat,
    p: &mut Problems,
) {
    let lazy = std::cell::OnceCell::new();
    let path = || -> &str { lazy.get_or_init(|| at(&format!("{entry_path}.install_sources"), i)) };
    let attune = compat == Compat::Attune;
    match classify_source_url(s.url()) {
        Err(m) => p.error(format!("{}.url", path()), m),
        Ok(SourceUrlKind::Https) => {}
        Ok(kind) if attune => p.error(
            format!("{}.url", path()),
            format!(
                "the Attune format requires an absolute https:// URL, found a {} URL",
                match kind {
                    SourceUrlKind::Http => "plain http://",
                    SourceUrlKind::File => "file://",
                    _ => "relative",
                }
            ),
        ),
        Ok(SourceUrlKind::Http) => p.warning(
            format!("{}.url", path()),
            "plain http:// source: clients accept it only from loopback hosts or registries added with --allow-http",
        ),
        Ok(SourceUrlKind::File) => p.warning(
            format!("{}.url", path()),
            "file:// source: clients accept it only from an index read from a local path",
        ),
        Ok(SourceUrlKind::Relative) => {}
    }
    if let Err(m) = check_checksum(s.checksum()) {
        p.error(format!("{}.checksum", path()), m);
    }
    let extra = match s {
        InstallSource::Git(g) => {
            if !is_commit_sha(&g.git_ref) {
                p.error(
                    format!("{}.ref", path()),
                    format!(
                        "`{}` is not a commit: a published git source pins a 40-hex lowercase commit SHA, never a branch or tag",
                        g.git_ref
                    ),
                );
            }
            &g.extra
        }
        InstallSource::Archive(a) => &a.extra,
    };
    if attune {
        no_extra(extra, path(), p);
    }
}

fn attune_version_shape(v: &str) -> bool {
    let bytes = v.as_bytes();
    let core_end = v.find(['-', '+']).unwrap_or(v.len());
    let core_ok = v[..core_end].split('.').count() == 3;
    let rest = &bytes[core_end..];
    core_ok
        && (rest.is_empty()
            || rest.len() > 1
                && rest[1..]
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'.' || *b == b'-'))
}

/// `entry_path.field` lists no item twice.
/// Every text of an entry is at most [`MAX_TEXT_FIELD_BYTES`] (as each
/// field of the `pack.yaml` it is made from): a registry cannot make every
/// client hold megabytes of one description.
fn bounded_texts(e: &Entry, path: &str, p: &mut Problems) {
    let mut check = |field: String, s: &str| {
        if s.len() > MAX_TEXT_FIELD_BYTES {
            p.error(
                field,
                format!(
                    "is {} bytes long; an entry's text field holds at most {MAX_TEXT_FIELD_BYTES} bytes",
                    s.len()
                ),
            );
        }
    };
    for (field, value) in [
        ("label", Some(&e.label)),
        ("description", Some(&e.description)),
        ("author", Some(&e.author)),
        ("license", Some(&e.license)),
        ("email", e.email.as_ref()),
        ("homepage", e.homepage.as_ref()),
        ("repository", e.repository.as_ref()),
        ("use_case", e.use_case.as_ref()),
    ] {
        if let Some(v) = value {
            check(format!("{path}.{field}"), v);
        }
    }
    for (field, items) in [("keywords", &e.keywords), ("runtime_deps", &e.runtime_deps)] {
        for (i, v) in items.iter().enumerate() {
            check(at(&format!("{path}.{field}"), i), v);
        }
    }
    for (list, i, c) in components(e) {
        let cp = at(&format!("{path}.contents.{list}"), i);
        check(format!("{cp}.name"), &c.name);
        check(format!("{cp}.description"), &c.description);
    }
}

/// Every component of an entry's `contents`: its list, its place there.
fn components(e: &Entry) -> impl Iterator<Item = (&'static str, usize, &Component)> {
    [
        ("actions", &e.contents.actions),
        ("sensors", &e.contents.sensors),
        ("triggers", &e.contents.triggers),
        ("rules", &e.contents.rules),
        ("workflows", &e.contents.workflows),
    ]
    .into_iter()
    .flat_map(|(list, items)| items.iter().enumerate().map(move |(i, c)| (list, i, c)))
}

fn unique(items: &[String], entry_path: &str, field: &str, p: &mut Problems) {
    // Lists are usually short: a scan beats hashing, and a long list is
    // hashed so that it stays linear.
    let mut seen = std::collections::HashSet::new();
    let long = items.len() > 16;
    for (i, s) in items.iter().enumerate() {
        let twice = if long {
            !seen.insert(s)
        } else {
            items[..i].contains(s)
        };
        if twice {
            p.error(
                at(&format!("{entry_path}.{field}"), i),
                format!("`{s}` is listed twice"),
            );
        }
    }
}

fn no_extra(extra: &Map<String, Value>, path: &str, p: &mut Problems) {
    for k in extra.keys() {
        p.error(
            key(path, k),
            format!("`{k}` is not part of the Attune format (unknown fields belong in `meta`)"),
        );
    }
}

fn check_registry_url(u: &str, path: &str, compat: Compat, p: &mut Problems) {
    match url::Url::parse(u) {
        Err(e) => p.error(path, format!("`{u}` is not an absolute URL: {e}")),
        Ok(url) if compat == Compat::Attune && url.scheme() != "https" => {
            p.error(path, "the Attune format requires an https:// registry URL")
        }
        Ok(_) => {}
    }
}

/// Checks an RFC 3339 timestamp.
pub fn check_timestamp(s: &str, path: &str, p: &mut Problems) {
    if crate::datetime::parse_rfc3339(s).is_err() {
        p.error(
            path,
            format!("`{s}` is not an RFC 3339 date-time such as 2026-11-21T12:00:00Z"),
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entry(r: &str, v: &str) -> Value {
        json!({
            "ref": r, "label": r, "description": "", "version": v, "author": "a",
            "license": "MIT", "keywords": [], "runtime_deps": [], "contents": {},
            "install_sources": [{"type": "archive", "url": "a.tgz",
                "checksum": format!("sha256:{}", "0".repeat(64))}],
        })
    }

    /// The streaming check finds what the whole parse finds, in its order,
    /// for valid, invalid and unreadable documents, in both forms.
    #[test]
    fn the_streaming_check_finds_exactly_what_check_index_text_finds() {
        let top = |packs: Value| {
            json!({
                "registry_name": "r", "registry_url": "https://example.org/",
                "version": "1.0", "last_updated": "2026-11-21T12:00:00Z", "packs": packs,
            })
        };
        let mut dep = entry("b", "1.0.0");
        dep["dependencies"] = json!({"packs": ["a@^2", "elsewhere", "not a dep!"]});
        let mut bad_fields = entry("c", "1.0.0");
        bad_fields["install_sources"] = json!([]);
        bad_fields["license"] = json!("");
        let mut no_name = top(json!([entry("a", "1.0.0")]));
        no_name["registry_name"] = json!(" ");
        no_name["x_extra"] = json!({"k": [1, 2]});
        let docs: Vec<String> = vec![
            top(json!([entry("a", "1.0.0"), entry("b", "1.0.0")])).to_string(),
            top(json!([])).to_string(),
            // Unsorted, twice listed, an invalid field, unmet dependencies.
            top(json!([entry("b", "1.0.0"), entry("a", "1.0.0"), entry("a", "1.0.0"), dep, bad_fields]))
                .to_string(),
            no_name.to_string(),
            // Unreadable: an invalid ref, a wrong type, no packs, not JSON,
            // not an object, a repeated key.
            top(json!([entry("a", "1.0.0"), entry("B", "1.0.0")])).to_string(),
            top(json!([entry("a", "1.0.0"), {"ref": 3}])).to_string(),
            json!({"registry_name": "r"}).to_string(),
            "{\"packs\": [".to_string(),
            "[1, 2]".to_string(),
            r#"{"packs": [], "packs": []}"#.to_string(),
            r#"{"registry_name": "r", "registry_name": "s", "registry_url": "https://example.org/", "version": "1.0", "last_updated": "2026-11-21T12:00:00Z", "packs": []}"#.to_string(),
        ];
        for compat in [Compat::Knap, Compat::Attune] {
            for d in &docs {
                let whole = check_index_text(d, compat).1;
                let streamed = check_index_streaming(d, compat);
                assert_eq!(
                    format!("{streamed:?}"),
                    format!("{whole:?}"),
                    "{compat:?} {d}"
                );
            }
        }
        // The cases above do reach the problems they are for.
        let p = check_index_streaming(&docs[2], Compat::Attune);
        let text = format!("{p:?}");
        for want in ["listed twice", "not sorted", "lists only", "does not list"] {
            assert!(text.contains(want), "{want} in {text}");
        }
    }

    #[test]
    fn every_entry_with_an_invalid_ref_or_version_is_reported() {
        let doc = json!({
            "registry_name": "r", "registry_url": "https://example.org/",
            "version": "1.0", "last_updated": "2026-11-21T12:00:00Z",
            "packs": [entry("a", "1.0"), entry("b", "1.0.0"), entry("C", "1.0.0"),
                      entry("d", "2")],
        });
        let (index, p) = check_index_text(&doc.to_string(), Compat::Knap);
        assert!(index.is_none());
        let paths: Vec<&str> = p.errors().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            ["$.packs[0].version", "$.packs[2].ref", "$.packs[3].version"],
            "{p}"
        );
        assert!(p.to_string().contains("version of `a`"), "{p}");
    }

    #[test]
    fn every_text_of_an_entry_is_bounded_naming_it() {
        let long = "x".repeat(MAX_TEXT_FIELD_BYTES + 1);
        let mut e = entry("a", "1.0.0");
        e["description"] = json!(long);
        e["keywords"] = json!(["ok", long]);
        e["contents"] = json!({"actions": [{"name": "run", "description": long}]});
        let doc = json!({
            "registry_name": "r", "registry_url": "https://example.org/",
            "version": "1.0", "last_updated": "2026-11-21T12:00:00Z",
            "packs": [e],
        });
        let (_, p) = check_index_text(&doc.to_string(), Compat::Knap);
        let paths: Vec<&str> = p.errors().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "$.packs[0].description",
                "$.packs[0].keywords[1]",
                "$.packs[0].contents.actions[0].description"
            ],
            "{p}"
        );
        assert!(p.to_string().contains("at most 65536 bytes"), "{p}");
    }
}
