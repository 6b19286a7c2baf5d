//! `knap update [NAME...]`: refresh the named registries (default: all),
//! all at once; one failure does not stop the others, but makes the exit
//! code that of the worst failure.

use serde_json::json;
use tokio::task::JoinSet;

use super::Ctx;
use knap_registry::error::{Kind, KnapError};
use knap_registry::registry::{Registry, UpdateOutcome};

pub async fn run(ctx: &Ctx, names: &[String]) -> anyhow::Result<()> {
    if ctx.env.offline {
        return Err(KnapError::usage("`knap update` needs the network; drop --offline").into());
    }
    for n in names {
        if !ctx.config.registries.iter().any(|r| &r.name == n) {
            return Err(KnapError::not_found(format!(
                "no registry named `{n}`; see `knap registry list`"
            ))
            .into());
        }
    }
    let mut set = JoinSet::new();
    for cfg in ctx.config.registries_in_order() {
        if !names.is_empty() && !names.contains(&cfg.name) {
            continue;
        }
        let reg = Registry::open(cfg, &ctx.env);
        let name = cfg.name.clone();
        set.spawn(async move {
            let mut relative = 0;
            let r = match reg {
                Ok(reg) => {
                    let r = reg.update().await;
                    if r.is_ok() {
                        relative = reg.git_relative_sources().unwrap_or(0);
                    }
                    r
                }
                Err(e) => Err(e),
            };
            if relative > 0 {
                eprintln!(
                    "warning: registry `{name}`: {relative} version{} name{} an archive by a relative URL, which a git registry cannot serve: installing {} fails (see `knap info REF`); its index should give absolute https:// URLs",
                    if relative == 1 { "" } else { "s" },
                    if relative == 1 { "s" } else { "" },
                    if relative == 1 { "it" } else { "them" },
                );
            }
            (name, r)
        });
    }
    if set.is_empty() {
        return Err(KnapError::not_found(
            "no registries are configured; add one with `knap registry add NAME URL`",
        )
        .into());
    }
    let mut results = Vec::new();
    while let Some(j) = set.join_next().await {
        results.push(j.expect("an update task panicked"));
    }
    results.sort_by(|a, b| a.0.cmp(&b.0));
    let mut worst: Option<(Kind, Option<String>)> = None;
    let mut out = Vec::new();
    for (name, r) in results {
        match r {
            Ok(o) => {
                let (word, detail) = match &o {
                    UpdateOutcome::Updated { detail } => ("updated", detail),
                    UpdateOutcome::NotModified { detail } => ("up to date", detail),
                    UpdateOutcome::Local { detail } => ("local", detail),
                };
                if !ctx.json {
                    ctx.say(&format!(
                        "{}: {} ({detail})",
                        ctx.style.bold(&name),
                        ctx.style.green(word)
                    ));
                }
                let mut v = serde_json::to_value(&o).expect("outcome serialises");
                v["name"] = json!(name);
                out.push(v);
            }
            Err(e) => {
                let report = crate::report::report_of_error(&e);
                let kind = report.kind;
                let msg = report.one_line();
                if !ctx.json {
                    crate::report::print(&report, false, ctx.style.color);
                }
                out.push(json!({"name": name, "status": "failed", "error": msg}));
                if worst
                    .as_ref()
                    .is_none_or(|(k, _)| k.exit_code() < kind.exit_code())
                {
                    worst = Some((kind, report.hint));
                }
            }
        }
    }
    if ctx.json {
        crate::output::print_json(&json!(out));
    }
    match worst {
        Some((kind, hint)) => {
            let n = out.iter().filter(|v| v["status"] == "failed").count();
            let mut e = KnapError::new(
                kind,
                format!(
                    "{n} registr{} failed to update (see above); the last good copies are kept",
                    if n == 1 { "y" } else { "ies" }
                ),
            );
            // Each failure, with its hint, was told above (or is in the
            // JSON document): said once.
            e.hint = if ctx.json { hint } else { None };
            Err(e.into())
        }
        None => Ok(()),
    }
}
