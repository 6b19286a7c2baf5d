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
    let rw = hits.iter().map(|h| h.row.pack_ref.len()).max().unwrap_or(3);
    let vw = hits.iter().map(|h| h.row.version.len()).max().unwrap_or(7);
    for h in hits {
        let shadow = if h.shadows.is_empty() {
            String::new()
        } else {
            ctx.style
                .dim(&format!(" (shadows {})", h.shadows.join(", ")))
        };
        ctx.say(&format!(
            "{}  {:<vw$}  {}  {}{shadow}",
            ctx.style.bold(&format!("{:<rw$}", h.row.pack_ref)),
            h.row.version,
            ctx.style.dim(&format!("[{}]", h.registry)),
            h.row.description
        ));
    }
    Ok(())
}
