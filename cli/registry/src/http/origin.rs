//! How requests reach one origin (scheme, host and port): how many are in
//! flight at once, how connections are made, and what happens to the
//! requests a connection leaves unanswered when it goes away.
//!
//! Every index GET ([`super::Fetcher`]) is admitted by its origin's gate
//! ([`Origin::admit`]) and every connection reqwest makes to it passes
//! through [`ConnectLayer`] (a connector layer, so it sees each connect,
//! how long it took and what ALPN chose). What the origin has learned
//! sets the gate:
//!
//! - **HTTP/2** (ALPN `h2`, or a response in HTTP/2): up to
//!   [`HTTP2_IN_FLIGHT`] requests in flight. hyper's pool shares one
//!   connection among a client's requests, and the h2 crate never opens
//!   more streams on it than the server's
//!   `SETTINGS_MAX_CONCURRENT_STREAMS`, holding the rest until streams
//!   free up, so the server's stream limit, not knap, is what bounds the
//!   streams in flight on a connection. Once the first connection carries
//!   [`super::client::HTTP2_SECOND_CONNECTION_AT`] requests, a second
//!   client (with an `Origin` of its own for its connection) takes some
//!   ([`super::client::Lanes`]).
//! - **HTTP/1.x** (keep-alive, whose connections hyper's pool reuses, or a
//!   connection per request): a request in flight is a connection, so the
//!   gate is a connection count: [`HTTP1_CONNECTIONS`] at first and at
//!   most. A connect that stalls (far slower than this origin's connects
//!   so far: a SYN dropped by a full accept queue waits a second for the
//!   kernel's retransmit) or is refused once connects have worked halves
//!   it, and the count just below the one that stalled becomes its ceiling
//!   for the rest of the run; the count grows back by one after as many
//!   good requests as it allows, up to that ceiling. A stalled connect
//!   that a later connect overtook is abandoned (its request is tried
//!   again instead of waiting for the retransmit).
//! - **Not known yet**: the HTTP/1.x start, and one connect at a time.
//!
//! Connections are made one at a time while the protocol is not known or
//! is HTTP/2: hyper-util's pool knows a connection is HTTP/2 only once
//! ALPN has said so, so requests that start together would otherwise each
//! open a connection (and a TLS handshake) first. A connect that waited
//! while an HTTP/2 connection came up does not connect: hyper's pool hands
//! that connection to its request.
//!
//! **A connection that goes away under open requests.** A server that
//! closes an HTTP/2 connection sends GOAWAY with the last stream it will
//! answer. reqwest already sends again, on a new connection, the requests
//! above that stream (its default retry of protocol NACKs: they were never
//! processed). The streams at or below it should be answered before the
//! server closes, and nginx does; hypercorn 0.18 never answers them and
//! closes the connection only at its keep-alive timeout, seconds later.
//! hyper does not tell a client about a GOAWAY, but its consequence is
//! seen here: a new connection to an origin whose HTTP/2 connection has
//! been answering means that connection can take no more requests. The
//! index GETs still waiting for their response head that were sent before
//! it are then sent again on the new connection after a grace period
//! (three times the slowest response head seen, within 250 ms and 2 s),
//! the first answer wins, and the other is dropped. A new connection that
//! has not answered yet is told apart from one that is gone by waiting
//! (at most 2 s) for its first answer: a connect in that time waits too,
//! as hyper's pool hands a new HTTP/2 connection to requests a moment
//! after it is made; one that never answers (a GOAWAY before any answer)
//! is replaced in the same way. So that a run whose
//! every open request was left unanswered does not wait for the
//! connection to close either, a request that waits for its head while
//! nothing at all has come from the origin for a while (four times the
//! slowest head, within 500 ms and 3 s) is sent again, the oldest such
//! one at a time: its new request finds the connection gone, which tells
//! the rest. Only index GETs are sent again, and GETs are idempotent.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::client::legacy::connect::Connection;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::{FetchError, NetCause};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The most requests in flight to an HTTP/2 origin, on its one or two
/// connections: twice the stream limit of the servers registries most
/// often run on (nginx and AWS load balancers 128; Apache, h2o, hypercorn
/// and Fastly 100; Go 250, Cloudflare 256), which is what really bounds
/// each connection's.
pub const HTTP2_IN_FLIGHT: usize = 256;
/// The most connections to an HTTP/1.x origin at once, and the count it
/// starts with: a browser's per-host count.
pub const HTTP1_CONNECTIONS: usize = 6;

