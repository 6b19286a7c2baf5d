//! The install planner without any server, network or disk: plans computed
//! from a resolution, an old `knap.lock` and the set of packs on disk.

use std::collections::{BTreeMap, BTreeSet};

use knap_installer::plan::{Chosen, Inputs, LockChange, Origin, Plan, Source};
use knap_schema::lock::{LockedPack, LockedSource, Lockfile};
use knap_schema::{Checksum, Dependency, PackRef};

fn r(s: &str) -> PackRef {
    PackRef::parse(s).unwrap()
}

fn v(s: &str) -> semver::Version {
    semver::Version::parse(s).unwrap()
}

fn sum(n: u8) -> Checksum {
    Checksum::from_bytes([n; 32])
}

fn deps(list: &[&str]) -> Vec<Dependency> {
    list.iter().map(|d| Dependency::parse(d).unwrap()).collect()
}

/// The archive source of `pack_ref` `version` in registry `site`.
fn archive(pack_ref: &str, version: &str, checksum: u8) -> Source {
    Source::Archive {
        url: format!("https://site.example/{pack_ref}-{version}.tar.gz")
            .parse()
            .unwrap(),
        checksum: sum(checksum),
    }
}

fn from_site(pack_ref: &str, version: &str, checksum: u8, dependencies: &[&str]) -> Chosen {
    Chosen {
        pack_ref: r(pack_ref),
        version: v(version),
        dependencies: deps(dependencies),
        yanked: false,
        origin: Origin::Registry {
            registry: "site".into(),
            signed: None,
            sources: vec![archive(pack_ref, version, checksum)],
        },
    }
}

/// What the lock records after installing `from_site(...)`.
fn locked(pack_ref: &str, version: &str, checksum: u8, dependencies: &[&str]) -> LockedPack {
    LockedPack {
        pack_ref: r(pack_ref),
        version: v(version),
        registry: Some("site".into()),
        source: archive(pack_ref, version, checksum).locked().unwrap(),
        tree: sum(100 + checksum),
        dependencies: deps(dependencies),
        installed_at: "2026-12-01T00:00:00Z".into(),
        yanked: false,
        signed: None,
    }
}

fn lock(requested: &[(&str, &str)], packs: Vec<LockedPack>) -> Lockfile {
    Lockfile {
        requested: requested
            .iter()
            .map(|(k, req)| (r(k), (*req).to_owned()))
            .collect(),
        packs,
        ..Lockfile::default()
    }
}

fn requested(list: &[(&str, &str)]) -> BTreeMap<PackRef, String> {
    list.iter()
        .map(|(k, req)| (r(k), (*req).to_owned()))
        .collect()
}

fn refs(list: &[&str]) -> BTreeSet<PackRef> {
    list.iter().map(|s| r(s)).collect()
}

fn installs(plan: &Plan) -> Vec<String> {
    plan.install
        .iter()
        .map(|i| format!("{} {}", i.pack_ref, i.version))
        .collect()
}

fn kept(plan: &Plan) -> Vec<String> {
    plan.keep
        .iter()
        .map(|p| format!("{} {}", p.pack_ref, p.version))
        .collect()
}

#[test]
fn a_fresh_install_installs_every_chosen_pack_and_its_json_is_the_dry_run_plan() {
    let present = BTreeSet::new();
    let plan = Plan::resolved(
        vec![
            from_site("core", "1.1.0", 1, &[]),
            from_site("slack", "2.1.0", 2, &["core@^1"]),
        ],
        requested(&[("slack", "*")]),
        Inputs {
            old: None,
            present: &present,
            force: false,
        },
    );
    assert_eq!(installs(&plan), ["core 1.1.0", "slack 2.1.0"]);
    assert!(plan.keep.is_empty() && plan.remove.is_empty());
    assert!(plan.install.iter().all(|i| i.replaces.is_none()));
    // The lock it writes holds what the fetches produced, and the request.
    let fetched = vec![
        locked("slack", "2.1.0", 2, &["core@^1"]),
        locked("core", "1.1.0", 1, &[]),
    ];
    let new = plan.new_lock(None, &fetched);
    assert_eq!(new.requested, requested(&[("slack", "*")]));
    let order: Vec<&str> = new.packs.iter().map(|p| p.pack_ref.as_str()).collect();
    assert_eq!(order, ["core", "slack"], "sorted by ref");
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(
        json["install"],
        serde_json::json!([
            {"ref": "core", "version": "1.1.0", "registry": "site", "previous": null},
            {"ref": "slack", "version": "2.1.0", "registry": "site", "previous": null},
        ])
    );
    assert_eq!(json["unchanged"], serde_json::json!([]));
    assert_eq!(json["remove"], serde_json::json!([]));
    // Everything would change a lock that does not exist.
    let changes = plan.changes_lock(None);
    assert!(changes.contains(&LockChange::Requested), "{changes:?}");
    assert!(
        changes.contains(&LockChange::Added(r("core"))),
        "{changes:?}"
    );
}

