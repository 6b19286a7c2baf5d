//! `knap info`: who made a pack and what it holds.

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
    let o = k.run(&["--color", "never", "info", "jira"]).ok();
    let out = &o.stdout;
    for line in [
        "  author: Test Author <dev@example.org>",
        "  license: MIT",
        "  homepage: https://jira.example.org/pack",
        "  repository: https://github.com/example/jira",
        "  contents of 1.2.0:",
        "    2 actions: create_issue, close_issue",
        "    1 sensor: issue_sensor",
    ] {
        assert!(out.lines().any(|l| l == line), "`{line}` missing:\n{out}");
    }
    // A requirement picks the version described.
    let o = k.run(&["--color", "never", "info", "jira@=1.0.0"]).ok();
    assert!(
        o.stdout.lines().any(|l| l == "  license: Apache-2.0"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("  contents of 1.0.0: none listed"),
        "{}",
        o.stdout
    );
    let v = k.run(&["info", "jira", "--json"]).ok().json();
    let newest = &v["versions"][1];
    assert_eq!(newest["author"], "Test Author");
    assert_eq!(newest["license"], "MIT");
    assert_eq!(newest["homepage"], "https://jira.example.org/pack");
    assert_eq!(newest["contents"]["actions"][0]["name"], "create_issue");
}
