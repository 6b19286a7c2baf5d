//! The HTTP policy of one registry, used alike by its index fetches
//! ([`super::Fetcher`]), its archive sources ([`super::Downloader`]) and
//! gix's HTTP transport (git registries and git sources,
//! [`crate::git_transport`]):
//!
//! - [`Auth`]: the registry's token, and the one decision of whether a
//!   request URL gets it: only the registry's own scheme, host and port
//!   (so never over a downgraded scheme, another port or another host);
//! - [`TlsRoots`]: the extra CA roots (the global `ca_file`, the
//!   registry's `ca_file`, `SSL_CERT_FILE`) trusted besides the system's;
//! - [`HttpSettings`]: timeouts (connect, per-read inactivity, a total
//!   deadline for fetching an index and another for fetching an install
//!   source, git fetches included), the retries and their backoff, and the
//!   size limit; a timeout names the [`Limit`] it hit and its variable;
//! - whether plain http is allowed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use knap_schema::config::RegistryConfig;
use knap_schema::urls::RegistryLocation;
use reqwest::header::HeaderValue;
use url::Url;

use super::{FetchError, Limit};

/// The default largest document (64 MiB).
pub const DEFAULT_MAX_SIZE: u64 = 64 * 1024 * 1024;

/// Timeouts, retries, the low-speed rule and the size limit.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSettings {
    /// The total deadline of one index or pack document request.
    pub timeout: Duration,
    /// The time to connect.
    pub connect_timeout: Duration,
    /// The longest wait for the next bytes of a response (inactivity).
    pub read_timeout: Duration,
    /// The total deadline of one archive download (archives may be large).
    pub download_timeout: Duration,
    pub retries: u32,
    pub backoff: Duration,
    pub max_size: u64,
    /// The low-speed rule (as Cargo's `http.low-speed-limit`): a transfer
    /// that receives fewer than `low_speed_limit` bytes per second over
    /// `low_speed_time` is aborted. 0 turns the rule off.
    pub low_speed_limit: u64,
    pub low_speed_time: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            download_timeout: Duration::from_secs(30 * 60),
            retries: 3,
            backoff: Duration::from_millis(200),
            max_size: DEFAULT_MAX_SIZE,
            low_speed_limit: 10,
            low_speed_time: Duration::from_secs(30),
        }
    }
}

/// A `KNAP_*` variable whose value knap cannot use (exit 2): never ignored,
/// never a panic.
#[derive(Debug, thiserror::Error)]
#[error("{name}={value:?} is not valid: {name} takes {accepts}")]
pub struct EnvVarError {
    pub name: &'static str,
    /// The value as it was set.
    pub value: String,
    /// What the variable accepts, in words.
    pub accepts: &'static str,
}

impl EnvVarError {
    pub fn kind(&self) -> knap_schema::ErrorKind {
        knap_schema::ErrorKind::Usage
    }

    pub fn hint(&self) -> Option<String> {
        Some(format!(
            "set {} to a valid value, or unset it for the default",
            self.name
        ))
    }
}

/// The longest duration a `KNAP_*` time takes: a year.
const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// A `KNAP_*` time variable of this process that is not an HTTP setting
/// (`KNAP_ENV_TIMEOUT`), read by the same rule as the `KNAP_HTTP_*` times;
/// `None` when unset.
pub fn seconds_from_env(name: &'static str) -> Result<Option<Duration>, EnvVarError> {
    Vars(|n: &str| std::env::var_os(n).map(|v| v.to_string_lossy().into_owned())).seconds(name)
}

