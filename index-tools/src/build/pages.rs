//! The browsable pages of a site, rendered with minijinja from the templates
//! in `index-tools/templates/`, HTML autoescaped:
//!
//! - `index.html`, the front page: the registry, how to add it, and the
//!   first [`FRONT`] packs in ref order on cards, with a search box over
//!   every pack (the search index of [`super::search`], loaded on demand).
//!   Its size does not grow with the registry beyond those cards.
//! - `list/<N>.html`, when there are more packs than the front page shows:
//!   every pack, [`LIST_PAGE`] to a page, one line each, in ref order, so
//!   that every pack is reached without JavaScript.
//! - `p/<ref>.html`: every version of one pack; the newest in full, older
//!   ones compact (each on a few lines, with the same facts).
//! - `site.css` and `site.js`, which every page shares.
//!
//! Nothing is loaded from elsewhere (no CDN, fonts or external scripts), and
//! a Content-Security-Policy allows only the site's own files.

use std::collections::BTreeSet;

use knap_schema::dependency::Dependency;
use knap_schema::index::{Component, Entry, Index, InstallSource};
use knap_schema::urls::{SourceUrlKind, classify_source_url};
use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, Value, context};
use serde::Serialize;

use super::search;

const LAYOUT: &str = include_str!("../../templates/layout.html");
const INDEX: &str = include_str!("../../templates/index.html");
const LIST: &str = include_str!("../../templates/list.html");
const PACK: &str = include_str!("../../templates/pack.html");
const CARD: &str = include_str!("../../templates/card.html");
const SOURCES: &str = include_str!("../../templates/sources.html");
pub const CSS: &str = include_str!("../../templates/site.css");
pub const JS: &str = include_str!("../../templates/site.js");

/// How many packs the front page shows on cards.
pub const FRONT: usize = 100;
/// How many packs a list page shows.
pub const LIST_PAGE: usize = 500;
/// How many versions a front-page card lists (the pack page lists all).
const CARD_VERSIONS: usize = 5;
/// Longer descriptions are cut on the list pages (the pack page has them whole).
const LIST_DESCRIPTION_CHARS: usize = 200;

/// The policy of every page: the site's own stylesheet and scripts, nothing
/// else; no plugins, frames, forms sent anywhere or `<base>`.
const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src data:; base-uri 'none'; form-action 'none'";

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

