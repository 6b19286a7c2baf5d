//! `knap upgrade` (and `outdated` of the same root): upgrades within the
//! requirements and to a new one, `--dry-run`, text and JSON; a yanked
//! version is reported, and an upgrade away from it says why.

use knap_test_support::prelude::*;

#[test]
fn upgrade_moves_within_the_requirements_or_to_a_new_one() {
    let mut site = Site::new();
    site.publish("core", "1.0.0", &[], &[]);
    site.publish("app", "1.0.0", &["core@^1"], &[]);
    let k = site.knap_local();
    k.run(&["install", "app"]).ok();
    assert_out!("nothing_to_do", k.run(&["--color", "never", "upgrade"]));
    site.publish("core", "1.1.0", &[], &[]);
    site.publish("core", "2.0.0", &[], &[]);
    site.publish("app", "1.1.0", &["core@^1"], &[]);
    assert_out!(
        "dry_run",
        k.run(&["--color", "never", "upgrade", "--dry-run"])
    );
    assert_eq!(
        versions(&k.root()),
        pairs(&[("app", "1.0.0"), ("core", "1.0.0")])
    );
    assert_out!("text", k.run(&["--color", "never", "upgrade"]));
    assert_eq!(
        versions(&k.root()),
        pairs(&[("app", "1.1.0"), ("core", "1.1.0")])
    );
    // core@^2 conflicts with what app needs.
    assert_out!(
        "conflict",
        k.run(&["--color", "never", "upgrade", "core@^2"])
    );
    assert_out!("conflict_json", k.run(&["--json", "upgrade", "core@^2"]));
    site.publish("app", "2.0.0", &["core@^2"], &[]);
    assert_out!("json", k.run(&["--json", "upgrade", "app@^2"]));
    assert_eq!(
        versions(&k.root()),
        pairs(&[("app", "2.0.0"), ("core", "2.0.0")])
    );
    assert_out!("not_installed", k.run(&["upgrade", "jira"]));
}

#[test]
fn a_yanked_install_is_reported_by_outdated_and_upgrade_says_downgraded_and_why() {
    let mut site = Site::new();
    site.publish("p", "1.0.0", &[], &[]);
    site.publish("p", "1.1.0", &[], &[]);
    let mut k = site.knap();
    site.name_in(&mut k);
    let root = k.dir.path().join("root");
    k.at(&root, &["install", "p"]).ok();
    site.yank("p", "1.1.0");

    let o = k.at(&root, &["--color", "never", "outdated"]).ok();
    assert!(!o.stdout.contains("up to date"), "{}", o.stdout);
    assert_out!("outdated_yanked", o);
    let o = k.at(&root, &["outdated", "--json"]).ok();
    let v = o.json();
    assert_eq!(v["packs"][0]["yanked"], true);
    assert_eq!(v["packs"][0]["outdated"], true);
    assert_out!("outdated_yanked_json", o);

    let o = k.at(&root, &["--color", "never", "upgrade"]).ok();
    assert!(!o.stdout.contains("upgraded"), "{}", o.stdout);
    assert_out!("downgraded", o);
    assert_out!(
        "outdated_after",
        k.at(&root, &["--color", "never", "outdated"])
    );

    let o = k.at(&root, &["--color", "never", "install", "p@=1.1.0"]);
    assert!(!o.stderr.contains("))"), "no nested brackets: {}", o.stderr);
    assert_out!("install_yanked", o);
}
