//! What the registry kinds fetched over HTTP (a whole index, a sparse
//! registry) share about a GET: fetching a signed file by its
//! consistent-snapshot name, and the error for a `304 Not Modified` that
//! answers a request which named no cached copy.

use url::Url;

use super::RegistryError;
use crate::http::{Fetched, Fetcher};

/// GETs a signed file by its consistent-snapshot URL, else by its plain
/// URL (a host that keeps no hashed copies); the caller checks the bytes
/// against the targets entry.
pub(crate) async fn get_signed(
    fetcher: &Fetcher,
    registry: &str,
    hashed: &Url,
    plain: &Url,
) -> Result<Vec<u8>, RegistryError> {
    let fetch_err = |e| RegistryError::Fetch {
        registry: registry.to_owned(),
        source: e,
    };
    for url in [hashed, plain] {
        match fetcher.get(url, None).await.map_err(fetch_err)? {
            Fetched::Body { bytes, .. } => return Ok(bytes),
            Fetched::NotFound | Fetched::NotModified => continue,
        }
    }
    Err(RegistryError::Untrusted {
        registry: registry.to_owned(),
        message: format!(
            "{plain} is listed in its signed targets but the registry does not serve it"
        ),
    })
}

/// A server that answered `304 Not Modified` to a request without
/// validators (knap has no cached copy it could mean).
pub(crate) fn unconditional_304(registry: &str, url: &Url) -> RegistryError {
    RegistryError::Unavailable {
        registry: registry.to_owned(),
        message: format!(
            "{url}: the server answered 304 Not Modified to a request that named no cached copy (there is none), so there is no index to use; the server or a proxy in between is misconfigured"
        ),
    }
}
