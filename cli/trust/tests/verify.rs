//! knap-trust verifies metadata made by its own signing code, and refuses
//! each attack of TUF's threat list with an error naming the role and what
//! was wrong.

mod common;

use std::sync::Arc;

use common::{Counting, Registry, block, copy_dir, key, write};
use knap_trust::verify::{DirFetch, Fetch, Pin, SizeLimits, TrustError, Verifier};
use knap_trust::{Role, SigningKey};

fn update(v: &Verifier) -> Result<knap_trust::Verified, TrustError> {
    block(v.update())
}

#[test]
fn a_signed_registry_verifies_and_lists_every_index_file() {
    let r = Registry::new();
    let report = r.sign();
    assert_eq!(
        report.targets, 4,
        "index.json, config.json, packs/a.json, packs/b.json"
    );
    let v = update(&r.verifier(r.dir_fetch())).unwrap();
    let names: Vec<&str> = v.targets.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["config.json", "index.json", "packs/a.json", "packs/b.json"]
    );
    assert_eq!(v.targets_version, 1);
    assert_eq!(v.root_key_ids, vec![r.key.key_id().to_string()]);
    let index = std::fs::read(r.dir.join("index.json")).unwrap();
    v.check("index.json", &index).unwrap();
    // The consistent-snapshot copy is there, named by its hash.
    let hash = &v.targets["packs/a.json"].sha256;
    assert!(r.dir.join(format!("packs/{hash}.a.json")).is_file());
}

#[test]
fn a_modified_pack_file_or_index_is_refused_by_its_targets_entry() {
    let r = Registry::new();
    r.sign();
    let v = update(&r.verifier(r.dir_fetch())).unwrap();
    let err = v
        .check(
            "packs/a.json",
            br#"{"ref": "a", "versions": [{"evil": true}]}"#,
        )
        .unwrap_err();
    assert!(
        matches!(&err, TrustError::TargetMismatch { name, .. } if name == "packs/a.json"),
        "{err}"
    );
    assert!(err.to_string().contains("packs/a.json differs"), "{err}");
    let err = v.check("index.json", b"{}").unwrap_err();
    assert!(
        matches!(&err, TrustError::TargetMismatch { name, .. } if name == "index.json"),
        "{err}"
    );
    let err = v.check("packs/zzz.json", b"{}").unwrap_err();
    assert!(matches!(err, TrustError::NotATarget { .. }), "{err}");
}