/// Renders every page, the shared stylesheet and script, and the search
/// index, handing each file to `emit(path, bytes)`.
pub fn render(
    index: &Index,
    site: SiteInfo<'_>,
    mut emit: impl FnMut(&str, &[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let base_url = site.base_url;
    let packs = pack_views(index);
    let env = environment(index, &packs)?;

    emit("site.css", CSS.as_bytes())?;
    emit("site.js", JS.as_bytes())?;
    let docs: Vec<search::Doc<'_>> = packs.iter().map(search_doc).collect();
    let search = search::build(&docs);
    for (path, bytes) in &search.files {
        emit(path, bytes)?;
    }

    let list_pages = list_pages(&packs);
    let html = env.get_template("index.html")?.render(context! {
        root => "",
        canonical => base_url,
        description => site.description,
        add_line => base_url.map(|u| format!("knap registry add {} sparse+{u}", slug(&index.registry_name))),
        packs => Value::from(Serde(&packs[..packs.len().min(FRONT)])),
        complete => packs.len() <= FRONT,
        search_dir => &search.dir,
        search_firsts => search.firsts.join(" "),
        doc_chunk => search::DOC_CHUNK,
        list_pages => Value::from(Serde(&list_pages)),
    })?;
    emit("index.html", html.as_bytes())?;

    let tmpl = env.get_template("list.html")?;
    for (n, page) in list_pages.iter().enumerate() {
        let html = tmpl.render(context! {
            root => "../",
            canonical => base_url.map(|u| format!("{u}{}", page.path)),
            page => Value::from(Serde(page)),
            number => n + 1,
            page_count => list_pages.len(),
            prev => n.checked_sub(1).and_then(|p| list_pages.get(p)).map(|p| &p.path),
            next => list_pages.get(n + 1).map(|p| &p.path),
            list_pages => Value::from(Serde(&list_pages)),
            rows => Value::from(Serde(&packs[page.start..page.end].iter().map(list_row).collect::<Vec<_>>())),
        })?;
        emit(&page.path, html.as_bytes())?;
    }

    let tmpl = env.get_template("pack.html")?;
    for p in &packs {
        let html = tmpl.render(context! {
            root => "../",
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
    env.set_formatter(html_formatter);
    env.add_template("layout.html", LAYOUT)?;
    env.add_template("index.html", INDEX)?;
    env.add_template("list.html", LIST)?;
    env.add_template("pack.html", PACK)?;
    env.add_template("card.html", CARD)?;
    env.add_template("sources.html", SOURCES)?;
    env.add_global("csp", Value::from_safe_string(CSP.to_owned()));
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
    env.add_global("front", FRONT);
    env.add_global("card_versions", CARD_VERSIONS);
    Ok(env)
}

/// HTML escaping of `&`, `<`, `>`, `"` and `'`, which is all that text and
/// quoted attribute values need. minijinja's own also escapes `/`, which
/// makes every URL of a page a third longer for nothing.
fn html_formatter(
    out: &mut minijinja::Output,
    state: &mut minijinja::State,
    value: &Value,
) -> Result<(), minijinja::Error> {
    match value.as_str() {
        Some(s) if !value.is_safe() && matches!(state.auto_escape(), AutoEscape::Html) => {
            let mut start = 0;
            for (i, b) in s.bytes().enumerate() {
                let escaped = match b {
                    b'&' => "&amp;",
                    b'<' => "&lt;",
                    b'>' => "&gt;",
                    b'"' => "&quot;",
                    b'\'' => "&#39;",
                    _ => continue,
                };
                out.write_str(&s[start..i])?;
                out.write_str(escaped)?;
                start = i + 1;
            }
            out.write_str(&s[start..])?;
            Ok(())
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
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
    /// Its number in the search index (its place in ref order).
    doc: usize,
    label: &'a str,
    description: &'a str,
    keywords: &'a [String],
    /// The latest version's runtime dependencies (the pack page repeats
    /// another version's only when they differ).
    runtime_deps: &'a [String],
    author: &'a str,
    email: Option<&'a str>,
    license: &'a str,
    homepage: Option<LinkView<'a>>,
    repository: Option<LinkView<'a>>,
    /// The newest version that is not yanked (the newest if all are).
    latest: &'a semver::Version,
    install: String,
    versions_text: String,
    /// What the newest version holds and how many versions there are, for
    /// the card: `3 actions · 1 sensor · 2 versions`.
    summary: Vec<String>,
    /// Newest first.
    versions: Vec<VersionView<'a>>,
    /// How many versions a front-page card leaves out.
    card_more: usize,
    /// Whether there are versions besides the latest.
    others: bool,
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

/// One dependency of a version; `link` is the ref's page (relative to
/// `p/`) when the pack is in this registry.
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
    /// A source of another version with the URL of one of the latest
    /// version's sources (typically the same git repository): the pack
    /// page shows that URL once.
    same_url: bool,
}

#[derive(Serialize)]
struct ContentGroup<'a> {
    kind: &'static str,
    summary: String,
    items: &'a [Component],
}

/// One list page: which packs (`start..end` in ref order) and where.
#[derive(Serialize)]
struct ListPage<'a> {
    path: String,
    start: usize,
    end: usize,
    first: &'a str,
    last: &'a str,
}

/// One line of a list page.
#[derive(Serialize)]
struct ListRow<'a> {
    #[serde(rename = "ref")]
    pack_ref: &'a str,
    label: &'a str,
    latest: &'a semver::Version,
    description: String,
}

/// The list pages, when the front page does not show every pack.
fn list_pages<'a>(packs: &[PackView<'a>]) -> Vec<ListPage<'a>> {
    if packs.len() <= FRONT {
        return Vec::new();
    }
    packs
        .chunks(LIST_PAGE)
        .enumerate()
        .map(|(n, chunk)| ListPage {
            path: format!("list/{}.html", n + 1),
            start: n * LIST_PAGE,
            end: n * LIST_PAGE + chunk.len(),
            first: chunk[0].pack_ref,
            last: chunk[chunk.len() - 1].pack_ref,
        })
        .collect()
}

fn list_row<'a>(p: &PackView<'a>) -> ListRow<'a> {
    let description = match p.description.char_indices().nth(LIST_DESCRIPTION_CHARS) {
        Some((cut, _)) => format!("{}…", p.description[..cut].trim_end()),
        None => p.description.to_owned(),
    };
    ListRow {
        pack_ref: p.pack_ref,
        label: p.label,
        latest: p.latest,
        description,
    }
}

