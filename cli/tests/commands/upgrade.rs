//! `knap upgrade` (and `outdated` of the same root): a yanked version is
//! reported, and an upgrade away from it says why.

use knap_test_support::prelude::*;
use serde_json::json;

/// Marks `r` `version` yanked in the site's index.
fn yank(site: &mut Site, r: &str, version: &str) {
    let key = (r.to_owned(), semver::Version::parse(version).unwrap());
    site.entries.get_mut(&key).unwrap()["yanked"] = json!(true);
    let entries: Vec<serde_json::Value> = site.entries.values().cloned().collect();
    write_json(&site.dir.path().join("index.json"), &index("Site", entries));
}

#[test]
fn a_yanked_install_is_reported_by_outdated_and_upgrade_says_downgraded_and_why() {
    let mut site = Site::new();
    site.publish("p", "1.0.0", &[], &[]);
    site.publish("p", "1.1.0", &[], &[]);
    let k = site.knap();
    let root = k.dir.path().join("root");
    k.at(&root, &["install", "p"]).ok();
    yank(&mut site, "p", "1.1.0");

    let o = k.at(&root, &["--color", "never", "outdated"]).ok();
    assert!(
        o.stdout.contains("p    1.1.0 (yanked)  1.0.0"),
        "{}",
        o.stdout
    );
    assert!(
        o.stderr
            .contains("warning: p 1.1.0 is yanked: `knap upgrade p` moves it to 1.0.0"),
        "{}",
        o.stderr
    );
    assert!(!o.stdout.contains("up to date"), "{}", o.stdout);
    let v = k.at(&root, &["outdated", "--json"]).ok().json();
    assert_eq!(v["packs"][0]["yanked"], true);
    assert_eq!(v["packs"][0]["outdated"], true);

    let o = k.at(&root, &["--color", "never", "upgrade"]).ok();
    assert!(
        o.stdout
            .contains("downgraded p 1.1.0 -> 1.0.0 (1.1.0 was yanked)"),
        "{}",
        o.stdout
    );
    assert!(!o.stdout.contains("upgraded"), "{}", o.stdout);
    let o = k.at(&root, &["--color", "never", "outdated"]).ok();
    assert!(
        o.stdout.contains("the installed pack is up to date"),
        "{}",
        o.stdout
    );

    let o = k.at(&root, &["--color", "never", "install", "p@=1.1.0"]);
    assert_eq!(o.code, 3, "{o:?}");
    assert!(
        o.stderr.contains("you asked for p@=1.1.0, which only the yanked p 1.1.0 satisfies: a yanked version is installed only when knap.lock already names it (available: 1.0.0; yanked, so not chosen: 1.1.0)"),
        "{}",
        o.stderr
    );
    assert!(!o.stderr.contains("))"), "no nested brackets: {}", o.stderr);
}
