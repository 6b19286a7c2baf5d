//! `knap mirror REGISTRY -o DIR [--ref REF...] [--latest N]`: a registry
//! and every archive it offers copied into DIR, a local registry that
//! `knap-index build` and `sign` publish as a site of its own (formats.md
//! §9; the work is `knap_client::mirror`).

use std::fmt;
use std::path::PathBuf;

use knap_client::mirror::{Action, MirrorInfo, MirroredPack, Request};
use serde::Serialize;

use super::Ctx;

/// `knap mirror` arguments.
#[derive(Debug, clap::Args)]
pub struct MirrorArgs {
    /// A configured registry's name, or a registry URL or path of any kind
    /// knap reads.
    pub registry: String,
    /// The mirror directory: new, empty, or an earlier mirror (re-run:
    /// only what is new is downloaded).
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: PathBuf,
    /// Only this ref (repeatable).
    #[arg(long = "ref", value_name = "REF")]
    pub refs: Vec<String>,
    /// Only the N newest versions of each ref.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub latest: Option<u32>,
    /// Parallel downloads.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub jobs: usize,
}

/// What `knap mirror` did.
#[derive(Debug, Serialize)]
pub struct MirrorReport {
    pub mirror: String,
    pub registry: String,
    pub copied: usize,
    pub kept: usize,
    pub packed: usize,
    pub removed: Vec<String>,
    pub packs: Vec<MirroredPack>,
}

impl fmt::Display for MirrorReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "mirrored {} of {} into {}: {} copied, {} kept, {} packed from git{}",
            crate::output::count(self.packs.len(), "pack version", "pack versions"),
            self.registry,
            self.mirror,
            self.copied,
            self.kept,
            self.packed,
            if self.removed.is_empty() {
                String::new()
            } else {
                format!(", {} removed", self.removed.len())
            }
        )?;
        let header = ["REF", "VERSION", "ARCHIVE", "DONE"].map(String::from);
        let rows: Vec<[String; 4]> = self
            .packs
            .iter()
            .map(|p| {
                [
                    p.pack_ref.clone(),
                    p.version.to_string(),
                    p.archive.clone(),
                    match p.action {
                        Action::Copied => "copied",
                        Action::Kept => "kept",
                        Action::Packed => "packed from git",
                    }
                    .to_owned(),
                ]
            })
            .collect();
        crate::output::table(f, &header, &rows)?;
        write!(
            f,
            "publish it: knap-index build {0} -o SITE --base-url URL, then knap-index sign SITE; or read it as it is: knap registry add NAME {0}",
            self.mirror
        )
    }
}

pub async fn run(ctx: &Ctx, args: MirrorArgs) -> anyhow::Result<()> {
    let request = Request {
        refs: args.refs,
        latest: args.latest.map(|n| n as usize),
        jobs: args.jobs,
    };
    let done = ctx
        .client()
        .mirror(&args.registry, &args.output, &request)
        .await?;
    let MirrorInfo {
        registry, packs, ..
    } = done.info.clone();
    ctx.print(&MirrorReport {
        mirror: args.output.display().to_string(),
        registry,
        copied: done.count(Action::Copied),
        kept: done.count(Action::Kept),
        packed: done.count(Action::Packed),
        removed: done.removed,
        packs,
    });
    Ok(())
}
