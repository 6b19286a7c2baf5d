//! Integration tests of the `knap` binary, one module per command (and per
//! registry kind, and for the install root), against real registries: real
//! HTTP(S) servers on 127.0.0.1, real git repositories and real files. Each
//! test runs knap in a home of its own (working directory, default root,
//! configuration and cache) from the test kit, `knap-test-support`; command
//! output is asserted with snapshots (`snapshots/`, see the README's test
//! section for updating them).

mod bundle;
mod completions;
mod config;
mod doctor;
mod env;
mod fixtures;
mod info;
mod install;
mod lifecycle;
mod list;
mod mirror;
mod mirror_cmd;
mod outdated;
mod output;
pub(crate) mod registries;
mod registry;
mod root;
mod search;
mod special_files;
mod terminal_text;
mod transfers;
mod uninstall;
mod update;
mod upgrade;
mod verify;
