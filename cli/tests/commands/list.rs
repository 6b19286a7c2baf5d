//! `knap list`: where each installed pack came from.

use knap_test_support::prelude::*;

use crate::fixtures::*;

#[test]
fn list_shortens_a_git_url_in_the_from_column_and_v_or_json_show_it_whole() {
    let work = tempfile::tempdir().unwrap();
    let (pack, sha1) = git_pack(work.path(), "gitlisted", "0.2.0");
    let file_url = url::Url::from_directory_path(&pack).unwrap().to_string();
    let k = Knap::new();
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

    let o = k.at(&root, &["--color", "never", "-v", "list"]).ok();
    assert!(
        o.stdout.contains(&format!("git {file_url}#{sha1}")),
        "{}",
        o.stdout
    );
    let v = k.at(&root, &["list", "--json"]).ok().json();
    assert_eq!(v["packs"][0]["source"]["url"], file_url.as_str());
}