/// Reads the `KNAP_*` variables of one process, each in one place.
struct Vars<F>(F);

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    /// A variable's value when set (an empty value is invalid, not unset).
    fn raw(&self, name: &'static str) -> Option<String> {
        (self.0)(name)
    }

    fn seconds(&self, name: &'static str) -> Result<Option<Duration>, EnvVarError> {
        const ACCEPTS: &str =
            "a number of seconds greater than 0 and at most 31536000 (a year), such as 30 or 2.5";
        let Some(v) = self.raw(name) else {
            return Ok(None);
        };
        match v.trim().parse::<f64>() {
            Ok(n) if n.is_finite() && n > 0.0 && n <= MAX_SECONDS => {
                Ok(Some(Duration::from_secs_f64(n)))
            }
            _ => Err(EnvVarError {
                name,
                value: v,
                accepts: ACCEPTS,
            }),
        }
    }

    fn integer(
        &self,
        name: &'static str,
        range: std::ops::RangeInclusive<u64>,
        accepts: &'static str,
    ) -> Result<Option<u64>, EnvVarError> {
        let Some(v) = self.raw(name) else {
            return Ok(None);
        };
        match v.trim().parse::<u64>() {
            Ok(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(EnvVarError {
                name,
                value: v,
                accepts,
            }),
        }
    }
}

impl HttpSettings {
    /// The defaults, overridden by the `KNAP_HTTP_*` variables and
    /// `KNAP_MAX_INDEX_SIZE` (`KNAP_HTTP_READ_TIMEOUT` defaults to
    /// `KNAP_HTTP_TIMEOUT`); a value that is not what its variable takes
    /// is an [`EnvVarError`].
    pub fn from_env() -> Result<Self, EnvVarError> {
        Self::from_vars(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()))
    }

    /// [`from_env`](Self::from_env) over any source of variables.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, EnvVarError> {
        let v = Vars(get);
        let d = Self::default();
        let timeout = v.seconds("KNAP_HTTP_TIMEOUT")?.unwrap_or(d.timeout);
        Ok(Self {
            timeout,
            connect_timeout: v
                .seconds("KNAP_HTTP_CONNECT_TIMEOUT")?
                .unwrap_or(d.connect_timeout),
            read_timeout: v.seconds("KNAP_HTTP_READ_TIMEOUT")?.unwrap_or(timeout),
            download_timeout: v
                .seconds("KNAP_HTTP_DOWNLOAD_TIMEOUT")?
                .unwrap_or(d.download_timeout),
            retries: v
                .integer(
                    "KNAP_HTTP_RETRIES",
                    0..=100,
                    "a whole number of retries from 0 to 100",
                )?
                .map_or(d.retries, |n| n as u32),
            backoff: v
                .integer(
                    "KNAP_HTTP_BACKOFF_MS",
                    0..=600_000,
                    "a whole number of milliseconds from 0 to 600000",
                )?
                .map_or(d.backoff, Duration::from_millis),
            max_size: v
                .integer(
                    "KNAP_MAX_INDEX_SIZE",
                    1..=1 << 40,
                    "a whole number of bytes from 1 to 1099511627776 (1 TiB)",
                )?
                .unwrap_or(d.max_size),
            low_speed_limit: v
                .integer(
                    "KNAP_HTTP_LOW_SPEED_LIMIT",
                    0..=1 << 40,
                    "a whole number of bytes per second (0 turns the low-speed rule off)",
                )?
                .unwrap_or(d.low_speed_limit),
            low_speed_time: v
                .seconds("KNAP_HTTP_LOW_SPEED_TIME")?
                .unwrap_or(d.low_speed_time),
        })
    }
}

/// The scheme, host and port a token is scoped to.
#[derive(Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Origin {
    fn of(url: &Url) -> Option<Self> {
        Some(Self {
            scheme: url.scheme().to_owned(),
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port_or_known_default(),
        })
    }
}

/// The registry's token and where it may go.
#[derive(Clone, Default)]
pub struct Auth {
    token: Option<(Origin, String)>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scope = self
            .token
            .as_ref()
            .map(|(o, _)| format!("{}://{}:{:?}", o.scheme, o.host, o.port));
        f.debug_struct("Auth").field("scope", &scope).finish()
    }
}

impl Auth {
    /// No token.
    pub fn none() -> Self {
        Self::default()
    }

    /// `token` as `Authorization: Bearer`, for requests to `registry`'s
    /// scheme, host and port only. An empty token, or a URL without a host,
    /// gives no token at all.
    pub fn bearer(registry: &Url, token: impl Into<String>) -> Self {
        let token = token.into();
        match Origin::of(registry) {
            Some(o) if !token.is_empty() => Self {
                token: Some((o, token)),
            },
            _ => Self::none(),
        }
    }

