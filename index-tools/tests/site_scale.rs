//! The site of a registry larger than its front page (1,101 packs here; the
//! benchmark in `benches/site.sh` builds 25,000): the front page shows the
//! first 100 packs and stays small, static list pages reach every pack
//! without JavaScript, the search index holds every word of every pack
//! (component names included) in chunks, and in a browser a search finds a
//! pack that is not on the front page, by name or by component, loading
//! only the chunks it needs, from disk and over HTTP.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::browser::*;
use common::*;
use serde_json::{Value, json};

/// How many generated packs (`pack0000` ...), besides `zz-netdiag`.
const GENERATED: usize = 1100;

/// An index of `GENERATED` packs of two versions each, and `zz-netdiag`
/// (last in ref order), the only pack with a `traceroute` action (and
/// named by the word `netdiag`, which `pack0005`'s description mentions).
fn big_index() -> Value {
    let entry = |r: &str, v: &str, label: &str, description: &str, action: &str| {
        let h = format!("{:0>64}", format!("{:x}", r.len() * 1000 + v.len()));
        json!({
            "ref": r, "label": label, "description": description, "version": v,
            "author": "Gen", "license": "MIT", "keywords": ["gen", format!("k{}", r.len() % 7)],
            "runtime_deps": [],
            "install_sources": [{"type": "git", "url": format!("https://example.org/{r}.git"),
                "ref": &h[..40], "checksum": format!("sha256:{h}")}],
            "contents": {"actions": [{"name": action, "description": "Does it"}],
                "sensors": [], "triggers": [], "rules": [], "workflows": []},
        })
    };
    let mut packs = Vec::new();
    for i in 0..GENERATED {
        let r = format!("pack{i:04}");
        let mut description = format!("Generated pack number {i}");
        if i == 5 {
            description.push_str(", a helper of netdiag");
        }
        for v in ["1.1.0", "1.0.0"] {
            packs.push(entry(&r, v, &format!("Pack {i}"), &description, "run"));
        }
    }
    packs.push(entry(
        "zz-netdiag",
        "0.3.0",
        "Network diagnostics",
        "Checks how hosts are reached",
        "traceroute",
    ));
    json!({
        "registry_name": "Big", "registry_url": "https://big.example/", "version": "1.0",
        "last_updated": "2026-12-01T12:00:00Z", "packs": packs,
    })
}

/// Builds the big registry's site into `dir/site`; returns the site and
/// the build's stderr.
fn build_big(dir: &Path) -> (std::path::PathBuf, String) {
    let src = dir.join("index.json");
    write(&src, serde_json::to_vec(&big_index()).unwrap());
    let site = dir.join("site");
    let o = knap_index([
        "build",
        src.to_str().unwrap(),
        "-o",
        site.to_str().unwrap(),
        "--base-url",
        "https://big.example/",
    ]);
    assert_exit(&o, 0);
    (site, stderr(&o))
}

fn all_refs() -> BTreeSet<String> {
    (0..GENERATED)
        .map(|i| format!("pack{i:04}"))
        .chain(["zz-netdiag".to_owned()])
        .collect()
}

/// The values of every `href="..."` in a page, in order.
fn hrefs(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_owned())
        .collect()
}