#[test]
fn versions_are_bumped_only_when_content_changes() {
    let r = Registry::new();
    let first = r.sign();
    assert_eq!(
        first.resigned,
        vec![Role::Root, Role::Targets, Role::Snapshot, Role::Timestamp]
    );
    let again = r.sign();
    assert!(again.resigned.is_empty(), "{again:?}");
    assert_eq!(
        (
            again.targets_version,
            again.snapshot_version,
            again.timestamp_version
        ),
        (1, 1, 1)
    );
    write(&r.dir, "packs/a.json", r#"{"ref": "a", "versions": [1]}"#);
    let changed = r.sign();
    assert_eq!(
        changed.resigned,
        vec![Role::Targets, Role::Snapshot, Role::Timestamp]
    );
    assert_eq!(
        (
            changed.root_version,
            changed.targets_version,
            changed.timestamp_version
        ),
        (1, 2, 2)
    );
}

#[test]
fn timestamp_only_re_signs_the_timestamp_alone() {
    let r = Registry::new();
    r.sign();
    let targets_before = std::fs::read(r.dir.join("tuf/1.targets.json")).unwrap();
    let mut req = r.request();
    req.timestamp_only = true;
    req.role_keys.retain(|role, _| *role == Role::Timestamp);
    let report = knap_trust::sign::sign_blocking(&req).unwrap();
    assert_eq!(report.resigned, vec![Role::Timestamp]);
    assert_eq!(report.timestamp_version, 2);
    assert_eq!(
        std::fs::read(r.dir.join("tuf/1.targets.json")).unwrap(),
        targets_before
    );
    update(&r.verifier(r.dir_fetch())).unwrap();
}

#[test]
fn rollback_to_older_signed_metadata_is_refused() {
    let r = Registry::new();
    r.sign();
    let old = r.snapshot_copy("old");
    write(&r.dir, "packs/a.json", r#"{"ref": "a", "versions": [2]}"#);
    r.sign();
    let v = update(&r.verifier(r.dir_fetch())).unwrap();
    assert_eq!(v.targets_version, 2);
    // The host serves last publication again (validly signed, not expired).
    let replay = r.verifier(Arc::new(DirFetch { root: old }));
    let err = update(&replay).unwrap_err();
    match &err {
        TrustError::Rollback {
            role,
            trusted,
            offered,
        } => {
            assert_eq!(
                (role.as_str(), *trusted, *offered),
                ("timestamp", 2, 1),
                "{err}"
            )
        }
        other => panic!("expected a rollback, got {other}"),
    }
    // The trusted state is still the newer one.
    let last = knap_trust::last_verified(&r.datastore(), &Pin::Root(r.root_v1()))
        .unwrap()
        .unwrap();
    assert_eq!(last.targets_version, 2);
}

#[test]
fn an_expired_timestamp_is_refused_naming_when_it_expired() {
    let r = Registry::new();
    let mut req = r.request();
    req.now = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(72);
    knap_trust::sign::sign_blocking(&req).unwrap();
    let err = update(&r.verifier(r.dir_fetch())).unwrap_err();
    match &err {
        TrustError::Expired { role, expired } => {
            assert_eq!(role, "timestamp");
            let ts: serde_json::Value =
                serde_json::from_slice(&std::fs::read(r.dir.join("tuf/timestamp.json")).unwrap())
                    .unwrap();
            assert_eq!(expired, ts["signed"]["expires"].as_str().unwrap());
        }
        other => panic!("expected expiry, got {other}"),
    }
    assert!(
        err.to_string().contains("timestamp metadata expired at"),
        "{err}"
    );
}

#[test]
fn targets_of_one_publication_with_the_snapshot_of_another_are_refused() {
    let r = Registry::new();
    r.sign();
    let old = r.snapshot_copy("old");
    write(&r.dir, "index.json", r#"{"packs": []}"#);
    r.sign();
    let new_targets = std::fs::read(r.dir.join("tuf/2.targets.json")).unwrap();
    // Mix: the new timestamp and snapshot, the old targets under the new name.
    std::fs::copy(
        old.join("tuf/1.targets.json"),
        r.dir.join("tuf/2.targets.json"),
    )
    .unwrap();
    let err = update(&r.verifier(r.dir_fetch())).unwrap_err();
    assert!(
        matches!(&err, TrustError::HashMismatch { what, .. } if what == "tuf/2.targets.json"),
        "{err}"
    );
    // The new metadata with the old index.json: its targets entry refuses it.
    std::fs::write(r.dir.join("tuf/2.targets.json"), new_targets).unwrap();
    let v = update(&r.verifier(r.dir_fetch())).unwrap();
    let err = v
        .check(
            "index.json",
            &std::fs::read(old.join("index.json")).unwrap(),
        )
        .unwrap_err();
    assert!(matches!(err, TrustError::TargetMismatch { .. }), "{err}");
}

#[test]
fn a_huge_timestamp_is_refused_after_a_bounded_read() {
    let r = Registry::new();
    r.sign();
    let big = vec![b' '; 8 * 1024 * 1024];
    std::fs::write(r.dir.join("tuf/timestamp.json"), &big).unwrap();
    let counting = Counting::new(&r.dir);
    let err = update(&r.verifier(counting.clone())).unwrap_err();
    match &err {
        TrustError::TooLarge { path, limit } => {
            assert_eq!(path, "tuf/timestamp.json");
            assert_eq!(*limit, SizeLimits::default().timestamp);
        }
        other => panic!("expected too large, got {other}"),
    }
}

#[test]
fn metadata_signed_by_an_unknown_key_is_refused() {
    let r = Registry::new();
    r.sign();
    // An attacker with another key re-signs the timestamp.
    let mut req = r.request();
    let intruder = key();
    req.timestamp_only = true;
    req.role_keys = [(Role::Timestamp, vec![intruder])].into();
    // knap-index itself refuses to sign with a key the root does not list.
    let err = knap_trust::sign::sign_blocking(&req).unwrap_err();
    assert!(
        err.to_string().contains("timestamp role needs re-signing"),
        "{err}"
    );
    // So forge it: the root of a second registry made by the intruder.
    let evil = Registry::new();
    evil.sign();
    std::fs::copy(
        evil.dir.join("tuf/timestamp.json"),
        r.dir.join("tuf/timestamp.json"),
    )
    .unwrap();
    let err = update(&r.verifier(r.dir_fetch())).unwrap_err();
    assert!(
        matches!(&err, TrustError::Signature { role, .. } if role == "timestamp"),
        "{err}"
    );
}

#[test]
fn metadata_below_its_threshold_is_refused() {
    let r = Registry::new();
    let (k1, k2) = (key(), key());
    let mut req = r.request();
    req.role_keys.insert(Role::Timestamp, vec![k1, k2]);
    req.thresholds.insert(Role::Timestamp, 2);
    knap_trust::sign::sign_blocking(&req).unwrap();
    update(&r.verifier(r.dir_fetch())).unwrap();
    // Drop one of the two signatures.
    let path = r.dir.join("tuf/timestamp.json");
    let mut ts: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(ts["signatures"].as_array().unwrap().len(), 2);
    ts["signatures"].as_array_mut().unwrap().pop();
    std::fs::write(&path, serde_json::to_vec(&ts).unwrap()).unwrap();
    let fresh = Verifier::new(
        r.dir_fetch(),
        Pin::Root(r.root_v1()),
        r.tmp.path().join("other-cache"),
    );
    let err = update(&fresh).unwrap_err();
    assert!(
        matches!(&err, TrustError::Signature { role, .. } if role == "timestamp"),
        "{err}"
    );
    // A threshold above the number of keys is refused when signing.
    let mut bad = r.request();
    bad.thresholds.insert(Role::Targets, 2);
    let err = knap_trust::sign::sign_blocking(&bad).unwrap_err();
    assert!(
        err.to_string()
            .contains("targets threshold 2 is above its 1 key"),
        "{err}"
    );
}

/// v1 (key A) -> v2 (key B, signed by A and B) -> v3 (key C, signed by B and C).
fn rotated(r: &Registry) -> (SigningKey, SigningKey) {
    r.sign();
    let b = key();
    let mut req = r.request();
    req.role_keys = Role::ALL
        .iter()
        .map(|role| (*role, vec![b.clone()]))
        .collect();
    req.old_root_keys = vec![r.key.clone()];
    let report = knap_trust::sign::sign_blocking(&req).unwrap();
    assert_eq!(report.root_version, 2);
    let c = key();
    let mut req = r.request();
    req.role_keys = Role::ALL
        .iter()
        .map(|role| (*role, vec![c.clone()]))
        .collect();
    req.old_root_keys = vec![b.clone()];
    let report = knap_trust::sign::sign_blocking(&req).unwrap();
    assert_eq!(report.root_version, 3);
    assert_eq!(report.root_key_ids, vec![c.key_id().to_string()]);
    (b, c)
}

#[test]
fn a_client_pinned_to_root_v1_follows_v2_and_v3() {
    let r = Registry::new();
    r.sign();
    // The client saw v1 first.
    update(&r.verifier(r.dir_fetch())).unwrap();
    let (_, c) = rotated(&r);
    let v = update(&r.verifier(r.dir_fetch())).unwrap();
    assert_eq!(v.root_version, 3);
    assert_eq!(v.root_key_ids, vec![c.key_id().to_string()]);
    for n in 1..=3 {
        assert!(r.dir.join(format!("tuf/{n}.root.json")).is_file());
    }
}

#[test]
fn a_rotation_without_the_old_root_keys_is_refused_by_knap_index() {
    let r = Registry::new();
    r.sign();
    let b = key();
    let mut req = r.request();
    req.role_keys = Role::ALL
        .iter()
        .map(|role| (*role, vec![b.clone()]))
        .collect();
    let err = knap_trust::sign::sign_blocking(&req).unwrap_err();
    assert!(
        err.to_string()
            .contains("must be signed by a threshold of the keys of root version 1"),
        "{err}"
    );
}

#[test]
fn a_root_v2_not_signed_by_v1_keys_is_refused() {
    let r = Registry::new();
    r.sign();
    // Another chain whose v2 is signed by key B only (its v1 was B's too).
    let other = Registry::new();
    let b = key();
    let mut req = other.request();
    req.role_keys = Role::ALL
        .iter()
        .map(|role| (*role, vec![b.clone()]))
        .collect();
    knap_trust::sign::sign_blocking(&req).unwrap();
    req.expires_days.insert(Role::Root, 300);
    let report = knap_trust::sign::sign_blocking(&req).unwrap();
    assert_eq!(report.root_version, 2);
    // The attacker puts B's v2 (and B's timestamp, snapshot, targets) on the host.
    copy_dir(&other.dir.join("tuf"), &r.tmp.path().join("evil-tuf"));
    std::fs::remove_file(r.tmp.path().join("evil-tuf/1.root.json")).unwrap();
    copy_dir(&r.tmp.path().join("evil-tuf"), &r.dir.join("tuf"));
    let err = update(&r.verifier(r.dir_fetch())).unwrap_err();
    assert!(
        matches!(&err, TrustError::Signature { role, .. } if role == "root"),
        "{err}"
    );
}

#[test]
fn a_root_chain_with_a_gap_is_refused() {
    let r = Registry::new();
    rotated(&r);
    std::fs::remove_file(r.dir.join("tuf/2.root.json")).unwrap();
    let err = update(&r.verifier(r.dir_fetch())).unwrap_err();
    // Without v2 the client stays at v1, whose keys did not sign the timestamp.
    assert!(
        matches!(&err, TrustError::Signature { role, .. } if role == "timestamp"),
        "{err}"
    );
    // knap-index refuses to sign over a chain with a gap.
    let err = knap_trust::sign::sign_blocking(&r.request()).unwrap_err();
    assert!(err.to_string().contains("2.root.json is missing"), "{err}");
}

#[test]
fn a_pinned_registry_that_serves_no_metadata_is_refused() {
    let r = Registry::new();
    r.sign();
    let v = r.verifier(r.dir_fetch());
    update(&v).unwrap();
    std::fs::remove_dir_all(r.dir.join("tuf")).unwrap();
    let err = update(&v).unwrap_err();
    assert!(
        matches!(&err, TrustError::NoMetadata { path } if path == "tuf/timestamp.json"),
        "{err}"
    );
    assert!(
        err.to_string().contains("never downgrades to unsigned"),
        "{err}"
    );
}

#[test]
fn a_root_sha256_pin_is_checked_on_first_fetch() {
    let r = Registry::new();
    r.sign();
    use sha2::Digest;
    let good: String = sha2::Sha256::digest(r.root_v1())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let v = Verifier::new(r.dir_fetch(), Pin::Sha256(good), r.datastore());
    assert_eq!(update(&v).unwrap().root_version, 1);
    let wrong = "0".repeat(64);
    let v = Verifier::new(
        r.dir_fetch(),
        Pin::Sha256(wrong.clone()),
        r.tmp.path().join("c2"),
    );
    let err = update(&v).unwrap_err();
    assert!(
        matches!(&err, TrustError::Fingerprint { expected, .. } if *expected == wrong),
        "{err}"
    );
}

#[test]
fn a_warm_update_with_nothing_changed_sends_one_request() {
    let r = Registry::new();
    r.sign();
    let counting = Counting::new(&r.dir);
    let v = r.verifier(counting.clone() as Arc<dyn Fetch>);
    update(&v).unwrap();
    let cold = counting.take();
    assert!(cold.len() >= 4, "{cold:?}");
    update(&v).unwrap();
    assert_eq!(counting.take(), ["tuf/timestamp.json"]);
    // A new timestamp alone: timestamp plus the root probe, no snapshot or targets.
    let mut req = r.request();
    req.timestamp_only = true;
    knap_trust::sign::sign_blocking(&req).unwrap();
    update(&v).unwrap();
    assert_eq!(counting.take(), ["tuf/timestamp.json", "tuf/2.root.json"]);
}

/// A registry signed by a key whose PEM text is known (to sign by hand).
fn registry_with_pem() -> (Registry, String) {
    let (key, pem) = SigningKey::generate().unwrap();
    let mut r = Registry::new();
    r.key = key;
    (r, pem)
}

/// `root_json` (a root signed by the key of `pem`) made version `version`,
/// listing that key a second time under another key id (the same public
/// key with one more field, so another canonical form and id), the second
/// id added to the root and timestamp roles with a threshold of 2, and
/// signed by the one key under both ids.
fn with_one_key_twice(
    dir: &std::path::Path,
    pem: &str,
    root_json: &[u8],
    version: u64,
) -> (Vec<u8>, String) {
    use tough::schema::key::Key;
    use tough::schema::{KeyHolder, Root};
    let mut v: serde_json::Value = serde_json::from_slice(root_json).unwrap();
    let signed = &mut v["signed"];
    let (id, key) = signed["keys"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .map(|(k, v)| (k.clone(), v.clone()))
        .unwrap();
    let mut dup = key.clone();
    dup["x-same-key-again"] = serde_json::json!(true);
    let dup_key: Key = serde_json::from_value(dup.clone()).unwrap();
    let dup_id: String = dup_key
        .key_id()
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_ne!(dup_id, id);
    signed["keys"][&dup_id] = dup;
    for role in ["root", "timestamp"] {
        signed["roles"][role]["keyids"]
            .as_array_mut()
            .unwrap()
            .push(dup_id.clone().into());
        signed["roles"][role]["threshold"] = 2.into();
    }
    signed["version"] = version.into();
    let root: Root = serde_json::from_value(signed.clone()).unwrap();
    // tough reads an ed25519 key as PKCS#8 DER.
    let pem_path = dir.join(format!("key-{version}.der"));
    std::fs::write(&pem_path, pem::parse(pem).unwrap().contents()).unwrap();
    let source: Box<dyn tough::key_source::KeySource> =
        Box::new(tough::key_source::LocalKeySource { path: pem_path });
    let role = block(tough::editor::signed::SignedRole::new(
        root.clone(),
        &KeyHolder::Root(root),
        &[source],
        &aws_lc_rs::rand::SystemRandom::new(),
    ))
    .unwrap();
    let mut out: serde_json::Value = serde_json::from_slice(role.buffer()).unwrap();
    let sig = out["signatures"][0]["sig"].clone();
    out["signatures"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"keyid": dup_id, "sig": sig}));
    (serde_json::to_vec(&out).unwrap(), dup_id)
}

#[test]
fn a_pinned_root_listing_one_key_under_two_ids_is_refused() {
    let (r, pem) = registry_with_pem();
    r.sign();
    let (dup, _) = with_one_key_twice(r.tmp.path(), &pem, &r.root_v1(), 1);
    let err = knap_trust::verify::inspect_root(&dup).unwrap_err();
    assert!(matches!(err, TrustError::DuplicateKey { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("lists one public key under two key ids"),
        "{err}"
    );
    let v = Verifier::new(r.dir_fetch(), Pin::Root(dup), r.datastore());
    let err = update(&v).unwrap_err();
    assert!(matches!(err, TrustError::DuplicateKey { .. }), "{err}");
}

#[test]
fn a_new_root_listing_one_key_under_two_ids_does_not_meet_a_threshold_of_two() {
    let (r, pem) = registry_with_pem();
    r.sign();
    update(&r.verifier(r.dir_fetch())).unwrap();
    // The host publishes a root 2 (signed by root 1's key) that lists the
    // same key twice with thresholds of 2, and a timestamp whose one
    // signature is listed under both ids: one key meets "two".
    let (dup, dup_id) = with_one_key_twice(r.tmp.path(), &pem, &r.root_v1(), 2);
    std::fs::write(r.dir.join("tuf/2.root.json"), &dup).unwrap();
    let ts_path = r.dir.join("tuf/timestamp.json");
    let mut ts: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&ts_path).unwrap()).unwrap();
    let sig = ts["signatures"][0]["sig"].clone();
    ts["signatures"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"keyid": dup_id, "sig": sig}));
    std::fs::write(&ts_path, serde_json::to_vec(&ts).unwrap()).unwrap();
    let err = update(&r.verifier(r.dir_fetch())).unwrap_err();
    match &err {
        TrustError::DuplicateKey { what, .. } => assert_eq!(what, "tuf/2.root.json"),
        other => panic!("expected a duplicate key, got {other}"),
    }
}