    /// Whether there is a token at all.
    pub fn is_set(&self) -> bool {
        self.token.is_some()
    }

    /// Whether a request to `url` carries the token: the same scheme, host
    /// and port as the registry.
    pub fn applies_to(&self, url: &Url) -> bool {
        match (&self.token, Origin::of(url)) {
            (Some((scope, _)), Some(o)) => *scope == o,
            _ => false,
        }
    }

    /// The `Authorization` header for a request to `url`, if it gets one.
    pub fn header_for(&self, url: &Url) -> Result<Option<HeaderValue>, FetchError> {
        match &self.token {
            Some((_, token)) if self.applies_to(url) => {
                let mut v = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                    FetchError::setup("the registry token is not a valid header value")
                })?;
                v.set_sensitive(true);
                Ok(Some(v))
            }
            _ => Ok(None),
        }
    }
}

/// The CA files trusted in addition to the system's roots (plus
/// `SSL_CERT_FILE` when set), read when a client is built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsRoots {
    files: Vec<PathBuf>,
}

impl TlsRoots {
    /// The largest CA file read (a system bundle is about 200 KiB).
    pub const MAX_CA_FILE_BYTES: u64 = 16 * 1024 * 1024;

    pub fn new(files: Vec<PathBuf>) -> Self {
        Self { files }
    }

    /// The configured files (without `SSL_CERT_FILE`).
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The certificates of every file and of `SSL_CERT_FILE`; a file that
    /// cannot be read or holds no certificate is an error naming it. Each
    /// file is read once per run: every client built for it (an origin's
    /// first and second connection, each registry) shares what was read.
    pub fn certificates(&self) -> Result<Vec<reqwest::Certificate>, FetchError> {
        type Read = (PathBuf, Vec<reqwest::Certificate>);
        static READ: std::sync::Mutex<Vec<Read>> = std::sync::Mutex::new(Vec::new());
        let mut certs = Vec::new();
        let mut files = self.files.clone();
        if let Some(f) = crate::config::non_empty_env("SSL_CERT_FILE") {
            files.push(PathBuf::from(f));
        }
        for f in &files {
            if let Some((_, c)) = READ
                .lock()
                .expect("CA cache lock")
                .iter()
                .find(|(p, _)| p == f)
            {
                certs.extend(c.iter().cloned());
                continue;
            }
            let pem =
                knap_schema::fs::read(f, knap_schema::fs::Links::Follow, Self::MAX_CA_FILE_BYTES)
                    .map_err(|e| match e {
                    knap_schema::fs::FileError::Io { error, .. } => FetchError::setup_caused_by(
                        format!("cannot read the CA file {}", f.display()),
                        error,
                    ),
                    other => {
                        FetchError::setup(format!("the CA file {} {}", f.display(), other.reason()))
                    }
                })?;
            let found = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                FetchError::setup_caused_by(
                    format!("{}: not a PEM certificate bundle", f.display()),
                    e,
                )
            })?;
            if found.is_empty() {
                return Err(FetchError::setup(format!(
                    "{}: holds no PEM certificate",
                    f.display()
                )));
            }
            READ.lock()
                .expect("CA cache lock")
                .push((f.clone(), found.clone()));
            certs.extend(found);
        }
        Ok(certs)
    }
}

/// Everything one registry's HTTP traffic follows.
#[derive(Debug, Clone, Default)]
pub struct HttpPolicy {
    pub settings: HttpSettings,
    /// Plain http:// to non-loopback hosts (also on redirects).
    pub allow_http: bool,
    pub auth: Auth,
    pub tls: TlsRoots,
}

