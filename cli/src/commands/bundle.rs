//! `knap bundle create -o DIR|FILE.tar`: the root's `knap.lock` written as a bundle,
//! an offline registry (formats.md §9; the work is
//! `knap_client::bundle::create`). `knap install --bundle` installs one
//! (`commands::install`).

use std::fmt;
use std::path::PathBuf;

use knap_client::bundle::{BundleInfo, BundledPack, PackedFrom};
use serde::Serialize;

use super::Ctx;

/// `knap bundle ...`.
#[derive(Debug, clap::Subcommand)]
pub enum BundleCmd {
    /// Write the root's knap.lock, with every locked pack's archive, as a
    /// bundle directory that `knap install --bundle` installs offline.
    Create {
        /// The bundle directory to write (new, or empty); a name ending in
        /// .tar writes a tar of the bundle.
        #[arg(short = 'o', long = "output", value_name = "DIR|FILE.tar")]
        output: PathBuf,
    },
}

/// What `knap bundle create` wrote.
#[derive(Debug, Serialize)]
pub struct BundleReport {
    pub bundle: String,
    #[serde(flatten)]
    pub info: BundleInfo,
    #[serde(rename = "contents")]
    pub bundled: Vec<BundledPack>,
}

impl fmt::Display for BundleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "bundled {} into {}",
            crate::output::count(self.bundled.len(), "pack", "packs"),
            self.bundle
        )?;
        let header = ["REF", "VERSION", "ARCHIVE", "FROM", "ENTRY"].map(String::from);
        let rows: Vec<[String; 5]> = self
            .bundled
            .iter()
            .map(|p| {
                [
                    p.pack_ref.to_string(),
                    p.version.to_string(),
                    p.archive.clone(),
                    match p.from {
                        PackedFrom::Archive => "archive",
                        PackedFrom::Git => "git, packed",
                        PackedFrom::Path => "path, packed",
                    }
                    .to_owned(),
                    match &p.entry_from {
                        Some(r) => format!("registry {r}"),
                        None => "pack.yaml".to_owned(),
                    },
                ]
            })
            .collect();
        crate::output::table(f, &header, &rows)?;
        write!(
            f,
            "install it without network: knap install --bundle {}",
            self.bundle
        )
    }
}

pub async fn run(ctx: &Ctx, cmd: BundleCmd) -> anyhow::Result<()> {
    match cmd {
        BundleCmd::Create { output } => {
            let created = ctx.client().create_bundle(&ctx.root_dir(), &output).await?;
            ctx.print(&BundleReport {
                bundle: output.display().to_string(),
                info: created.info,
                bundled: created.packs,
            });
            Ok(())
        }
    }
}
