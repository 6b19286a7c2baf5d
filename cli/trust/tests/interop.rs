//! Interoperability with the TUF reference implementation (PyPI `tuf`,
//! installed by this test into a venv under `target/`): (a) its client,
//! `tuf.ngclient.Updater`, verifies metadata made by knap-trust's signing
//! code (what `knap-index sign` runs) and downloads a target over HTTP;
//! (b) knap-trust verifies a repository whose metadata `tuf`'s `Metadata`
//! API wrote. Skipped, saying so, only when PyPI cannot be reached.

// Tests print what they skip and what they measured.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::{Registry, block, write};
use knap_test_support::server::{Server, files};
use knap_trust::verify::{DirFetch, Pin, Verifier};

/// `target/tuf-venv/bin/python` with `tuf` and `cryptography`, or `None`
/// when PyPI is unreachable. Made once per test process: the tests run in
/// parallel and would otherwise build the same venv at the same time.
fn python() -> Option<PathBuf> {
    static VENV: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    VENV.get_or_init(make_venv).clone()
}

fn make_venv() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tuf-venv");
    let py = venv.join("bin/python");
    let ready = || {
        Command::new(&py)
            .args(["-c", "import tuf.ngclient, cryptography"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if ready() {
        return Some(py);
    }
    let made = Command::new("python3")
        .args(["-m", "venv", venv.to_str().unwrap()])
        .status()
        .expect("python3 runs");
    assert!(made.success(), "python3 -m venv failed");
    let pip = Command::new(venv.join("bin/pip"))
        .args(["install", "-q", "tuf", "cryptography"])
        .status()
        .expect("pip runs");
    if !pip.success() {
        eprintln!("skipped: cannot install PyPI tuf (is PyPI reachable?)");
        return None;
    }
    assert!(ready(), "tuf installed but not importable");
    Some(py)
}

/// The repository in `dir` served over HTTP on 127.0.0.1 by the test kit's
/// server; its base URL ends in `/`.
fn serve(dir: &Path) -> (Server, String) {
    let server = Server::start(files(dir.to_path_buf()));
    let base = server.url("/");
    (server, base)
}

const UPDATER: &str = r#"
import sys
from tuf.ngclient import Updater
metadata_dir, base, target_dir = sys.argv[1:4]
root = open(metadata_dir + "/root.json", "rb").read()
u = Updater(metadata_dir=metadata_dir, metadata_base_url=base + "tuf/",
            target_base_url=base, target_dir=target_dir, bootstrap=root)
u.refresh()
info = u.get_targetinfo("packs/a.json")
assert info is not None, "packs/a.json is not a target"
print(u.download_target(info))
print("sha256", info.hashes["sha256"])
"#;

#[test]
fn the_reference_client_verifies_knap_signed_metadata_and_downloads_a_target() {
    let Some(py) = python() else { return };
    let r = Registry::new();
    r.sign();
    let (_server, base) = serve(&r.dir);
    let md = r.tmp.path().join("py-metadata");
    let td = r.tmp.path().join("py-targets");
    std::fs::create_dir_all(&md).unwrap();
    std::fs::create_dir_all(&td).unwrap();
    std::fs::copy(r.dir.join("tuf/1.root.json"), md.join("root.json")).unwrap();
    let out = Command::new(&py)
        .args([
            "-c",
            UPDATER,
            md.to_str().unwrap(),
            &base,
            td.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = block(r.verifier(r.dir_fetch()).update()).unwrap();
    let sha = &expected.targets["packs/a.json"].sha256;
    assert!(stdout.contains(&format!("sha256 {sha}")), "{stdout}");
    let downloaded = std::fs::read(stdout.lines().next().unwrap().trim()).unwrap();
    assert_eq!(
        downloaded,
        std::fs::read(r.dir.join("packs/a.json")).unwrap()
    );
    // A tampered target is refused by the reference client too.
    for f in std::fs::read_dir(r.dir.join("packs")).unwrap() {
        let p = f.unwrap().path();
        if p.to_str().unwrap().ends_with("a.json") {
            std::fs::write(&p, b"{\"evil\": true}").unwrap();
        }
    }
    let _ = std::fs::remove_dir_all(&td);
    std::fs::create_dir_all(&td).unwrap();
    let out = Command::new(&py)
        .args([
            "-c",
            UPDATER,
            md.to_str().unwrap(),
            &base,
            td.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the reference client accepted a tampered target"
    );
}

const WRITER: &str = r#"
import os, sys
from datetime import datetime, timedelta, timezone
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata, Root, Snapshot, TargetFile, Targets, Timestamp
from tuf.api.serialization.json import JSONSerializer
repo = sys.argv[1]
signer = CryptoSigner.generate_ed25519()
expires = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=7)
root = Metadata(Root(expires=expires, consistent_snapshot=True))
for role in ["root", "targets", "snapshot", "timestamp"]:
    root.signed.add_key(signer.public_key, role)
targets = Metadata(Targets(expires=expires))
for name in ["index.json", "packs/a.json"]:
    targets.signed.targets[name] = TargetFile.from_file(name, os.path.join(repo, name))
snapshot = Metadata(Snapshot(expires=expires))
timestamp = Metadata(Timestamp(expires=expires))
os.makedirs(os.path.join(repo, "tuf"), exist_ok=True)
ser = JSONSerializer(compact=False)
for md, name in [(root, "1.root.json"), (targets, "1.targets.json"),
                 (snapshot, "1.snapshot.json"), (timestamp, "timestamp.json")]:
    md.sign(signer)
    md.to_file(os.path.join(repo, "tuf", name), ser)
print(signer.public_key.keyid)
"#;

#[test]
fn knap_trust_verifies_metadata_written_by_the_reference_implementation() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    write(&repo, "index.json", r#"{"packs": []}"#);
    write(&repo, "packs/a.json", r#"{"ref": "a", "versions": []}"#);
    let out = Command::new(&py)
        .args(["-c", WRITER, repo.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key_id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let root = std::fs::read(repo.join("tuf/1.root.json")).unwrap();
    let v = Verifier::new(
        Arc::new(DirFetch { root: repo.clone() }),
        Pin::Root(root),
        tmp.path().join("cache"),
    );
    let verified = block(v.update()).unwrap();
    assert_eq!(verified.root_key_ids, vec![key_id]);
    assert_eq!(verified.targets_version, 1);
    verified
        .check(
            "index.json",
            &std::fs::read(repo.join("index.json")).unwrap(),
        )
        .unwrap();
    assert!(verified.check("packs/a.json", b"{}").is_err());
}
