//! Downloads of install sources (archives): streamed, retried before the
//! body starts, held to one total deadline, with no transparent decoding.

use knap_schema::progress::Reporter;
use reqwest::header::{ACCEPT_ENCODING, AUTHORIZATION};
use url::Url;

use super::client::{client_builder, network_error};
use super::get::Progress;
use super::{FetchError, HttpPolicy, HttpSettings, Limit, until, with_retries};

/// An HTTP client for the archives of one registry's install sources
/// (or of a direct install): the registry's [`HttpPolicy`] (its redirect
/// rules, its connect and per-read timeouts, its extra CA files, its token
/// for its own origin only), and no transparent decoding: a checksum is of
/// the bytes published, whatever Content-Encoding a server or proxy claims.
#[derive(Clone)]
pub struct Downloader {
    client: reqwest::Client,
    policy: HttpPolicy,
}

impl Downloader {
    pub fn new(policy: &HttpPolicy) -> Result<Self, FetchError> {
        let client = client_builder(policy)?
            .no_gzip()
            .build()
            .map_err(|e| FetchError::setup_caused_by("cannot set up HTTP", e))?;
        Ok(Self {
            client,
            policy: policy.clone(),
        })
    }

    /// Starts the download of `url`: the request is retried (connection
    /// errors and 5xx, see [`super::retryable`]), a body cut off
    /// half-way is not; the whole transfer has one total deadline
    /// (`KNAP_HTTP_DOWNLOAD_TIMEOUT`), kept by [`Download::chunk`] too.
    pub async fn get<'r>(
        &self,
        url: &Url,
        reporter: &'r dyn Reporter,
    ) -> Result<Download<'r>, FetchError> {
        let settings = &self.policy.settings;
        let auth = self.policy.auth.header_for(url)?;
        let deadline = tokio::time::Instant::now() + settings.download_timeout;
        let limit = Limit::DownloadTotal(settings.download_timeout);
        let request = with_retries(settings, || async {
            let mut req = self
                .client
                .get(url.clone())
                .header(ACCEPT_ENCODING, "identity");
            if let Some(v) = &auth {
                req = req.header(AUTHORIZATION, v.clone());
            }
            tracing::debug!("GET {url}");
            let resp = req
                .send()
                .await
                .map_err(|e| network_error(url, e, settings))?;
            let status = resp.status();
            if !status.is_success() {
                return Err(FetchError::Status {
                    url: url.to_string(),
                    status: status.as_u16(),
                });
            }
            Ok(resp)
        });
        let resp = until(deadline, url, limit, request).await?;
        Ok(Download {
            resp,
            meter: super::LowSpeed::start(settings),
            url: url.clone(),
            deadline,
            limit,
            settings: settings.clone(),
            reporter,
            progress: None,
        })
    }
}

/// The body of a download under way (see [`Downloader::get`]).
pub struct Download<'r> {
    resp: reqwest::Response,
    /// The low-speed rule, measured from the start of the body.
    meter: Option<super::LowSpeed>,
    url: Url,
    deadline: tokio::time::Instant,
    limit: Limit,
    settings: HttpSettings,
    reporter: &'r dyn Reporter,
    /// Started with the first chunk asked for.
    progress: Option<Progress<'r>>,
}

impl Download<'_> {
    /// The size the server declares, if it does.
    pub fn declared_len(&self) -> Option<u64> {
        self.resp.content_length()
    }

    /// The next bytes of the body, `None` at its end; within the download's
    /// total deadline. Reports the download's progress events.
    pub async fn chunk(
        &mut self,
    ) -> Result<Option<impl std::ops::Deref<Target = [u8]> + 'static>, FetchError> {
        if self.progress.is_none() {
            let declared = self.declared_len();
            self.progress = Some(Progress::start(self.reporter, &self.url, declared));
        }
        let (url, settings) = (&self.url, &self.settings);
        let (resp, meter) = (&mut self.resp, &mut self.meter);
        let chunk = until(
            self.deadline,
            url,
            self.limit,
            super::low_speed::next_chunk(resp, meter, url, settings),
        )
        .await?;
        match chunk {
            Some(c) => {
                if let Some(p) = &mut self.progress {
                    p.advance(c.len());
                }
                Ok(Some(c))
            }
            None => {
                if let Some(p) = self.progress.take() {
                    p.finish();
                }
                Ok(None)
            }
        }
    }
}
