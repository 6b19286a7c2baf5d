//! What the server counts: connections, requests, protocols, peaks of
//! concurrency; updated by the connection tasks, read as a [`Stats`]
//! snapshot.
//!
//! Requests to `/__stats` (the counters' own endpoint) are not counted, nor
//! is a connection whose first request is one: reading the counters does
//! not change them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use crate::server::Settings;

/// A snapshot of the counters since the start or the last reset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Connections accepted.
    pub connections: u64,
    /// Connections open now.
    pub open_connections: u64,
    /// The most connections open at once.
    pub peak_connections: u64,
    /// Requests answered (any status).
    pub requests: u64,
    /// Requests by protocol: `HTTP/1.0`, `HTTP/1.1`, `HTTP/2`.
    pub by_protocol: BTreeMap<String, u64>,
    /// Requests by status code.
    pub by_status: BTreeMap<u16, u64>,
    /// TLS connections by the protocol ALPN chose (`h2`, `http/1.1`, or
    /// `none` when the client offered nothing the server speaks).
    pub alpn: BTreeMap<String, u64>,
    /// TLS handshakes that failed (an untrusted certificate, a client that
    /// went away).
    pub tls_failures: u64,
    /// The most requests in flight at once on one connection: HTTP/2
    /// streams (never above the stream limit); 1 for HTTP/1.x. A request
    /// is in flight from its head's arrival until its response is handed
    /// to the connection (after the delay).
    pub peak_streams: u64,
    /// The most requests in flight at once over all connections.
    pub peak_in_flight: u64,
    /// The most requests one connection carried.
    pub max_requests_per_connection: u64,
    /// Body bytes sent.
    pub bytes_sent: u64,
    /// Requests never answered because their connection reached its
    /// request limit ([`crate::Config::abandon_at_limit`]).
    #[serde(default)]
    pub abandoned: u64,
    /// How the server was started.
    pub settings: Settings,
}

/// The live counters.
pub(crate) struct Counters {
    settings: Settings,
    connections: AtomicU64,
    open: AtomicU64,
    peak_connections: AtomicU64,
    requests: AtomicU64,
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
    peak_streams: AtomicU64,
    max_per_conn: AtomicU64,
    bytes: AtomicU64,
    tls_failures: AtomicU64,
    abandoned: AtomicU64,
    maps: Mutex<Maps>,
}

#[derive(Default)]
struct Maps {
    by_protocol: BTreeMap<String, u64>,
    by_status: BTreeMap<u16, u64>,
    alpn: BTreeMap<String, u64>,
}

/// One connection's own counters.
pub(crate) struct ConnCounters {
    pub id: u64,
    in_flight: AtomicU64,
    requests: AtomicU64,
    /// Its first request was to `/__stats`: not counted.
    control: AtomicBool,
    /// Whether its first request has been seen.
    started: AtomicBool,
    /// What ALPN chose, when it was counted.
    alpn: OnceLock<String>,
}

fn raise(peak: &AtomicU64, value: u64) {
    peak.fetch_max(value, Ordering::SeqCst);
}

