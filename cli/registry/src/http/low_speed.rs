//! The low-speed rule, as Cargo's `http.low-speed-limit`: a transfer that
//! receives fewer than `KNAP_HTTP_LOW_SPEED_LIMIT` bytes per second (10 by
//! default) over `KNAP_HTTP_LOW_SPEED_TIME` (30 s) is aborted, however
//! steadily its bytes come. The inactivity timeout alone does not catch a
//! server that sends one byte every two seconds; the total deadlines do,
//! but only after minutes. [`LowSpeed`] measures windows of the set time:
//! at the end of each, the bytes received in it must be at least the limit
//! times its length. Index fetches and archive downloads check it as their
//! body arrives ([`super::get`], [`super::download`]); git fetches from a
//! watchdog that stops gix through its interrupt flag
//! ([`crate::git_transport`]).

use std::time::{Duration, Instant};

use url::Url;

use super::client::network_error;
use super::{FetchError, HttpSettings, Limit, timed_out};

/// The next bytes of `resp`'s body, held to the low-speed rule of `meter`
/// (`None`: no rule): checked at the end of every window, even while no
/// byte comes.
pub(super) async fn next_chunk(
    resp: &mut reqwest::Response,
    meter: &mut Option<LowSpeed>,
    url: &Url,
    settings: &HttpSettings,
) -> Result<Option<impl std::ops::Deref<Target = [u8]> + 'static>, FetchError> {
    let Some(m) = meter else {
        return resp
            .chunk()
            .await
            .map_err(|e| network_error(url, e, settings));
    };
    loop {
        let end = tokio::time::Instant::from_std(m.window_end());
        match tokio::time::timeout_at(end, resp.chunk()).await {
            Ok(chunk) => {
                let chunk = chunk.map_err(|e| network_error(url, e, settings))?;
                if let Some(c) = &chunk {
                    m.record(c.len() as u64);
                }
                m.check(Instant::now()).map_err(|l| timed_out(url, l))?;
                return Ok(chunk);
            }
            Err(_) => m.check(Instant::now()).map_err(|l| timed_out(url, l))?,
        }
    }
}

/// One transfer's low-speed meter.
#[derive(Debug, Clone)]
pub struct LowSpeed {
    bytes_per_sec: u64,
    over: Duration,
    window_start: Instant,
    window_bytes: u64,
}

impl LowSpeed {
    /// The meter of a transfer starting now; `None` when the rule is off
    /// (`KNAP_HTTP_LOW_SPEED_LIMIT=0`).
    pub fn start(settings: &HttpSettings) -> Option<Self> {
        (settings.low_speed_limit > 0).then(|| Self {
            bytes_per_sec: settings.low_speed_limit,
            over: settings.low_speed_time,
            window_start: Instant::now(),
            window_bytes: 0,
        })
    }

    /// The limit this meter enforces (for the error).
    pub fn limit(&self) -> Limit {
        Limit::LowSpeed {
            bytes_per_sec: self.bytes_per_sec,
            over: self.over,
        }
    }

    /// When the current window ends: the transfer must be checked then,
    /// whether bytes arrive or not.
    pub fn window_end(&self) -> Instant {
        self.window_start + self.over
    }

    /// Counts `n` bytes received.
    pub fn record(&mut self, n: u64) {
        self.window_bytes = self.window_bytes.saturating_add(n);
    }

    /// At or past the end of a window, whether it received enough: if so a
    /// new window starts; if not the transfer is too slow. Before the end,
    /// nothing to say.
    pub fn check(&mut self, now: Instant) -> Result<(), Limit> {
        if now < self.window_end() {
            return Ok(());
        }
        let needed = (self.bytes_per_sec as f64 * self.over.as_secs_f64()).ceil() as u64;
        if self.window_bytes < needed {
            return Err(self.limit());
        }
        self.window_start = now;
        self.window_bytes = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meter(limit: u64, secs: u64) -> LowSpeed {
        LowSpeed::start(&HttpSettings {
            low_speed_limit: limit,
            low_speed_time: Duration::from_secs(secs),
            ..HttpSettings::default()
        })
        .unwrap()
    }

    #[test]
    fn a_window_with_too_few_bytes_is_too_slow_and_one_with_enough_starts_the_next() {
        let mut m = meter(10, 30);
        let start = m.window_start;
        m.record(299);
        assert_eq!(m.check(start + Duration::from_secs(29)), Ok(()), "not yet");
        assert!(
            m.check(start + Duration::from_secs(30)).is_err(),
            "299 < 300"
        );
        let mut m = meter(10, 30);
        m.record(300);
        assert_eq!(m.check(start + Duration::from_secs(31)), Ok(()));
        assert_eq!(m.window_bytes, 0, "a new window");
        assert!(
            m.check(start + Duration::from_secs(62)).is_err(),
            "nothing since"
        );
    }

    #[test]
    fn the_rule_is_off_at_zero() {
        let s = HttpSettings {
            low_speed_limit: 0,
            ..HttpSettings::default()
        };
        assert!(LowSpeed::start(&s).is_none());
    }
}
