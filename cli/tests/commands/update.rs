//! `knap update`: what it says about the indices it read.

use knap_test_support::prelude::*;

use crate::fixtures::*;

#[test]
fn update_says_one_pack_and_one_version_in_the_singular() {
    let k = local_registry(vec![entry("core", "1.0.0", &[])]);
    let o = k.run(&["--color", "never", "update"]).ok();
    assert!(o.stdout.contains("1 version of 1 pack"), "{}", o.stdout);
    assert!(
        !o.stdout.contains("1 packs") && !o.stdout.contains("1 versions"),
        "{}",
        o.stdout
    );
    let k = local_registry(vec![
        entry("core", "1.0.0", &[]),
        entry("core", "1.1.0", &[]),
    ]);
    let o = k.run(&["--color", "never", "update"]).ok();
    assert!(o.stdout.contains("2 versions of 1 pack"), "{}", o.stdout);
}
