//! knap's file formats, and the rules every knap tool applies to them.
//!
//! This crate is the published truth about what knap reads and writes
//! (`../shared/spec/formats.md` is the contract it implements):
//!
//! - [`manifest`]: tolerant reading of a pack's `pack.yaml`, and
//!   [`runtime`]: what a pack needs from the machine it runs on;
//! - [`contents`]: the component summary (`contents`) of a pack directory;
//! - [`digest`]: the pack tree digest, streamed file by file;
//! - [`entry_name`]: the names a file in a pack may have, and how an
//!   untrusted name is shown in a message;
//! - [`index`]: `index.json`, its entries and install sources, and
//!   [`sparse`] for the sparse layout;
//! - [`json`]: the JSON reader every format uses, which names the JSON path
//!   of a bad value;
//! - [`validate`]: every rule an index must satisfy, each problem located by
//!   a JSON path;
//! - [`requirement`] and [`dependency`]: version requirements and the
//!   `REF@REQ` dependency string;
//! - [`urls`]: which URLs an index may name and how relative ones resolve,
//!   and URL credentials hidden in what is shown ([`urls::redact_userinfo`]);
//! - [`text`]: the one escaping of text from outside knap for the terminal;
//! - [`lock`] and [`config`]: `knap.lock` and the client configuration;
//! - [`datetime`]: RFC 3339 date-times, as every file writes them;
//! - [`env`]: pack environments as `knap.lock` and `.knap-env.json` record
//!   them;
//! - [`progress`]: the events long operations report to a [`progress::Reporter`]
//!   instead of printing;
//! - [`report`]: the exit-code class of an error ([`ErrorKind`]), the
//!   error of a step with no richer type ([`KnapError`]), and how an error
//!   and its causes are told ([`ErrorReport`]);
//! - [`ident`]: the validated identifiers ([`PackRef`], [`Checksum`],
//!   [`ident::CommitId`]);
//! - [`hex`]: lowercase hex, the one spelling of digests and ids;
//! - [`atomic`]: the one way knap replaces a file (temp file, fsync,
//!   rename, directory fsync);
//! - [`fs`]: the one way knap opens a file to read it (without blocking,
//!   a regular file only, links refused where knap manages the path, the
//!   read bounded);
//! - [`json_schema`]: the JSON Schemas generated from these types (checked
//!   in under `schema/json/`).
//!
//! Nothing here touches the network; the crate is shared by `knap-index`
//! (which must stay small) and the `knap` client.

pub mod atomic;
pub mod config;
pub mod contents;
pub mod datetime;
pub mod dependency;
pub mod digest;
pub mod entry_name;
pub mod env;
pub mod fs;
pub mod hex;
pub mod ident;
pub mod index;
pub mod json;
pub mod json_schema;
pub mod lock;
pub mod manifest;
pub mod near;
pub mod problem;
pub mod progress;
pub mod report;
pub mod requirement;
pub mod runtime;
pub mod sparse;
pub mod text;
pub mod urls;
pub mod validate;

pub use dependency::Dependency;
pub use digest::{TreeDigest, tree_digest};
pub use ident::{Checksum, PackRef};
pub use index::{Entry, Index, InstallSource};
pub use manifest::Manifest;
pub use problem::{Problem, Problems, Severity};
pub use report::{ErrorKind, ErrorReport, KnapError};
pub use requirement::Requirement;
