//! Shared helpers: a registry directory signed by knap-trust's own signing
//! code, and a counting fetcher over it.

// Helpers of the test crates: nothing here is reachable from outside them.
#![allow(unreachable_pub)]
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use knap_trust::verify::{DirFetch, Fetch, FetchError, Pin, Verifier};
use knap_trust::{Role, SignReport, SignRequest, SigningKey, async_trait};

pub struct Registry {
    pub tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub key: SigningKey,
}

pub fn key() -> SigningKey {
    SigningKey::generate().unwrap().0
}

pub fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

impl Registry {
    pub fn new() -> Registry {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("site");
        write(
            &dir,
            "index.json",
            r#"{"packs": [{"ref": "a", "version": "1.0.0"}]}"#,
        );
        write(&dir, "config.json", r#"{"format": "knap-sparse-1"}"#);
        write(&dir, "packs/a.json", r#"{"ref": "a", "versions": []}"#);
        write(&dir, "packs/b.json", r#"{"ref": "b", "versions": []}"#);
        write(&dir, "index.html", "<html></html>");
        Registry {
            tmp,
            dir,
            key: key(),
        }
    }

    pub fn request(&self) -> SignRequest {
        SignRequest {
            dir: self.dir.clone(),
            role_keys: Role::ALL
                .iter()
                .map(|r| (*r, vec![self.key.clone()]))
                .collect(),
            old_root_keys: vec![],
            thresholds: BTreeMap::new(),
            expires_days: BTreeMap::new(),
            timestamp_only: false,
            now: jiff::Timestamp::now(),
        }
    }

    pub fn sign(&self) -> SignReport {
        knap_trust::sign::sign_blocking(&self.request()).unwrap()
    }

    pub fn root_v1(&self) -> Vec<u8> {
        std::fs::read(self.dir.join("tuf/1.root.json")).unwrap()
    }

    pub fn datastore(&self) -> PathBuf {
        self.tmp.path().join("cache")
    }

    pub fn verifier(&self, fetch: Arc<dyn Fetch>) -> Verifier {
        Verifier::new(fetch, Pin::Root(self.root_v1()), self.datastore())
    }

    pub fn dir_fetch(&self) -> Arc<dyn Fetch> {
        Arc::new(DirFetch {
            root: self.dir.clone(),
        })
    }

    /// A copy of the whole site as it is now (an old publication).
    pub fn snapshot_copy(&self, name: &str) -> PathBuf {
        let to = self.tmp.path().join(name);
        copy_dir(&self.dir, &to);
        to
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

pub fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Counts the requests that reach the registry.
#[derive(Debug)]
pub struct Counting {
    pub inner: DirFetch,
    pub count: AtomicUsize,
    pub paths: std::sync::Mutex<Vec<String>>,
}

impl Counting {
    pub fn new(dir: &Path) -> Arc<Counting> {
        Arc::new(Counting {
            inner: DirFetch { root: dir.into() },
            count: AtomicUsize::new(0),
            paths: Default::default(),
        })
    }
    pub fn take(&self) -> Vec<String> {
        self.count.store(0, Ordering::SeqCst);
        std::mem::take(&mut *self.paths.lock().unwrap())
    }
}

#[async_trait]
impl Fetch for Counting {
    async fn fetch(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>, FetchError> {
        self.count.fetch_add(1, Ordering::SeqCst);
        self.paths.lock().unwrap().push(path.to_string());
        self.inner.fetch(path, limit).await
    }
}