/// What an origin speaks, as far as this run knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Unknown,
    Http1,
    Http2,
}

/// One origin's state, shared by every request and connect to it.
pub struct Origin {
    gate: Arc<Semaphore>,
    state: Mutex<State>,
    /// Wakes the requests waiting to be sent again when a connection is
    /// replaced.
    replaced: Notify,
    /// Wakes connects that watch other connects (a stall, a superseded
    /// connect) when a connect ends or an HTTP/2 connection answers.
    changed: Notify,
    /// Held by the connect in progress while the protocol is unknown or
    /// HTTP/2.
    connecting: tokio::sync::Mutex<()>,
}

struct State {
    protocol: Protocol,
    /// What the gate admits now.
    cap: usize,
    /// Permits to drop as they come back (the cap went below the requests
    /// in flight).
    debt: usize,
    // HTTP/1.x
    /// The cap is never raised above this (lowered below a stall).
    ceiling: usize,
    /// Good requests since the cap last grew.
    credit: usize,
    /// Smoothed duration of a completed connect.
    connect_time: Option<Duration>,
    /// When the cap was last lowered.
    backed_off: Option<Instant>,
    /// The start of the latest-started connect that completed.
    latest_done: Option<Instant>,
    // HTTP/2
    /// Counts the HTTP/2 connections made.
    epoch: u64,
    /// The current HTTP/2 connection has answered a request.
    answered: bool,
    /// When an answering HTTP/2 connection was last replaced.
    replaced_at: Option<Instant>,
    // Requests
    /// Requests waiting for their response head (that may be sent again),
    /// by ticket, with when they were sent.
    waiting: BTreeMap<u64, Instant>,
    next_ticket: u64,
    /// When anything last came from the origin (a head or body bytes).
    last_progress: Option<Instant>,
    /// The longest time a request waited for its response head.
    slowest_head: Duration,
    /// A request was sent again for a stall, and nothing has come since.
    stall_resent: bool,
}

impl Origin {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            gate: Arc::new(Semaphore::new(HTTP1_CONNECTIONS)),
            state: Mutex::new(State {
                protocol: Protocol::Unknown,
                cap: HTTP1_CONNECTIONS,
                debt: 0,
                ceiling: HTTP1_CONNECTIONS,
                credit: 0,
                connect_time: None,
                backed_off: None,
                latest_done: None,
                epoch: 0,
                answered: false,
                replaced_at: None,
                waiting: BTreeMap::new(),
                next_ticket: 0,
                last_progress: None,
                slowest_head: Duration::ZERO,
                stall_resent: false,
            }),
            replaced: Notify::new(),
            changed: Notify::new(),
            connecting: tokio::sync::Mutex::new(()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("origin state lock")
    }

    /// What the origin speaks, as far as this run knows.
    pub fn protocol(&self) -> Protocol {
        self.lock().protocol
    }

    /// How many requests the gate admits at once now.
    pub fn limit(&self) -> usize {
        self.lock().cap
    }

    /// Waits until the gate admits one more request; it is in flight until
    /// the [`Admitted`] is dropped.
    pub async fn admit(self: &Arc<Self>) -> Admitted {
        let permit = Arc::clone(&self.gate)
            .acquire_owned()
            .await
            .expect("the gate is never closed");
        Admitted {
            origin: Arc::clone(self),
            permit: Some(permit),
        }
    }

    /// A request being sent: `resendable` if it may be sent again when its
    /// connection goes away unanswered.
    pub fn send(self: &Arc<Self>, resendable: bool) -> Ticket {
        let now = Instant::now();
        let mut s = self.lock();
        let id = s.next_ticket;
        s.next_ticket += 1;
        if resendable {
            s.waiting.insert(id, now);
        }
        Ticket {
            origin: Arc::clone(self),
            id,
            sent: now,
        }
    }

    /// Whether a failed request is worth another try for this origin's
    /// sake: a refused connection once connections have worked (a server
    /// refusing for load, not an address where nothing listens).
    pub fn retry_refused(&self, e: &FetchError) -> bool {
        matches!(
            e,
            FetchError::Network {
                cause: NetCause::Refused,
                ..
            }
        ) && self.lock().latest_done.is_some()
    }

    /// The connector layer that reports this origin's connects.
    pub fn layer(self: &Arc<Self>) -> ConnectLayer {
        ConnectLayer {
            origin: Arc::clone(self),
        }
    }

