//! `knap outdated`: newer versions within and beyond the requirements, as
//! text and JSON; nothing outdated; no root.

use knap_test_support::prelude::*;

#[test]
fn outdated_hints_at_latest_only_when_it_is_beyond_wanted() {
    let mut site = Site::new();
    site.publish("core", "1.0.0", &[], &[]);
    let mut k = site.knap();
    site.name_in(&mut k);
    let root = k.dir.path().join("root");
    assert_out!("no_root", k.at(&root, &["outdated"]));
    k.at(&root, &["install", "core@^1"]).ok();
    assert_out!("up_to_date", k.at(&root, &["--color", "never", "outdated"]));
    site.publish("core", "1.1.0", &[], &[]);
    let o = k.at(&root, &["--color", "never", "outdated"]).ok();
    assert!(
        !o.stdout.contains("beyond"),
        "WANTED = LATEST: {}",
        o.stdout
    );
    assert_out!("wanted_is_latest", o);
    site.publish("core", "2.0.0", &[], &[]);
    let o = k.at(&root, &["--color", "never", "outdated"]).ok();
    assert!(o.stdout.contains("for LATEST beyond it"), "{}", o.stdout);
    assert_out!("latest_beyond_wanted", o);
    assert_out!("json", k.at(&root, &["--json", "outdated"]));
}

/// A LATEST that an installed pack's dependency holds back names that
/// pack, its requirement and whether a newer version of it accepts LATEST,
/// instead of suggesting `knap upgrade REF@REQ`, which would conflict.
#[test]
fn outdated_names_the_installed_pack_that_holds_latest_back() {
    let mut site = Site::new();
    site.publish("core", "1.0.0", &[], &[]);
    site.publish("slack", "2.1.0", &["core@^1"], &[]);
    let mut k = site.knap();
    site.name_in(&mut k);
    let root = k.dir.path().join("root");
    k.at(&root, &["install", "slack@^2", "core"]).ok();
    site.publish("core", "2.0.0", &[], &[]);
    let o = k.at(&root, &["--color", "never", "outdated"]).ok();
    assert!(
        o.stdout.contains(
            "core 2.0.0 is held back by slack 2.1.0, which asks for core@^1 (no version of slack accepts it yet)"
        ),
        "{}",
        o.stdout
    );
    assert!(!o.stdout.contains("REF@REQ"), "{}", o.stdout);
    assert_out!("held_back_text", o);

    site.publish("slack", "3.0.0", &["core@^2"], &[]);
    let o = k.at(&root, &["--color", "never", "outdated"]).ok();
    assert!(
        o.stdout.contains(
            "core 2.0.0 is held back by slack 2.1.0, which asks for core@^1 (slack 3.0.0 accepts it: upgrade both)"
        ),
        "{}",
        o.stdout
    );
    assert_out!("held_back_newer_accepts_text", o);
    let json = k.at(&root, &["--json", "outdated"]).ok().json();
    let core = &json["packs"][0];
    assert_eq!(core["ref"], "core");
    assert_eq!(
        core["held_back"],
        serde_json::json!([{"by": "slack", "version": "2.1.0", "requirement": "^1", "newer_accepts": "3.0.0"}])
    );
    assert_eq!(
        json["packs"][1]["held_back"],
        serde_json::json!([{"by": "requested", "requirement": "^2"}])
    );
}