#[test]
fn an_upgrade_with_a_dependency_change_replaces_moves_and_removes() {
    // slack 2 needed core@^1 and tools; slack 3 needs core@^2 only.
    let old = lock(
        &[("slack", "*"), ("jira", "*")],
        vec![
            locked("core", "1.1.0", 1, &[]),
            locked("jira", "1.0.0", 5, &["core"]),
            locked("slack", "2.1.0", 2, &["core@^1", "tools"]),
            locked("tools", "1.0.0", 3, &[]),
        ],
    );
    let present = refs(&["core", "jira", "slack", "tools"]);
    let plan = Plan::resolved(
        vec![
            from_site("core", "2.0.0", 7, &[]),
            from_site("jira", "1.0.0", 5, &["core"]),
            from_site("slack", "3.0.0", 8, &["core@^2"]),
        ],
        old.requested.clone(),
        Inputs {
            old: Some(&old),
            present: &present,
            force: false,
        },
    );
    assert_eq!(installs(&plan), ["core 2.0.0", "slack 3.0.0"]);
    let replaced: Vec<String> = plan
        .install
        .iter()
        .map(|i| i.replaces.as_ref().unwrap().version.to_string())
        .collect();
    assert_eq!(replaced, ["1.1.0", "2.1.0"]);
    assert_eq!(kept(&plan), ["jira 1.0.0"]);
    assert_eq!(plan.remove, [r("tools")]);
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["install"][1]["previous"], "2.1.0");
    assert_eq!(json["remove"], serde_json::json!(["tools"]));
    let changes = plan.changes_lock(Some(&old));
    assert_eq!(
        changes,
        [
            LockChange::Removed(r("tools")),
            LockChange::Version {
                pack_ref: r("core"),
                from: v("1.1.0"),
                to: v("2.0.0")
            },
            LockChange::Version {
                pack_ref: r("slack"),
                from: v("2.1.0"),
                to: v("3.0.0")
            },
        ]
    );
    // The new lock: jira kept, the two fetched, tools gone.
    let new = plan.new_lock(
        Some(&old),
        &[
            locked("core", "2.0.0", 7, &[]),
            locked("slack", "3.0.0", 8, &["core@^2"]),
        ],
    );
    let packs: Vec<String> = new
        .packs
        .iter()
        .map(|p| format!("{} {}", p.pack_ref, p.version))
        .collect();
    assert_eq!(packs, ["core 2.0.0", "jira 1.0.0", "slack 3.0.0"]);
}

#[test]
fn uninstall_is_refused_while_a_remaining_pack_needs_the_target() {
    let old = lock(
        &[("slack", "*"), ("jira", "*")],
        vec![
            locked("core", "2.0.0", 1, &[]),
            locked("jira", "1.1.0", 2, &[]),
            locked("slack", "3.0.0", 3, &["core@^2"]),
        ],
    );
    let refused = Plan::uninstall(&old, &refs(&["core"]), false).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "refusing to uninstall: `core` is needed by slack 3.0.0 (core@^2); uninstall those packs too, or pass --force to remove it anyway (they will be left without it)"
    );
    assert_eq!(refused.kind(), knap_schema::ErrorKind::NotFound);
    // Removing the dependant too removes core, which nothing needs then.
    let u = Plan::uninstall(&old, &refs(&["slack"]), false).unwrap();
    assert_eq!(u.plan.remove, [r("core"), r("slack")]);
    assert_eq!(kept(&u.plan), ["jira 1.1.0"]);
    assert_eq!(u.plan.requested, requested(&[("jira", "*")]));
    assert!(u.left_without.is_empty());
    // --force removes it and says who is left without it.
    let u = Plan::uninstall(&old, &refs(&["core"]), true).unwrap();
    assert_eq!(u.plan.remove, [r("core")]);
    assert_eq!(
        serde_json::to_value(&u.left_without).unwrap(),
        serde_json::json!([{"ref": "slack", "needs": "core@^2"}])
    );
}

