//! Snapshots of command output with `insta`. A run is turned into its
//! [`Out::transcript`](crate::Out::transcript) (command, exit code, stdout,
//! stderr; the knap's own paths named), and [`settings`] filters out what
//! changes from one run to the next: temporary directories, ports, times
//! and durations. [`assert_out!`](crate::assert_out) does both.
//!
//! Snapshots live in `snapshots/` beside the test file, one `.snap` file a
//! snapshot, named after the module and the test (`assert_out!(out)`), or
//! the module and the name given (`assert_out!("name", out)`, for a test
//! that takes several). When output changes on purpose, review and accept the new
//! snapshots with `cargo insta review` (cargo-insta), or rewrite them all
//! with `INSTA_UPDATE=always cargo test` and review the diff in git.

/// The filters every knap snapshot gets, on top of the current settings.
pub fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    for (pattern, name) in filters() {
        s.add_filter(&pattern, name);
    }
    s
}

/// (regex, replacement) pairs, in the order they apply.
pub fn filters() -> Vec<(String, &'static str)> {
    let tmp = std::env::temp_dir();
    let tmp = tmp.to_string_lossy();
    let tmp = tmp.trim_end_matches('/');
    vec![
        // A temporary directory the test did not name (see
        // [`crate::tempdir`] for `/tmp`).
        (
            format!(r"({}|/tmp)/\.tmp[A-Za-z0-9_]+", escape(tmp)),
            "[TMP]",
        ),
        // A server of the test, on a port the kernel chose.
        (r"(127\.0\.0\.1|localhost|\[::1\]):\d+".into(), "$1:[PORT]"),
        // RFC 3339 date-times.
        (
            r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})".into(),
            "[TIME]",
        ),
        // Durations as knap prints them (`12 ms`, `1.50 s`).
        (r"\b\d+(\.\d+)? ?(ms|s)\b".into(), "[DURATION]"),
    ]
}

/// `s` with every regex metacharacter escaped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if r"\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Asserts a snapshot of a run ([`Out`](crate::Out)) with the filters of
/// [`settings`]: `assert_out!(out)`, or `assert_out!("name", out)` for a
/// test that takes several.
#[macro_export]
macro_rules! assert_out {
    ($out:expr) => {{
        let _filters = $crate::snapshot::settings().bind_to_scope();
        $crate::insta::assert_snapshot!($out.transcript());
    }};
    ($name:expr, $out:expr) => {{
        let _filters = $crate::snapshot::settings().bind_to_scope();
        $crate::insta::assert_snapshot!($name, $out.transcript());
    }};
}

#[cfg(test)]
mod tests {
    #[test]
    fn filters_take_out_ports_times_durations_and_temporary_paths() {
        let tmp = std::env::temp_dir().join(".tmpAbC123");
        let text = format!(
            "GET http://127.0.0.1:40123/index.json at 2026-11-21T12:00:00Z took 12 ms, then 1.50 s, in {}/x; 1.0.0 stays, 3 packs",
            tmp.display()
        );
        // insta applies each filter with `Regex::replace_all`.
        let mut out = text.clone();
        for (pattern, name) in super::filters() {
            out = regex::Regex::new(&pattern)
                .unwrap()
                .replace_all(&out, name)
                .into_owned();
        }
        assert_eq!(
            out,
            "GET http://127.0.0.1:[PORT]/index.json at [TIME] took [DURATION], then [DURATION], in [TMP]/x; 1.0.0 stays, 3 packs"
        );
    }

    #[test]
    fn escaped_text_matches_only_itself() {
        let s = "/tmp/a.b+c(d)";
        let re = regex::Regex::new(&format!("^{}$", super::escape(s))).unwrap();
        assert!(re.is_match(s));
        assert!(!re.is_match("/tmp/aXb+c(d)"));
    }
}
