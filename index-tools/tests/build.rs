//! `knap-index build`: the site of a registry. Its sparse layout is exactly
//! the index (checked file by file with the schema crate's validators), the
//! same input gives the same bytes, invalid input exits 4 and leaves an
//! existing site alone, and the pages work in a real browser (headless
//! Chromium): every pack listed, the search box filters as you type, nothing
//! is fetched from elsewhere, nothing overflows a phone's width. A registry
//! larger than the front page is tested in `site_scale.rs`.
//!
//! The browser tests need `chromium` (CI's `.ci/run` installs it). Without
//! it they pass as skipped and say so on stderr, unless `CI` is set
//! ([`common::browser::chromium`]).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::browser::*;
use common::*;
use knap_schema::json::from_json_str;
use knap_schema::sparse::{SparseConfig, SparsePack};
use knap_schema::validate::{validate_sparse_config, validate_sparse_pack};
use serde_json::{Value, json};

fn example_index() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../example-index")
}

fn build(src: &Path, site: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "build".to_owned(),
        src.display().to_string(),
        "-o".to_owned(),
        site.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    knap_index(args)
}

/// Every file under `dir`, by relative path (with `/`), with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap();
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_str().unwrap())
                .collect::<Vec<_>>()
                .join("/");
            (rel, std::fs::read(e.path()).unwrap())
        })
        .collect()
}

/// The entries of an index document, in order.
fn packs(index: &Value) -> &Vec<Value> {
    index["packs"].as_array().unwrap()
}

/// Every version of each ref, in index order.
fn by_ref(entries: &[Value]) -> BTreeMap<String, Vec<Value>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for e in entries {
        out.entry(e["ref"].as_str().unwrap().to_owned())
            .or_default()
            .push(e.clone());
    }
    out
}

/// The entry files of a registry directory, read as JSON.
fn entry_files(entries: &Path) -> Vec<Value> {
    files(entries)
        .into_iter()
        .filter(|(p, _)| p.ends_with(".json"))
        .map(|(_, b)| serde_json::from_slice(&b).unwrap())
        .collect()
}

/// Sorts entries as an index is sorted: by ref, then newest first.
fn sorted(mut entries: Vec<Value>) -> Vec<Value> {
    entries.sort_by(|a, b| {
        let v = |e: &Value| semver::Version::parse(e["version"].as_str().unwrap()).unwrap();
        a["ref"]
            .as_str()
            .cmp(&b["ref"].as_str())
            .then_with(|| v(b).cmp_precedence(&v(a)))
    });
    entries
}

/// Checks a built site against the entries it must publish: `index.json`
/// holds them, `config.json` is the registry identity, there is one
/// `packs/<ref>.json` per ref holding exactly its versions (valid by the
/// schema crate's sparse validators) and one page per ref, and nothing
/// else but `archives` (relative paths of copied archives).
#[track_caller]
fn assert_site(
    site: &Path,
    name: &str,
    url: &str,
    last_updated: &str,
    entries: &[Value],
    archives: &BTreeSet<String>,
) {
    let got = files(site);
    let refs = by_ref(entries);
    let mut expected: BTreeSet<String> = [
        ".nojekyll",
        "config.json",
        "index.html",
        "index.json",
        "site.css",
        "site.js",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    // The search index: one directory named by its digest, with word and
    // document chunks (site_scale.rs checks what they hold).
    let search: BTreeSet<&String> = got.keys().filter(|p| p.starts_with("search/")).collect();
    let dirs: BTreeSet<&str> = search.iter().map(|p| &p[..p.rfind('/').unwrap()]).collect();
    assert_eq!(dirs.len(), 1, "one search index directory: {search:?}");
    let dir = dirs.into_iter().next().unwrap();
    assert!(search.contains(&format!("{dir}/w0.js")) && search.contains(&format!("{dir}/d0.js")));
    expected.extend(search.into_iter().cloned());
    for r in refs.keys() {
        expected.insert(format!("packs/{r}.json"));
        expected.insert(format!("p/{r}.html"));
    }
    expected.extend(archives.iter().cloned());
    assert_eq!(
        got.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "the site's files"
    );

    let index = read_json(&site.join("index.json"));
    assert_eq!(index["registry_name"], name);
    assert_eq!(index["registry_url"], url);
    assert_eq!(index["last_updated"], last_updated);
    assert_eq!(
        packs(&index),
        &attune_form(entries, url),
        "index.json's packs: the Attune form"
    );

    let config_text = std::str::from_utf8(&got["config.json"]).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(config_text).unwrap(),
        json!({
            "format": "knap-sparse-1",
            "registry_name": name,
            "registry_url": url,
            "last_updated": last_updated,
        }),
        "config.json"
    );
    let config: SparseConfig = from_json_str(config_text).unwrap();
    let problems = validate_sparse_config(&config);
    assert!(problems.is_empty(), "config.json: {problems}");

    for (r, versions) in &refs {
        let text = std::str::from_utf8(&got[&format!("packs/{r}.json")]).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(text).unwrap(),
            json!({"ref": r, "versions": sorted(versions.clone())}),
            "packs/{r}.json holds exactly the versions of {r}"
        );
        let pack: SparsePack = from_json_str(text).unwrap();
        let problems = validate_sparse_pack(&pack, Some(r));
        assert!(problems.is_empty(), "packs/{r}.json: {problems}");
    }
}

/// The Attune form of entries (`attune_site.rs` checks it against Attune's
/// own rules): the newest non-yanked entry of each ref, relative source
/// URLs resolved against `base`.
fn attune_form(entries: &[Value], base: &str) -> Vec<Value> {
    let base = url::Url::parse(base).unwrap();
    let mut out: Vec<Value> = Vec::new();
    for e in sorted(entries.to_vec()) {
        if e["yanked"] == true || out.last().is_some_and(|l| l["ref"] == e["ref"]) {
            continue;
        }
        let mut e = e.clone();
        for s in e["install_sources"].as_array_mut().unwrap() {
            let u = s["url"].as_str().unwrap();
            if !u.contains("://") {
                s["url"] = json!(base.join(u).unwrap().to_string());
            }
        }
        out.push(e);
    }
    out
}

