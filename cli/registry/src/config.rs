//! Where the client configuration lives, and reading and writing it.
//!
//! The file is TOML (`knap_schema::config::Config`), found at `--config`,
//! else `$KNAP_CONFIG`, else `$XDG_CONFIG_HOME/knap/config.toml`, else
//! `~/.config/knap/config.toml`. A missing file is an empty configuration.
//! Writes go through [`crate::cache::write_atomic`], so a crash never leaves
//! a half-written file.

use std::path::{Path, PathBuf};

use knap_schema::config::Config;

use knap_schema::{ErrorKind as Kind, KnapError};

/// The configuration file to use.
pub fn config_path(flag: Option<&Path>) -> Result<PathBuf, KnapError> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = non_empty_env("KNAP_CONFIG") {
        return Ok(PathBuf::from(p));
    }
    if let Some(p) = non_empty_env("XDG_CONFIG_HOME") {
        return Ok(PathBuf::from(p).join("knap").join("config.toml"));
    }
    if let Some(h) = non_empty_env("HOME") {
        return Ok(PathBuf::from(h).join(".config/knap/config.toml"));
    }
    Err(KnapError::usage(
        "cannot find a place for the configuration: set KNAP_CONFIG or pass --config FILE",
    ))
}

/// The install root: `flag` (`--root` or `KNAP_ROOT`), else the
/// configuration's `root`, else `./packs`.
pub fn root_dir(flag: Option<&Path>, config: &Config) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| config.root.as_ref().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("packs"))
}

/// The cache directory: `$KNAP_CACHE_DIR`, else `$XDG_CACHE_HOME/knap`, else
/// `~/.cache/knap`.
pub fn cache_dir() -> Result<PathBuf, KnapError> {
    if let Some(p) = non_empty_env("KNAP_CACHE_DIR") {
        return Ok(PathBuf::from(p));
    }
    if let Some(p) = non_empty_env("XDG_CACHE_HOME") {
        return Ok(PathBuf::from(p).join("knap"));
    }
    if let Some(h) = non_empty_env("HOME") {
        return Ok(PathBuf::from(h).join(".cache/knap"));
    }
    Err(KnapError::usage(
        "cannot find a cache directory: set KNAP_CACHE_DIR",
    ))
}

pub(crate) fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The largest configuration read (a real one is a few KiB).
const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;

/// Reads the configuration; a missing file gives the empty configuration.
/// A FIFO, device or oversized file there is refused without blocking
/// (exit 4).
pub fn load(path: &Path) -> Result<Config, KnapError> {
    use knap_schema::fs::{FileError, Links};
    match knap_schema::fs::read_to_string(path, Links::Follow, MAX_CONFIG_BYTES) {
        Ok(text) => Config::from_toml(&text).map_err(|e| {
            // Refused whole (exit 2), and never rewritten: a command that
            // went on without what it did not understand would save the
            // file without it.
            KnapError::usage(format!("cannot use the configuration {}", path.display()))
                .with_hint(
                    "fix the file (knap reads it only when it understands every key), or point --config elsewhere",
                )
                .caused_by(e)
        }),
        Err(e) if e.is_not_found() => Ok(Config::default()),
        Err(e @ FileError::Io { .. }) => Err(KnapError::new(
            Kind::Other,
            format!(
                "cannot read the configuration {}: {}",
                path.display(),
                e.reason()
            ),
        )),
        Err(e) => Err(KnapError::new(
            e.kind(),
            format!(
                "the configuration {} {}; point --config elsewhere",
                path.display(),
                e.reason()
            ),
        )),
    }
}

/// Writes the configuration atomically, creating its directory.
pub fn save(path: &Path, config: &Config) -> Result<(), KnapError> {
    crate::cache::write_atomic(path, config.to_toml().as_bytes()).map_err(|e| {
        KnapError::new(
            Kind::Other,
            format!("cannot write the configuration {}: {e}", path.display()),
        )
    })
}