    /// Sets the gate to `cap`.
    fn set_cap(&self, s: &mut State, cap: usize) {
        if cap > s.cap {
            let more = cap - s.cap;
            let paid = more.min(s.debt);
            s.debt -= paid;
            self.gate.add_permits(more - paid);
        } else if cap < s.cap {
            let less = s.cap - cap;
            let forgotten = self.gate.forget_permits(less);
            s.debt += less - forgotten;
        }
        s.cap = cap;
    }

    /// HTTP/2 learned (by ALPN or a response).
    fn is_http2(&self, s: &mut State) {
        if s.protocol != Protocol::Http2 {
            tracing::debug!("HTTP/2: up to {HTTP2_IN_FLIGHT} requests in flight");
            s.protocol = Protocol::Http2;
            self.set_cap(s, HTTP2_IN_FLIGHT);
        }
    }

    /// HTTP/1.x learned, unless HTTP/2 was.
    fn is_http1(&self, s: &mut State) {
        if s.protocol == Protocol::Unknown {
            s.protocol = Protocol::Http1;
        }
    }

    /// Lowers the HTTP/1.x connection count after a stalled or refused
    /// connect (once for the connects that started before the last time).
    fn back_off(&self, s: &mut State, started: Instant) {
        if s.protocol != Protocol::Http1 || s.backed_off.is_some_and(|t| t >= started) {
            return;
        }
        let cap = s.cap;
        s.ceiling = s.ceiling.min(cap.saturating_sub(1)).max(1);
        let lower = (cap / 2).max(1);
        tracing::debug!(
            "a connect stalled: {lower} connections at once (at most {})",
            s.ceiling
        );
        self.set_cap(s, lower);
        s.credit = 0;
        s.backed_off = Some(Instant::now());
    }

    /// What a connect does before connecting.
    fn plan(&self, started: Instant) -> Plan {
        let mut s = self.lock();
        match s.protocol {
            Protocol::Http1 => Plan::Now,
            Protocol::Http2 if s.answered => {
                // hyper-util's pool connects only when it has no HTTP/2
                // connection that can take a request: the one that was
                // answering is gone (GOAWAY, or closed).
                tracing::debug!("the HTTP/2 connection was replaced");
                s.answered = false;
                s.replaced_at = Some(started);
                drop(s);
                self.replaced.notify_waiters();
                Plan::OneAtATime {
                    epoch: self.lock().epoch,
                    replacing: true,
                }
            }
            Protocol::Http2 | Protocol::Unknown => Plan::OneAtATime {
                epoch: s.epoch,
                replacing: false,
            },
        }
    }

    /// The HTTP/2 connection a connect waited for never answered: the
    /// requests sent before `started` and still waiting are sent again
    /// (see [`Ticket::resend_due`]).
    fn gone_unanswered(&self, started: Instant) {
        if self.lock().protocol != Protocol::Http2 {
            return;
        }
        tracing::debug!("the HTTP/2 connection never answered: it is replaced");
        self.lock().replaced_at = Some(started);
        self.replaced.notify_waiters();
    }

