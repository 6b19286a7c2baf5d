//! Pack environments (formats.md section 8): the Python virtual
//! environment or Node.js modules a pack's actions need, built with the
//! ecosystems' own installers (uv or pip, npm), identified by what they
//! are built from, recorded in `knap.lock`, checked and recovered.
//!
//! The flow, as `knap env build` and the install pipeline use it:
//!
//! ```no_run
//! # use std::path::Path;
//! # use knap_schema::lock::Lockfile;
//! use knap_envs::{BuildOptions, Builder, Settings};
//! # let root = Path::new("/packs");
//! # let mut lock = Lockfile::default();
//! let builder = Builder::new(
//!     Settings::new(knap_envs::default_envs_dir(root)),
//!     knap_schema::progress::silent(),
//! );
//! // Which environments the packs need (every locked pack here), and
//! // which exist: what an embedding program that builds them itself reads.
//! let plan = builder.plan(root, &lock, &[]);
//! let results = builder.build(plan, BuildOptions::default());
//! let built: Vec<_> = results.into_iter().filter_map(Result::ok).collect();
//! knap_envs::record(&mut lock, &built); // then commit the lock
//! drop(built); // releases the packs' locks
//! builder.store().collect_garbage(&lock)?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Modules: [`inputs`] (which environments a pack needs; the id),
//! [`asks`] (what a pack asks of its interpreter), [`toolchain`] (finding
//! and probing interpreters and installers), [`plan`], [`build`] (with
//! [`installers`] running uv, pip and npm through [`process`]), [`store`]
//! (the directory layout, locks, recovery, garbage), [`inventory`] (what an
//! environment holds), [`check`], [`error`]. Nothing here prints.

pub mod asks;
pub mod build;
pub mod carry;
pub mod check;
pub mod error;
pub mod inputs;
pub mod installers;
pub mod inventory;
pub mod plan;
pub mod process;
pub mod store;
pub mod toolchain;

pub use build::{BuildOptions, Builder, Built, Settings, default_envs_dir, record};
pub use check::{EnvCheck, EnvState};
pub use error::EnvError;
pub use plan::{EnvPlan, Planned, PlannedEnv};
pub use store::EnvStore;
