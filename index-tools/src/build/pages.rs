//! The browsable pages of a site: `index.html` (every pack, searchable as
//! you type) and `p/<ref>.html` (every version of one pack), rendered with
//! minijinja from the templates in `index-tools/templates/`, HTML
//! autoescaped. Everything is inline (no CDN, fonts or external scripts), and
//! a Content-Security-Policy pins the inline style and script by hash.

use std::collections::BTreeSet;

use knap_schema::dependency::Dependency;
use knap_schema::index::{Component, Entry, Index, InstallSource};
use knap_schema::urls::{SourceUrlKind, classify_source_url};
use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, Value, context};
use serde::Serialize;
use sha2::{Digest, Sha256};

const LAYOUT: &str = include_str!("../../templates/layout.html");
const INDEX: &str = include_str!("../../templates/index.html");
const PACK: &str = include_str!("../../templates/pack.html");
const SOURCES: &str = include_str!("../../templates/sources.html");
const CSS: &str = include_str!("../../templates/site.css");
const JS: &str = include_str!("../../templates/site.js");

/// What the pages say about the site itself, beyond the index.
#[derive(Debug, Clone, Copy, Default)]
pub struct SiteInfo<'a> {
    /// Where the site is served (`--base-url`, ending in `/`), when known:
    /// the "Use this registry" command and the canonical links are built
    /// from it. The index's `registry_url` is no substitute: for a registry
    /// kept on GitHub it is often the repository's page, which serves no
    /// index.
    pub base_url: Option<&'a str>,
    /// A sentence or two about the registry (`--description`, or the
    /// `description` of SRC's `config.json`).
    pub description: Option<&'a str>,
}

/// Renders `index.html` and one `p/<ref>.html` per ref, handing each page
/// to `emit(path, bytes)`.
pub fn render(
    index: &Index,
    site: SiteInfo<'_>,
    mut emit: impl FnMut(&str, &[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let base_url = site.base_url;
    let packs = pack_views(index);
    let env = environment(index, &packs)?;
    let html = env.get_template("index.html")?.render(context! {
        root => "",
        canonical => base_url,
        description => site.description,
        add_line => base_url.map(|u| format!("knap registry add {} sparse+{u}", slug(&index.registry_name))),
        packs => Value::from(Serde(&packs)),
    })?;
    emit("index.html", html.as_bytes())?;
    let tmpl = env.get_template("pack.html")?;
    for p in &packs {
        let html = tmpl.render(context! {
            root => "../",
            canonical => base_url.map(|u| format!("{u}p/{}.html", p.pack_ref)),
            p => Value::from(Serde(p)),
            contents => Value::from(Serde(contents(p.newest))),
        })?;
        emit(&format!("p/{}.html", p.pack_ref), html.as_bytes())?;
    }
    Ok(())
}

fn environment(index: &Index, packs: &[PackView<'_>]) -> anyhow::Result<Environment<'static>> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.add_template("layout.html", LAYOUT)?;
    env.add_template("index.html", INDEX)?;
    env.add_template("pack.html", PACK)?;
    env.add_template("sources.html", SOURCES)?;
    env.add_global("css", Value::from_safe_string(CSS.to_owned()));
    env.add_global("js", Value::from_safe_string(JS.to_owned()));
    env.add_global(
        "csp",
        format!(
            "default-src 'none'; style-src 'sha256-{}'; script-src 'sha256-{}'; img-src data:; base-uri 'none'; form-action 'none'",
            base64_sha256(CSS),
            base64_sha256(JS)
        ),
    );
    env.add_global("tool", concat!("knap-index ", env!("CARGO_PKG_VERSION")));
    env.add_global("registry_name", index.registry_name.clone());
    env.add_global("last_updated", index.last_updated.clone());
    env.add_global(
        "counts",
        format!(
            "{}, {}",
            plural(packs.len(), "pack", "packs"),
            plural(index.packs.len(), "version", "versions")
        ),
    );
    env.add_global("packs_text", plural(packs.len(), "pack", "packs"));
    env.add_global("pack_count", packs.len());
    Ok(env)
}

/// `1 pack`, `2 packs`, `0 packs`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// What the templates show of one ref.
#[derive(Serialize)]
struct PackView<'a> {
    #[serde(rename = "ref")]
    pack_ref: &'a str,
    label: &'a str,
    description: &'a str,
    keywords: &'a [String],
    author: &'a str,
    email: Option<&'a str>,
    license: &'a str,
    homepage: Option<LinkView<'a>>,
    repository: Option<LinkView<'a>>,
    /// The newest version that is not yanked (the newest if all are).
    latest: &'a semver::Version,
    install: String,
    /// Lower-case ref, label, keywords and description, for the search box.
    search: String,
    versions_text: String,
    /// What the newest version holds and how many versions there are, for
    /// the card: `3 actions · 1 sensor · 2 versions`.
    summary: Vec<String>,
    /// Newest first.
    versions: Vec<VersionView<'a>>,
    /// The version shown as latest, whose contents the pack page lists.
    #[serde(skip)]
    newest: &'a Entry,
}

/// A URL a pack gives about itself (home page, repository): a link only
/// when it is a web address. Validation accepts any absolute URL, and a
/// `javascript:` or `data:` one must not become a link on the page.
#[derive(Serialize)]
struct LinkView<'a> {
    url: &'a str,
    linkable: bool,
}

impl<'a> LinkView<'a> {
    fn new(url: &'a str) -> Self {
        let linkable = url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "https" | "http"));
        Self { url, linkable }
    }
}

#[derive(Serialize)]
struct VersionView<'a> {
    version: &'a semver::Version,
    yanked: bool,
    install: String,
    description: &'a str,
    use_case: Option<&'a str>,
    author: &'a str,
    license: &'a str,
    runtime_deps: &'a [String],
    requires: Vec<RequireView>,
    sources: Vec<SourceView<'a>>,
}

