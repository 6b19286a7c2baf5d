//! `[[mirror]]` (formats.md §6): an install source whose URL starts with a
//! mirror's prefix is fetched from the mirror instead
//! ([`knap_schema::config::route`]: the longest prefix wins), with the
//! mirror's own HTTP policy (its token, from `token_env`, goes to the
//! origin of its `replace` URL only). What is fetched is checked exactly
//! as the original would be (the archive's checksum, the git commit's tree
//! digest), and `knap.lock` records the original URL.
//!
//! There is no fallback: when the mirror fails, the source fails, naming
//! the mirror and the original URL, and the original host is never
//! contacted (a site that configures a mirror of its archive hosts, such
//! as an air-gapped one, expects no request to leave for them).
//!
//! Archive and git sources are mirrored, by an install, by `knap bundle
//! create` and by `knap mirror` (through `crate::copy`); a direct install
//! (`knap install URL`) fetches the URL it is given.

use knap_registry::http::{Downloader, HttpPolicy};
use knap_registry::registry::Env;
use knap_schema::KnapError;
use knap_schema::config::{Config, Mirror};
use url::Url;

/// The configured mirrors, each with its HTTP policy and downloader.
#[derive(Clone, Default)]
pub struct Mirrors {
    mirrors: Vec<Mirror>,
    routes: Vec<(HttpPolicy, Downloader)>,
}

/// Where a source is fetched from when a mirror serves it.
pub struct Routed<'a> {
    /// The mirror's `replace` URL, as configured.
    pub mirror: &'a str,
    /// The URL fetched: `replace` followed by the rest of the original.
    pub url: Url,
    pub http: &'a HttpPolicy,
    pub downloader: &'a Downloader,
}

impl Mirrors {
    /// The mirrors of `config`, with the HTTP settings and global CA file
    /// of `env`.
    pub fn new(config: &Config, env: &Env) -> Result<Self, KnapError> {
        let mut routes = Vec::new();
        for m in &config.mirrors {
            let policy = HttpPolicy::for_mirror(&env.http, env.global_ca_file.as_deref(), m);
            let downloader = Downloader::new(&policy).map_err(|e| {
                super::fetch_failed(
                    format!("cannot set up HTTP for the mirror `{}`", m.replace),
                    e,
                )
            })?;
            routes.push((policy, downloader));
        }
        Ok(Self {
            mirrors: config.mirrors.clone(),
            routes,
        })
    }

    /// The mirror that serves `url`, if any; a rewritten URL that leaves
    /// the mirror is an integrity error.
    pub fn route(&self, url: &Url) -> Option<Result<Routed<'_>, KnapError>> {
        let (i, to) = knap_schema::config::route(&self.mirrors, url)?;
        let mirror = self.mirrors[i].replace.as_str();
        Some(match to {
            Err(m) => Err(KnapError::integrity(m)),
            Ok(url) => Ok(Routed {
                mirror,
                url,
                http: &self.routes[i].0,
                downloader: &self.routes[i].1,
            }),
        })
    }
}

/// A failure to fetch `original` from the mirror `mirror`, of the same
/// kind (so exit code) as the failure itself, saying there is no fallback.
pub fn failed(mirror: &str, original: &Url, e: KnapError) -> KnapError {
    let hint = e.hint.clone();
    let err = KnapError::new(
        e.kind,
        format!("from the mirror `{mirror}` (for `{original}`; the original URL is not tried)"),
    )
    .caused_by(e);
    match hint {
        Some(h) => err.with_hint(h),
        None => err,
    }
}

/// A configured mirror as `knap doctor` shows it: the locked packs whose
/// source it serves.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MirrorUse {
    pub prefix: String,
    /// The mirror's `replace` URL.
    pub replace: String,
    pub token_env: Option<String>,
    /// Whether `token_env` is set (to a non-empty value) in this process.
    pub token_set: bool,
    /// The locked packs (`REF VERSION`) whose source URL this mirror
    /// serves (the longest prefix wins), in the lock's order.
    pub packs: Vec<String>,
}

/// Every mirror of `config`, with the packs of `lock` each serves.
pub fn uses(config: &Config, lock: &knap_schema::lock::Lockfile) -> Vec<MirrorUse> {
    use knap_schema::lock::LockedSource;
    let mut out: Vec<MirrorUse> = config
        .mirrors
        .iter()
        .map(|m| MirrorUse {
            prefix: m.prefix.clone(),
            replace: m.replace.clone(),
            token_env: m.token_env.clone(),
            token_set: m
                .token_env
                .as_ref()
                .is_some_and(|v| std::env::var_os(v).is_some_and(|t| !t.is_empty())),
            packs: Vec::new(),
        })
        .collect();
    for p in &lock.packs {
        let url = match &p.source {
            LockedSource::Archive { url, .. } | LockedSource::Git { url, .. } => url,
            _ => continue,
        };
        let Ok(url) = Url::parse(url) else { continue };
        if let Some((i, _)) = knap_schema::config::route(&config.mirrors, &url) {
            out[i].packs.push(format!("{} {}", p.pack_ref, p.version));
        }
    }
    out
}
