//! `knap search [QUERY] [--registry NAME]`: the refs whose ref, label,
//! description or keywords (of any version) contain QUERY
//! (case-insensitive), each from the registry that provides it, showing its
//! latest version. Whole indices answer from their search table (written
//! once per `knap update`), so a search never parses a whole index.

use serde_json::json;

use super::Ctx;
use knap_registry::index_set::IndexSet;

pub async fn run(ctx: &Ctx, query: Option<&str>, pin: Option<&str>) -> anyhow::Result<()> {
    let set = IndexSet::open(&ctx.config, &ctx.env, pin)?;
    let q = query.unwrap_or("").to_lowercase();
    let all = set.search_rows().await?;
    let hits: Vec<_> = all.values().filter(|h| h.row.matches(&q)).collect();
    if ctx.json {
        let v: Vec<_> = hits
            .iter()
            .map(|h| {
                json!({
                    "ref": h.row.pack_ref,
                    "version": h.row.version,
                    "versions": h.row.versions,
                    "label": h.row.label,
                    "description": h.row.description,
                    "keywords": h.row.keywords,
                    "registry": h.registry,
                    "shadows": h.shadows,
                })
            })
            .collect();
        crate::output::print_json(&json!(v));
        return Ok(());
    }
    if hits.is_empty() {
        ctx.say(&format!(
            "no pack matches `{}` in {}",
            query.unwrap_or(""),
            set.names().join(", ")
        ));
        return Ok(());
    }
    // Every column padded to its widest cell (and its heading), so the
    // descriptions line up whatever the registry names' lengths.
    let rw = hits
        .iter()
        .map(|h| h.row.pack_ref.len())
        .max()
        .unwrap_or(0)
        .max(3);
    let vw = hits
        .iter()
        .map(|h| h.row.version.len())
        .max()
        .unwrap_or(0)
        .max(7);
    let gw = hits
        .iter()
        .map(|h| h.registry.len() + 2)
        .max()
        .unwrap_or(0)
        .max(8);
    ctx.say(&ctx.style.bold(&format!(
        "{:<rw$}  {:<vw$}  {:<gw$}  DESCRIPTION",
        "REF", "VERSION", "REGISTRY"
    )));
    for h in hits {
        let tag = format!("[{}]", h.registry);
        let pad = " ".repeat(gw - tag.len());
        let shadow = if h.shadows.is_empty() {
            String::new()
        } else {
            ctx.style
                .dim(&format!(" (shadows {})", h.shadows.join(", ")))
        };
        ctx.say(&format!(
            "{}  {:<vw$}  {}{pad}  {}{shadow}",
            ctx.style.bold(&format!("{:<rw$}", h.row.pack_ref)),
            h.row.version,
            ctx.style.dim(&tag),
            h.row.description
        ));
    }
    Ok(())
}
