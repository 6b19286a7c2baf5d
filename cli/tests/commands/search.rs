//! `knap search`: its columns line up across registries; a query, one
//! registry, no match, an unknown registry; text and JSON.

use knap_test_support::prelude::*;

use crate::fixtures::*;

#[test]
fn search_columns_line_up_across_registries_of_any_name_length() {
    let k = Knap::new();
    for (name, r, version) in [
        ("a", "core", "1.0.0"),
        ("long-registry-name", "netbox", "10.20.30"),
    ] {
        let file = k.dir.path().join(format!("{name}/index.json"));
        write_json(&file, &index(name, vec![entry(r, version, &[])]));
        k.run(&["registry", "add", name, s(&file)]).ok();
    }
    let o = k.run(&["--color", "never", "search"]).ok();
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", o.stdout);
    assert!(lines[0].starts_with("REF "), "{}", o.stdout);
    let column = |l: &str, word: &str| l.find(word).unwrap_or_else(|| panic!("{word} in {l}"));
    let desc = lines[0].find("DESCRIPTION").unwrap();
    assert_eq!(column(lines[1], "Does core things"), desc, "{}", o.stdout);
    assert_eq!(column(lines[2], "Does netbox things"), desc, "{}", o.stdout);
    let reg = lines[0].find("REGISTRY").unwrap();
    assert_eq!(column(lines[1], "[a]"), reg, "{}", o.stdout);
    assert_eq!(
        column(lines[2], "[long-registry-name]"),
        reg,
        "{}",
        o.stdout
    );
    assert_out!("two_registries_text", o);
    assert_out!("two_registries_json", k.run(&["--json", "search"]));
    assert_out!(
        "query_text",
        k.run(&["--color", "never", "search", "netbox"])
    );
    assert_out!(
        "one_registry_text",
        k.run(&["--color", "never", "search", "--registry", "a"])
    );
    assert_out!("no_match_text", k.run(&["search", "kubernetes"]));
    assert_out!("no_match_json", k.run(&["--json", "search", "kubernetes"]));
    assert_out!(
        "unknown_registry",
        k.run(&["search", "core", "--registry", "nope"])
    );
}
