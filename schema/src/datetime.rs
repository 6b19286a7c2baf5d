//! Date-times in knap's files (an index's `last_updated`, a lock's
//! `installed_at`): RFC 3339, written in UTC with whole seconds
//! (`2026-11-21T12:00:00Z`), read strictly. `jiff` is knap's one date-time
//! crate (TUF's `tough` uses it too).

use jiff::Timestamp;

/// Reads an RFC 3339 date-time: `YYYY-MM-DD`, `T`, `hh:mm:ss`, optional
/// fractional seconds, then `Z` or `±hh:mm` (`t` and `z` may be lowercase,
/// as RFC 3339 allows). The looser ISO 8601 forms `jiff` also reads (a
/// space for `T`, no seconds, the basic format) are refused: other tools
/// read these files too.
pub fn parse_rfc3339(s: &str) -> Result<Timestamp, String> {
    if !rfc3339_shape(s.as_bytes()) {
        return Err("not of the form YYYY-MM-DDThh:mm:ssZ or YYYY-MM-DDThh:mm:ss+hh:mm".into());
    }
    s.parse::<Timestamp>().map_err(|e| e.to_string())
}

/// `t` as RFC 3339 in UTC with whole seconds: `2026-11-21T12:00:00Z`.
pub fn format_utc_seconds(t: Timestamp) -> String {
    Timestamp::from_second(t.as_second())
        .unwrap_or(t)
        .to_string()
}

/// Now, as [`format_utc_seconds`] writes it.
pub fn now_utc_seconds() -> String {
    format_utc_seconds(Timestamp::now())
}

fn rfc3339_shape(b: &[u8]) -> bool {
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let at = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
    if !(digits(0..4)
        && at(4, b"-")
        && digits(5..7)
        && at(7, b"-")
        && digits(8..10)
        && at(10, b"Tt")
        && digits(11..13)
        && at(13, b":")
        && digits(14..16)
        && at(16, b":")
        && digits(17..19))
    {
        return false;
    }
    let mut i = 19;
    if at(i, b".") {
        let start = i + 1;
        i = start;
        while at(i, b"0123456789") {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match b.get(i) {
        Some(b'Z' | b'z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            digits(i + 1..i + 3) && at(i + 3, b":") && digits(i + 4..i + 6) && i + 6 == b.len()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_date_times_are_read() {
        for s in [
            "2026-11-21T12:00:00Z",
            "2026-11-21t12:00:00z",
            "2026-11-21T12:00:00.123456Z",
            "2026-11-21T14:00:00+02:00",
            "2026-11-21T07:00:00-05:00",
        ] {
            assert!(parse_rfc3339(s).is_ok(), "{s}");
        }
        assert_eq!(
            parse_rfc3339("2026-11-21T14:00:00+02:00").unwrap(),
            parse_rfc3339("2026-11-21T12:00:00Z").unwrap()
        );
    }

    #[test]
    fn other_iso_8601_forms_and_impossible_dates_are_refused() {
        for s in [
            "",
            "yesterday",
            "2026-11-21",
            "2026-11-21 12:00:00Z",
            "2026-11-21T12:00Z",
            "2026-11-21T12:00:00",
            "20261121T120000Z",
            "2026-11-21T12:00:00.Z",
            "2026-11-21T12:00:00+0200",
            "2026-11-21T12:00:00+02",
            "2026-11-21T12:00:00Z ",
            "2026-02-30T12:00:00Z",
            "2026-11-21T25:00:00Z",
        ] {
            assert!(parse_rfc3339(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn times_are_written_in_utc_with_whole_seconds() {
        let t = parse_rfc3339("2026-11-21T14:00:00.75+02:00").unwrap();
        assert_eq!(format_utc_seconds(t), "2026-11-21T12:00:00Z");
        assert!(parse_rfc3339(&now_utc_seconds()).is_ok());
    }
}
