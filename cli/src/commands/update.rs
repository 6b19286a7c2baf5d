//! `knap update [NAME...]`: refresh the named registries (default: all),
//! all at once; one failure does not stop the others, but makes the exit
//! code that of the worst failure.

use std::fmt;

use serde::Serialize;
use tokio::task::JoinSet;

use super::Ctx;
use crate::output::Style;
use knap_registry::registry::{Registry, UpdateOutcome};
use knap_schema::{ErrorKind as Kind, KnapError};

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
            let r = match reg {
                Ok(reg) => reg.update().await,
                Err(e) => Err(e),
            };
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
    let mut rows = Vec::new();
    for (name, r) in results {
        match r {
            Ok(outcome) => rows.push(UpdateRow::Done { outcome, name }),
            Err(e) => {
                let report = crate::report::report_of_error(&e);
                let kind = report.kind;
                // A failure is an error: told on stderr as it is found (the
                // JSON document holds it instead).
                if !ctx.json {
                    crate::report::print(&report, false);
                }
                rows.push(UpdateRow::Failed {
                    name,
                    status: "failed",
                    error: report.one_line(),
                });
                if worst
                    .as_ref()
                    .is_none_or(|(k, _)| k.exit_code() < kind.exit_code())
                {
                    worst = Some((kind, report.hint));
                }
            }
        }
    }
    let failed = rows
        .iter()
        .filter(|r| matches!(r, UpdateRow::Failed { .. }))
        .count();
    ctx.print(&UpdateReport { registries: rows });
    match worst {
        Some((kind, hint)) => {
            let n = failed;
            let mut e = KnapError::new(
                kind,
                format!(
                    "{n} registr{} failed to update{}; the last good copies are kept",
                    if n == 1 { "y" } else { "ies" },
                    ctx.see_above()
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

/// What `knap update` did, per registry in priority order.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct UpdateReport {
    registries: Vec<UpdateRow>,
}

/// One registry's update.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum UpdateRow {
    /// `{"status", "detail", "name"}`.
    Done {
        #[serde(flatten)]
        outcome: UpdateOutcome,
        name: String,
    },
    /// `{"name", "status": "failed", "error"}`.
    Failed {
        name: String,
        status: &'static str,
        error: String,
    },
}

/// The registries that updated, one line each; the failures were told on
/// stderr as errors.
impl fmt::Display for UpdateReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = Style::of(f);
        for r in &self.registries {
            let UpdateRow::Done { outcome, name } = r else {
                continue;
            };
            let (word, detail) = match outcome {
                UpdateOutcome::Updated { detail } => ("updated", detail),
                UpdateOutcome::NotModified { detail } => ("up to date", detail),
                UpdateOutcome::Local { detail } => ("local", detail),
            };
            writeln!(f, "{}: {} ({detail})", s.bold(name), s.green(word))?;
        }
        Ok(())
    }
}
