//! The install root over its whole life, end to end against a real HTTP
//! registry on 127.0.0.1: install, list, outdated after a new version is
//! published, `--locked`, upgrade, guarded uninstall, reinstall from
//! `knap.lock` after the pack directories are deleted, verify; several
//! `knap install` processes at once.

use knap_test_support::prelude::*;
use serde_json::{Value, json};

#[test]
fn round_trip_install_list_outdated_locked_upgrade_uninstall_reinstall_verify() {
    let mut site = Site::new();
    let core1 = site.publish("core", "1.0.0", &[], &[]);
    let slack2 = site.publish("slack", "2.1.0", &["core@^1"], &[]);
    let jira1 = site.publish("jira", "1.0.0", &[], &[]);
    site.publish("extra", "1.0.0", &[], &[]);
    let mut k = site.knap();
    site.name_in(&mut k);
    let root = k.dir.path().join("root");

    // Install.
    assert_out!("install", k.at(&root, &["install", "slack", "jira"]));
    assert_eq!(
        versions(&root),
        pairs(&[("core", "1.0.0"), ("jira", "1.0.0"), ("slack", "2.1.0")])
    );
    assert_eq!(digest(&root.join("core")), digest(&core1));
    assert_eq!(digest(&root.join("slack")), digest(&slack2));
    assert_eq!(digest(&root.join("jira")), digest(&jira1));
    assert_root_consistent(&root);

    // List.
    let list = k.at(&root, &["list", "--json"]).ok().json();
    let packs = list["packs"].as_array().unwrap();
    assert_eq!(packs.len(), 3);
    assert_eq!(packs[0]["ref"], "core");
    assert_eq!(packs[0]["requested"], Value::Null);
    assert_eq!(
        packs[0]["required_by"],
        json!([{"ref": "slack", "requirement": "^1"}])
    );
    assert_eq!(packs[0]["present"], true);
    assert_eq!(packs[2]["ref"], "slack");
    assert_eq!(packs[2]["requested"], "*");
    assert_eq!(packs[2]["registry"], "site");
    let text = k.at(&root, &["list"]).ok().stdout;
    assert!(
        text.lines()
            .any(|l| l.starts_with("core") && l.contains("1.0.0") && l.contains("needed by slack")),
        "{text}"
    );
    let tree = k.at(&root, &["list", "--tree"]).ok().stdout;
    assert_eq!(
        tree.lines().collect::<Vec<_>>(),
        [
            "jira 1.0.0 (requested *)",
            "slack 2.1.0 (requested *)",
            "└── core 1.0.0 (^1)"
        ],
        "{tree}"
    );
    let tree_json = k.at(&root, &["list", "--tree", "--json"]).ok().json();
    assert_eq!(tree_json["tree"][1]["ref"], "slack");
    assert_eq!(tree_json["tree"][1]["dependencies"][0]["ref"], "core");
    assert_eq!(tree_json["tree"][1]["dependencies"][0]["requirement"], "^1");

    // Nothing is outdated yet.
    assert_out!("nothing_outdated", k.at(&root, &["outdated"]));

    // New versions are published: within core's requirement (1.1.0) and
    // beyond it (2.0.0), and a new jira.
    site.publish("core", "1.1.0", &[], &[]);
    site.publish("core", "2.0.0", &[], &[]);
    site.publish("jira", "1.1.0", &[], &[]);
    let lock_before = std::fs::read(root.join("knap.lock")).unwrap();
    let o = k.at(&root, &["outdated", "--json"]).ok().json();
    let row = |r: &str| {
        o["packs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["ref"] == r)
            .unwrap()
            .clone()
    };
    assert_eq!(
        row("core"),
        json!({"ref": "core", "current": "1.0.0", "wanted": "1.1.0", "latest": "2.0.0", "registry": "site", "outdated": true, "yanked": false,
               "held_back": [{"by": "slack", "version": "2.1.0", "requirement": "^1"}]})
    );
    assert_eq!(row("jira")["wanted"], "1.1.0");
    assert_eq!(row("slack")["outdated"], false);
    let text = k.at(&root, &["outdated"]).ok().stdout;
    let core_line = text.lines().find(|l| l.starts_with("core")).unwrap();
    assert_eq!(
        core_line.split_whitespace().collect::<Vec<_>>(),
        ["core", "1.0.0", "1.1.0", "2.0.0", "site"]
    );
    assert!(!text.lines().any(|l| l.starts_with("slack")), "{text}");
    assert_eq!(
        std::fs::read(root.join("knap.lock")).unwrap(),
        lock_before,
        "outdated changes nothing"
    );

    // --locked: the lock as it is passes; anything that would change it
    // exits 3 and changes nothing.
    k.at(&root, &["install", "--locked"]).ok();
    k.at(&root, &["install", "slack", "--locked"]).ok();
    assert_out!(
        "locked_new_pack",
        k.at(&root, &["install", "extra", "--locked"])
    );
    // A new requirement changes the lock.
    assert_out!(
        "locked_new_requirement",
        k.at(&root, &["install", "jira@^1", "--locked"])
    );
    assert_eq!(std::fs::read(root.join("knap.lock")).unwrap(), lock_before);
    assert!(!root.join("extra").exists());

    // Upgrade one pack within its requirement, then everything.
    assert_out!("upgrade_one", k.at(&root, &["upgrade", "core"]));
    assert_eq!(
        versions(&root),
        pairs(&[("core", "1.1.0"), ("jira", "1.0.0"), ("slack", "2.1.0")])
    );
    let o = k.at(&root, &["upgrade", "--json"]).ok().json();
    assert_eq!(o["installed"], json!([{"ref": "jira", "version": "1.1.0"}]));
    assert_eq!(
        versions(&root),
        pairs(&[("core", "1.1.0"), ("jira", "1.1.0"), ("slack", "2.1.0")])
    );
    assert_eq!(
        lock_of(&root)["requested"],
        json!({"jira": "*", "slack": "*"})
    );
    // A new requirement that the installed packs forbid: exit 3, unchanged.
    let before = std::fs::read(root.join("knap.lock")).unwrap();
    assert_out!("upgrade_forbidden", k.at(&root, &["upgrade", "core@^2"]));
    assert_eq!(std::fs::read(root.join("knap.lock")).unwrap(), before);
    // A new major version of slack needs core 2: both move together.
    site.publish("slack", "3.0.0", &["core@^2"], &[]);
    assert_out!("upgrade_major", k.at(&root, &["upgrade", "slack@^3"]));
    assert_eq!(
        versions(&root),
        pairs(&[("core", "2.0.0"), ("jira", "1.1.0"), ("slack", "3.0.0")])
    );
    assert_eq!(
        lock_of(&root)["requested"],
        json!({"jira": "*", "slack": "^3"})
    );
    let o = k.at(&root, &["upgrade", "nosuch"]);
    assert_eq!(o.code, 3, "{o:?}");
    assert_root_consistent(&root);
    k.at(&root, &["verify"]).ok();

    // Guarded uninstall: core is needed by slack.
    let before = std::fs::read(root.join("knap.lock")).unwrap();
    assert_out!("uninstall_guarded", k.at(&root, &["uninstall", "core"]));
    assert!(root.join("core").is_dir());
    assert_eq!(std::fs::read(root.join("knap.lock")).unwrap(), before);
    let o = k.at(&root, &["uninstall", "nosuch"]);
    assert_eq!(o.code, 3, "{o:?}");
    // Removing slack removes core, which nothing needs any more.
    let plan = k
        .at(&root, &["uninstall", "slack", "--dry-run", "--json"])
        .ok()
        .json();
    assert_eq!(plan["remove"], json!(["core", "slack"]));
    assert_eq!(std::fs::read(root.join("knap.lock")).unwrap(), before);
    assert_out!("uninstall", k.at(&root, &["uninstall", "slack"]));
    assert_eq!(versions(&root), pairs(&[("jira", "1.1.0")]));
    assert_eq!(lock_of(&root)["requested"], json!({"jira": "*"}));
    assert!(!root.join("core").exists() && !root.join("slack").exists());
    assert_root_consistent(&root);
    // --force removes a needed pack and leaves its dependent installed.
    k.at(&root, &["install", "slack"]).ok();
    assert_eq!(
        versions(&root),
        pairs(&[("core", "2.0.0"), ("jira", "1.1.0"), ("slack", "3.0.0")])
    );
    let o = k
        .at(&root, &["uninstall", "core", "--force", "--json"])
        .ok()
        .json();
    assert_eq!(o["removed"], json!(["core"]));
    assert_eq!(
        o["left_without_dependency"],
        json!([{"ref": "slack", "needs": "core@^2"}])
    );
    assert_eq!(
        versions(&root),
        pairs(&[("jira", "1.1.0"), ("slack", "3.0.0")])
    );
    assert_out!(
        "tree_without_a_dependency",
        k.at(&root, &["list", "--tree"])
    );
    // Installing slack again brings core back.
    k.at(&root, &["install", "slack"]).ok();
    assert_eq!(
        versions(&root),
        pairs(&[("core", "2.0.0"), ("jira", "1.1.0"), ("slack", "3.0.0")])
    );

    // Delete every pack directory and reinstall exactly what knap.lock says.
    let lock = lock_of(&root);
    for (r, _) in versions(&root) {
        std::fs::remove_dir_all(root.join(&r)).unwrap();
    }
    let o = k.at(&root, &["verify", "--json"]);
    assert_eq!(o.code, 4, "{o:?}");
    assert!(
        o.json()["packs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["status"] == "missing")
    );
    let o = k.at(&root, &["install", "--locked"]).ok();
    assert_eq!(o.stdout.matches("installed ").count(), 3, "{o:?}");
    let relock = lock_of(&root);
    assert_eq!(relock["requested"], lock["requested"]);
    for (a, b) in relock["packs"]
        .as_array()
        .unwrap()
        .iter()
        .zip(lock["packs"].as_array().unwrap())
    {
        for field in [
            "ref",
            "version",
            "registry",
            "source",
            "tree",
            "dependencies",
        ] {
            assert_eq!(a[field], b[field], "{field} of {}", a["ref"]);
        }
    }
    assert_root_consistent(&root);
    let v = k.at(&root, &["verify", "--json"]).ok().json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["packs"].as_array().unwrap().len(), 3);
    let text = k.at(&root, &["verify"]).ok().stdout;
    assert_eq!(text.matches(" ok").count(), 3, "{text}");
}

#[test]
fn concurrent_installs_into_one_root_all_succeed_and_the_lock_lists_every_pack() {
    let mut site = Site::new();
    let n = 5;
    let big: Vec<(String, Vec<u8>)> = (0..200)
        .map(|i| {
            (
                format!("data/f{i}.txt"),
                format!("{i}\n").repeat(50).into_bytes(),
            )
        })
        .collect();
    for i in 0..n {
        site.publish(&format!("p{i}"), "1.0.0", &[], &big);
    }
    let k = site.knap();
    let root = k.dir.path().join("root");
    let outs: Vec<Out> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (k, root) = (&k, &root);
                s.spawn(move || k.at(root, &["install", &format!("p{i}")]))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for o in &outs {
        assert_eq!(o.code, 0, "{o:?}");
    }
    let want: Vec<(String, String)> = (0..n).map(|i| (format!("p{i}"), "1.0.0".into())).collect();
    assert_eq!(versions(&root), want);
    let requested = lock_of(&root)["requested"].clone();
    assert_eq!(requested.as_object().unwrap().len(), n);
    assert_root_consistent(&root);
    k.at(&root, &["verify"]).ok();
}