/// One dependency of a version; `link` is the ref's page when the pack is
/// in this registry.
#[derive(Serialize)]
struct RequireView {
    text: String,
    link: Option<String>,
}

#[derive(Serialize)]
struct SourceView<'a> {
    kind: &'static str,
    url: &'a str,
    /// Worth a link: https, http or relative (a relative archive is copied
    /// into the site).
    linkable: bool,
    relative: bool,
    commit: Option<&'a str>,
    checksum: &'a str,
}

#[derive(Serialize)]
struct ContentGroup<'a> {
    kind: &'static str,
    summary: String,
    items: &'a [Component],
}

fn pack_views(index: &Index) -> Vec<PackView<'_>> {
    let here: BTreeSet<&str> = index.packs.iter().map(|e| e.pack_ref.as_str()).collect();
    super::by_ref(&index.packs)
        .map(|versions| pack_view(versions, &here))
        .collect()
}

/// `versions`: every version of one ref, in index order (newest first);
/// `here`: the refs of this registry.
fn pack_view<'a>(versions: &'a [Entry], here: &BTreeSet<&str>) -> PackView<'a> {
    let latest = versions.iter().find(|e| !e.yanked).unwrap_or(&versions[0]);
    let mut search = String::with_capacity(latest.description.len() + 64);
    for part in [latest.pack_ref.as_str(), latest.label.as_str()]
        .into_iter()
        .chain(latest.keywords.iter().map(String::as_str))
        .chain([latest.description.as_str()])
    {
        search.push_str(&part.to_lowercase());
        search.push(' ');
    }
    search.pop();
    PackView {
        pack_ref: &latest.pack_ref,
        label: &latest.label,
        description: &latest.description,
        keywords: &latest.keywords,
        author: &latest.author,
        email: latest.email.as_deref(),
        license: &latest.license,
        homepage: latest.homepage.as_deref().map(LinkView::new),
        repository: latest.repository.as_deref().map(LinkView::new),
        latest: &latest.version,
        install: format!("knap install {}", latest.pack_ref),
        search,
        versions_text: plural(versions.len(), "version", "versions"),
        summary: contents(latest)
            .iter()
            .filter(|g| matches!(g.kind, "actions" | "sensors" | "workflows"))
            .map(|g| g.summary.clone())
            .chain([plural(versions.len(), "version", "versions")])
            .collect(),
        versions: versions.iter().map(|e| version_view(e, here)).collect(),
        newest: latest,
    }
}

fn version_view<'a>(e: &'a Entry, here: &BTreeSet<&str>) -> VersionView<'a> {
    let mut requires: Vec<RequireView> = Vec::new();
    if let Some(d) = &e.dependencies {
        requires.extend(d.packs.iter().map(|text| {
            // The index was validated, so every dependency parses; the
            // pages link only a ref this registry publishes.
            let link = Dependency::parse(text)
                .ok()
                .filter(|dep| here.contains(dep.pack.as_str()))
                .map(|dep| format!("p/{}.html", dep.pack));
            RequireView {
                text: text.clone(),
                link,
            }
        }));
        for (k, v) in &d.versions {
            let text = match v.as_str() {
                Some(s) => format!("{k} {s}"),
                None => format!("{k} {v}"),
            };
            requires.push(RequireView { text, link: None });
        }
    }
    VersionView {
        version: &e.version,
        yanked: e.yanked,
        install: format!("knap install {}@={}", e.pack_ref, e.version),
        description: &e.description,
        use_case: e.use_case.as_deref(),
        author: &e.author,
        license: &e.license,
        runtime_deps: &e.runtime_deps,
        requires,
        sources: e.install_sources.iter().map(source_view).collect(),
    }
}

/// The components of one version, by kind; empty kinds left out.
fn contents(e: &Entry) -> Vec<ContentGroup<'_>> {
    let c = &e.contents;
    [
        ("actions", "action", &c.actions),
        ("sensors", "sensor", &c.sensors),
        ("triggers", "trigger", &c.triggers),
        ("rules", "rule", &c.rules),
        ("workflows", "workflow", &c.workflows),
    ]
    .into_iter()
    .filter(|(_, _, items)| !items.is_empty())
    .map(|(kind, one, items)| ContentGroup {
        kind,
        summary: match items.len() {
            1 => format!("1 {one}"),
            n => format!("{n} {kind}"),
        },
        items,
    })
    .collect()
}

fn source_view(s: &InstallSource) -> SourceView<'_> {
    let kind = classify_source_url(s.url()).ok();
    SourceView {
        kind: s.kind(),
        url: s.url(),
        linkable: matches!(
            kind,
            Some(SourceUrlKind::Https | SourceUrlKind::Http | SourceUrlKind::Relative)
        ),
        relative: kind == Some(SourceUrlKind::Relative),
        commit: match s {
            InstallSource::Git(g) => Some(&g.git_ref),
            InstallSource::Archive(_) => None,
        },
        checksum: s.checksum(),
    }
}

/// A registry name as a `knap registry add` name: lower-case letters,
/// digits and dashes.
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        out.push_str("registry");
    }
    out
}

/// The CSP source hash of an inline element's text.
fn base64_sha256(text: &str) -> String {
    base64(&Sha256::digest(text.as_bytes()))
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }

    #[test]
    fn slug_is_a_registry_name() {
        assert_eq!(
            slug("Attune Standard Pack Index"),
            "attune-standard-pack-index"
        );
        assert_eq!(slug("  knap: example!  "), "knap-example");
        assert_eq!(slug("***"), "registry");
    }
}
