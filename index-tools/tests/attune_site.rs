//! What knap publishes for Attune's own client (issue 12): the site's
//! `index.json` written by `knap-index build` and the output of `merge
//! --compat attune`, checked against Attune's rules as its code states
//! them (attune-system/attune `crates/common/src/pack_registry/mod.rs`,
//! `client.rs`; attune-system/index `scripts/validate_index.py`):
//!
//! - a reader with Attune's `deny_unknown_fields` types parses it (the
//!   structs below are written here from Attune's documented field list);
//! - the JSON Schema `../shared/corpus/attune/index.schema.json` accepts it,
//!   with additional properties refused everywhere but `meta`;
//! - `validate_index.py --custom`'s checks, reimplemented here: refs sorted
//!   and unique, an ISO 8601 `last_updated`, no duplicate component names,
//!   no credentials, query or fragment in URLs, 40-hex git refs;
//! - Attune's outbound policy: every source URL absolute `https://`;
//! - one entry per ref, the newest non-yanked version of each.
//!
//! The full knap form (every version, yanked ones too) stays in
//! `packs/<ref>.json` and in the registry's `index.json`, newest first
//! within a ref.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::*;
use serde::Deserialize;
use serde_json::{Value, json};

/// Attune's index types as its client declares them: every struct but the
/// free-form `meta` refuses unknown fields. Parsing is the test: most
/// fields are never read.
#[allow(dead_code)]
mod attune_reader {
    use super::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Index {
        pub registry_name: String,
        pub registry_url: String,
        pub version: String,
        pub last_updated: String,
        pub packs: Vec<Entry>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Entry {
        #[serde(rename = "ref")]
        pub pack_ref: String,
        pub label: String,
        pub description: String,
        #[serde(default)]
        pub use_case: Option<String>,
        pub version: String,
        pub author: String,
        pub email: Option<String>,
        pub homepage: Option<String>,
        pub repository: Option<String>,
        pub license: String,
        pub keywords: Vec<String>,
        pub runtime_deps: Vec<String>,
        pub install_sources: Vec<Source>,
        pub contents: Contents,
        pub dependencies: Option<Dependencies>,
        pub meta: Option<Meta>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
    pub enum Source {
        Git {
            url: String,
            #[serde(rename = "ref")]
            git_ref: String,
            checksum: String,
        },
        Archive {
            url: String,
            checksum: String,
        },
    }

    impl Source {
        pub fn url(&self) -> &str {
            match self {
                Source::Git { url, .. } | Source::Archive { url, .. } => url,
            }
        }
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Contents {
        pub actions: Vec<Component>,
        pub sensors: Vec<Component>,
        pub triggers: Vec<Component>,
        pub rules: Vec<Component>,
        pub workflows: Vec<Component>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Component {
        pub name: String,
        pub description: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Dependencies {
        pub attune_version: Option<String>,
        pub python_version: Option<String>,
        pub nodejs_version: Option<String>,
        #[serde(default)]
        pub packs: Vec<String>,
    }

    /// Free-form in Attune (its extra fields are flattened, not refused).
    #[derive(Debug, Deserialize)]
    pub struct Meta {
        pub downloads: Option<u64>,
        pub stars: Option<u64>,
        #[serde(default)]
        pub tested_attune_versions: Vec<String>,
        #[serde(flatten)]
        pub extra: BTreeMap<String, serde_json::Value>,
    }
}

/// The Attune schema with `additionalProperties: false` added to every
/// object schema that has `properties` and does not say (the corpus copy
/// already refuses them; this keeps the test strict if it ever does not),
/// `meta` left free-form.
fn strict_attune_schema(corpus: &Path) -> jsonschema::Validator {
    fn tighten(v: &mut Value) {
        match v {
            Value::Object(m) => {
                if m.contains_key("properties") && !m.contains_key("additionalProperties") {
                    m.insert("additionalProperties".into(), Value::Bool(false));
                }
                for (k, child) in m.iter_mut() {
                    if k != "meta" {
                        tighten(child);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(tighten),
            _ => {}
        }
    }
    let mut schema = read_json(&corpus.join("attune/index.schema.json"));
    tighten(&mut schema);
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the Attune schema compiles")
}

/// `validate_index.py`'s `source_url_has_forbidden_parts`: credentials, a
/// query string or a fragment (or an unparsable URL).
fn forbidden_url_parts(raw: &str) -> bool {
    match url::Url::parse(raw) {
        Err(_) => true,
        Ok(u) => {
            !u.username().is_empty()
                || u.password().is_some()
                || u.query().is_some()
                || u.fragment().is_some()
        }
    }
}

/// `validate_index.py --custom`'s policy checks, then Attune's client's
/// https-only outbound policy; every problem found.
fn attune_policy_problems(doc: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    if let Some(u) = doc["registry_url"].as_str()
        && forbidden_url_parts(u)
    {
        errors.push("registry_url has credentials, a query or a fragment".to_owned());
    }
    let packs = doc["packs"].as_array().unwrap();
    let refs: Vec<&str> = packs.iter().map(|p| p["ref"].as_str().unwrap()).collect();
    let mut sorted = refs.clone();
    sorted.sort();
    if refs != sorted {
        errors.push("packs must be sorted by ref".to_owned());
    }
    if refs.iter().collect::<BTreeSet<_>>().len() != refs.len() {
        errors.push("pack refs must be unique".to_owned());
    }
    let t = doc["last_updated"].as_str().unwrap_or("");
    if knap_schema::datetime::parse_rfc3339(t).is_err() {
        errors.push(format!("last_updated `{t}` is not ISO 8601"));
    }
    for p in packs {
        let r = p["ref"].as_str().unwrap();
        for (kind, list) in p["contents"].as_object().unwrap() {
            let mut seen = BTreeSet::new();
            for c in list.as_array().unwrap() {
                if !seen.insert(c["name"].as_str().unwrap()) {
                    errors.push(format!("{r}: duplicate {kind} component {}", c["name"]));
                }
            }
        }
        for s in p["install_sources"].as_array().unwrap() {
            let u = s["url"].as_str().unwrap();
            if forbidden_url_parts(u) {
                errors.push(format!("{r}: {u} has credentials, a query or a fragment"));
            }
            // Attune's outbound policy: "Invalid outbound pack URL" unless https.
            if url::Url::parse(u).map(|x| x.scheme().to_owned()).ok() != Some("https".into()) {
                errors.push(format!("{r}: {u} is not an absolute https:// URL"));
            }
            if s["type"] == "git" {
                let g = s["ref"].as_str().unwrap_or("");
                let sha =
                    g.len() == 40 && g.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
                if !sha {
                    errors.push(format!("{r}: git ref `{g}` is not a 40-hex commit SHA"));
                }
            }
        }
    }
    errors
}

/// The newest non-yanked version of every ref of a knap index, by semver.
fn newest_not_yanked(full: &Value) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, semver::Version> = BTreeMap::new();
    for e in full["packs"].as_array().unwrap() {
        if e["yanked"] == true {
            continue;
        }
        let v = semver::Version::parse(e["version"].as_str().unwrap()).unwrap();
        let r = e["ref"].as_str().unwrap().to_owned();
        if out.get(&r).is_none_or(|have| v > *have) {
            out.insert(r, v);
        }
    }
    out.into_iter().map(|(r, v)| (r, v.to_string())).collect()
}

/// Asserts every Attune rule on `path`; `full` is the knap index it was
/// made from and `base` what relative URLs resolve against.
#[track_caller]
fn assert_attune_accepts(corpus: &Path, path: &Path, full: &Value, base: Option<&str>) {
    let text = std::fs::read_to_string(path).unwrap();
    let parsed: attune_reader::Index = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("Attune's types refuse {}: {e}", path.display()));
    assert_eq!(parsed.version, "1.0");
    let doc: Value = serde_json::from_str(&text).unwrap();

    let schema = strict_attune_schema(corpus);
    let schema_errors: Vec<String> = schema
        .iter_errors(&doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(
        schema_errors.is_empty(),
        "{} fails the Attune schema:\n{}",
        path.display(),
        schema_errors.join("\n")
    );
    let policy = attune_policy_problems(&doc);
    assert!(
        policy.is_empty(),
        "{} fails validate_index.py --custom's checks or the https-only policy:\n{}",
        path.display(),
        policy.join("\n")
    );

    // One entry per ref: the newest not yanked, with the sources of that
    // very entry, relative URLs made absolute.
    let got: BTreeMap<String, String> = parsed
        .packs
        .iter()
        .map(|e| (e.pack_ref.clone(), e.version.clone()))
        .collect();
    assert_eq!(got.len(), parsed.packs.len(), "one entry per ref");
    assert_eq!(
        got,
        newest_not_yanked(full),
        "the newest non-yanked version of every ref"
    );
    for e in &parsed.packs {
        let source = full["packs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["ref"] == e.pack_ref.as_str() && f["version"] == e.version.as_str())
            .unwrap();
        let want: Vec<String> = source["install_sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let u = s["url"].as_str().unwrap();
                match base {
                    Some(b) if !u.contains("://") => {
                        url::Url::parse(b).unwrap().join(u).unwrap().to_string()
                    }
                    _ => u.to_owned(),
                }
            })
            .collect();
        let have: Vec<&str> = e.install_sources.iter().map(|s| s.url()).collect();
        assert_eq!(
            have, want,
            "{} {}: its sources, made absolute",
            e.pack_ref, e.version
        );
    }
}

fn example_index() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../example-index")
}

/// A copy of the example registry (index.json and its archives) in `dir`,
/// with `edit` applied to its index.
fn example_copy(dir: &Path, edit: impl FnOnce(&mut Value)) -> PathBuf {
    copy_tree(&example_index().join("archives"), &dir.join("archives"));
    let mut doc = read_json(&example_index().join("index.json"));
    edit(&mut doc);
    let path = dir.join("index.json");
    write(&path, serde_json::to_vec_pretty(&doc).unwrap());
    path
}

fn build(src: &Path, site: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "build".to_owned(),
        src.display().to_string(),
        "-o".to_owned(),
        site.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    knap_index(args)
}

/// Must show: `knap-index build example-index/index.json -o SITE --base-url
/// https://example.org/reg/` writes an index.json that Attune's reader,
/// schema and validator accept, naming the newest non-yanked version of
/// every ref; every version stays in `packs/<ref>.json`.
#[test]
fn build_writes_the_site_index_json_in_the_form_attune_accepts() {
    let Some(corpus) = corpus() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("site");
    let src = example_index().join("index.json");
    let full = read_json(&src);
    let base = "https://example.org/reg/";
    let o = build(&src, &site, &["--base-url", base]);
    assert_exit(&o, 0);
    assert_attune_accepts(&corpus, &site.join("index.json"), &full, Some(base));
    let doc = read_json(&site.join("index.json"));
    assert_eq!(doc["registry_url"], base);
    // Every version, in the knap form, in the sparse files.
    for (r, _) in newest_not_yanked(&full) {
        let sparse = read_json(&site.join(format!("packs/{r}.json")));
        let n = full["packs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["ref"] == r.as_str())
            .count();
        assert_eq!(
            sparse["versions"].as_array().unwrap().len(),
            n,
            "packs/{r}.json"
        );
    }
    // The site's index.json passes knap's own Attune check as well, but
    // for the unmet dependency it warns about (ticketing needs notify@^1;
    // one version per ref keeps notify 2.0.0).
    assert!(
        stderr(&o).contains("`ticketing` 1.0.0 needs `notify@^1`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn build_needs_base_url_when_the_index_has_relative_urls() {
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("site");
    let o = build(&example_index().join("index.json"), &site, &[]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(
        err.contains("relative install source URLs") && err.contains("--base-url"),
        "{err}"
    );
    assert!(
        err.contains("hello 1.1.0: archives/hello-1.1.0.tar.gz"),
        "{err}"
    );
    assert!(!site.exists(), "nothing written");
}

/// A yanked newest version is skipped for the previous one; no `yanked`
/// field (which makes Attune's client skip the whole registry) nor any
/// other knap-only field reaches index.json; http:// sources are left out
/// with a note. The yanked version stays in `packs/<ref>.json`.
#[test]
fn build_skips_yanked_versions_and_knap_only_fields() {
    let Some(corpus) = corpus() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let src = example_copy(tmp.path(), |doc| {
        for e in doc["packs"].as_array_mut().unwrap() {
            if e["ref"] == "notify" && e["version"] == "2.0.0" {
                e["yanked"] = json!(true);
            }
            if e["ref"] == "hello" && e["version"] == "1.1.0" {
                e["x-knap-note"] = json!("kept in the knap form");
                e["install_sources"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": "archive", "url": "http://127.0.0.1:9/h.tar.gz", "checksum": format!("sha256:{}", "0".repeat(64))}));
            }
        }
        doc["x-registry-extra"] = json!(1);
    });
    let full = read_json(&src);
    let site = tmp.path().join("site");
    let base = "https://example.org/reg/";
    let o = build(&src, &site, &["--base-url", base]);
    assert_exit(&o, 0);
    let text = std::fs::read_to_string(site.join("index.json")).unwrap();
    for knap_only in ["yanked", "x-knap-note", "x-registry-extra", "http://"] {
        assert!(!text.contains(knap_only), "{knap_only} in index.json");
    }
    let doc = read_json(&site.join("index.json"));
    let notify = doc["packs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["ref"] == "notify")
        .unwrap();
    assert_eq!(notify["version"], "1.1.0", "2.0.0 is yanked");
    // The http source is not an Attune source; the rest is checked as a
    // whole against the index without it.
    let mut without_http = full.clone();
    for e in without_http["packs"].as_array_mut().unwrap() {
        e["install_sources"]
            .as_array_mut()
            .unwrap()
            .retain(|s| !s["url"].as_str().unwrap().starts_with("http://"));
    }
    assert_attune_accepts(&corpus, &site.join("index.json"), &without_http, Some(base));
    let err = stderr(&o);
    assert!(
        err.contains("http://127.0.0.1:9/h.tar.gz left out"),
        "{err}"
    );
    assert!(err.contains("`x-knap-note` left out"), "{err}");
    // alerts needs notify@^2, and only notify 1.1.0 is kept now.
    assert!(err.contains("`alerts` 1.0.0 needs `notify@^2`"), "{err}");
    let sparse = read_json(&site.join("packs/notify.json"));
    let yanked: Vec<&Value> = sparse["versions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["yanked"] == true)
        .collect();
    assert_eq!(
        yanked.len(),
        1,
        "the yanked version stays in packs/notify.json"
    );
    assert_eq!(
        read_json(&site.join("packs/hello.json"))["versions"][0]["x-knap-note"],
        "kept in the knap form"
    );
}

/// The real Attune index builds into a site whose index.json Attune still
/// accepts (its URLs are absolute already: no --base-url needed).
#[test]
fn the_real_attune_index_builds_into_an_index_json_attune_accepts() {
    let Some(corpus) = corpus() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let src = corpus.join("attune/index.json");
    let site = tmp.path().join("site");
    assert_exit(&build(&src, &site, &[]), 0);
    assert_attune_accepts(&corpus, &site.join("index.json"), &read_json(&src), None);
}

/// `merge --compat attune` on the example registry (relative URLs resolved
/// against --base-url) and on the real Attune index.
#[test]
fn merge_compat_attune_output_is_what_attune_accepts() {
    let Some(corpus) = corpus() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("attune.json");
    let src = example_index().join("index.json");

    let o = knap_index([
        "merge",
        "--compat",
        "attune",
        "-o",
        out.to_str().unwrap(),
        src.to_str().unwrap(),
    ]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("--base-url"), "{}", stderr(&o));
    assert!(!out.exists());

    let base = "https://example.org/reg/";
    let o = knap_index([
        "merge",
        "--compat",
        "attune",
        "--base-url",
        base,
        "-o",
        out.to_str().unwrap(),
        src.to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
    assert_attune_accepts(&corpus, &out, &read_json(&src), Some(base));

    let real = corpus.join("attune/index.json");
    let o = knap_index([
        "merge",
        "--compat",
        "attune",
        "-o",
        out.to_str().unwrap(),
        real.to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
    assert_attune_accepts(&corpus, &out, &read_json(&real), None);
}

/// Issue 12 point 6: a kept entry whose dependency the Attune form cannot
/// meet is named by `merge --compat attune` (which still writes the form)
/// and refused by `validate --compat attune`.
#[test]
fn compat_attune_names_every_dependency_the_form_cannot_meet() {
    let tmp = tempfile::tempdir().unwrap();
    let src = example_copy(tmp.path(), |doc| {
        for e in doc["packs"].as_array_mut().unwrap() {
            if e["ref"] == "notify" && e["version"] == "2.0.0" {
                e["yanked"] = json!(true);
            }
        }
    });
    let out = tmp.path().join("attune.json");
    let o = knap_index([
        "merge",
        "--compat",
        "attune",
        "--base-url",
        "https://example.org/reg/",
        "-o",
        out.to_str().unwrap(),
        src.to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
    let err = stderr(&o);
    assert!(
        err.contains("`alerts` 1.0.0 needs `notify@^2`, but this index lists only notify 1.1.0"),
        "{err}"
    );
    let o = knap_index(["validate", "--compat", "attune", out.to_str().unwrap()]);
    assert_exit(&o, 4);
    assert!(
        stdout(&o).contains("`alerts` 1.0.0 needs `notify@^2`")
            || stderr(&o).contains("`alerts` 1.0.0 needs `notify@^2`"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );

    // Every version of notify yanked: the form keeps none.
    let src = example_copy(&tmp.path().join("all"), |doc| {
        for e in doc["packs"].as_array_mut().unwrap() {
            if e["ref"] == "notify" {
                e["yanked"] = json!(true);
            }
        }
    });
    let o = knap_index([
        "merge",
        "--compat",
        "attune",
        "--base-url",
        "https://example.org/reg/",
        "-o",
        out.to_str().unwrap(),
        src.to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
    assert!(
        stderr(&o).contains("keeps no version of notify"),
        "{}",
        stderr(&o)
    );
}

/// The registry's own index.json (the knap form) lists every version,
/// newest first within a ref, so even an Attune client reading it directly
/// (its `search_pack` takes the first entry of a ref) gets the newest.
#[test]
fn the_knap_form_lists_versions_newest_first() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("merged.json");
    let src = example_index().join("index.json");
    let o = knap_index(["merge", "-o", out.to_str().unwrap(), src.to_str().unwrap()]);
    assert_exit(&o, 0);
    for doc in [read_json(&out), read_json(&src)] {
        let packs = doc["packs"].as_array().unwrap();
        let mut first: BTreeMap<&str, &str> = BTreeMap::new();
        for e in packs {
            first
                .entry(e["ref"].as_str().unwrap())
                .or_insert(e["version"].as_str().unwrap());
        }
        let newest = newest_not_yanked(&doc);
        for (r, v) in &first {
            assert_eq!(
                Some(&v.to_string()),
                newest.get(*r),
                "{r}: the first entry is the newest"
            );
        }
        assert_eq!(first.len(), newest.len());
    }
}
