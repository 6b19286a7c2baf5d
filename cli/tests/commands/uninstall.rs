//! `knap uninstall`: what it removes (with the dependencies nothing else
//! needs), the guard on a pack something still needs, `--force` and its
//! plain warning, `-q`; text and JSON.

use knap_test_support::prelude::*;

#[test]
fn uninstall_force_prints_a_plain_warning() {
    let mut site = Site::new();
    site.publish("core", "1.0.0", &[], &[]);
    site.publish("app", "1.0.0", &["core@^1"], &[]);
    let mut k = site.knap();
    site.name_in(&mut k);
    let root = k.dir.path().join("root");
    k.at(&root, &["install", "app"]).ok();
    assert_out!(
        "still_needed",
        k.at(&root, &["--color", "never", "uninstall", "core"])
    );
    assert_out!(
        "still_needed_json",
        k.at(&root, &["--json", "uninstall", "core"])
    );
    let o = k
        .at(&root, &["--color", "never", "uninstall", "core", "--force"])
        .ok();
    assert!(
        o.stderr.lines().any(|l| l.starts_with("warning: --force: ")
            && l.contains(&format!("(see `knap --root {} doctor`)", root.display()))),
        "{}",
        o.stderr
    );
    assert!(
        !o.stderr.contains(" WARN"),
        "no tracing-style line: {}",
        o.stderr
    );
    assert_out!("force", o);
    let o = k.at(&root, &["-q", "uninstall", "app"]).ok();
    assert_eq!(o.stderr, "");
    assert_eq!(o.stdout, "");
    assert_out!("not_installed", k.at(&root, &["uninstall", "app"]));
}

#[test]
fn uninstall_removes_the_dependencies_nothing_else_needs() {
    let mut site = Site::new();
    site.publish("core", "1.0.0", &[], &[]);
    site.publish("app", "1.0.0", &["core@^1"], &[]);
    site.publish("other", "1.0.0", &[], &[]);
    let k = site.knap_local();
    k.run(&["install", "app", "other"]).ok();
    assert_out!("text", k.run(&["--color", "never", "uninstall", "app"]));
    assert_out!("json", k.run(&["--json", "uninstall", "other"]));
    assert_eq!(versions(&k.root()), pairs(&[]));
}
