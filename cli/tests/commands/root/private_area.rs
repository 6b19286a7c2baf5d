//! The root's private area `.knap`: a symlinked part of it is refused by
//! every command, and read-only commands create and write nothing.

use knap_test_support::prelude::*;

use crate::fixtures::*;

// Finding 5: a symlinked private area is refused and nothing it names is
// emptied or written.

#[cfg(unix)]
#[test]
fn a_symlinked_private_directory_is_refused_by_every_command_and_nothing_outside_is_emptied() {
    for part in [".knap/staging", ".knap/trash", ".knap/files", ".knap"] {
        let mut s = Scene::new();
        let sentinel = s.k.dir.path().join("sentinel");
        s.site.publish("victim", "2.0.0", &[], &[]);
        s.k.run(&["update"]).ok();
        let link = s.root.join(part);
        if part == ".knap" {
            // The whole private area elsewhere: a copy beside the sentinel.
            let moved = s.k.dir.path().join("moved-knap");
            std::fs::rename(&link, &moved).unwrap();
            std::os::unix::fs::symlink(&sentinel, &link).unwrap();
        } else {
            let _ = std::fs::remove_dir_all(&link);
            std::os::unix::fs::symlink(&sentinel, &link).unwrap();
        }
        // The link itself is part of the "before" picture only through
        // the private area, which the snapshot skips.
        let before = Tree::of(&sentinel);
        for args in [
            &["list"][..],
            &["verify"],
            &["outdated"],
            &["doctor"],
            &["install"],
            &["install", "victim@=2.0.0"],
            &["uninstall", "victim"],
        ] {
            let o = s.k.at(&s.root, args);
            assert_exit(&o, 4, "is a symbolic link");
            assert!(
                o.stderr.contains(part),
                "{args:?} names the link: {}",
                o.stderr
            );
            assert_eq!(
                Tree::of(&sentinel),
                before,
                "{args:?} with {part} linked changed what it names"
            );
        }
        assert_eq!(digest(&s.root.join("victim")), s.good_tree);
        assert_eq!(lock_of(&s.root)["packs"][0]["version"], "1.0.0");
    }
}

#[test]
fn read_only_commands_in_a_directory_that_is_not_a_root_create_nothing() {
    let s = Scene::new();
    let other = tempfile::tempdir().unwrap();
    let plain = other.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    std::fs::write(plain.join("notes.txt"), b"mine\n").unwrap();
    let before = Tree::of(&plain);
    for args in [
        &["list"][..],
        &["list", "--json"],
        &["verify"],
        &["outdated"],
        &["doctor"],
        &["info", "victim"],
    ] {
        let o = s.k.at(&plain, args);
        assert!(o.code == 0 || o.code == 3, "{args:?}: {o:#?}");
        assert_eq!(Tree::of(&plain), before, "{args:?} wrote into {plain:?}");
    }
    s.assert_unharmed("");
}

#[test]
fn read_only_commands_on_a_root_write_nothing_in_it() {
    let s = Scene::new();
    let before = Tree::of(&s.root);
    for args in [
        &["list"][..],
        &["list", "--tree"],
        &["verify"],
        &["outdated"],
        &["doctor"],
        &["info", "victim"],
    ] {
        let o = s.k.at(&s.root, args);
        assert_eq!(o.code, 0, "{args:?}: {o:#?}");
        assert_eq!(Tree::of(&s.root), before, "{args:?} wrote into the root");
    }
    s.assert_unharmed("");
    assert_root_consistent(&s.root);
}