    /// Waits (at most 2 s) for the HTTP/2 connection made while a connect
    /// waited to answer a request: true if it did.
    async fn http2_in_use(&self) -> bool {
        let until = Instant::now() + Duration::from_secs(2);
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.lock().answered {
                return true;
            }
            tokio::select! {
                () = tokio::time::sleep_until(until) => return false,
                () = changed => {}
            }
        }
    }

    /// How long an HTTP/1.x connect may take before it counts as stalled.
    fn stall_after(&self) -> Option<Duration> {
        let s = self.lock();
        if s.protocol != Protocol::Http1 {
            return None;
        }
        s.connect_time
            .map(|t| (t * 8).clamp(Duration::from_millis(100), Duration::from_secs(3)))
    }

    /// Whether a connect that started after `started` has completed.
    fn overtaken(&self, started: Instant) -> bool {
        self.lock().latest_done.is_some_and(|t| t > started)
    }

    fn connected(&self, started: Instant, http2: bool) {
        let took = started.elapsed();
        {
            let mut s = self.lock();
            if http2 {
                self.is_http2(&mut s);
                s.epoch += 1;
                s.answered = false;
            } else {
                self.is_http1(&mut s);
            }
            s.connect_time = Some(match s.connect_time {
                None => took,
                Some(t) => (t * 7 + took) / 8,
            });
            if s.latest_done.is_none_or(|t| t < started) {
                s.latest_done = Some(started);
            }
        }
        self.changed.notify_waiters();
    }

    fn connect_failed(&self, started: Instant, e: &BoxError) {
        let refused = io_kind_in(&**e, std::io::ErrorKind::ConnectionRefused);
        {
            let mut s = self.lock();
            if refused && s.latest_done.is_some() {
                self.back_off(&mut s, started);
            }
        }
        self.changed.notify_waiters();
    }

    /// Makes one connection with `call` (the connector below this layer),
    /// as the module documentation says.
    async fn connect<C, E, Fut>(self: Arc<Self>, call: impl FnOnce() -> Fut) -> Result<C, BoxError>
    where
        C: Connection,
        E: Into<BoxError>,
        Fut: Future<Output = Result<C, E>>,
    {
        let started = Instant::now();
        let Plan::OneAtATime { epoch, replacing } = self.plan(started) else {
            return self.connect_now(started, call).await;
        };
        let mut one = Some(self.connecting.lock().await);
        let (now_epoch, protocol) = {
            let s = self.lock();
            (s.epoch, s.protocol)
        };
        // An HTTP/2 connection came up while this connect waited, or just
        // before it started (hyper's pool learns of a new connection a
        // moment after this layer does, so requests in that moment each
        // connect): hyper's pool gives it to this connect's request and
        // drops this connect (or lets it end in the background, where its
        // error is only logged). Not when this connect replaces a
        // connection that is gone.
        let made_meanwhile = now_epoch != epoch;
        let just_made = !replacing && protocol == Protocol::Http2 && now_epoch > 0;
        if made_meanwhile || just_made {
            one = None;
            if self.http2_in_use().await {
                return Err(Box::new(Superseded));
            }
            // Not one answer from it: that connection is gone before it
            // answered (a GOAWAY at once, a close), and what was sent on
            // it is due to be sent again, as when an answering one is
            // replaced.
            self.gone_unanswered(started);
        } else if protocol == Protocol::Http1 {
            one = None;
        }
        let got = self.connect_now(started, call).await;
        drop(one);
        got
    }

    async fn connect_now<C, E, Fut>(
        &self,
        started: Instant,
        call: impl FnOnce() -> Fut,
    ) -> Result<C, BoxError>
    where
        C: Connection,
        E: Into<BoxError>,
        Fut: Future<Output = Result<C, E>>,
    {
        let fut = call();
        let got = match self.stall_after() {
            None => fut.await.map_err(Into::into),
            Some(after) => self.watched(started, after, fut).await,
        };
        match &got {
            Ok(c) => self.connected(started, c.connected().is_negotiated_h2()),
            Err(e) => self.connect_failed(started, e),
        }
        got
    }

    /// An HTTP/1.x connect watched for a stall: past `after` the connection
    /// count backs off, and once a connect that started later has
    /// completed this one is abandoned.
    async fn watched<C, E>(
        &self,
        started: Instant,
        after: Duration,
        fut: impl Future<Output = Result<C, E>>,
    ) -> Result<C, BoxError>
    where
        E: Into<BoxError>,
    {
        tokio::pin!(fut);
        tokio::select! {
            got = &mut fut => return got.map_err(Into::into),
            () = tokio::time::sleep_until(started + after) => {}
        }
        {
            let mut s = self.lock();
            self.back_off(&mut s, started);
        }
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.overtaken(started) {
                tracing::debug!(
                    "a connect stalled for {:?}; trying again",
                    started.elapsed()
                );
                return Err(Box::new(Stalled));
            }
            tokio::select! {
                got = &mut fut => return got.map_err(Into::into),
                () = changed => {}
            }
        }
    }
}

enum Plan {
    Now,
    /// Connect one at a time; `replacing` an HTTP/2 connection that is gone.
    OneAtATime {
        epoch: u64,
        replacing: bool,
    },
}

/// A request admitted by an origin's gate.
pub struct Admitted {
    origin: Arc<Origin>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut s = self.origin.lock();
        if let Some(p) = self.permit.take()
            && s.debt > 0
        {
            s.debt -= 1;
            p.forget();
        }
    }
}

/// One request sent (an attempt): reports its response to the origin.
pub struct Ticket {
    origin: Arc<Origin>,
    id: u64,
    sent: Instant,
}

