//! The client configuration (TOML): the install root, the registries and
//! the mirrors of install-source hosts.
//!
//! Read from `$KNAP_CONFIG`, else `$XDG_CONFIG_HOME/knap/config.toml`.
//!
//! A `[[mirror]]` (formats.md §6) rewrites install-source URLs by prefix
//! at fetch time: a source URL that starts with its `prefix` is fetched
//! from its `replace` followed by the rest of the URL
//! ([`Config::mirror_for`]). Both are absolute `https://` URLs (`http://`
//! only for a loopback host), without credentials, a query or a fragment,
//! ending in `/` so that a prefix ends at a path boundary
//! (`https://github.com/org/` never matches `https://github.com/organ/`).
//! When several prefixes match, the longest wins; two mirrors with the
//! same prefix are refused.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use url::Url;

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
    /// Mirrors of install-source hosts (`[[mirror]]`).
    #[serde(default, rename = "mirror", skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<Mirror>,
}

/// A mirror of install-source hosts: a source URL that starts with
/// `prefix` is fetched from `replace` followed by the rest of the URL.
/// Checksums and tree digests are checked as for the original URL, and
/// `knap.lock` keeps the original URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Mirror {
    /// The start of the source URLs this mirror serves (`https://github.com/`).
    pub prefix: String,
    /// What replaces the prefix (`https://artifacts.corp.example/github/`).
    pub replace: String,
    /// The environment variable holding a token, sent as
    /// `Authorization: Bearer` to the mirror's origin (of `replace`) only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
}

