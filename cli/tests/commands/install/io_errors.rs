//! Installs that the machine makes fail: a full disk (a size-limited tmpfs
//! as the root, in a private mount namespace), a per-process file size
//! limit (`ulimit -f`, which needs no privileges), and a read-only root
//! (`chmod` when it binds this user; as root, which chmod does not stop, a
//! tmpfs remounted read-only in a private mount namespace). Each must fail
//! with an error that says what happened, and leave the root byte for byte
//! as it was, `knap verify` clean.
//!
//! The namespace cases need `unshare` (util-linux) and either root or
//! unprivileged user namespaces; without them they print SKIPPED.

use std::path::Path;

use knap_test_support::prelude::*;

use crate::fixtures::*;

/// Everything under `dir` but the root's lock file.
fn snapshot(dir: &Path) -> Tree {
    Tree::skipping(dir, &[".knap/lock"])
}

/// Bytes that do not compress: a 64-bit LCG.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 56) as u8
        })
        .collect()
}

#[test]
fn a_full_disk_during_install_fails_clearly_and_changes_nothing() {
    let Some(ns) = mount_namespace() else { return };
    let mut site = Site::new();
    site.publish("pack", "1.0.0", &[], &[]);
    site.publish(
        "pack",
        "2.0.0",
        &[],
        &[("data/blob.bin".to_string(), noise(3 << 20))],
    );
    let k = site.knap();
    let root = k.dir.path().join("root");
    let out = k.dir.path().join("out");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    // The root is a 1 MiB tmpfs: version 1 fits, version 2 (3 MiB) cannot.
    let script = format!(
        r#"set -e
R='{root}'; O='{out}'
mount -t tmpfs -o size=1m knap-full "$R"
"$KNAP" --root "$R" install pack@=1.0.0 >/dev/null
cp -a "$R" "$O/before"
set +e
"$KNAP" --root "$R" install pack@=2.0.0 >"$O/stdout" 2>"$O/stderr"
echo $? >"$O/code"
set -e
cp -a "$R" "$O/after"
"$KNAP" --root "$R" verify >"$O/verify" 2>&1; echo $? >"$O/verify_code"
"#,
        root = root.display(),
        out = out.display()
    );
    let o = shell(&k, &ns, &script);
    assert!(o.status.success(), "{o:?}");
    let stderr = read(out.join("stderr"));
    assert_eq!(read(out.join("code")).trim(), "1", "{stderr}");
    assert!(
        stderr.contains("No space left on device")
            && stderr.contains("free some space")
            && stderr.contains("nothing was installed"),
        "{stderr}"
    );
    assert_eq!(snapshot(&out.join("after")), snapshot(&out.join("before")));
    assert_eq!(read(out.join("verify_code")).trim(), "0");
    assert!(read(out.join("verify")).contains("pack 1.0.0  ok"));
}

#[test]
fn a_file_size_limit_during_install_fails_clearly_and_changes_nothing() {
    let mut site = Site::new();
    site.publish("pack", "1.0.0", &[], &[]);
    // 4 MiB of zeros: a tiny archive, a file beyond the limit below.
    site.publish(
        "pack",
        "2.0.0",
        &[],
        &[("data/zeros.bin".to_string(), vec![0u8; 4 << 20])],
    );
    let k = site.knap();
    let root = k.dir.path().join("root");
    k.at(&root, &["install", "pack@=1.0.0"]).ok();
    let before = snapshot(&root);
    // SIGXFSZ ignored, so an over-limit write fails with EFBIG instead of
    // killing the process; 1024 blocks of 1 KiB.
    let script = format!(
        r#"trap '' XFSZ; ulimit -f 1024; exec "$KNAP" --root '{}' install pack@=2.0.0"#,
        root.display()
    );
    let o = shell(&k, &["env"], &script);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("File too large") && stderr.contains("nothing was installed"),
        "{stderr}"
    );
    assert!(stderr.contains("zeros.bin"), "names the file: {stderr}");
    assert_eq!(snapshot(&root), before);
    k.at(&root, &["verify"]).ok();
}

/// True when this process can write into a directory whose mode forbids it
/// (root, CAP_DAC_OVERRIDE): then chmod proves nothing.
fn chmod_does_not_bind() -> bool {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
    let wrote = std::fs::write(d.path().join("probe"), b"x").is_ok();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    wrote
}

#[test]
fn a_read_only_root_fails_clearly_and_changes_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let mut site = Site::new();
    site.publish("pack", "1.0.0", &[], &[]);
    site.publish("pack", "2.0.0", &[], &[]);
    let k = site.knap();
    let root = k.dir.path().join("root");

    if !chmod_does_not_bind() {
        // An unwritable root directory (knap's private area inside stays
        // writable): everything up to the commit works, the first move of
        // a pack directory fails, and the commit undoes itself.
        k.at(&root, &["install", "pack@=1.0.0"]).ok();
        let before = snapshot(&root);
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o555)).unwrap();
        let o = k.at(&root, &["install", "pack@=2.0.0"]);
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(o.code, 1, "{o:?}");
        assert!(
            o.stderr.contains("Permission denied") && o.stderr.contains("not writable"),
            "{}",
            o.stderr
        );
        assert_eq!(snapshot(&root), before);
        k.at(&root, &["verify"]).ok();
        return;
    }

    // As root: a tmpfs remounted read-only.
    let Some(ns) = mount_namespace() else { return };
    let out = k.dir.path().join("out");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let script = format!(
        r#"set -e
R='{root}'; O='{out}'
mount -t tmpfs -o size=8m knap-ro "$R"
"$KNAP" --root "$R" install pack@=1.0.0 >/dev/null
cp -a "$R" "$O/before"
mount -o remount,ro "$R"
set +e
"$KNAP" --root "$R" install pack@=2.0.0 >"$O/stdout" 2>"$O/stderr"; echo $? >"$O/code"
"$KNAP" --root "$R" verify >"$O/verify" 2>&1; echo $? >"$O/verify_code"
"$KNAP" --root "$R" list --json >"$O/list" 2>&1; echo $? >"$O/list_code"
set -e
cp -a "$R" "$O/after"
"#,
        root = root.display(),
        out = out.display()
    );
    let o = shell(&k, &ns, &script);
    assert!(o.status.success(), "{o:?}");
    let stderr = read(out.join("stderr"));
    assert_eq!(read(out.join("code")).trim(), "1", "{stderr}");
    assert!(
        stderr.contains("Read-only file system") && stderr.contains("remount it read-write"),
        "{stderr}"
    );
    assert_eq!(snapshot(&out.join("after")), snapshot(&out.join("before")));
    // Reading a read-only root still works.
    assert_eq!(
        read(out.join("verify_code")).trim(),
        "0",
        "{}",
        read(out.join("verify"))
    );
    assert!(read(out.join("verify")).contains("pack 1.0.0  ok"));
    assert_eq!(read(out.join("list_code")).trim(), "0");
    let list: serde_json::Value = serde_json::from_str(&read(out.join("list"))).unwrap();
    assert_eq!(list["packs"][0]["version"], "1.0.0");
    assert_eq!(
        list["packs"][0]["tree"],
        digest(&out.join("before/pack")).as_str()
    );
}