impl Ticket {
    /// The response head came, in `version`.
    pub fn head(&self, version: reqwest::Version) {
        let now = Instant::now();
        let http2_answered = {
            let mut s = self.origin.lock();
            s.waiting.remove(&self.id);
            s.last_progress = Some(now);
            s.stall_resent = false;
            s.slowest_head = s.slowest_head.max(now - self.sent);
            if version == reqwest::Version::HTTP_2 {
                self.origin.is_http2(&mut s);
                let first = !s.answered;
                s.answered = true;
                first
            } else {
                self.origin.is_http1(&mut s);
                if s.protocol == Protocol::Http1 {
                    s.credit += 1;
                    if s.credit >= s.cap && s.cap < s.ceiling {
                        let cap = s.cap + 1;
                        self.origin.set_cap(&mut s, cap);
                        s.credit = 0;
                    }
                }
                false
            }
        };
        if http2_answered {
            self.origin.changed.notify_waiters();
        }
    }

    /// Body bytes came.
    pub fn progress(&self) {
        let mut s = self.origin.lock();
        s.last_progress = Some(Instant::now());
        s.stall_resent = false;
    }

    /// Resolves when this request, still waiting for its head, should be
    /// sent again (see the module documentation); never otherwise.
    pub async fn resend_due(&self) {
        loop {
            let replaced = self.origin.replaced.notified();
            tokio::pin!(replaced);
            replaced.as_mut().enable();
            let due = self.due();
            match due {
                Due::Now => return,
                Due::At(at) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = replaced => {}
                    }
                }
                Due::Never => replaced.await,
            }
        }
    }

    fn due(&self) -> Due {
        let now = Instant::now();
        let mut s = self.origin.lock();
        if s.protocol != Protocol::Http2 || !s.waiting.contains_key(&self.id) {
            return Due::Never;
        }
        let slowest = s.slowest_head;
        if let Some(r) = s.replaced_at
            && self.sent < r
        {
            let grace = (slowest * 3).clamp(Duration::from_millis(250), Duration::from_secs(2));
            return if now >= r + grace {
                tracing::debug!(
                    "sent before its connection was replaced, unanswered for {grace:?} since: sending it again"
                );
                Due::Now
            } else {
                Due::At(r + grace)
            };
        }
        let Some(last) = s.last_progress else {
            return Due::Never;
        };
        let quiet = (slowest * 4).clamp(Duration::from_millis(500), Duration::from_secs(3));
        if now < last + quiet {
            return Due::At(last + quiet);
        }
        if !s.stall_resent && s.waiting.keys().next() == Some(&self.id) {
            tracing::debug!(
                "nothing from the server for {:?}: sending the oldest request again",
                now - last
            );
            s.stall_resent = true;
            return Due::Now;
        }
        Due::At(now + quiet)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.origin.lock().waiting.remove(&self.id);
    }
}

enum Due {
    Now,
    At(Instant),
    Never,
}

/// A connect that waited while an HTTP/2 connection came up: the request
/// uses that connection.
#[derive(Debug, thiserror::Error)]
#[error("not connecting: an HTTP/2 connection to the server came up meanwhile")]
struct Superseded;

/// A connect that stalled while later ones completed (its SYN was dropped,
/// most likely by a full accept queue).
#[derive(Debug, thiserror::Error)]
#[error("the connection stalled while others were made (the server's accept queue is full?)")]
struct Stalled;

/// Whether an `io::Error` of `kind` is in `e`'s chain.
fn io_kind_in(e: &(dyn std::error::Error + 'static), kind: std::io::ErrorKind) -> bool {
    let mut cur = Some(e);
    while let Some(c) = cur {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            if io.kind() == kind {
                return true;
            }
            if let Some(inner) = io.get_ref()
                && io_kind_in(inner, kind)
            {
                return true;
            }
        }
        cur = c.source();
    }
    false
}

/// The connector layer of an origin's client (see the module
/// documentation).
#[derive(Clone)]
pub struct ConnectLayer {
    origin: Arc<Origin>,
}

impl<S> tower_layer::Layer<S> for ConnectLayer {
    type Service = Connect<S>;

    fn layer(&self, inner: S) -> Connect<S> {
        Connect {
            inner,
            origin: Arc::clone(&self.origin),
        }
    }
}

/// [`ConnectLayer`]'s service around reqwest's connector.
#[derive(Clone)]
pub struct Connect<S> {
    inner: S,
    origin: Arc<Origin>,
}

impl<S, R> tower_service::Service<R> for Connect<S>
where
    S: tower_service::Service<R> + Clone + Send + 'static,
    S::Response: Connection + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    R: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: R) -> Self::Future {
        // The service made ready by `poll_ready` is the one called (later,
        // after this origin's turn); a clone takes its place.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let origin = Arc::clone(&self.origin);
        Box::pin(origin.connect(move || inner.call(req)))
    }
}