/// The archives that entries name by a relative URL.
fn relative_archives(entries: &[Value]) -> BTreeSet<String> {
    entries
        .iter()
        .flat_map(|e| e["install_sources"].as_array().unwrap().iter())
        .map(|s| s["url"].as_str().unwrap())
        .filter(|u| !u.contains("://"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn attune_index_builds_into_exactly_its_sparse_layout() {
    let Some(corpus) = corpus() else { return };
    let src = corpus.join("attune/index.json");
    let input = read_json(&src);
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("site");
    let o = build(&src, &site, &[]);
    assert_exit(&o, 0);
    assert_site(
        &site,
        input["registry_name"].as_str().unwrap(),
        input["registry_url"].as_str().unwrap(),
        input["last_updated"].as_str().unwrap(),
        packs(&input),
        &BTreeSet::new(),
    );
    // Without --base-url, the index itself is published unchanged.
    assert_eq!(read_json(&site.join("index.json")), input);

    // --base-url is the URL the sparse layout and index are served from.
    let site2 = tmp.path().join("site2");
    let base = "https://attune-system.github.io/index";
    let o = build(&src, &site2, &["--base-url", base]);
    assert_exit(&o, 0);
    assert_site(
        &site2,
        input["registry_name"].as_str().unwrap(),
        "https://attune-system.github.io/index/",
        input["last_updated"].as_str().unwrap(),
        packs(&input),
        &BTreeSet::new(),
    );
    let html = std::fs::read_to_string(site2.join("index.html")).unwrap();
    assert!(
        html.contains(
            "knap registry add attune-standard-pack-index sparse+https://attune-system.github.io/index/"
        ),
        "the page says how to add the registry"
    );
    assert!(
        html.contains(r#"<link rel="canonical" href="https://attune-system.github.io/index/">"#)
    );
}

#[test]
fn example_index_directory_builds_from_its_entry_files_with_its_archives() {
    let root = example_index();
    let index = read_json(&root.join("index.json"));
    let entries = entry_files(&root.join("entries"));
    assert!(!entries.is_empty());
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("_site");
    // Relative URLs: the site's index.json needs --base-url.
    let o = build(&root, &site, &[]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("--base-url"), "{}", stderr(&o));
    let o = build(
        &root,
        &site,
        &["--base-url", index["registry_url"].as_str().unwrap()],
    );
    assert_exit(&o, 0);
    let archives = relative_archives(&entries);
    assert!(!archives.is_empty(), "example-index publishes archives");
    // index.json and the entry files agree, so last_updated is index.json's.
    assert_site(
        &site,
        index["registry_name"].as_str().unwrap(),
        index["registry_url"].as_str().unwrap(),
        index["last_updated"].as_str().unwrap(),
        &entries,
        &archives,
    );
    for a in &archives {
        assert_eq!(
            std::fs::read(site.join(a)).unwrap(),
            std::fs::read(root.join(a)).unwrap(),
            "{a} is copied as it is"
        );
    }
}

/// A registry directory in `dir` with entries for the given (ref, version)s
/// made by `knap-index entry`; no index.json.
fn entries_registry(dir: &Path, packs: &[(&str, &str)]) {
    for (r, v) in packs {
        let pack = dir.join("src").join(r).join(v);
        make_pack(&pack, r, v);
        let o = entry_with_git(&pack);
        assert_exit(&o, 0);
        write(&dir.join(format!("entries/{r}/{v}.json")), &o.stdout);
    }
}

#[test]
fn entries_directory_takes_its_identity_from_flags_or_index_json() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = tmp.path().join("reg");
    entries_registry(
        &reg,
        &[("beta", "1.0.0"), ("alpha", "0.2.0"), ("alpha", "0.10.0")],
    );
    let entries = entry_files(&reg.join("entries"));
    let site = tmp.path().join("site");

    // No index.json: nothing says what the registry is called.
    let o = build(&reg, &site, &[]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("--name"), "{}", stderr(&o));
    assert!(!site.exists(), "nothing written");

    // The entries directory itself, with the identity as flags; the time is
    // SOURCE_DATE_EPOCH (1795000000, set by the helper).
    let o = build(
        &reg.join("entries"),
        &site,
        &[
            "--name",
            "Team packs",
            "--base-url",
            "https://team.example/packs",
        ],
    );
    assert_exit(&o, 0);
    assert_site(
        &site,
        "Team packs",
        "https://team.example/packs/",
        "2026-11-18T11:06:40Z",
        &entries,
        &BTreeSet::new(),
    );

    // An index.json beside entries/ gives the identity, and its packs join
    // the entry files'. A new entry makes last_updated the build time.
    let o = knap_index([
        "update",
        "--index",
        reg.join("index.json").to_str().unwrap(),
        "--create",
        "--name",
        "Team registry",
        "--url",
        "https://team.example/registry/",
        "--entry",
        reg.join("entries/beta/1.0.0.json").to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
    let o = Command::new(env!("CARGO_BIN_EXE_knap-index"))
        .args(["build", reg.to_str().unwrap(), "-o", site.to_str().unwrap()])
        .env("SOURCE_DATE_EPOCH", "1796000000")
        .output()
        .unwrap();
    assert_exit(&o, 0);
    assert_site(
        &site,
        "Team registry",
        "https://team.example/registry/",
        "2026-11-30T00:53:20Z",
        &entries,
        &BTreeSet::new(),
    );
}

#[test]
fn the_same_input_gives_the_same_bytes() {
    let mut sources = vec![example_index()];
    if let Some(corpus) = corpus() {
        sources.push(corpus.join("attune/index.json"));
    }
    for src in sources {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        assert_exit(&build(&src, &a, &["--base-url", "https://x.example/r/"]), 0);
        assert_exit(&build(&src, &b, &["--base-url", "https://x.example/r/"]), 0);
        let first = files(&a);
        assert!(first.contains_key("index.html"));
        assert_eq!(first, files(&b), "{}: two builds differ", src.display());
        // Rebuilding over the site replaces it with the same bytes.
        assert_exit(&build(&src, &a, &["--base-url", "https://x.example/r/"]), 0);
        assert_eq!(first, files(&a), "{}: a rebuild differs", src.display());
        let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != "a" && n != "b")
            .collect();
        assert!(leftovers.is_empty(), "staging left behind: {leftovers:?}");
    }
}

/// Builds a good site from `reg`, breaks the registry with `breakage`, and
/// checks that the build exits 4 with every `expected` text in stderr and
/// leaves the site (and its directory) as it was.
#[track_caller]
fn assert_refused(reg: &Path, breakage: impl FnOnce(), expected: &[&str]) {
    let parent = tempfile::tempdir().unwrap();
    let site = parent.path().join("site");
    assert_exit(
        &build(
            reg,
            &site,
            &["--name", "R", "--base-url", "https://r.example/"],
        ),
        0,
    );
    let before = files(&site);
    breakage();
    let o = build(
        reg,
        &site,
        &["--name", "R", "--base-url", "https://r.example/"],
    );
    assert_exit(&o, 4);
    for e in expected {
        assert!(
            stderr(&o).contains(e),
            "stderr lacks {e:?}:\n{}",
            stderr(&o)
        );
    }
    assert_eq!(files(&site), before, "the existing site is untouched");
    let names: Vec<_> = std::fs::read_dir(parent.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["site"], "nothing else written beside the site");
}

#[test]
fn an_invalid_entry_file_exits_4_naming_file_and_json_path_and_leaves_the_site() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = tmp.path().join("reg");
    entries_registry(&reg, &[("alpha", "1.0.0"), ("beta", "1.0.0")]);
    let alpha = reg.join("entries/alpha/1.0.0.json");
    let beta = reg.join("entries/beta/1.0.0.json");
    assert_refused(
        &reg,
        || {
            let mut e = read_json(&alpha);
            e["install_sources"][0]["checksum"] = json!("sha256:1234");
            write(&alpha, serde_json::to_vec_pretty(&e).unwrap());
            // Filed under the wrong version.
            std::fs::rename(&beta, reg.join("entries/beta/2.0.0.json")).unwrap();
        },
        &[
            "entries/alpha/1.0.0.json: error: $.install_sources[0].checksum",
            "entries/beta/2.0.0.json: error: $.version",
            "nothing was written",
        ],
    );
}

#[test]
fn a_version_that_differs_between_index_json_and_an_entry_file_exits_4_naming_both() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = tmp.path().join("reg");
    entries_registry(&reg, &[("alpha", "1.0.0")]);
    let entry = reg.join("entries/alpha/1.0.0.json");
    let o = knap_index([
        "update",
        "--index",
        reg.join("index.json").to_str().unwrap(),
        "--create",
        "--name",
        "R",
        "--url",
        "https://r.example/",
        "--entry",
        entry.to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
    assert_refused(
        &reg,
        || {
            let mut e = read_json(&entry);
            e["description"] = json!("changed after publishing");
            write(&entry, serde_json::to_vec_pretty(&e).unwrap());
        },
        &[
            "alpha 1.0.0",
            "index.json $.packs[0]",
            "entries/alpha/1.0.0.json",
            "description",
        ],
    );
}

#[test]
fn an_invalid_index_json_exits_4_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("index.json");
    let mut index = read_json(&example_index().join("index.json"));
    index["packs"][0]["install_sources"][0]["url"] = json!("ftp://example.org/x.tar.gz");
    write(&src, serde_json::to_vec_pretty(&index).unwrap());
    let site = tmp.path().join("site");
    let o = build(&src, &site, &[]);
    assert_exit(&o, 4);
    assert!(
        stderr(&o).contains("$.packs[0].install_sources[0].url"),
        "{}",
        stderr(&o)
    );
    assert!(!site.exists());
}

#[test]
fn an_archive_that_does_not_match_its_checksum_exits_4() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = tmp.path().join("reg");
    copy_tree(&example_index(), &reg);
    let index = read_json(&reg.join("index.json"));
    let archive = relative_archives(packs(&index)).into_iter().next().unwrap();
    assert_refused(
        &reg,
        || write(&reg.join(&archive), b"not the published archive"),
        &[&archive, "but the index publishes"],
    );
}

#[test]
fn a_homepage_or_repository_that_is_not_a_web_address_is_shown_but_not_linked() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = tmp.path().join("reg");
    entries_registry(&reg, &[("alpha", "1.0.0"), ("beta", "1.0.0")]);
    let alpha = reg.join("entries/alpha/1.0.0.json");
    let mut e = read_json(&alpha);
    e["homepage"] = json!("javascript:alert(1)");
    e["repository"] = json!("data:text/html,x");
    write(&alpha, serde_json::to_vec_pretty(&e).unwrap());
    let beta = reg.join("entries/beta/1.0.0.json");
    let mut e = read_json(&beta);
    e["homepage"] = json!("https://beta.example/");
    write(&beta, serde_json::to_vec_pretty(&e).unwrap());
    let site = tmp.path().join("site");
    let o = build(
        &reg.join("entries"),
        &site,
        &["--name", "R", "--base-url", "https://r.example/"],
    );
    assert_exit(&o, 0);

    let page = std::fs::read_to_string(site.join("p/alpha.html")).unwrap();
    assert!(!page.contains("href=\"javascript"), "{page}");
    assert!(!page.contains("href=\"data:text"), "{page}");
    assert!(page.contains(r#"<span class="url">javascript:alert(1)</span>"#));
    assert!(page.contains(r#"<span class="url">data:text/html,x</span>"#));
    let page = std::fs::read_to_string(site.join("p/beta.html")).unwrap();
    assert!(
        page.contains(r#"<a href="https://beta.example/">"#),
        "a web address is a link: {page}"
    );
}

#[test]
fn pack_pages_share_the_sites_stylesheet_and_script_and_keep_older_versions_details() {
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("site");
    let o = build(
        &example_index(),
        &site,
        &["--base-url", "https://r.example/"],
    );
    assert_exit(&o, 0);
    assert!(site.join("site.css").is_file() && site.join("site.js").is_file());
    let entries = entry_files(&example_index().join("entries"));
    for (r, versions) in by_ref(&entries) {
        let page = std::fs::read_to_string(site.join(format!("p/{r}.html"))).unwrap();
        // One stylesheet and one script for every page, nothing inline.
        assert_eq!(
            page.matches("<link rel=\"stylesheet\"").count(),
            1,
            "{r}: {page}"
        );
        assert!(
            page.contains(r#"<link rel="stylesheet" href="../site.css">"#),
            "{r}"
        );
        assert_eq!(page.matches("<script").count(), 1, "{r}: {page}");
        assert!(
            page.contains(r#"<script src="../site.js" defer></script>"#),
            "{r}"
        );
        assert!(
            !page.contains("<style") && !page.contains(" style="),
            "{r}: {page}"
        );
        // Every version other than the newest keeps, compactly, its
        // requirements and each source's checksum.
        let versions = sorted(versions);
        let newest = versions[0]["version"].as_str().unwrap();
        for e in &versions {
            let v = e["version"].as_str().unwrap();
            if v == newest {
                continue;
            }
            let start = page
                .find(&format!(r#"<li id="v-{v}">"#))
                .unwrap_or_else(|| panic!("{r}@{v} is not on its page: {page}"));
            let item = &page[start..];
            let item = &item[..item.find("</li>").unwrap()];
            for s in e["install_sources"].as_array().unwrap() {
                let sum = s["checksum"].as_str().unwrap();
                assert!(item.contains(sum), "{r}@{v}: {sum} missing from {item}");
            }
            for d in e["dependencies"]["packs"].as_array().unwrap() {
                let d = d.as_str().unwrap();
                assert!(item.contains("requires"), "{r}@{v}: {item}");
                let name = d.split('@').next().unwrap();
                assert!(item.contains(name), "{r}@{v}: {d} missing from {item}");
            }
        }
    }
    // The example index has older versions, one of them with requirements.
    let notify = std::fs::read_to_string(site.join("p/notify.html")).unwrap();
    assert!(notify.contains(r#"<li id="v-1.0.0">"#));
}

#[test]
fn a_directory_that_is_not_a_built_site_is_not_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("docs");
    write(&dir.join("notes.txt"), "keep me");
    let o = build(&example_index(), &dir, &[]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("not a site built by knap-index build"));
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
        "keep me"
    );
    assert_eq!(files(&dir).len(), 1);
}

// --- in the browser ----------------------------------------------------------

/// The attributes of every start tag `<li class="pack" ...>`, as
/// serialised by Chromium (attribute values in double quotes).
fn pack_items(dom: &str) -> Vec<BTreeMap<String, String>> {
    let mut out = Vec::new();
    for (start, _) in dom.match_indices("<li class=\"pack\"") {
        let tag = &dom[start + 3..];
        let tag = &tag[..tag.find('>').unwrap()];
        let mut attrs = BTreeMap::new();
        let mut rest = tag;
        loop {
            rest = rest.trim_start();
            if rest.is_empty() {
                break;
            }
            let end = rest.find(['=', ' ']).unwrap_or(rest.len());
            let name = rest[..end].to_owned();
            rest = &rest[end..];
            if let Some(r) = rest.strip_prefix("=\"") {
                let close = r.find('"').unwrap();
                attrs.insert(name, r[..close].to_owned());
                rest = &r[close + 1..];
            } else {
                attrs.insert(name, String::new());
            }
        }
        out.push(attrs);
    }
    out
}

/// The refs of the listed packs that are shown, and those hidden.
fn shown_and_hidden(dom: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut shown = BTreeSet::new();
    let mut hidden = BTreeSet::new();
    for attrs in pack_items(dom) {
        let r = attrs["id"].strip_prefix("pack-").unwrap().to_owned();
        if attrs.contains_key("hidden") {
            hidden.insert(r);
        } else {
            shown.insert(r);
        }
    }
    (shown, hidden)
}

/// The words of a text as the search sees them: runs of letters and digits,
/// lower-cased.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// What the search must find, worked out from the index: the packs where
/// every word of the query begins a word of the ref, label, keywords,
/// description or component names of the newest version that is not
/// yanked.
fn expected_matches(entries: &[Value], query: &str) -> BTreeSet<String> {
    let terms = words(query);
    by_ref(entries)
        .into_iter()
        .filter(|(_, versions)| {
            let versions = sorted(versions.clone());
            let e = versions
                .iter()
                .find(|e| e["yanked"] != true)
                .unwrap_or(&versions[0]);
            let mut hay = vec![e["ref"].as_str().unwrap(), e["label"].as_str().unwrap()];
            hay.extend(
                e["keywords"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|k| k.as_str().unwrap()),
            );
            hay.push(e["description"].as_str().unwrap());
            for kind in ["actions", "sensors", "triggers", "rules", "workflows"] {
                for c in e["contents"][kind].as_array().into_iter().flatten() {
                    hay.push(c["name"].as_str().unwrap());
                }
            }
            let hay: Vec<String> = hay.iter().flat_map(|t| words(t)).collect();
            terms
                .iter()
                .all(|t| hay.iter().any(|w| w.starts_with(t.as_str())))
        })
        .map(|(r, _)| r)
        .collect()
}

/// A keyword that some packs have and some do not (so a filter by it can
/// be seen to work), the first in ref order.
fn discriminating_keyword(entries: &[Value]) -> String {
    let refs = by_ref(entries).len();
    for e in entries {
        for k in e["keywords"].as_array().unwrap() {
            let k = k.as_str().unwrap();
            let n = expected_matches(entries, k).len();
            if n > 0 && n < refs {
                return k.to_owned();
            }
        }
    }
    panic!("no keyword tells the packs apart");
}

/// The site of the Attune index when the corpus is there, and of
/// example-index always, with the entries each holds.
fn browser_sites(tmp: &Path) -> Vec<(&'static str, PathBuf, Vec<Value>)> {
    let mut out = Vec::new();
    let example = tmp.join("site-example");
    assert_exit(
        &build(
            &example_index(),
            &example,
            &["--base-url", "https://example.org/reg/"],
        ),
        0,
    );
    let index = read_json(&example.join("index.json"));
    out.push(("example", example, packs(&index).clone()));
    if let Some(corpus) = corpus() {
        let site = tmp.join("site-attune");
        let src = corpus.join("attune/index.json");
        assert_exit(&build(&src, &site, &[]), 0);
        out.push(("attune", site, packs(&read_json(&src)).clone()));
    }
    out
}

#[test]
fn browser_lists_every_pack_and_a_hash_query_filters_them() {
    let Some(chrome) = chromium() else { return };
    let tmp = tempfile::tempdir().unwrap();
    for (name, site, entries) in browser_sites(tmp.path()) {
        let page = file_url(&site.join("index.html"));
        let all: BTreeSet<String> = by_ref(&entries).into_keys().collect();

        let dom = dump_dom(&chrome, &page);
        assert_eq!(
            shown_and_hidden(&dom),
            (all.clone(), BTreeSet::new()),
            "{name}: unfiltered"
        );
        let form = &dom[dom.find(r#"<form id="search""#).unwrap()..];
        let form = &form[..form.find('>').unwrap()];
        assert!(
            !form.contains("hidden"),
            "{name}: the script showed the search box: {form}"
        );
        assert!(
            dom.contains(&format!(">{} packs</p>", all.len())),
            "{name}: the count"
        );

        let keyword = discriminating_keyword(&entries);
        let expected = expected_matches(&entries, &keyword);
        let hash = keyword.replace(' ', "%20");
        let dom = dump_dom(&chrome, &format!("{page}#q={hash}"));
        assert!(
            dom.contains(&format!(r#"data-query="{keyword}""#)),
            "{name}: the search for {keyword} has run"
        );
        let (shown, hidden) = shown_and_hidden(&dom);
        assert_eq!(shown, expected, "{name}: shown for #q={keyword}");
        assert_eq!(hidden, &all - &expected, "{name}: hidden for #q={keyword}");
        assert!(
            dom.contains(&format!("{} of {} packs match", expected.len(), all.len())),
            "{name}: the live region counts the matches"
        );

        let dom = dump_dom(&chrome, &format!("{page}#q=zzzz-no-such-pack"));
        let (shown, _) = shown_and_hidden(&dom);
        assert!(shown.is_empty(), "{name}: nothing matches");
        assert!(
            dom.contains(r#"<p id="none" class="none">"#),
            "{name}: says so"
        );
    }
}

/// The refs of the packs the page shows.
const SHOWN: &str = "JSON.stringify(Array.from(document.querySelectorAll('#packs > li')).filter(li => !li.hidden).map(li => li.id.slice(5)))";

fn refs(v: Value) -> BTreeSet<String> {
    serde_json::from_str::<Vec<String>>(v.as_str().unwrap())
        .unwrap()
        .into_iter()
        .collect()
}

#[test]
fn browser_typing_in_the_search_box_filters_as_you_type() {
    let Some(chrome) = chromium() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut browser = Browser::launch(&chrome);
    for (name, site, entries) in browser_sites(tmp.path()) {
        let all: BTreeSet<String> = by_ref(&entries).into_keys().collect();
        browser.open(&file_url(&site.join("index.html")), 1280, 900);
        browser.wait_for_search("");
        assert_eq!(
            refs(browser.eval(SHOWN)),
            all,
            "{name}: every pack is shown"
        );

        // The search box is reached with the keyboard alone.
        let mut tabs = 0;
        while browser.eval("document.activeElement && document.activeElement.id") != "q" {
            tabs += 1;
            assert!(
                tabs <= 10,
                "{name}: the search box is not reachable with Tab"
            );
            browser.key("Tab", "Tab", 9, None);
        }
        assert_eq!(
            browser.eval("document.querySelector('label[for=q]').textContent"),
            "Search packs by name, keyword, description or component"
        );

        // Typing filters on every key: after each prefix, exactly the packs
        // that match it are shown.
        let keyword = discriminating_keyword(&entries);
        let mut typed = String::new();
        for c in keyword.chars() {
            typed.push(c);
            browser.type_text(&c.to_string());
            browser.wait_for_search(&typed);
            assert_eq!(
                refs(browser.eval(SHOWN)),
                expected_matches(&entries, &typed),
                "{name}: shown after typing {typed:?}"
            );
        }
        let expected = expected_matches(&entries, &keyword);
        assert_eq!(
            browser.eval("document.getElementById('count').textContent"),
            format!("{} of {} packs match", expected.len(), all.len()),
            "{name}: the live region"
        );
        assert_eq!(
            browser.eval("location.hash"),
            format!("#q={}", keyword.replace(' ', "%20")),
            "{name}: the query is kept in the address, to share"
        );
        // Clearing the box shows every pack again.
        for _ in 0..keyword.chars().count() {
            browser.key("Backspace", "Backspace", 8, None);
        }
        browser.wait_for_search("");
        assert_eq!(refs(browser.eval(SHOWN)), all, "{name}: cleared");

        // Nothing was fetched from elsewhere: no CDN, font, script or style.
        // (Chromium records no resource timing for file:// loads, so only a
        // load from another scheme would be listed; site_scale.rs checks
        // over HTTP which files of the site a search loads.)
        let site_url = file_url(&site);
        let loaded = browser.eval("performance.getEntriesByType('resource').map(r => r.name)");
        let loaded: Vec<String> = serde_json::from_value(loaded).unwrap();
        for u in &loaded {
            assert!(
                u.starts_with(&format!("{site_url}/")),
                "{name}: {u} is not a file of the site"
            );
        }
        assert_eq!(
            browser.eval(
                "[document.documentElement.lang, !!document.querySelector('main'), !!document.querySelector('header'), !!document.querySelector('footer'), document.getElementById('count').getAttribute('aria-live')]"
            ),
            json!(["en", true, true, true, "polite"]),
            "{name}: landmarks and live region"
        );
    }
}

#[test]
fn browser_pages_fit_a_phone_screen_and_the_screenshots_are_kept() {
    let Some(chrome) = chromium() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let mut browser = Browser::launch(&chrome);
    for (name, site, entries) in browser_sites(tmp.path()) {
        // Every page, on a 390 px wide phone: nothing wider than the screen.
        let mut pages = vec![site.join("index.html")];
        pages.extend(
            by_ref(&entries)
                .keys()
                .map(|r| site.join(format!("p/{r}.html"))),
        );
        for page in &pages {
            browser.open(&file_url(page), 390, 844);
            browser.eval("document.querySelectorAll('details').forEach(d => d.open = true)");
            assert_eq!(
                browser.eval(
                    "[document.documentElement.scrollWidth, window.innerWidth, document.querySelector('meta[name=viewport]') !== null]"
                ),
                json!([390, 390, true]),
                "{name}: {} is wider than a phone",
                page.display()
            );
        }
        for (suffix, size) in [("", "1280,1600"), ("-phone", "390,844")] {
            let shot = artifacts.join(format!("site-{name}{suffix}.png"));
            let _ = std::fs::remove_file(&shot);
            let profile = tempfile::tempdir().unwrap();
            let o = Command::new(&chrome)
                .args(headless_flags(profile.path()))
                .arg(format!("--screenshot={}", shot.display()))
                .arg(format!("--window-size={size}"))
                .arg(file_url(&site.join("index.html")))
                .output()
                .unwrap();
            assert!(o.status.success(), "screenshot: {}", stderr(&o));
            let png = std::fs::read(&shot).unwrap();
            assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{}", shot.display());
            let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
            assert_eq!(width.to_string(), size.split(',').next().unwrap());
            eprintln!("screenshot: {}", shot.display());
        }
    }
}

// --- what the front page tells ------------------------------------------------

/// What a card must say of one ref, worked out from `packs/<ref>.json`: the
/// actions, sensors and workflows of the newest version that is not yanked,
/// and how many versions there are.
fn expected_summary(site: &Path, r: &str) -> String {
    let versions = read_json(&site.join(format!("packs/{r}.json")))["versions"]
        .as_array()
        .unwrap()
        .clone();
    let versions = sorted(versions);
    // Index order: newest first.
    let newest = versions
        .iter()
        .find(|e| e["yanked"] != true)
        .unwrap_or(&versions[0]);
    let mut parts = Vec::new();
    for (kind, one) in [
        ("actions", "action"),
        ("sensors", "sensor"),
        ("workflows", "workflow"),
    ] {
        match newest["contents"][kind].as_array().map_or(0, Vec::len) {
            0 => {}
            1 => parts.push(format!("1 {one}")),
            n => parts.push(format!("{n} {kind}")),
        }
    }
    parts.push(match versions.len() {
        1 => "1 version".to_owned(),
        n => format!("{n} versions"),
    });
    parts.join(" · ")
}

#[test]
fn browser_front_page_names_the_registry_once_with_its_description_counts_and_add_command() {
    let Some(chrome) = chromium() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("site");
    let o = build(
        &example_index(),
        &site,
        &[
            "--base-url",
            "https://packs.example.org/team",
            "--description",
            "Packs the example team keeps for its own runbooks.",
        ],
    );
    assert_exit(&o, 0);
    assert!(
        stderr(&o).contains(": 5 packs, 8 versions, "),
        "{}",
        stderr(&o)
    );
    // The description is knap's own (config.json), never a field of the
    // index.json that Attune's client reads.
    let config = read_json(&site.join("config.json"));
    assert_eq!(
        config["description"],
        "Packs the example team keeps for its own runbooks."
    );
    assert!(
        read_json(&site.join("index.json"))
            .get("description")
            .is_none()
    );

    let mut browser = Browser::launch(&chrome);
    browser.open(&file_url(&site.join("index.html")), 1280, 900);
    let name = "knap example registry";
    assert_eq!(
        browser.eval(&format!(
            "document.body.innerText.split({}).length - 1",
            json!(name)
        )),
        json!(1),
        "the registry name is on the page once"
    );
    assert_eq!(
        browser.eval("document.querySelector('h1').textContent"),
        name
    );
    assert_eq!(
        browser.eval("document.querySelector('header .about').textContent"),
        "Packs the example team keeps for its own runbooks."
    );
    assert_eq!(
        browser.eval("document.querySelector('#use-h + .cmd code').textContent"),
        "knap registry add knap-example-registry sparse+https://packs.example.org/team/",
        "the command is built from --base-url"
    );
    assert_eq!(
        browser.eval("document.querySelector('link[rel=canonical]').href"),
        "https://packs.example.org/team/"
    );
    assert_eq!(
        browser.eval("document.querySelector('.lead').textContent"),
        "5 packs, 8 versions. Install one with knap install REF."
    );
    // Every card says what it holds, without opening anything.
    let summaries = browser.eval(
        "JSON.stringify(Object.fromEntries(Array.from(document.querySelectorAll('#packs > li')).map(li => [li.id.slice(5), li.querySelector('.summary').innerText])))",
    );
    let summaries: BTreeMap<String, String> =
        serde_json::from_str(summaries.as_str().unwrap()).unwrap();
    assert_eq!(summaries.len(), 5);
    for (r, text) in &summaries {
        assert_eq!(text, &expected_summary(&site, r), "the card of {r}");
    }
    assert_eq!(summaries["notify"], "2 actions · 3 versions");
    assert_eq!(
        browser.eval("Array.from(document.querySelectorAll('#packs .summary')).every(p => p.offsetHeight > 0)"),
        json!(true),
        "the counts are visible with every disclosure closed"
    );
    screenshot(&mut browser, "site-front-page");
}

#[test]
fn browser_a_dependency_in_the_same_registry_links_to_its_page() {
    let Some(chrome) = chromium() else { return };
    let tmp = tempfile::tempdir().unwrap();
    // uptime needs alerts@^1 (in the registry) and python_version (not a pack).
    let reg = tmp.path().join("reg");
    copy_tree(&example_index(), &reg);
    let mut e = read_json(&reg.join("entries/uptime/0.1.0.json"));
    e["dependencies"]["packs"] = json!(["alerts@^1", "elsewhere@^2"]);
    write(
        &reg.join("entries/uptime/0.1.0.json"),
        serde_json::to_vec_pretty(&e).unwrap(),
    );
    // The entry files alone (index.json would disagree with the edit).
    std::fs::remove_file(reg.join("index.json")).unwrap();
    let site = tmp.path().join("site");
    let o = build(
        &reg,
        &site,
        &["--name", "Deps", "--base-url", "https://deps.example.org/"],
    );
    assert_exit(&o, 0);

    let mut browser = Browser::launch(&chrome);
    browser.open(&file_url(&site.join("p/uptime.html")), 1280, 900);
    let requires = browser.eval(
        "JSON.stringify(Array.from(document.querySelectorAll('#v-0\\\\.1\\\\.0 dt')).filter(dt => dt.textContent === 'Requires').map(dt => Array.from(dt.nextElementSibling.querySelectorAll('code')).map(c => [c.textContent, c.closest('a') ? c.closest('a').getAttribute('href') : null]))[0])",
    );
    let requires: Vec<(String, Option<String>)> =
        serde_json::from_str(requires.as_str().unwrap()).unwrap();
    assert_eq!(
        requires,
        [
            ("alerts@^1".to_owned(), Some("alerts.html".to_owned())),
            ("elsewhere@^2".to_owned(), None),
            ("python_version >=3.9".to_owned(), None),
        ],
        "only a pack this registry publishes is a link"
    );
    screenshot(&mut browser, "site-pack-dependencies");
    // Following the link opens the page of that pack.
    browser.eval("document.querySelector('a.dep').click(), true");
    for _ in 0..100 {
        if browser.send(
            "Runtime.evaluate",
            json!({"expression": "location.pathname.endsWith('/p/alerts.html') && document.readyState === 'complete'", "returnByValue": true}),
        )["result"]["result"]["value"]
            == true
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        browser.eval("document.querySelector('h1').firstChild.textContent.trim()"),
        "alerts"
    );
}

#[test]
fn browser_an_empty_registry_says_how_to_add_a_pack() {
    let Some(chrome) = chromium() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("index.json");
    write(
        &src,
        serde_json::to_vec_pretty(&json!({
            "registry_name": "Fresh packs",
            "registry_url": "https://fresh.example.org/",
            "version": "1.0",
            "last_updated": "2026-11-21T12:00:00Z",
            "packs": [],
        }))
        .unwrap(),
    );
    let site = tmp.path().join("site");
    let o = build(&src, &site, &["--base-url", "https://fresh.example.org/"]);
    assert_exit(&o, 0);
    assert!(
        stderr(&o).contains(": 0 packs, 0 versions, "),
        "{}",
        stderr(&o)
    );

    let mut browser = Browser::launch(&chrome);
    browser.open(&file_url(&site.join("index.html")), 1280, 900);
    let empty = browser.eval("document.getElementById('empty').innerText");
    let empty = empty.as_str().unwrap();
    assert!(empty.starts_with("No packs yet"), "{empty}");
    for w in [
        "knap-index entry",
        "knap-index update",
        "entries/REF/VERSION.json",
        "knap-index build",
    ] {
        assert!(empty.contains(w), "`{w}` missing from: {empty}");
    }
    assert_eq!(
        browser.eval("[!!document.getElementById('packs'), !!document.getElementById('search')]"),
        json!([false, false]),
        "no empty list and no search box"
    );
    assert_eq!(
        browser.eval("document.querySelector('.lead').textContent"),
        "0 packs, 0 versions."
    );
    screenshot(&mut browser, "site-empty");
}

#[test]
fn browser_without_base_url_the_page_says_the_address_is_unknown() {
    let Some(chrome) = chromium() else { return };
    let tmp = tempfile::tempdir().unwrap();
    // As the real Attune index does: registry_url is the GitHub repository
    // page, which serves no sparse layout.
    let src = tmp.path().join("reg");
    copy_tree(&example_index(), &src);
    let mut index = read_json(&src.join("index.json"));
    index["registry_url"] = json!("https://github.com/example/index");
    // And its archive URLs absolute, as the Attune index's are (relative
    // ones would need --base-url for the site's index.json); the index
    // alone, without the entry files that still say otherwise.
    std::fs::remove_dir_all(src.join("entries")).unwrap();
    for e in index["packs"].as_array_mut().unwrap() {
        for s in e["install_sources"].as_array_mut().unwrap() {
            let u = s["url"].as_str().unwrap().to_owned();
            if !u.contains("://") {
                s["url"] = json!(format!("https://files.example.org/{u}"));
            }
        }
    }
    write(
        &src.join("index.json"),
        serde_json::to_vec_pretty(&index).unwrap(),
    );
    let site = tmp.path().join("site");
    assert_exit(&build(&src, &site, &[]), 0);

    let mut browser = Browser::launch(&chrome);
    browser.open(&file_url(&site.join("index.html")), 1280, 900);
    let use_section = browser.eval("document.querySelector('section.use').innerText");
    let use_section = use_section.as_str().unwrap();
    assert!(
        use_section.contains("The address of this site is unknown")
            && use_section.contains("--base-url"),
        "{use_section}"
    );
    assert_eq!(
        browser.eval("document.body.innerHTML.includes('sparse+https://github.com/example/index')"),
        json!(false),
        "no command that cannot work"
    );
    assert_eq!(
        browser.eval("document.querySelector('link[rel=canonical]')"),
        json!(null),
        "no canonical link to an address that is not the site's"
    );
    screenshot(&mut browser, "site-no-base-url");
}

#[test]
fn a_loopback_http_base_url_builds_a_local_preview_and_another_http_one_is_refused() {
    use sha2::{Digest, Sha256};
    let tmp = tempfile::tempdir().unwrap();
    // The server first, to know the address; it serves the site once built.
    let site = tmp.path().join("site");
    std::fs::create_dir(&site).unwrap();
    let server = Server::start(&site);
    let o = build(&example_index(), &site, &["--base-url", &server.url]);
    assert_exit(&o, 0);
    let err = stderr(&o);
    assert!(
        err.contains("local preview") && err.contains("https://"),
        "a note says that Attune will need https: {err}"
    );
    assert!(
        !err.contains("plain http://"),
        "no warning per source: {err}"
    );

    // index.json and config.json name the preview's address, and every
    // source the index names is served there with its checksum.
    let index = read_json(&site.join("index.json"));
    assert_eq!(index["registry_url"], server.url.as_str());
    assert_eq!(
        read_json(&site.join("config.json"))["registry_url"],
        server.url.as_str()
    );
    let mut sources = 0;
    for e in packs(&index) {
        for s in e["install_sources"].as_array().unwrap() {
            let url = s["url"].as_str().unwrap();
            assert!(url.starts_with(&server.url), "{url}");
            let (status, body) = http_get(url);
            assert_eq!(status, 200, "{url}");
            let sum = format!("sha256:{:x}", Sha256::digest(&body));
            assert_eq!(s["checksum"].as_str().unwrap(), sum, "{url}");
            sources += 1;
        }
    }
    assert_eq!(sources, 5, "the newest version of each of the 5 packs");
    let (status, page) = http_get(&format!("{}index.html", server.url));
    assert_eq!(status, 200);
    let add = format!(
        "knap registry add knap-example-registry sparse+{}",
        server.url
    );
    assert!(String::from_utf8(page).unwrap().contains(&add), "{add}");

    // Any other http:// address would publish an index Attune refuses.
    let before = files(&site);
    let o = build(
        &example_index(),
        &site,
        &["--base-url", "http://packs.example.org/"],
    );
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("only https://") && stderr(&o).contains("http://127.0.0.1:8765/"),
        "{}",
        stderr(&o)
    );
    assert_eq!(files(&site), before, "nothing written");
}

#[test]
fn without_chromium_a_browser_test_passes_as_skipped_and_says_so_unless_ci_is_set() {
    // This test binary again, running one browser test with no Chromium to
    // be found.
    let run = |ci: bool| {
        let mut c = Command::new(std::env::current_exe().unwrap());
        c.args([
            "--exact",
            "browser_an_empty_registry_says_how_to_add_a_pack",
            "--nocapture",
        ])
        .env("PATH", "/nonexistent")
        .env_remove("KNAP_CHROMIUM")
        .env_remove("KNAP_SKIP_BROWSER")
        .env_remove("RUST_BACKTRACE");
        if ci {
            c.env("CI", "true");
        } else {
            c.env_remove("CI");
        }
        c.output().unwrap()
    };
    let o = run(false);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("1 passed"), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("skipped: no Chromium found"),
        "{}",
        stderr(&o)
    );
    let o = run(true);
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("the browser tests need Chromium, and CI is set"),
        "{}",
        stderr(&o)
    );
}

/// Where the example registry's site is served in these tests (its
/// relative archive URLs need one for the site's index.json).
const BASE: &str = "https://example.org/reg/";

#[test]
fn the_description_comes_from_config_json_and_the_flag_wins() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = tmp.path().join("reg");
    copy_tree(&example_index(), &reg);
    write(
        &reg.join("config.json"),
        r#"{"description": "From <config.json> & friends"}"#,
    );
    let site = tmp.path().join("site");
    assert_exit(&build(&reg, &site, &["--base-url", BASE]), 0);
    assert_eq!(
        read_json(&site.join("config.json"))["description"],
        "From <config.json> & friends"
    );
    let html = std::fs::read_to_string(site.join("index.html")).unwrap();
    assert!(
        html.contains(r#"<p class="about">From &lt;config.json&gt; &amp; friends</p>"#),
        "shown, escaped"
    );
    // A site built from a built site keeps it.
    let again = tmp.path().join("again");
    assert_exit(&build(&site.join("index.json"), &again, &[]), 0);
    assert_eq!(
        read_json(&again.join("config.json"))["description"],
        "From <config.json> & friends"
    );

    assert_exit(
        &build(
            &reg,
            &site,
            &["--base-url", BASE, "--description", "From the flag"],
        ),
        0,
    );
    assert_eq!(
        read_json(&site.join("config.json"))["description"],
        "From the flag"
    );

    write(&reg.join("config.json"), r#"{"description": 7}"#);
    let o = build(&reg, &tmp.path().join("bad"), &["--base-url", BASE]);
    assert_exit(&o, 4);
    assert!(
        stderr(&o).contains("config.json: error: $.description: must be a string"),
        "{}",
        stderr(&o)
    );
    assert!(!tmp.path().join("bad").exists(), "nothing written");

    // Without either, config.json has no description and the page no line.
    std::fs::remove_file(reg.join("config.json")).unwrap();
    assert_exit(&build(&reg, &site, &["--base-url", BASE]), 0);
    assert!(
        read_json(&site.join("config.json"))
            .get("description")
            .is_none()
    );
    let html = std::fs::read_to_string(site.join("index.html")).unwrap();
    assert!(!html.contains(r#"class="about""#));
}

#[test]
fn one_pack_and_one_version_are_singular() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("one");
    make_pack(&dir.join("src"), "solo", "1.0.0");
    let sha = commit_all(&dir.join("src"));
    let index = dir.join("index.json");
    let o = knap_index([
        "update",
        "--index",
        index.to_str().unwrap(),
        dir.join("src").to_str().unwrap(),
        "--git-url",
        "https://example.org/solo.git",
        "--git-ref",
        &sha,
        "--create",
        "--name",
        "Solo",
        "--url",
        "https://solo.example.org/",
    ]);
    assert_exit(&o, 0);
    let site = tmp.path().join("site");
    let o = build(&index, &site, &[]);
    assert_exit(&o, 0);
    assert!(
        stderr(&o).contains(": 1 pack, 1 version, "),
        "{}",
        stderr(&o)
    );
    let html = std::fs::read_to_string(site.join("index.html")).unwrap();
    assert!(
        html.contains(r#"<p class="lead">1 pack, 1 version."#),
        "lead"
    );
    assert!(html.contains("<p>1 pack, 1 version · updated"), "footer");
    assert!(html.contains(r#"aria-atomic="true">1 pack</p>"#), "count");
    assert!(!html.contains("1 packs") && !html.contains("1 versions"));
}