fn search_doc<'a>(p: &'a PackView<'a>) -> search::Doc<'a> {
    let e = p.newest;
    let mut texts = vec![e.label.as_str()];
    texts.extend(e.keywords.iter().map(String::as_str));
    texts.push(&e.description);
    for group in contents(e) {
        texts.extend(group.items.iter().map(|c| c.name.as_str()));
    }
    search::Doc {
        pack_ref: p.pack_ref,
        label: p.label,
        version: p.latest.to_string(),
        description: p.description,
        summary: &p.summary,
        keywords: p.keywords,
        texts,
    }
}

fn pack_views(index: &Index) -> Vec<PackView<'_>> {
    let here: BTreeSet<&str> = index.packs.iter().map(|e| e.pack_ref.as_str()).collect();
    super::by_ref(&index.packs)
        .enumerate()
        .map(|(doc, versions)| pack_view(doc, versions, &here))
        .collect()
}

/// `versions`: every version of one ref, in index order (newest first);
/// `here`: the refs of this registry.
fn pack_view<'a>(doc: usize, versions: &'a [Entry], here: &BTreeSet<&str>) -> PackView<'a> {
    let latest = versions.iter().find(|e| !e.yanked).unwrap_or(&versions[0]);
    PackView {
        pack_ref: &latest.pack_ref,
        doc,
        label: &latest.label,
        description: &latest.description,
        keywords: &latest.keywords,
        runtime_deps: &latest.runtime_deps,
        author: &latest.author,
        email: latest.email.as_deref(),
        license: &latest.license,
        homepage: latest.homepage.as_deref().map(LinkView::new),
        repository: latest.repository.as_deref().map(LinkView::new),
        latest: &latest.version,
        install: format!("knap install {}", latest.pack_ref),
        versions_text: plural(versions.len(), "version", "versions"),
        summary: contents(latest)
            .iter()
            .filter(|g| matches!(g.kind, "actions" | "sensors" | "workflows"))
            .map(|g| g.summary.clone())
            .chain([plural(versions.len(), "version", "versions")])
            .collect(),
        versions: versions
            .iter()
            .map(|e| version_view(e, latest, here))
            .collect(),
        card_more: versions.len().saturating_sub(CARD_VERSIONS),
        others: versions.len() > 1,
        newest: latest,
    }
}

fn version_view<'a>(e: &'a Entry, latest: &Entry, here: &BTreeSet<&str>) -> VersionView<'a> {
    let mut requires: Vec<RequireView> = Vec::new();
    if let Some(d) = &e.dependencies {
        requires.extend(d.packs.iter().map(|text| {
            // The index was validated, so every dependency parses; the
            // pages link only a ref this registry publishes.
            let link = Dependency::parse(text)
                .ok()
                .filter(|dep| here.contains(dep.pack.as_str()))
                .map(|dep| format!("{}.html", dep.pack));
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
        sources: e
            .install_sources
            .iter()
            .map(|s| {
                let mut view = source_view(s);
                view.same_url = !std::ptr::eq(e, latest)
                    && latest.install_sources.iter().any(|l| l.url() == s.url());
                view
            })
            .collect(),
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
        same_url: false,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_is_a_registry_name() {
        assert_eq!(
            slug("Attune Standard Pack Index"),
            "attune-standard-pack-index"
        );
        assert_eq!(slug("  knap: example!  "), "knap-example");
        assert_eq!(slug("***"), "registry");
    }

    #[test]
    fn html_escapes_markup_and_quotes_but_not_slashes() {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        env.set_formatter(html_formatter);
        env.add_template("t.html", "{{ s }}|{{ n }}|{{ safe }}")
            .unwrap();
        let out = env
            .get_template("t.html")
            .unwrap()
            .render(context! {
                s => "<a href=\"https://x/y\">O'Neil & co</a>",
                n => 7,
                safe => Value::from_safe_string("<b>".into()),
            })
            .unwrap();
        assert_eq!(
            out,
            "&lt;a href=&quot;https://x/y&quot;&gt;O&#39;Neil &amp; co&lt;/a&gt;|7|<b>"
        );
    }
}
