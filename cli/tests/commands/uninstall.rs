//! `knap uninstall`: `--force` warns in plain words.

use knap_test_support::prelude::*;

#[test]
fn uninstall_force_prints_a_plain_warning() {
    let mut site = Site::new();
    site.publish("core", "1.0.0", &[], &[]);
    site.publish("app", "1.0.0", &["core@^1"], &[]);
    let k = site.knap();
    let root = k.dir.path().join("root");
    k.at(&root, &["install", "app"]).ok();
    let o = k.at(&root, &["--color", "never", "uninstall", "core"]);
    assert_eq!(o.code, 3, "{o:?}");
    let o = k
        .at(&root, &["--color", "never", "uninstall", "core", "--force"])
        .ok();
    assert!(
        o.stderr
            .lines()
            .any(|l| l.starts_with("warning: --force: ") && l.contains("knap doctor")),
        "{}",
        o.stderr
    );
    assert!(
        !o.stderr.contains(" WARN"),
        "no tracing-style line: {}",
        o.stderr
    );
    assert!(o.stdout.contains("removed core"), "{}", o.stdout);
    let o = k.at(&root, &["-q", "uninstall", "app"]).ok();
    assert_eq!(o.stderr, "");
}
