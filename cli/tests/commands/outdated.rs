//! `knap outdated`: newer versions within and beyond the requirements.

use knap_test_support::prelude::*;

#[test]
fn outdated_hints_at_latest_only_when_it_is_beyond_wanted() {
    let mut site = Site::new();
    site.publish("core", "1.0.0", &[], &[]);
    let k = site.knap();
    let root = k.dir.path().join("root");
    k.at(&root, &["install", "core@^1"]).ok();
    site.publish("core", "1.1.0", &[], &[]);
    let o = k.at(&root, &["--color", "never", "outdated"]).ok();
    assert!(
        o.stdout.contains("core  1.0.0    1.1.0   1.1.0"),
        "{}",
        o.stdout
    );
    assert!(
        !o.stdout.contains("beyond"),
        "WANTED = LATEST: {}",
        o.stdout
    );
    assert!(
        o.stdout.contains("`knap upgrade` installs WANTED"),
        "{}",
        o.stdout
    );

    site.publish("core", "2.0.0", &[], &[]);
    let o = k.at(&root, &["--color", "never", "outdated"]).ok();
    assert!(o.stdout.contains("1.1.0   2.0.0"), "{}", o.stdout);
    assert!(o.stdout.contains("for LATEST beyond it"), "{}", o.stdout);
}