#[test]
fn a_root_file_holding_another_version_is_reported_as_such() {
    let r = Registry::new();
    r.sign();
    update(&r.verifier(r.dir_fetch())).unwrap();
    rotated(&r);
    // 3.root.json is a copy of 2.root.json (validly signed, version 2).
    std::fs::copy(r.dir.join("tuf/2.root.json"), r.dir.join("tuf/3.root.json")).unwrap();
    let err = update(&r.verifier(r.dir_fetch())).unwrap_err();
    match &err {
        TrustError::RootFileVersion {
            file,
            holds,
            trusted,
        } => assert_eq!((file.as_str(), *holds, *trusted), ("tuf/3.root.json", 2, 2)),
        other => panic!("expected a root file of another version, got {other}"),
    }
    assert!(
        err.to_string()
            .contains("tuf/3.root.json holds root version 2, not the version its name gives"),
        "{err}"
    );
}

#[test]
fn a_root_put_into_the_trusted_state_never_overrides_the_pin() {
    let r = Registry::new();
    r.sign();
    let pin = Pin::Root(r.root_v1());
    let verifier = Verifier::new(r.dir_fetch(), pin, r.datastore());
    update(&verifier).unwrap();
    // An intruder with their own key writes a higher, self-signed root into
    // the cache (where a knap before pin-keyed state looked, and where this
    // one keeps the chain) and serves metadata signed with that key.
    let evil = Registry::new();
    evil.sign();
    // Other versions than the client has seen, so that nothing it keeps
    // from the real publication is reused.
    write(&evil.dir, "index.json", r#"{"packs": []}"#);
    evil.sign();
    let mut req = evil.request();
    req.expires_days.insert(Role::Root, 300);
    assert_eq!(
        knap_trust::sign::sign_blocking(&req).unwrap().root_version,
        2
    );
    let evil_root = std::fs::read(evil.dir.join("tuf/2.root.json")).unwrap();
    use sha2::Digest;
    let key: String = sha2::Sha256::digest(r.root_v1())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    for planted in [
        "tough/root.json".to_string(),
        format!("pin-{key}/tough/root.json"),
        format!("pin-{key}/roots/2.root.json"),
    ] {
        write(
            &r.datastore(),
            &planted,
            std::str::from_utf8(&evil_root).unwrap(),
        );
    }
    std::fs::remove_dir_all(r.dir.join("tuf")).unwrap();
    copy_dir(&evil.dir.join("tuf"), &r.dir.join("tuf"));
    std::fs::remove_file(r.dir.join("tuf/2.root.json")).unwrap();
    let err = update(&verifier).unwrap_err();
    assert!(
        matches!(&err, TrustError::Signature { role, .. } if role == "timestamp"),
        "the pinned root's key did not sign the timestamp: {err}"
    );
}

#[test]
fn a_new_pin_starts_over_from_that_pin() {
    // The registry was re-created with new keys (a new chain from version
    // 1), and the user pinned its new root: the state trusted under the
    // old pin plays no part.
    let old = Registry::new();
    old.sign();
    let datastore = old.datastore();
    update(&old.verifier(old.dir_fetch())).unwrap();
    let new = Registry::new();
    new.sign();
    let v = Verifier::new(new.dir_fetch(), Pin::Root(new.root_v1()), &datastore);
    let verified = update(&v).unwrap();
    assert_eq!(verified.root_key_ids, vec![new.key.key_id().to_string()]);
    // Offline, the state of the old pin is not the new pin's.
    let last = knap_trust::last_verified(&datastore, &Pin::Root(old.root_v1())).unwrap();
    assert!(last.is_none(), "the old pin's state is gone: {last:?}");
    let last = knap_trust::last_verified(&datastore, &Pin::Root(new.root_v1())).unwrap();
    assert_eq!(last.unwrap().root_key_ids, verified.root_key_ids);
}

#[test]
fn rotations_verified_once_are_the_start_of_the_next_update() {
    let r = Registry::new();
    r.sign();
    let counting = Counting::new(&r.dir);
    let v = r.verifier(counting.clone() as Arc<dyn Fetch>);
    update(&v).unwrap();
    let (_, c) = rotated(&r);
    assert_eq!(update(&v).unwrap().root_version, 3);
    counting.take();
    // Nothing changed: one request, and root 3 (from the kept chain) is
    // what verifies the timestamp signed by its key.
    let again = update(&v).unwrap();
    assert_eq!(counting.take(), ["tuf/timestamp.json"]);
    assert_eq!(again.root_version, 3);
    assert_eq!(again.root_key_ids, vec![c.key_id().to_string()]);
}

#[test]
fn a_fifo_in_a_local_registrys_metadata_is_refused_without_blocking() {
    let r = Registry::new();
    r.sign();
    let ts = r.dir.join("tuf/timestamp.json");
    std::fs::remove_file(&ts).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(&ts)
        .status()
        .unwrap();
    assert!(status.success());
    let (tx, rx) = std::sync::mpsc::channel();
    let v = r.verifier(r.dir_fetch());
    std::thread::spawn(move || tx.send(update(&v)).unwrap());
    let err = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the update ends instead of waiting for a writer")
        .unwrap_err();
    match &err {
        TrustError::NotAFile { path, reason } => {
            assert_eq!(path, "tuf/timestamp.json");
            assert!(reason.contains("FIFO"), "{reason}");
        }
        other => panic!("expected a refused FIFO, got {other}"),
    }
    assert!(
        !err.is_unreachable(),
        "a refusal (exit 4), not a network failure"
    );
}