impl Counters {
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            connections: AtomicU64::new(0),
            open: AtomicU64::new(0),
            peak_connections: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            peak_in_flight: AtomicU64::new(0),
            peak_streams: AtomicU64::new(0),
            max_per_conn: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            tls_failures: AtomicU64::new(0),
            abandoned: AtomicU64::new(0),
            maps: Mutex::new(Maps::default()),
        }
    }

    /// A connection was accepted; `id` names it in the log.
    pub fn open(&self, id: u64) -> ConnCounters {
        self.connections.fetch_add(1, Ordering::SeqCst);
        let open = self.open.fetch_add(1, Ordering::SeqCst) + 1;
        raise(&self.peak_connections, open);
        ConnCounters {
            id,
            in_flight: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            control: AtomicBool::new(false),
            started: AtomicBool::new(false),
            alpn: OnceLock::new(),
        }
    }

    pub fn close(&self, conn: &ConnCounters) {
        if !conn.control.load(Ordering::SeqCst) {
            self.open.fetch_sub(1, Ordering::SeqCst);
        }
    }

    pub fn alpn(&self, conn: &ConnCounters, protocol: &str) {
        let _ = conn.alpn.set(protocol.to_string());
        *self
            .maps
            .lock()
            .unwrap()
            .alpn
            .entry(protocol.to_string())
            .or_default() += 1;
    }

    pub fn tls_failure(&self) {
        self.tls_failures.fetch_add(1, Ordering::SeqCst);
    }

    pub fn abandoned(&self) {
        self.abandoned.fetch_add(1, Ordering::SeqCst);
    }

    /// A request to `/__stats` arrived on `conn`: if it is the
    /// connection's first, the connection is taken out of the counts.
    pub fn control_request(&self, conn: &ConnCounters) {
        if !conn.started.swap(true, Ordering::SeqCst) {
            conn.control.store(true, Ordering::SeqCst);
            self.connections.fetch_sub(1, Ordering::SeqCst);
            self.open.fetch_sub(1, Ordering::SeqCst);
            if let Some(alpn) = conn.alpn.get() {
                let mut maps = self.maps.lock().unwrap();
                if let Some(n) = maps.alpn.get_mut(alpn) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        maps.alpn.remove(alpn);
                    }
                }
            }
        }
    }

    /// A request's head arrived: it is in flight until the guard drops.
    pub fn begin<'a>(&'a self, conn: &'a ConnCounters) -> InFlight<'a> {
        conn.started.store(true, Ordering::SeqCst);
        raise(
            &self.peak_in_flight,
            self.in_flight.fetch_add(1, Ordering::SeqCst) + 1,
        );
        raise(
            &self.peak_streams,
            conn.in_flight.fetch_add(1, Ordering::SeqCst) + 1,
        );
        InFlight {
            counters: self,
            conn,
        }
    }

    /// A response was handed to the connection.
    pub fn answered(&self, conn: &ConnCounters, protocol: &str, status: u16, bytes: u64) {
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.bytes.fetch_add(bytes, Ordering::SeqCst);
        raise(
            &self.max_per_conn,
            conn.requests.fetch_add(1, Ordering::SeqCst) + 1,
        );
        let mut maps = self.maps.lock().unwrap();
        *maps.by_protocol.entry(protocol.to_string()).or_default() += 1;
        *maps.by_status.entry(status).or_default() += 1;
    }

    pub fn snapshot(&self) -> Stats {
        let maps = self.maps.lock().unwrap();
        let get = |a: &AtomicU64| a.load(Ordering::SeqCst);
        Stats {
            connections: get(&self.connections),
            open_connections: get(&self.open),
            peak_connections: get(&self.peak_connections),
            requests: get(&self.requests),
            by_protocol: maps.by_protocol.clone(),
            by_status: maps.by_status.clone(),
            alpn: maps.alpn.clone(),
            tls_failures: get(&self.tls_failures),
            peak_streams: get(&self.peak_streams),
            peak_in_flight: get(&self.peak_in_flight),
            max_requests_per_connection: get(&self.max_per_conn),
            bytes_sent: get(&self.bytes),
            abandoned: get(&self.abandoned),
            settings: self.settings.clone(),
        }
    }

    /// Counts from zero again; the peaks restart from what is open and in
    /// flight now (connections a client keeps open count on).
    pub fn reset(&self) {
        let mut maps = self.maps.lock().unwrap();
        *maps = Maps::default();
        for a in [
            &self.connections,
            &self.requests,
            &self.peak_streams,
            &self.max_per_conn,
            &self.bytes,
            &self.tls_failures,
            &self.abandoned,
        ] {
            a.store(0, Ordering::SeqCst);
        }
        self.peak_connections
            .store(self.open.load(Ordering::SeqCst), Ordering::SeqCst);
        self.peak_in_flight
            .store(self.in_flight.load(Ordering::SeqCst), Ordering::SeqCst);
    }
}

/// A request in flight; counted out when dropped.
pub(crate) struct InFlight<'a> {
    counters: &'a Counters,
    conn: &'a ConnCounters,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.counters.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.conn.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}