impl HttpPolicy {
    /// The policy of a configured registry: its token (from `token_env`)
    /// scoped to its location, the global and its own CA files, and its
    /// `allow_http`. Without a registry (a direct install), no token, the
    /// global CA file and https only.
    pub fn for_registry(
        settings: &HttpSettings,
        global_ca_file: Option<&Path>,
        cfg: Option<&RegistryConfig>,
    ) -> Self {
        let mut files: Vec<PathBuf> = global_ca_file.into_iter().map(Path::to_path_buf).collect();
        let mut allow_http = false;
        let mut auth = Auth::none();
        if let Some(cfg) = cfg {
            files.extend(cfg.ca_file.as_ref().map(PathBuf::from));
            allow_http = cfg.allow_http;
            let location = RegistryLocation::parse(&cfg.url, cfg.allow_http)
                .ok()
                .and_then(|l| match l {
                    RegistryLocation::Http(u)
                    | RegistryLocation::Sparse(u)
                    | RegistryLocation::Git(u) => Some(u),
                    RegistryLocation::Local(_) => None,
                });
            if let (Some(var), Some(url)) = (&cfg.token_env, location)
                && let Some(token) = crate::config::non_empty_env(var)
            {
                auth = Auth::bearer(&url, token);
            }
        }
        Self {
            settings: settings.clone(),
            allow_http,
            auth,
            tls: TlsRoots::new(files),
        }
    }
}

impl HttpPolicy {
    /// The policy of a `[[mirror]]` of install-source hosts: its token
    /// (from `token_env`) scoped to the origin of its `replace` URL only,
    /// the global CA file, and https only (the configuration admits a
    /// plain `http://` mirror only on a loopback host, which needs no
    /// `allow_http`).
    pub fn for_mirror(
        settings: &HttpSettings,
        global_ca_file: Option<&Path>,
        mirror: &knap_schema::config::Mirror,
    ) -> Self {
        let auth = match (&mirror.token_env, mirror.replace_url()) {
            (Some(var), Some(url)) => crate::config::non_empty_env(var)
                .map_or_else(Auth::none, |token| Auth::bearer(&url, token)),
            _ => Auth::none(),
        };
        Self {
            settings: settings.clone(),
            allow_http: false,
            auth,
            tls: TlsRoots::new(global_ca_file.into_iter().map(Path::to_path_buf).collect()),
        }
    }
}

impl HttpSettings {
    /// The inactivity limit.
    pub fn read_limit(&self) -> Limit {
        Limit::Read(self.read_timeout)
    }
}

#[cfg(test)]
mod env_tests {
    use super::*;

    fn with(name: &'static str, value: &'static str) -> Result<HttpSettings, EnvVarError> {
        HttpSettings::from_vars(move |n| (n == name).then(|| value.to_owned()))
    }

    #[test]
    fn every_knap_variable_refuses_what_it_does_not_take_naming_itself() {
        for (name, bad) in [
            ("KNAP_HTTP_TIMEOUT", "99999999999999999999999"),
            ("KNAP_HTTP_TIMEOUT", "1e23"),
            ("KNAP_HTTP_TIMEOUT", "ten"),
            ("KNAP_HTTP_TIMEOUT", ""),
            ("KNAP_HTTP_TIMEOUT", "-1"),
            ("KNAP_HTTP_TIMEOUT", "0"),
            ("KNAP_HTTP_TIMEOUT", "NaN"),
            ("KNAP_HTTP_TIMEOUT", "inf"),
            ("KNAP_HTTP_CONNECT_TIMEOUT", "x"),
            ("KNAP_HTTP_READ_TIMEOUT", "-0.5"),
            ("KNAP_HTTP_DOWNLOAD_TIMEOUT", "1e10"),
            ("KNAP_HTTP_RETRIES", "-1"),
            ("KNAP_HTTP_RETRIES", "2.5"),
            ("KNAP_HTTP_RETRIES", "1000"),
            ("KNAP_HTTP_BACKOFF_MS", "soon"),
            ("KNAP_MAX_INDEX_SIZE", "0"),
            ("KNAP_MAX_INDEX_SIZE", "18446744073709551616"),
            ("KNAP_HTTP_LOW_SPEED_LIMIT", "-10"),
            ("KNAP_HTTP_LOW_SPEED_TIME", ""),
        ] {
            let e = with(name, bad).expect_err(&format!("{name}={bad:?}"));
            assert_eq!(e.name, name);
            assert_eq!(e.value, bad);
            assert_eq!(e.kind(), knap_schema::ErrorKind::Usage);
            let shown = e.to_string();
            assert!(
                shown.starts_with(name) && shown.contains("takes"),
                "{shown}"
            );
        }
    }

