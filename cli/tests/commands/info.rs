//! `knap info`: who made a pack and what it holds, every version, as
//! text and JSON; and its usual errors.

use knap_test_support::prelude::*;
use serde_json::json;

use crate::fixtures::*;

#[test]
fn info_shows_author_license_homepage_and_contents() {
    let mut e = entry("jira", "1.2.0", &[]);
    e["email"] = json!("dev@example.org");
    e["homepage"] = json!("https://jira.example.org/pack");
    e["repository"] = json!("https://github.com/example/jira");
    e["license"] = json!("MIT");
    e["contents"] = json!({
        "actions": [
            {"name": "create_issue", "description": "Create an issue"},
            {"name": "close_issue", "description": "Close an issue"},
        ],
        "sensors": [{"name": "issue_sensor", "description": "Watch issues"}],
        "triggers": [], "rules": [], "workflows": [],
    });
    let k = local_registry(vec![entry("jira", "1.0.0", &[]), e]);
    assert_out!("newest_text", k.run(&["--color", "never", "info", "jira"]));
    // A requirement picks the version described.
    assert_out!(
        "requirement_text",
        k.run(&["--color", "never", "info", "jira@=1.0.0"])
    );
    assert_out!("json", k.run(&["info", "jira", "--json"]));
}

/// The usual errors: a ref no registry lists (with the nearest refs), a
/// requirement no version matches, a ref that cannot be one; as text and
/// as the `--json` error object.
#[test]
fn info_errors_say_what_is_missing_and_what_is_near() {
    let k = local_registry(vec![
        entry("jira", "1.0.0", &[]),
        entry("jira", "1.2.0", &[]),
        entry("slack", "2.0.0", &[]),
    ]);
    for (name, args) in [
        ("unknown_ref", &["info", "jiraa"][..]),
        ("no_matching_version", &["info", "jira@^3"][..]),
        ("invalid_ref", &["info", "Bad Ref"][..]),
        ("unknown_ref_json", &["--json", "info", "jiraa"][..]),
        ("invalid_ref_json", &["--json", "info", "Bad Ref"][..]),
        // A capital is no typo of a registry's ref: `install` and `info`
        // both suggest the ref as it is listed.
        ("miscased", &["info", "Jira"][..]),
        ("miscased_requirement", &["info", "Jira@^1"][..]),
    ] {
        assert_out!(name, k.run(args));
    }
}
