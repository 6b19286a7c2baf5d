//! knap's HTTP: the policy of one registry ([`policy`]: its token, CA
//! roots, timeouts, retries, size limit; the `KNAP_HTTP_*` knobs), the
//! clients built from it ([`client`]), one per origin, whose connections
//! and requests in flight [`origin`] manages (HTTP/2 streams, HTTP/1.x
//! connection counts, requests left unanswered by a closing connection),
//! why a transfer failed ([`error`]), retries and deadlines ([`retry`]),
//! the GET of index documents that every HTTP registry shares, conditional
//! or not ([`get`]), and downloads of install sources ([`download`]).

mod client;
mod download;
pub(crate) mod error;
mod get;
mod low_speed;
pub mod origin;
mod policy;
mod retry;

pub use download::{Download, Downloader};
pub use error::{FetchError, Limit, NetCause, timed_out};
pub use get::{Fetched, Fetcher, Validators};
pub use low_speed::LowSpeed;
pub use policy::{Auth, DEFAULT_MAX_SIZE, EnvVarError, HttpPolicy, HttpSettings, TlsRoots};
pub use retry::{retryable, until, with_retries};