    #[test]
    fn valid_values_are_used() {
        assert_eq!(
            with("KNAP_HTTP_TIMEOUT", " 2.5 ").unwrap().timeout,
            Duration::from_millis(2500)
        );
        assert_eq!(
            with("KNAP_HTTP_TIMEOUT", "7").unwrap().read_timeout,
            Duration::from_secs(7)
        );
        assert_eq!(with("KNAP_HTTP_RETRIES", "0").unwrap().retries, 0);
        assert_eq!(
            with("KNAP_HTTP_LOW_SPEED_LIMIT", "0")
                .unwrap()
                .low_speed_limit,
            0
        );
        assert_eq!(
            with("KNAP_HTTP_LOW_SPEED_TIME", "2")
                .unwrap()
                .low_speed_time,
            Duration::from_secs(2)
        );
        assert_eq!(
            HttpSettings::from_vars(|_| None).unwrap(),
            HttpSettings::default()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn the_token_goes_to_the_registrys_scheme_host_and_port_only() {
        let auth = Auth::bearer(&u("https://reg.example/index/"), "t");
        assert!(auth.applies_to(&u("https://reg.example/packs/a.tar.gz")));
        assert!(auth.applies_to(&u("https://REG.example:443/x")));
        assert!(
            !auth.applies_to(&u("http://reg.example/x")),
            "downgraded scheme"
        );
        assert!(
            !auth.applies_to(&u("https://reg.example:8443/x")),
            "another port"
        );
        assert!(
            !auth.applies_to(&u("https://cdn.example/x")),
            "another host"
        );
        assert!(!auth.applies_to(&u("https://reg.example.evil/x")));
        let h = auth
            .header_for(&u("https://reg.example/x"))
            .unwrap()
            .unwrap();
        assert_eq!(h.to_str().unwrap(), "Bearer t");
        assert!(h.is_sensitive());
        assert!(
            auth.header_for(&u("http://reg.example/x"))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn no_token_without_a_token_or_a_host() {
        assert!(!Auth::bearer(&u("https://reg.example/"), "").is_set());
        assert!(!Auth::bearer(&u("file:///srv/index"), "t").is_set());
        assert!(!Auth::none().applies_to(&u("https://reg.example/")));
    }

    #[test]
    fn the_debug_form_never_shows_the_token() {
        let auth = Auth::bearer(&u("https://reg.example/"), "s3cret");
        let text = format!("{auth:?}");
        assert!(
            !text.contains("s3cret") && text.contains("reg.example"),
            "{text}"
        );
    }

    #[test]
    fn a_policy_scopes_the_token_to_the_registry_location() {
        let var = "KNAP_NET_TEST_TOKEN_SCOPE";
        // SAFETY: this test is the only user of the variable.
        unsafe { std::env::set_var(var, "tok") };
        let cfg = RegistryConfig {
            name: "r".into(),
            url: "sparse+https://reg.example:8443/r".into(),
            priority: 100,
            token_env: Some(var.into()),
            allow_http: false,
            ca_file: Some("/ca.pem".into()),
            tuf_root: None,
        };
        let p = HttpPolicy::for_registry(
            &HttpSettings::default(),
            Some(Path::new("/global.pem")),
            Some(&cfg),
        );
        assert!(p.auth.applies_to(&u("https://reg.example:8443/a.tar.gz")));
        assert!(!p.auth.applies_to(&u("https://reg.example/a.tar.gz")));
        assert_eq!(
            p.tls.files(),
            [PathBuf::from("/global.pem"), PathBuf::from("/ca.pem")]
        );
        let direct = HttpPolicy::for_registry(&HttpSettings::default(), None, None);
        assert!(!direct.auth.is_set() && !direct.allow_http);
    }
}
