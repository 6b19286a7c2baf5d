//! `knap bundle create -o DIR|FILE.tar [SPEC...]`: the root's `knap.lock`
//! (or the SPECs, resolved now) written as a bundle,
//! an offline registry (formats.md §9; the work is
//! `knap_client::bundle::create`). `knap install --bundle` installs one
//! (`commands::install`).

use std::fmt;
use std::path::PathBuf;

use knap_client::bundle::{BundleInfo, BundledPack, PackedFrom};
use serde::Serialize;

use knap_client::install::Request;

use super::Ctx;

/// `knap bundle ...`.
#[derive(Debug, clap::Subcommand)]
pub enum BundleCmd {
    /// Write the root's knap.lock (or the SPECs, resolved now), with every
    /// pack's archive, as a bundle directory that `knap install --bundle`
    /// installs offline.
    Create {
        /// The bundle directory to write (new, or empty); a name ending in
        /// .tar writes a tar of the bundle.
        #[arg(short = 'o', long = "output", value_name = "DIR|FILE.tar")]
        output: PathBuf,
        /// Packs to bundle instead of the root's lock (REF, REF@REQ, a path,
        /// an archive URL, git+URL#COMMIT, as for install), resolved now
        /// against the configured registries without installing them.
        #[arg(value_name = "SPEC")]
        specs: Vec<String>,
        /// Resolve SPECs from this registry only.
        #[arg(long, value_name = "NAME", requires = "specs")]
        registry: Option<String>,
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
        BundleCmd::Create {
            output,
            specs,
            registry,
        } => {
            let created = if specs.is_empty() {
                ctx.client().create_bundle(&ctx.root_dir(), &output).await?
            } else {
                let request = Request {
                    specs: super::install::parse_specs(ctx, &specs).await?,
                    registry,
                    jobs: 4,
                    ..Request::default()
                };
                ctx.bundle_of(&request, &output).await?
            };
            ctx.print(&BundleReport {
                bundle: output.display().to_string(),
                info: created.info,
                bundled: created.packs,
            });
            Ok(())
        }
    }
}