#[test]
fn locked_passes_when_nothing_changes_and_pins_the_locked_source() {
    let old = lock(&[("slack", "*")], vec![locked("slack", "2.1.0", 2, &[])]);
    // The pack is missing on disk, and the index now lists a mirror first.
    let present = BTreeSet::new();
    let mut chosen = from_site("slack", "2.1.0", 2, &[]);
    if let Origin::Registry { sources, .. } = &mut chosen.origin {
        sources.insert(
            0,
            Source::Archive {
                url: "https://mirror.example/slack.tar.gz".parse().unwrap(),
                checksum: sum(2),
            },
        );
    }
    let plan = Plan::resolved(
        vec![chosen],
        old.requested.clone(),
        Inputs {
            old: Some(&old),
            present: &present,
            force: false,
        },
    );
    assert_eq!(installs(&plan), ["slack 2.1.0"]);
    assert!(plan.changes_lock(Some(&old)).is_empty());
    let plan = plan.locked(Some(&old)).unwrap();
    assert_eq!(
        plan.install[0].sources,
        [archive("slack", "2.1.0", 2)],
        "fetched from the locked source only"
    );
}

#[test]
fn locked_refuses_a_new_version_and_a_new_provenance() {
    let old = lock(&[("slack", "*")], vec![locked("slack", "2.1.0", 2, &[])]);
    let present = refs(&["slack"]);
    let inputs = Inputs {
        old: Some(&old),
        present: &present,
        force: false,
    };
    let newer = Plan::resolved(
        vec![from_site("slack", "2.2.0", 4, &[])],
        old.requested.clone(),
        inputs,
    );
    let err = newer.locked(Some(&old)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "--locked: knap.lock would change (`slack` would move from 2.1.0 to 2.2.0); run without --locked to update it"
    );
    // The same bytes listed by another registry: the provenance changes.
    let mut other = from_site("slack", "2.1.0", 2, &[]);
    if let Origin::Registry { registry, .. } = &mut other.origin {
        *registry = "mirror".into();
    }
    let moved = Plan::resolved(vec![other], old.requested.clone(), inputs);
    assert_eq!(
        moved.changes_lock(Some(&old)),
        [LockChange::Registry {
            pack_ref: r("slack"),
            from: Some("site".into()),
            to: Some("mirror".into())
        }]
    );
    // The same registry and version from another URL: the source changes.
    let mut url = from_site("slack", "2.1.0", 2, &[]);
    if let Origin::Registry { sources, .. } = &mut url.origin {
        sources[0] = Source::Archive {
            url: "https://site.example/moved/slack.tar.gz".parse().unwrap(),
            checksum: sum(2),
        };
    }
    // Not on disk, so it is fetched, from a source the lock does not name.
    let absent = BTreeSet::new();
    let plan = Plan::resolved(
        vec![url],
        old.requested.clone(),
        Inputs {
            present: &absent,
            ..inputs
        },
    );
    assert!(matches!(
        plan.changes_lock(Some(&old)).as_slice(),
        [LockChange::Source { .. }]
    ));
    // A new request changes the lock too.
    let more = Plan::resolved(
        vec![from_site("slack", "2.1.0", 2, &[])],
        requested(&[("slack", "^2")]),
        inputs,
    );
    assert_eq!(more.changes_lock(Some(&old)), [LockChange::Requested]);
}

