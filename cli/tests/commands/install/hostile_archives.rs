//! Hostile archives, end to end: the `knap` binary against a real registry
//! on 127.0.0.1 that serves what an attacker would. Every case of the test
//! kit's catalogue (`knap_test_support::hostile`, which the installer's
//! own extraction tests check by typed error) is offered as `victim` 2.0.0
//! to a root with 1.0.0 installed and a sentinel directory beside it; each
//! must exit 4 giving its reason and naming its entry (escaped), print no
//! raw control character, change nothing outside the root's private area
//! and the cache, and leave 1.0.0 installed, intact. Eight installs of one
//! at once, and installs killed mid-extraction, do no harm either.

use std::path::Path;
use std::process::Stdio;

use knap_test_support::archive::{file, tar_of};
use knap_test_support::hostile;
use knap_test_support::prelude::*;

use crate::fixtures::*;

/// Writes the `[limits]` of `case` (or none) into the knap's configuration.
fn set_limits(s: &mut Scene, limits: Option<(u64, u64)>, base_config: &str) {
    let mut config = base_config.to_owned();
    if let Some((bytes, entries)) = limits {
        config.push_str(&format!(
            "\n[limits]\nextracted_size = {bytes}\nentries = {entries}\n"
        ));
    }
    std::fs::write(s.k.config(), config).unwrap();
    s.before = Tree::skipping(s.k.dir.path(), SKIP);
}

#[test]
fn every_hostile_archive_is_refused_with_exit_4_naming_its_entry_and_harms_nothing() {
    let mut s = Scene::new();
    let config = std::fs::read_to_string(s.k.config()).unwrap();
    for case in hostile::archives(PACK_YAML) {
        let served = if case.tar {
            vec![
                (case.name.clone(), case.bytes.clone()),
                (format!("{} (gzipped)", case.name), gz(&case.bytes)),
            ]
        } else {
            vec![(case.name.clone(), case.bytes.clone())]
        };
        set_limits(&mut s, case.limits, &config);
        for (name, bytes) in served {
            s.publish_archive(&bytes);
            let o = s.install_v2();
            s.assert_refused(&name, &o, 4, &case.reason);
            if let Some(entry) = &case.entry {
                assert!(
                    o.stderr.contains(&format!("`{entry}`")),
                    "{name}: the entry `{entry}` is not named: {}",
                    o.stderr
                );
            }
        }
    }
    assert!(!Path::new(hostile::OUTSIDE_ABSOLUTE).exists());
}

/// A .tar.gz of the victim's `pack.yaml`, many honest files, then a
/// `.git/config` that gets it refused.
fn refused_late() -> Vec<u8> {
    gz(&tar_of(|b| {
        file(b, "pack.yaml", PACK_YAML);
        for i in 0..3000 {
            file(b, &format!("actions/a{i:04}.yaml"), &[b'y'; 512]);
        }
        file(b, ".git/config", b"[core]\n");
    }))
}

#[test]
fn concurrent_installs_of_a_hostile_archive_all_fail_and_harm_nothing() {
    let mut s = Scene::new();
    s.publish_archive(&gz(&tar_of(|b| {
        file(b, "pack.yaml", PACK_YAML);
        file(b, ".git/config", b"[core]\n");
    })));
    let args = [
        "--root",
        s.root.to_str().unwrap(),
        "install",
        "victim@2.0.0",
    ];
    let children: Vec<_> = (0..8)
        .map(|_| {
            s.k.command()
                .args(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = s.k.out(&args, c.wait_with_output().unwrap());
        assert_eq!(out.code, 4, "{out:?}");
        assert!(out.stderr.contains(".git"), "{}", out.stderr);
    }
    s.assert_unharmed("8 concurrent hostile installs");
}

#[test]
fn kill_9_during_a_refused_install_leaves_the_old_version() {
    let mut s = Scene::new();
    // Many honest files first, so that the kill lands mid-extraction.
    s.publish_archive(&refused_late());
    for delay_ms in [0u64, 20, 60, 150] {
        let mut child =
            s.k.command()
                .args([
                    "--root",
                    s.root.to_str().unwrap(),
                    "install",
                    "victim@2.0.0",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        // The next command recovers whatever the kill left behind.
        let o = s.k.at(&s.root, &["install", "victim@2.0.0"]);
        s.assert_refused(&format!("after kill -9 at {delay_ms} ms"), &o, 4, ".git");
    }
}

/// What a person sees when an install is refused for an unsafe archive.
#[test]
fn the_refusal_of_an_unsafe_archive_as_text_and_json() {
    let mut s = Scene::new();
    s.site.name_in(&mut s.k);
    s.publish_archive(&gz(&tar_of(|b| {
        file(b, "pack.yaml", PACK_YAML);
        file(b, "../sentinel/pwned", b"x");
    })));
    assert_out!("unsafe_archive_text", s.install_v2());
    assert_out!(
        "unsafe_archive_json",
        s.k.at(&s.root, &["--json", "install", "victim@2.0.0"])
    );
    s.assert_unharmed("refused");
}
