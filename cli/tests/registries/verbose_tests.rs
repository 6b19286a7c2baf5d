//! Issue 14 point 12 (`-v`): `knap install -v` lists each step of the
//! install (resolving, fetching index, downloading, extracting, verifying,
//! committing) with its duration, rendered from the progress events.

use crate::root_tests::{Site, at};

/// Whether `line` is `step NAME: ... (N ms)` or `(N.NN s)`.
fn timed(line: &str, name: &str) -> bool {
    let Some(rest) = line.strip_prefix(&format!("step {name}: ")) else {
        return false;
    };
    let Some(open) = rest.rfind(" (") else {
        return false;
    };
    let Some(d) = rest[open + 2..].strip_suffix(')') else {
        return false;
    };
    let (n, unit) = d.split_once(' ').unwrap_or(("", ""));
    !n.is_empty() && n.parse::<f64>().is_ok() && matches!(unit, "ms" | "s")
}

#[test]
fn install_v_lists_every_step_with_its_duration() {
    let mut site = Site::new();
    site.publish("hello", "1.0.0", &[], &[]);
    let k = site.knap();
    let root = k.dir.path().join("root");
    let o = at(&k, &root, &["-v", "install", "hello"]).ok();
    let lines: Vec<&str> = o.stderr.lines().collect();
    for step in [
        "resolving",
        "fetching index",
        "downloading",
        "extracting",
        "verifying",
        "committing",
    ] {
        assert!(
            lines.iter().any(|l| timed(l, step)),
            "no timed `step {step}` line:\n{}",
            o.stderr
        );
    }
    let at_step = |name: &str| lines.iter().position(|l| timed(l, name)).unwrap();
    let archive = site.server.url("/archives/hello-1.0.0.tar.gz");
    let archive_download = lines
        .iter()
        .position(|l| timed(l, "downloading") && l.contains(&archive))
        .unwrap_or_else(|| panic!("no timed download of {archive}:\n{}", o.stderr));
    assert!(lines[at_step("fetching index")].contains("site"));
    assert!(at_step("fetching index") < at_step("extracting"));
    assert!(at_step("resolving") < at_step("extracting"));
    assert!(archive_download < at_step("extracting"));
    assert!(at_step("extracting") < at_step("verifying"));
    assert!(at_step("verifying") < at_step("committing"));
    // Without -v, no step lines.
    let o = at(&k, &root, &["install", "hello", "--force"]);
    assert!(!o.stderr.contains("step "), "{o:#?}");
}