#[test]
fn a_restore_fetches_only_the_missing_pack_from_its_locked_source() {
    let old = lock(
        &[("slack", "*")],
        vec![
            locked("core", "1.1.0", 1, &[]),
            locked("slack", "2.1.0", 2, &["core@^1"]),
        ],
    );
    let plan = Plan::restore(&old, &refs(&["slack"]), false);
    assert_eq!(installs(&plan), ["core 1.1.0"]);
    assert_eq!(kept(&plan), ["slack 2.1.0"]);
    let core = &plan.install[0];
    assert_eq!(core.sources, [archive("core", "1.1.0", 1)]);
    assert_eq!(core.expect_tree, Some(sum(101)), "the locked tree");
    assert_eq!(core.registry.as_deref(), Some("site"));
    assert!(plan.changes_lock(Some(&old)).is_empty());
    // The lock it writes is the old one with the new installed_at.
    let mut again = old.packs[0].clone();
    again.installed_at = "2026-12-02T00:00:00Z".into();
    let new = plan.new_lock(Some(&old), std::slice::from_ref(&again));
    assert_eq!(new.packs, [again, old.packs[1].clone()]);
    assert_eq!(new.requested, old.requested);
    // --force fetches everything again.
    assert_eq!(
        installs(&Plan::restore(&old, &refs(&["core", "slack"]), true)),
        ["core 1.1.0", "slack 2.1.0"]
    );
    // A pack in a resolution that is missing on disk is fetched again too.
    let plan = Plan::resolved(
        vec![
            from_site("core", "1.1.0", 1, &[]),
            from_site("slack", "2.1.0", 2, &["core@^1"]),
        ],
        old.requested.clone(),
        Inputs {
            old: Some(&old),
            present: &refs(&["slack"]),
            force: false,
        },
    );
    assert_eq!(installs(&plan), ["core 1.1.0"]);
    assert!(plan.changes_lock(Some(&old)).is_empty());
}

#[test]
fn a_direct_pack_is_kept_only_when_the_same_tree_from_the_same_place_is_installed() {
    let source = LockedSource::Path {
        path: "/srv/packs/hello".into(),
    };
    let direct = LockedPack {
        pack_ref: r("hello"),
        version: v("1.0.0"),
        registry: None,
        source: source.clone(),
        tree: sum(9),
        dependencies: Vec::new(),
        installed_at: "2026-12-01T00:00:00Z".into(),
        yanked: false,
        signed: None,
    };
    let old = lock(&[("hello", "=1.0.0")], vec![direct.clone()]);
    let present = refs(&["hello"]);
    let staged = |tree: u8| Chosen {
        pack_ref: r("hello"),
        version: v("1.0.0"),
        dependencies: Vec::new(),
        yanked: false,
        origin: Origin::Staged(LockedPack {
            tree: sum(tree),
            ..direct.clone()
        }),
    };
    let inputs = Inputs {
        old: Some(&old),
        present: &present,
        force: false,
    };
    let same = Plan::resolved(vec![staged(9)], old.requested.clone(), inputs);
    assert!(same.install.is_empty() && kept(&same) == ["hello 1.0.0"]);
    let changed = Plan::resolved(vec![staged(10)], old.requested.clone(), inputs);
    assert_eq!(installs(&changed), ["hello 1.0.0"]);
    let json = serde_json::to_value(&changed).unwrap();
    assert_eq!(
        json["install"][0]["source"],
        "the directory /srv/packs/hello"
    );
    assert_eq!(json["install"][0]["registry"], serde_json::Value::Null);
    // A direct pack kept from the lock (pinned), missing on disk: fetched
    // again from its locked source, to its locked tree.
    let pinned = Chosen {
        origin: Origin::Locked,
        ..staged(9)
    };
    let absent = BTreeSet::new();
    let plan = Plan::resolved(
        vec![pinned],
        old.requested.clone(),
        Inputs {
            present: &absent,
            ..inputs
        },
    );
    assert_eq!(plan.install[0].sources, [Source::from_locked(&source)]);
    assert_eq!(plan.install[0].expect_tree, Some(sum(9)));
    // The same direct pack staged again (`install --locked ./hello` after
    // its directory was removed): installed, but the lock does not change;
    // another tree from the same place is a change.
    let missing = |tree: u8| {
        Plan::resolved(
            vec![staged(tree)],
            old.requested.clone(),
            Inputs {
                present: &absent,
                ..inputs
            },
        )
    };
    let again = missing(9);
    assert_eq!(installs(&again), ["hello 1.0.0"]);
    assert!(
        again.changes_lock(Some(&old)).is_empty(),
        "{:?}",
        again.changes_lock(Some(&old))
    );
    assert!(!missing(10).changes_lock(Some(&old)).is_empty());
}
