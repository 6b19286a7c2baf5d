//! `knap list`: each installed pack, where it came from and why it is
//! there, as text, a tree and JSON.

use knap_test_support::prelude::*;

use crate::fixtures::*;

#[test]
fn list_shortens_a_git_url_in_the_from_column_and_v_or_json_show_it_whole() {
    let k = Knap::new();
    let work = k.dir.path().join("work-git");
    let (pack, sha1) = git_pack(&work, "gitlisted", "0.2.0");
    let file_url = url::Url::from_directory_path(&pack).unwrap().to_string();
    let root = k.dir.path().join("root");
    k.run(&[
        "--root",
        s(&root),
        "install",
        &format!("git+{file_url}#{sha1}"),
    ])
    .ok();
    assert_eq!(digest(&root.join("gitlisted")), digest(&pack));

    let o = k.at(&root, &["--color", "never", "list"]).ok();
    let short = format!("git file:///…/gitlisted-0.2.0#{}", &sha1[..7]);
    assert!(o.stdout.contains(&short), "{}", o.stdout);
    assert!(
        !o.stdout.contains(&sha1),
        "the full commit only with -v:\n{}",
        o.stdout
    );
    let widest = o.stdout.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(widest < 100, "a line of {widest} characters:\n{}", o.stdout);
    assert_out!("git_text", o);

    let o = k.at(&root, &["--color", "never", "-v", "list"]).ok();
    assert!(
        o.stdout.contains(&format!("git {file_url}#{sha1}")),
        "{}",
        o.stdout
    );
    let v = k.at(&root, &["list", "--json"]).ok();
    assert_eq!(v.json()["packs"][0]["source"]["url"], file_url.as_str());
    assert_out!("git_json", v);
}

/// The usual list: registry packs with the dependencies that brought them,
/// as text, a tree and JSON; no root yet.
#[test]
fn list_shows_each_pack_its_origin_and_why_it_is_there() {
    let mut site = Site::new();
    site.publish("core", "1.0.0", &[], &[]);
    site.publish("slack", "2.1.0", &["core@^1"], &[]);
    site.publish("jira", "1.0.0", &[], &[]);
    let k = site.knap_local();
    assert_out!("no_root", k.run(&["list"]));
    assert_out!("no_root_json", k.run(&["list", "--json"]));
    k.run(&["install", "slack", "jira"]).ok();
    assert!(
        k.root().join("knap.lock").is_file(),
        "the default root is used"
    );
    assert_out!("text", k.run(&["--color", "never", "list"]));
    assert_out!("tree", k.run(&["--color", "never", "list", "--tree"]));
    assert_out!("json", k.run(&["list", "--json"]));
}
