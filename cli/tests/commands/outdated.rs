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
