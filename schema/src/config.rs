//! The client configuration (TOML): the install root and the registries.
//!
//! Read from `$KNAP_CONFIG`, else `$XDG_CONFIG_HOME/knap/config.toml`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The default priority of a registry added without one.
pub const DEFAULT_PRIORITY: i64 = 100;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "knap client configuration")]
pub struct Config {
    /// The default install root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// A PEM file of extra CA certificates trusted for every registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// Limits applied while installing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    /// Build pack environments after `install` and `upgrade` (default
    /// true; `false`: never, e.g. where Attune's workers build them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envs: Option<bool>,
    /// Where pack environments live (default `<root>/.envs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envs_dir: Option<String>,
    /// The interpreter of Python environments (default `python3` on `PATH`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<String>,
    #[serde(default, rename = "registry")]
    pub registries: Vec<RegistryConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RegistryConfig {
    pub name: String,
    /// https://, sparse+https://, git+https://, git+file://, file:// or a path.
    pub url: String,
    /// Lower is searched first.
    #[serde(default = "default_priority")]
    pub priority: i64,
    /// The environment variable holding a token, sent as `Authorization: Bearer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    /// Allow plain http:// to non-loopback hosts for this registry.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_http: bool,
    /// A PEM file of CA certificates trusted for this registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// The registry is signed (TUF, formats.md section 7) and pinned: the
    /// path of a trusted root file (copied into knap's configuration
    /// directory by `knap registry add --root`), or `sha256:HEX`, the
    /// fingerprint of the registry's `tuf/1.root.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuf_root: Option<String>,
}

fn default_priority() -> i64 {
    DEFAULT_PRIORITY
}

/// Install limits; absent values take the defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Limits {
    /// Largest download, in bytes (default 256 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_size: Option<u64>,
    /// Largest extracted pack, in bytes (default 1 GiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extracted_size: Option<u64>,
    /// Most archive entries (default 100,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let c: Config = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        c.check()?;
        Ok(c)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serialises")
    }

    fn check(&self) -> Result<(), ConfigError> {
        for (key, value) in [("envs_dir", &self.envs_dir), ("python", &self.python)] {
            if let Some(v) = value
                && (v.trim().is_empty() || v.chars().any(char::is_control))
            {
                return Err(ConfigError(format!(
                    "`{key}` must be a path (not empty, no control characters), found {v:?}"
                )));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for r in &self.registries {
            if !seen.insert(r.name.as_str()) {
                return Err(ConfigError(format!(
                    "registry `{}` is defined twice",
                    r.name
                )));
            }
            crate::urls::RegistryLocation::parse(&r.url, r.allow_http)
                .map_err(|e| ConfigError(format!("registry `{}`: {e}", r.name)))?;
        }
        Ok(())
    }

    /// Whether pack environments are built after an install (`envs`,
    /// default true).
    pub fn builds_envs(&self) -> bool {
        self.envs.unwrap_or(true)
    }

    /// Registries in search order: by priority, then by name.
    pub fn registries_in_order(&self) -> Vec<&RegistryConfig> {
        let mut v: Vec<_> = self.registries.iter().collect();
        v.sort_by(|a, b| {
            a.priority
                .cmp(&b.priority)
                .then_with(|| a.name.cmp(&b.name))
        });
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_example() {
        let c = Config::from_toml(
            "root = \"./packs\"\n[[registry]]\nname = \"community\"\nurl = \"https://example.github.io/registry/\"\npriority = 10\ntoken_env = \"COMMUNITY_TOKEN\"\n",
        )
        .unwrap();
        assert_eq!(c.root.as_deref(), Some("./packs"));
        assert_eq!(c.registries[0].priority, 10);
        assert_eq!(
            c.registries[0].token_env.as_deref(),
            Some("COMMUNITY_TOKEN")
        );
        let again = Config::from_toml(&c.to_toml()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn reads_the_environment_keys() {
        let c = Config::from_toml(
            "envs = false\nenvs_dir = \"/opt/packs/envs\"\npython = \"/usr/bin/python3.11\"\n",
        )
        .unwrap();
        assert!(!c.builds_envs());
        assert_eq!(c.envs_dir.as_deref(), Some("/opt/packs/envs"));
        assert_eq!(c.python.as_deref(), Some("/usr/bin/python3.11"));
        assert!(Config::default().builds_envs());
        assert_eq!(Config::from_toml(&c.to_toml()).unwrap(), c);
        assert!(Config::from_toml("python = \"\"\n").is_err());
        assert!(Config::from_toml("envs_dir = \"a\\nb\"\n").is_err());
        assert!(Config::from_toml("envs = \"yes\"\n").is_err());
    }

    #[test]
    fn refuses_credentials_and_duplicates() {
        assert!(
            Config::from_toml("[[registry]]\nname = \"a\"\nurl = \"https://u:p@h/i.json\"\n")
                .is_err()
        );
        assert!(Config::from_toml("[[registry]]\nname = \"a\"\nurl = \"./x\"\n[[registry]]\nname = \"a\"\nurl = \"./y\"\n").is_err());
    }
}
