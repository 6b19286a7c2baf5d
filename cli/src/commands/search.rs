//! `knap search [QUERY] [--registry NAME]`: the refs whose ref, label,
//! description or keywords (of any version) contain QUERY
//! (case-insensitive), each from the registry that provides it, showing its
//! latest version. Whole indices answer from their search table (written
//! once per `knap update`), so a search never parses a whole index.

use std::fmt;

use serde::Serialize;

use super::Ctx;
use crate::output::Style;
use knap_registry::index_set::{IndexSet, suggest};

/// What `knap search` found.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct SearchReport {
    hits: Vec<Hit>,
    /// For the "no pack matches" line only.
    #[serde(skip)]
    query: String,
    #[serde(skip)]
    registries: Vec<String>,
    /// When nothing matched: `did you mean ...?`, from the refs every
    /// registry lists (a sparse one's list of names included).
    #[serde(skip)]
    did_you_mean: Option<String>,
}

/// One ref that matched, from the registry that provides it.
#[derive(Debug, Serialize)]
struct Hit {
    #[serde(rename = "ref")]
    pack_ref: String,
    version: String,
    versions: Vec<String>,
    label: String,
    description: String,
    keywords: Vec<String>,
    registry: String,
    /// Lower-priority registries that also list the ref.
    shadows: Vec<String>,
}

pub async fn run(ctx: &Ctx, query: Option<&str>, pin: Option<&str>) -> anyhow::Result<()> {
    let set = IndexSet::open(&ctx.config, &ctx.env, pin)?;
    let q = query.unwrap_or("").to_lowercase();
    let hits = set
        .search(&q)
        .await?
        .into_iter()
        .map(|h| Hit {
            pack_ref: h.row.pack_ref,
            version: h.row.version,
            versions: h.row.versions,
            label: h.row.label,
            description: h.row.description,
            keywords: h.row.keywords,
            registry: h.registry,
            shadows: h.shadows,
        })
        .collect::<Vec<_>>();
    // A query that matches nothing may be a misspelt name.
    let did_you_mean = if hits.is_empty() && !q.is_empty() && !ctx.json {
        suggest::did_you_mean(&suggest::near_refs(&ctx.config, &ctx.env, &q).await)
    } else {
        None
    };
    ctx.print(&SearchReport {
        hits,
        query: query.unwrap_or("").to_owned(),
        registries: set.names(),
        did_you_mean,
    });
    Ok(())
}

impl fmt::Display for SearchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let style = Style::of(f);
        if self.hits.is_empty() {
            write!(
                f,
                "no pack matches `{}` in {}",
                knap_schema::text::escape(&self.query),
                self.registries.join(", ")
            )?;
            return match &self.did_you_mean {
                Some(hint) => writeln!(f, "; {hint}"),
                None => writeln!(f),
            };
        }
        // Every column padded to its widest cell (and its heading), so the
        // descriptions line up whatever the registry names' lengths.
        let width = |cell: fn(&Hit) -> usize, heading: &str| {
            self.hits
                .iter()
                .map(cell)
                .max()
                .unwrap_or(0)
                .max(heading.len())
        };
        let rw = width(|h| h.pack_ref.len(), "REF");
        let vw = width(|h| h.version.len(), "VERSION");
        let gw = width(|h| h.registry.len() + 2, "REGISTRY");
        writeln!(
            f,
            "{}",
            style.bold(&format!(
                "{:<rw$}  {:<vw$}  {:<gw$}  DESCRIPTION",
                "REF", "VERSION", "REGISTRY"
            ))
        )?;
        for h in &self.hits {
            let tag = format!("[{}]", h.registry);
            let pad = " ".repeat(gw - tag.len());
            let shadow = if h.shadows.is_empty() {
                String::new()
            } else {
                style.dim(&format!(" (shadows {})", h.shadows.join(", ")))
            };
            writeln!(
                f,
                "{}  {:<vw$}  {}{pad}  {}{shadow}",
                style.bold(&format!("{:<rw$}", h.pack_ref)),
                h.version,
                style.dim(&tag),
                knap_schema::text::escape(&h.description)
            )?;
        }
        Ok(())
    }
}
