//! `knap search [QUERY] [--registry NAME]`: the refs whose ref, label,
//! description or keywords contain QUERY (case-insensitive), each from the
//! registry that provides it, showing its latest version.

use knap_schema::index::Entry;
use serde_json::json;

use super::Ctx;
use knap_registry::index_set::IndexSet;

fn matches(e: &Entry, q: &str) -> bool {
    q.is_empty()
        || e.pack_ref.to_lowercase().contains(q)
        || e.label.to_lowercase().contains(q)
        || e.description.to_lowercase().contains(q)
        || e.keywords.iter().any(|k| k.to_lowercase().contains(q))
}

/// The newest non-yanked version, else the newest.
pub fn latest(entries: &[Entry]) -> Option<&Entry> {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by(|a, b| Entry::index_order(a, b));
    sorted
        .iter()
        .rev()
        .find(|e| !e.yanked)
        .or(sorted.last())
        .copied()
}

pub async fn run(ctx: &Ctx, query: Option<&str>, pin: Option<&str>) -> anyhow::Result<()> {
    let set = IndexSet::open(&ctx.config, &ctx.env, pin)?;
    let q = query.unwrap_or("").to_lowercase();
    let all = set.all().await?;
    let mut hits = Vec::new();
    for (r, p) in &all {
        let Some(latest) = latest(&p.entries) else {
            continue;
        };
        if p.entries.iter().any(|e| matches(e, &q)) {
            hits.push((r, p, latest));
        }
    }
    if ctx.json {
        let v: Vec<_> = hits
            .iter()
            .map(|(r, p, e)| {
                json!({
                    "ref": r,
                    "version": e.version,
                    "versions": p.entries.iter().map(|e| e.version.clone()).collect::<Vec<_>>(),
                    "label": e.label,
                    "description": e.description,
                    "keywords": e.keywords,
                    "registry": p.registry,
                    "shadows": p.shadows,
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
    let rw = hits.iter().map(|h| h.0.len()).max().unwrap_or(3);
    let vw = hits.iter().map(|h| h.2.version.len()).max().unwrap_or(7);
    for (r, p, e) in hits {
        let shadow = if p.shadows.is_empty() {
            String::new()
        } else {
            ctx.style
                .dim(&format!(" (shadows {})", p.shadows.join(", ")))
        };
        ctx.say(&format!(
            "{}  {:<vw$}  {}  {}{shadow}",
            ctx.style.bold(&format!("{r:<rw$}")),
            e.version,
            ctx.style.dim(&format!("[{}]", p.registry)),
            e.description
        ));
    }
    Ok(())
}
