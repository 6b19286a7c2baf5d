//! A static-file HTTP server on 127.0.0.1 for knap's tests and benchmarks,
//! shaped like the servers knap meets on real networks.
//!
//! It serves one directory (`GET` and `HEAD`, `ETag` and `Last-Modified`
//! with their conditional requests) and can play:
//!
//! - a modern host: HTTPS offering HTTP/2 and HTTP/1.1 by ALPN (plain HTTP
//!   speaks HTTP/1.1 and HTTP/2 with prior knowledge), with a chosen limit
//!   of concurrent HTTP/2 streams ([`Protocol::Auto`], [`Protocol::Http2`],
//!   [`Protocol::Http1`]);
//! - a small server like python's `http.server` ([`Protocol::Http10`]):
//!   HTTP/1.0 answers with `Connection: close`, one request per connection;
//! - a slow network: every response waits [`Config::delay`] before it is
//!   sent, each request on its own (requests in flight at once wait
//!   together, as over a link with that latency);
//! - a short accept queue: the listening socket gets [`Config::backlog`]
//!   as `listen(2)`'s backlog, and [`Server::pause_accepting`] stops the
//!   accept loop so that a test can fill the queue;
//! - a limit of requests per connection
//!   ([`Config::max_requests_per_connection`]), closed as nginx does (the
//!   requests open are answered) or as hypercorn 0.18 does
//!   ([`Config::abandon_at_limit`]: they are never answered and the
//!   connection closes seconds later).
//!
//! It counts what it sees ([`Stats`]): connections, requests by protocol
//! and status, ALPN results, the peaks of concurrent connections and of
//! requests in flight on one connection (HTTP/2 streams) or on all; the
//! counters are read with [`Server::stats`] or `GET /__stats` (JSON), and
//! an optional log file gets a JSON line per connection event and request,
//! with times, for finding where a client waits. For HTTPS, [`TestPki`]
//! makes a throwaway CA and a server certificate for 127.0.0.1, ::1 and
//! localhost, and writes the CA where the client under test can trust it.
//!
//! The server runs on its own thread with its own tokio runtime, so
//! synchronous and asynchronous tests use it alike; the binary
//! `knap-test-server` wraps it for benchmark scripts.

mod files;
mod pki;
mod server;
mod stats;

pub use pki::{PkiError, PkiFiles, TestPki};
pub use server::{Config, Protocol, Server, ServerError, Settings};
pub use stats::Stats;
