//! `knap update`: what it says about the indices it read (counts in the
//! singular and plural), as text and JSON, and a registry it cannot read.

use knap_test_support::prelude::*;

use crate::fixtures::*;

#[test]
fn update_says_one_pack_and_one_version_in_the_singular() {
    let k = local_registry(vec![entry("core", "1.0.0", &[])]);
    let o = k.run(&["--color", "never", "update"]).ok();
    assert!(
        !o.stdout.contains("1 packs") && !o.stdout.contains("1 versions"),
        "{}",
        o.stdout
    );
    assert_out!("singular", o);
    let k = local_registry(vec![
        entry("core", "1.0.0", &[]),
        entry("core", "1.1.0", &[]),
    ]);
    assert_out!("plural", k.run(&["--color", "never", "update"]));
    assert_out!("json", k.run(&["--json", "update"]));
}

#[test]
fn update_of_a_registry_it_cannot_read_fails_naming_it() {
    let k = local_registry(vec![entry("core", "1.0.0", &[])]);
    let gone = k.dir.path().join("gone");
    k.run(&["registry", "add", "gone", s(&gone)]).ok();
    assert_out!("unreadable_text", k.run(&["update"]));
    assert_out!("unreadable_json", k.run(&["--json", "update"]));
    assert_out!("one_named_text", k.run(&["update", "local"]));
    assert_out!("unknown_name", k.run(&["update", "nope"]));
}