impl Mirror {
    /// `replace` parsed (as the configuration was checked, it parses).
    pub fn replace_url(&self) -> Option<Url> {
        Url::parse(&self.replace).ok()
    }
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

/// Why a configuration cannot be used. A file with a key no field reads
/// (a misspelled `[[registries]]`, `prioirty`) is refused rather than read
/// without it: the next `knap registry add` would rewrite the file and
/// lose what was under that key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not TOML, or a value of the wrong type (the cause says where).
    #[error("not a valid configuration")]
    Toml(#[source] toml::de::Error),
    /// A key that no field of the configuration reads.
    #[error("unknown key `{key}`{}", near.as_ref().map(|n| format!(" (did you mean `{n}`?)")).unwrap_or_default())]
    UnknownKey {
        /// Its dotted path (`registry.0.prioirty`).
        key: String,
        /// The known key nearest to it, at the same place.
        near: Option<String>,
    },
    /// A value the configuration's rules refuse.
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Reads a configuration: every key must be one this version knows
    /// ([`ConfigError::UnknownKey`], with the nearest known one).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let de = toml::de::Deserializer::parse(text).map_err(ConfigError::Toml)?;
        let mut unknown: Vec<String> = Vec::new();
        let c: Config = serde_ignored::deserialize(de, |path| {
            // serde_ignored writes an `Option`'s inside as `?`: not a key.
            let key = path.to_string();
            unknown.push(
                key.split('.')
                    .filter(|p| *p != "?")
                    .collect::<Vec<_>>()
                    .join("."),
            );
        })
        .map_err(ConfigError::Toml)?;
        if let Some(key) = unknown.into_iter().next() {
            let near = near_key(&key);
            return Err(ConfigError::UnknownKey { key, near });
        }
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
                return Err(ConfigError::Invalid(format!(
                    "`{key}` must be a path (not empty, no control characters), found {v:?}"
                )));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for r in &self.registries {
            if !seen.insert(r.name.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "registry `{}` is defined twice",
                    r.name
                )));
            }
            crate::urls::RegistryLocation::parse(&r.url, r.allow_http)
                .map_err(|e| ConfigError::Invalid(format!("registry `{}`: {e}", r.name)))?;
        }
        let mut prefixes: Vec<String> = Vec::new();
        for (i, m) in self.mirrors.iter().enumerate() {
            let prefix = mirror_url(&format!("mirror.{i}.prefix"), &m.prefix)?;
            mirror_url(&format!("mirror.{i}.replace"), &m.replace)?;
            if let Some(v) = &m.token_env
                && (v.is_empty() || v.contains('=') || v.chars().any(char::is_control))
            {
                return Err(ConfigError::Invalid(format!(
                    "`mirror.{i}.token_env` must name an environment variable, found {v:?}"
                )));
            }
            if let Some(j) = prefixes.iter().position(|p| p == prefix.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "`mirror.{i}.prefix` is the prefix of `mirror.{j}` too ({}); keep one",
                    m.prefix
                )));
            }
            prefixes.push(prefix.into());
        }
        Ok(())
    }

    /// The mirror that serves the install source at `url`, with the URL
    /// to fetch from it (see [`route`]).
    pub fn mirror_for(&self, url: &Url) -> Option<(&Mirror, Result<Url, String>)> {
        route(&self.mirrors, url).map(|(i, to)| (&self.mirrors[i], to))
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

/// Which of `mirrors` serves the install source at `url` (its index: the
/// one with the longest matching prefix), with the URL to fetch from it;
/// `None` when no prefix matches. The URL is `replace` followed by what
/// follows the prefix in `url`, and is refused (`Err`) if it would leave
/// `replace`.
pub fn route(mirrors: &[Mirror], url: &Url) -> Option<(usize, Result<Url, String>)> {
    let text = url.as_str();
    let (i, prefix) = mirrors
        .iter()
        .enumerate()
        .filter_map(|(i, m)| Some((i, Url::parse(&m.prefix).ok()?)))
        .filter(|(_, p)| text.starts_with(p.as_str()))
        .max_by_key(|(_, p)| p.as_str().len())?;
    let m = &mirrors[i];
    let rest = &text[prefix.as_str().len()..];
    let to = match Url::parse(&m.replace) {
        Err(e) => Err(format!("mirror `{}`: {e}", m.replace)),
        Ok(replace) => match Url::parse(&format!("{replace}{rest}")) {
            Ok(u) if u.as_str().starts_with(replace.as_str()) => Ok(u),
            Ok(u) => Err(format!(
                "mirror `{}`: `{url}` would be fetched from `{u}`, outside the mirror",
                m.replace
            )),
            Err(e) => Err(format!("mirror `{}`: `{replace}{rest}`: {e}", m.replace)),
        },
    };
    Some((i, to))
}

/// A mirror's `prefix` or `replace` (named `key`), checked: an absolute
/// `https://` URL (`http://` only for a loopback host), without
/// credentials, a query or a fragment, ending in `/`.
fn mirror_url(key: &str, value: &str) -> Result<Url, ConfigError> {
    let invalid = |why: String| ConfigError::Invalid(format!("`{key}` = {value:?}: {why}"));
    match crate::urls::classify_source_url(value).map_err(invalid)? {
        crate::urls::SourceUrlKind::Https | crate::urls::SourceUrlKind::Http => {}
        _ => {
            return Err(invalid(
                "a mirror URL must be an absolute https:// URL (http:// only for a loopback host)"
                    .into(),
            ));
        }
    }
    let url = Url::parse(value).map_err(|e| invalid(e.to_string()))?;
    if url.scheme() == "http" && !crate::urls::is_loopback(&url) {
        return Err(invalid(
            "plain http:// is refused for a non-loopback host; use https://".into(),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("the URL names no host".into()));
    }
    if !value.ends_with('/') {
        return Err(invalid(format!(
            "a mirror URL must end in `/`, so that it ends at a path boundary (`{value}/`)"
        )));
    }
    Ok(url)
}

/// The known key nearest to the unknown `path` (`registry.0.prioirty`),
/// among the keys of the table it is in.
fn near_key(path: &str) -> Option<String> {
    let (table, key) = match path.rsplit_once('.') {
        Some((t, k)) => (Some(t), k),
        None => (None, path),
    };
    let schema = schemars::schema_for!(Config).to_value();
    let defs = &schema["$defs"];
    // The table's schema: the root, or the definition of the struct a
    // key holds (`registry.0` -> RegistryConfig, `limits` -> Limits).
    let mut at = &schema;
    if let Some(t) = table {
        for part in t.split('.').filter(|p| p.parse::<usize>().is_err()) {
            let prop = &at["properties"][part];
            let target = [&prop["items"]["$ref"], &prop["$ref"]]
                .into_iter()
                .chain(
                    prop["anyOf"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|a| &a["$ref"]),
                )
                .find_map(|r| r.as_str())?;
            at = &defs[target.rsplit('/').next()?];
        }
    }
    let known: Vec<&str> = at["properties"]
        .as_object()?
        .keys()
        .map(String::as_str)
        .collect();
    // A table written in the plural (`[[registries]]` for `[[registry]]`)
    // is three edits away: too far for the rule, yet the likeliest slip.
    let singular = key
        .strip_suffix("ies")
        .map(|stem| format!("{stem}y"))
        .or_else(|| key.strip_suffix('s').map(str::to_owned));
    singular
        .iter()
        .find_map(|s| known.iter().find(|k| **k == s.as_str()))
        .copied()
        .or_else(|| {
            crate::near::nearest(key, known.iter().copied())
                .first()
                .copied()
        })
        .map(str::to_owned)
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

    #[test]
    fn an_unknown_key_is_refused_with_the_nearest_known_one() {
        let err = |text: &str| Config::from_toml(text).unwrap_err().to_string();
        assert_eq!(
            err("[[registries]]\nname = \"a\"\nurl = \"./x\"\n"),
            "unknown key `registries` (did you mean `registry`?)"
        );
        assert_eq!(
            err("[[registry]]\nname = \"a\"\nurl = \"./x\"\nprioirty = 1\n"),
            "unknown key `registry.0.prioirty` (did you mean `priority`?)"
        );
        assert_eq!(
            err("[limits]\nentires = 5\n"),
            "unknown key `limits.entires` (did you mean `entries`?)"
        );
        assert_eq!(err("colour = true\n"), "unknown key `colour`");
    }

    #[test]
    fn reads_the_documented_mirror() {
        let c = Config::from_toml(
            "[[mirror]]\nprefix = \"https://github.com/\"\nreplace = \"https://artifacts.corp.example/github/\"\ntoken_env = \"MIRROR_TOKEN\"\n",
        )
        .unwrap();
        assert_eq!(
            c.mirrors,
            vec![Mirror {
                prefix: "https://github.com/".into(),
                replace: "https://artifacts.corp.example/github/".into(),
                token_env: Some("MIRROR_TOKEN".into()),
            }]
        );
        assert_eq!(Config::from_toml(&c.to_toml()).unwrap(), c);
        // No mirror: no `mirror` key written.
        assert!(!Config::default().to_toml().contains("mirror"));
    }

    #[test]
    fn a_mirror_url_is_refused_naming_its_key() {
        let err = |prefix: &str, replace: &str| {
            Config::from_toml(&format!(
                "[[mirror]]\nprefix = \"{prefix}\"\nreplace = \"{replace}\"\n"
            ))
            .unwrap_err()
            .to_string()
        };
        let ok = "https://m.example/";
        for (bad, why) in [
            ("http://github.com/", "plain http://"),
            ("https://github.com", "must end in `/`"),
            ("https://u:p@github.com/", "credentials"),
            ("https://github.com/?a=1/", "query"),
            ("file:///srv/mirror/", "absolute https://"),
            ("mirror/", "absolute https://"),
            ("git+https://github.com/", "scheme"),
        ] {
            let e = err(bad, ok);
            assert!(e.starts_with("`mirror.0.prefix`"), "{bad}: {e}");
            assert!(e.contains(why), "{bad}: {e}");
            let e = err(ok, bad);
            assert!(e.starts_with("`mirror.0.replace`"), "{bad}: {e}");
        }
        // Loopback http is allowed (a mirror on the same machine, tests).
        assert!(Config::from_toml("[[mirror]]\nprefix = \"http://127.0.0.1:8080/a/\"\nreplace = \"http://localhost/b/\"\n").is_ok());
        let twice = Config::from_toml(
            "[[mirror]]\nprefix = \"https://GitHub.com/\"\nreplace = \"https://a.example/\"\n[[mirror]]\nprefix = \"https://github.com/\"\nreplace = \"https://b.example/\"\n",
        )
        .unwrap_err();
        assert!(
            twice
                .to_string()
                .starts_with("`mirror.1.prefix` is the prefix of `mirror.0`"),
            "{twice}"
        );
    }

    #[test]
    fn the_longest_matching_prefix_rewrites_a_url_at_a_path_boundary() {
        let c = Config::from_toml(
            "[[mirror]]\nprefix = \"https://github.com/\"\nreplace = \"https://all.example/gh/\"\n[[mirror]]\nprefix = \"https://github.com/org/\"\nreplace = \"https://org.example/\"\n",
        )
        .unwrap();
        let to = |u: &str| {
            c.mirror_for(&Url::parse(u).unwrap())
                .map(|(m, to)| (m.replace.clone(), to.unwrap().to_string()))
        };
        assert_eq!(
            to("https://github.com/org/p/a.tar.gz"),
            Some((
                "https://org.example/".into(),
                "https://org.example/p/a.tar.gz".into()
            ))
        );
        assert_eq!(
            to("https://github.com/organ/a.tar.gz"),
            Some((
                "https://all.example/gh/".into(),
                "https://all.example/gh/organ/a.tar.gz".into()
            ))
        );
        // The host is compared as URLs are (case-insensitively).
        assert_eq!(
            to("https://GITHUB.com/x.tgz").map(|t| t.1),
            Some("https://all.example/gh/x.tgz".into())
        );
        assert_eq!(to("https://gitlab.com/org/a.tar.gz"), None);
        assert_eq!(to("https://github.com.evil.example/a.tar.gz"), None);
        assert_eq!(to("http://github.com/a.tar.gz"), None);
    }
}