#[test]
fn the_front_page_shows_the_first_100_packs_and_list_pages_reach_every_pack_without_javascript() {
    let tmp = tempfile::tempdir().unwrap();
    let (site, err) = build_big(tmp.path());
    let html = std::fs::read_to_string(site.join("index.html")).unwrap();
    let cards: Vec<&str> = html
        .match_indices(r#"<li class="pack" id="pack-"#)
        .map(|(i, _)| {
            let rest = &html[i + 26..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    let first: Vec<String> = all_refs().into_iter().take(100).collect();
    assert_eq!(cards, first, "the first 100 packs in ref order, on cards");
    assert!(
        html.contains("The first 100 of 1101 packs, by name"),
        "the page says it shows a slice"
    );
    assert!(
        html.len() < 150_000,
        "index.html is {} bytes; it holds 100 cards whatever the registry's size",
        html.len()
    );

    // Without JavaScript: the front page links the list pages, which link
    // each other in order and every pack's page, each exactly once.
    let lists: Vec<String> = hrefs(&html)
        .into_iter()
        .filter(|h| h.starts_with("list/"))
        .collect();
    assert_eq!(lists, ["list/1.html", "list/2.html", "list/3.html"]);
    let mut reached = Vec::new();
    for (n, list) in lists.iter().enumerate() {
        let page = std::fs::read_to_string(site.join(list)).unwrap();
        let links = hrefs(&page);
        reached.extend(
            links
                .iter()
                .filter_map(|h| h.strip_prefix("../p/"))
                .map(|h| h.strip_suffix(".html").unwrap().to_owned()),
        );
        let rel = |l: &str| {
            page.split(&format!(r#"rel="{l}" href=""#))
                .nth(1)
                .map(|s| s[..s.find('"').unwrap()].to_owned())
        };
        assert_eq!(
            rel("prev"),
            n.checked_sub(1).map(|p| format!("../{}", lists[p])),
            "{list}: previous"
        );
        assert_eq!(
            rel("next"),
            lists.get(n + 1).map(|p| format!("../{p}")),
            "{list}: next"
        );
    }
    let unique: BTreeSet<String> = reached.iter().cloned().collect();
    assert_eq!(reached.len(), unique.len(), "each pack listed once");
    assert_eq!(unique, all_refs(), "every pack is listed");
    for r in &unique {
        assert!(site.join(format!("p/{r}.html")).is_file(), "p/{r}.html");
    }

    // The build says how large the site is and how many files it has.
    let (mut files, mut bytes) = (0, 0u64);
    for e in walkdir::WalkDir::new(&site) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            files += 1;
            bytes += e.metadata().unwrap().len();
        }
    }
    let line = format!(
        ": 1101 packs, 2201 versions, {files} files, {:.1} MB\n",
        bytes as f64 / 1e6
    );
    assert!(err.contains(&line), "{line:?} not in:\n{err}");
    assert!(!err.contains("warning: the site is"), "{err}");
}

/// The rows of every chunk of one kind (`w` or `d`), by chunk number.
fn chunks(site: &Path, kind: char) -> BTreeMap<usize, Vec<Value>> {
    let dir = std::fs::read_dir(site.join("search"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .next()
        .unwrap();
    let call = if kind == 'w' { "words" } else { "docs" };
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        let Some(n) = name.strip_prefix(kind).and_then(|n| n.strip_suffix(".js")) else {
            continue;
        };
        let text = std::fs::read_to_string(dir.join(&name)).unwrap();
        let body = text
            .strip_prefix(&format!("knapSearch.{call}({n},"))
            .and_then(|t| t.strip_suffix(");\n"))
            .unwrap_or_else(|| panic!("{name}: {text:.80}"));
        let rows: Vec<Value> = serde_json::from_str(body).unwrap();
        out.insert(n.parse().unwrap(), rows);
    }
    out
}

#[test]
fn the_search_index_holds_every_word_of_every_pack_with_names_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let (site, _) = build_big(tmp.path());
    let refs: Vec<String> = all_refs().into_iter().collect();

    // What it must hold, worked out from the index: each word of the
    // newest version's ref (name) and label, keywords, description and
    // component names (other), with the documents holding it.
    let index = big_index();
    let mut expected: BTreeMap<String, (BTreeSet<u64>, BTreeSet<u64>)> = BTreeMap::new();
    let words = |t: &str| -> Vec<String> {
        t.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    for e in index["packs"].as_array().unwrap() {
        let r = e["ref"].as_str().unwrap();
        if e["version"] == "1.0.0" {
            continue; // the older version of a generated pack
        }
        let doc = refs.iter().position(|x| x == r).unwrap() as u64;
        for w in words(r) {
            expected.entry(w).or_default().0.insert(doc);
        }
        let mut texts = vec![
            e["label"].as_str().unwrap(),
            e["description"].as_str().unwrap(),
        ];
        texts.extend(
            e["keywords"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_str().unwrap()),
        );
        texts.push(e["contents"]["actions"][0]["name"].as_str().unwrap());
        for t in texts {
            for w in words(t) {
                expected.entry(w).or_default().1.insert(doc);
            }
        }
    }
    for (name, other) in expected.values_mut() {
        *other = &*other - name;
    }

    let word_chunks = chunks(&site, 'w');
    assert!(word_chunks.len() > 1, "the words are split into chunks");
    let mut got: BTreeMap<String, (BTreeSet<u64>, BTreeSet<u64>)> = BTreeMap::new();
    let mut firsts = Vec::new();
    let mut previous: Option<String> = None;
    for rows in word_chunks.values() {
        firsts.push(rows[0][0].as_str().unwrap().to_owned());
        for row in rows {
            let word = row[0].as_str().unwrap().to_owned();
            if let Some(p) = &previous {
                assert!(*p < word, "{p} before {word}");
            }
            previous = Some(word.clone());
            let undelta = |v: &Value| -> BTreeSet<u64> {
                let mut at = 0;
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|d| {
                        at += d.as_u64().unwrap();
                        at
                    })
                    .collect()
            };
            got.insert(word, (undelta(&row[1]), undelta(&row[2])));
        }
    }
    assert_eq!(got, expected);
    assert!(got["traceroute"].1.contains(&(GENERATED as u64)));

    // The front page knows the first word of each chunk.
    let html = std::fs::read_to_string(site.join("index.html")).unwrap();
    assert!(
        html.contains(&format!(r#"data-firsts="{}""#, firsts.join(" "))),
        "data-firsts"
    );

    // The documents, in ref order, say what a result shows.
    let docs: Vec<Value> = chunks(&site, 'd').into_values().flatten().collect();
    assert_eq!(docs.len(), refs.len());
    assert_eq!(
        docs[GENERATED],
        json!([
            "zz-netdiag",
            "Network diagnostics",
            "0.3.0",
            "Checks how hosts are reached",
            ["1 action", "1 version"],
            ["gen", "k3"]
        ])
    );
    assert_eq!(docs[7][0], "pack0007");
    assert_eq!(docs[7][2], "1.1.0");
}

/// The refs of the packs the page shows, in order.
const SHOWN: &str = "JSON.stringify(Array.from(document.querySelectorAll('#packs > li')).filter(li => !li.hidden).map(li => li.id.slice(5)))";

fn shown(browser: &mut Browser) -> Vec<String> {
    serde_json::from_str(browser.eval(SHOWN).as_str().unwrap()).unwrap()
}

/// Types a query into the search box of the open front page and waits for
/// its results.
fn search(browser: &mut Browser, query: &str) {
    browser.eval(&format!(
        "(() => {{ const q = document.getElementById('q'); q.value = {}; q.dispatchEvent(new Event('input')); return true; }})()",
        json!(query)
    ));
    browser.wait_for_search(query);
}

#[test]
fn browser_a_search_finds_packs_beyond_the_front_page_loading_only_the_chunks_it_needs() {
    let Some(chrome) = chromium() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (site, _) = build_big(tmp.path());
    let server = Server::start(&site);
    let mut browser = Browser::launch(&chrome);

    for url in [server.url.clone(), format!("{}/", file_url(&site))] {
        let over_http = url.starts_with("http:");
        browser.open(&format!("{url}index.html"), 1280, 900);
        browser.wait_for_search("");
        assert_eq!(shown(&mut browser).len(), 100, "{url}: the front page");
        let before = server.requests().len();

        // A whole name: that pack first; one word chunk and one document
        // chunk are loaded, not the index.
        search(&mut browser, "pack1099");
        assert_eq!(shown(&mut browser), ["pack1099"], "{url}");
        assert_eq!(
            browser.eval("document.getElementById('count').textContent"),
            "1 of 1101 packs match"
        );
        assert_eq!(
            browser.eval("document.querySelector('#pack-pack1099 h2 a').getAttribute('href')"),
            "p/pack1099.html"
        );
        assert_eq!(
            browser.eval("document.querySelector('#pack-pack1099 .summary').innerText"),
            "1 action · 2 versions"
        );
        if over_http {
            let loaded: Vec<String> = server.requests()[before..].to_vec();
            let words = loaded.iter().filter(|p| p.contains("/w")).count();
            let docs = loaded.iter().filter(|p| p.contains("/d")).count();
            assert_eq!((words, docs), (1, 1), "loaded for one name: {loaded:?}");
        }

        // A prefix: every name it begins, in ref order.
        search(&mut browser, "pack109");
        let expected: Vec<String> = (1090..1100).map(|i| format!("pack{i}")).collect();
        assert_eq!(shown(&mut browser), expected, "{url}");

        // A pack named by the word comes before one that only mentions it,
        // whatever their order by name.
        search(&mut browser, "netdiag");
        assert_eq!(shown(&mut browser), ["zz-netdiag", "pack0005"], "{url}");

        // A component name, of a pack far from the front page.
        search(&mut browser, "traceroute");
        assert_eq!(shown(&mut browser), ["zz-netdiag"], "{url}");

        // Every word must match; a word common to all packs is cut to the
        // first 100 results, and the count says so.
        search(&mut browser, "generated 1099");
        assert_eq!(shown(&mut browser), ["pack1099"], "{url}");
        search(&mut browser, "gen");
        assert_eq!(shown(&mut browser).len(), 100);
        assert_eq!(
            browser.eval("document.getElementById('count').textContent"),
            "1101 of 1101 packs match; the first 100 are shown"
        );
        search(&mut browser, "nosuchword");
        assert!(shown(&mut browser).is_empty());
        assert_eq!(
            browser.eval("document.getElementById('none').hidden"),
            json!(false)
        );

        // Clearing the box shows the front page again, in order.
        search(&mut browser, "");
        let first: Vec<String> = all_refs().into_iter().take(100).collect();
        assert_eq!(shown(&mut browser), first, "{url}");
    }
    screenshot(&mut browser, "site-scale-front-page");
}
