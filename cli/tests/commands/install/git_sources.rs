//! Git install sources an install must refuse or explain: a tree holding
//! `.git` or a control character, one over the entry or size limits, and a
//! commit or repository that is not there.

use std::path::Path;

use knap_test_support::prelude::*;

use crate::fixtures::*;

#[test]
fn a_git_tree_holding_dot_git_at_any_depth_or_a_control_character_is_refused() {
    for (name, reason) in [
        (".git/config", ".git"),
        ("actions/.GIT/config", ".git"),
        ("a/.git./x", ".git"),
        ("a\u{1b}[2J\u{1b}]0;owned\u{7}b", "control character"),
    ] {
        let (s, o) = git_scene(
            &[
                ("pack.yaml", PACK_YAML),
                (name, b"[core]\n\tfsmonitor = touch pwned\n"),
            ],
            "",
        );
        s.assert_refused(name, &o, 4, reason);
    }
}

#[test]
fn git_sources_obey_the_entry_and_size_limits() {
    let many: Vec<(String, Vec<u8>)> = (0..201)
        .map(|i| {
            (
                format!("actions/a{i:03}.yaml"),
                format!("n: {i}\n").into_bytes(),
            )
        })
        .collect();
    let mut tree: Vec<(&str, &[u8])> = vec![("pack.yaml", PACK_YAML)];
    tree.extend(many.iter().map(|(p, d)| (p.as_str(), d.as_slice())));
    let (s, o) = git_scene(&tree, "[limits]\nentries = 50");
    s.assert_refused("201 files under a 50-entry limit", &o, 4, "limits.entries");

    let big = vec![b'z'; 2 << 20];
    let (s, o) = git_scene(
        &[("pack.yaml", PACK_YAML), ("big.bin", &big)],
        "[limits]\nextracted_size = 1048576",
    );
    s.assert_refused(
        "a 2 MiB blob under a 1 MiB limit",
        &o,
        4,
        "limits.extracted_size",
    );
}

#[test]
fn git_errors_name_the_commit_or_the_repository_with_the_right_exit_code() {
    let work = tempfile::tempdir().unwrap();
    let (pack, _) = git_pack(work.path(), "gp", "1.0.0");
    let not_git = work.path().join("not-git");
    std::fs::create_dir(&not_git).unwrap();
    let k = Knap::new();
    let root = k.dir.path().join("root");
    let missing = "a".repeat(40);
    let url = |p: &Path| url::Url::from_directory_path(p).unwrap().to_string();

    let o = k.at(
        &root,
        &["install", &format!("git+{}#{missing}", url(&pack))],
    );
    assert_eq!(o.code, 3, "{o:?}");
    assert!(
        o.stderr
            .contains(&format!("commit {missing} is not in {}", url(&pack))),
        "{}",
        o.stderr
    );
    assert!(!o.stderr.contains("An object with id"), "{}", o.stderr);

    let o = k.at(
        &root,
        &["install", &format!("git+{}#{missing}", url(&not_git))],
    );
    assert_eq!(o.code, 3, "{o:?}");
    assert!(
        o.stderr
            .contains(&format!("{} is not a git repository", url(&not_git))),
        "{}",
        o.stderr
    );
    assert!(!o.stderr.contains("Could not verify"), "{}", o.stderr);

    let gone = work.path().join("gone");
    let o = k.at(
        &root,
        &[
            "install",
            &format!("git+file://{}#{missing}", gone.display()),
        ],
    );
    assert_eq!(o.code, 3, "{o:?}");
    assert!(
        o.stderr.contains("is not a git repository") && o.stderr.contains("does not exist"),
        "{}",
        o.stderr
    );

    // A server that cannot be reached is a network failure (exit 5), with the URL.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let down = format!("http://127.0.0.1:{port}/repo.git");
    let o = k.at(&root, &["install", &format!("git+{down}#{missing}")]);
    assert_eq!(o.code, 5, "{o:?}");
    assert!(o.stderr.contains(&down), "{}", o.stderr);
    assert!(!root.exists(), "nothing was installed");
}
