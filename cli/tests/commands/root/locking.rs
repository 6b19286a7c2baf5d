//! Issue 11 finding 3, the root's lock: an install holds the root's
//! exclusive lock only while it reads `knap.lock` to plan and while it
//! commits, never across a download. A `knap list` in the same root
//! finishes while an install is held in a dripping archive download, and
//! another install that commits meanwhile changes `knap.lock`, which the
//! first one then plans against again: both changes are kept.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use knap_test_support::prelude::*;

use crate::fixtures::*;

/// The archive of `victim` 2.0.0 comes one byte at a time, over about 20 s
/// in all (well within the read timeout for each byte).
fn dripping(s: &mut Installed) {
    s.serve_v2_with(|_, body| {
        let every = Duration::from_millis((20_000 / body.len().max(1) as u64).max(1));
        Reply::Drip {
            headers: vec![],
            body,
            every,
        }
    });
    s.k.set("KNAP_HTTP_READ_TIMEOUT", "30");
    s.k.set("KNAP_HTTP_DOWNLOAD_TIMEOUT", "300");
}

/// Starts `knap install victim@=2.0.0` in the background and returns once
/// its download of the archive has begun.
fn install_v2_in_background(s: &Installed) -> Child {
    let mut c = Command::new(env!("CARGO_BIN_EXE_knap"));
    c.args([
        "--root",
        s.root.to_str().unwrap(),
        "install",
        "victim@=2.0.0",
    ]);
    s.k.isolate(&mut c);
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("knap runs");
    let archive = "/archives/victim-2.0.0.tar.gz";
    for _ in 0..600 {
        if s.site.server.requests().iter().any(|r| r.path == archive) {
            return child;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the install never requested {archive}");
}

/// Waits for the background install; it must have succeeded.
#[track_caller]
fn succeeded(child: Child) -> String {
    let o = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert!(o.status.success(), "{stdout}\n{stderr}");
    stdout
}

#[test]
fn knap_list_finishes_while_an_install_is_held_in_a_dripping_download() {
    let mut s = Installed::new();
    dripping(&mut s);
    let mut install = install_v2_in_background(&s);
    let list = s.k.at(&s.root, &["list", "--json"]).ok();
    assert!(
        install.try_wait().unwrap().is_none(),
        "`knap list` returned only after the install ended: it waited for the install's lock"
    );
    // It saw the root as it was: 1.0.0, the download not committed yet.
    let json = list.json();
    assert_eq!(json["packs"][0]["ref"], "victim", "{json}");
    assert_eq!(json["packs"][0]["version"], "1.0.0", "{json}");
    // verify (read-only too) does not wait either, and finds it intact.
    s.k.at(&s.root, &["verify"]).ok();
    assert!(install.try_wait().unwrap().is_none());
    let out = succeeded(install);
    assert!(out.contains("upgraded victim 1.0.0 -> 2.0.0"), "{out}");
    assert_eq!(lock_of(&s.root)["packs"][0]["version"], "2.0.0");
    assert_root_consistent(&s.root);
}

#[test]
fn a_lock_changed_by_another_install_during_the_download_is_planned_against_again() {
    let mut s = Installed::new();
    s.site.publish("other", "1.0.0", &[], &[]);
    s.k.run(&["update"]).ok();
    dripping(&mut s);
    let mut slow = install_v2_in_background(&s);
    // Another install commits into the same root meanwhile.
    let fast = s.k.at(&s.root, &["install", "other"]).ok();
    assert!(fast.stdout.contains("installed other 1.0.0"), "{fast:?}");
    assert!(
        slow.try_wait().unwrap().is_none(),
        "the second install waited for the first one's download"
    );
    let out = succeeded(slow);
    assert!(out.contains("upgraded victim 1.0.0 -> 2.0.0"), "{out}");
    // Both changes are in knap.lock and on disk.
    let lock = lock_of(&s.root);
    assert_eq!(
        lock["requested"],
        serde_json::json!({"other": "*", "victim": "=2.0.0"}),
        "{lock}"
    );
    let packs = refs_at_versions(&lock["packs"]);
    assert_eq!(packs, ["other@1.0.0", "victim@2.0.0"]);
    assert!(s.root.join("other").join("pack.yaml").is_file());
    assert_root_consistent(&s.root);
    s.k.at(&s.root, &["verify"]).ok();
}
