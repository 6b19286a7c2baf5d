//! A registry on the local disk: a path or `file://` URL naming an
//! `index.json`, or a directory holding `index.json` or the sparse layout
//! (`config.json` + `packs/<ref>.json`). Read in place; never cached.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::{Common, RegistryError, UpdateOutcome};
use crate::index::parse::{count, read_limited, sparse_refs_in};
use crate::index::{View, WholeIndex, parse_index, parse_sparse_config};

pub struct LocalIndex {
    pub common: Common,
    path: PathBuf,
    loaded: Mutex<Option<View>>,
}

impl LocalIndex {
    pub fn new(common: Common, path: PathBuf) -> Self {
        Self {
            common,
            path,
            loaded: Mutex::new(None),
        }
    }

    /// The index file `path` could not be read (its hint says what to
    /// check).
    fn unreadable(&self, path: &std::path::Path, source: std::io::Error) -> RegistryError {
        RegistryError::LocalUnreadable {
            registry: self.common.name.clone(),
            path: path.to_path_buf(),
            source,
        }
    }

    fn err(&self, message: String) -> RegistryError {
        RegistryError::Unavailable {
            registry: self.common.name.clone(),
            message,
        }
    }

    /// Reads (and validates) the index; a sparse directory's `config.json`
    /// is validated here and its pack files when they are read.
    pub fn view(&self) -> Result<View, RegistryError> {
        if let Some(v) = self.loaded.lock().expect("lock").clone() {
            return Ok(v);
        }
        let name = &self.common.name;
        let file = if self.path.is_dir() {
            let idx = self.path.join("index.json");
            let cfg = self.path.join("config.json");
            if idx.is_file() {
                idx
            } else if cfg.is_file() {
                let bytes = read_limited(name, &cfg, self.common.max_size)?
                    .map_err(|e| self.unreadable(&cfg, e))?;
                if let Some(t) = &self.common.trust {
                    t.check("config.json", &bytes)?;
                    // Every pack file read later must be the signed one.
                    for r in sparse_refs_in(&self.path.join("packs")) {
                        let rel = format!("packs/{r}.json");
                        let pack = read_limited(name, &self.path.join(&rel), self.common.max_size)?
                            .map_err(|e| {
                                self.err(format!(
                                    "cannot read {}: {e}",
                                    self.path.join(&rel).display()
                                ))
                            })?;
                        t.check(&rel, &pack)?;
                    }
                }
                parse_sparse_config(name, &cfg.display().to_string(), &bytes)?;
                let v = View::SparseDir(self.path.clone(), self.common.max_size);
                *self.loaded.lock().expect("lock") = Some(v.clone());
                return Ok(v);
            } else {
                return Err(self.err(format!(
                    "{} holds neither index.json nor a sparse config.json; check the registry's path",
                    self.path.display()
                )));
            }
        } else {
            self.path.clone()
        };
        let bytes = read_limited(name, &file, self.common.max_size)?
            .map_err(|e| self.unreadable(&file, e))?;
        if let Some(t) = &self.common.trust {
            t.check("index.json", &bytes)?;
        }
        let index = parse_index(name, &file.display().to_string(), &bytes)?;
        let v = View::Whole(Arc::new(WholeIndex::new(index)));
        *self.loaded.lock().expect("lock") = Some(v.clone());
        Ok(v)
    }

    pub fn update(&self) -> Result<UpdateOutcome, RegistryError> {
        let detail = match self.view()? {
            View::Whole(i) => i.summary.to_string(),
            View::SparseDir(d, _) => format!(
                "sparse layout, {}",
                count(sparse_refs_in(&d.join("packs")).len(), "pack", "packs")
            ),
            View::ByRef(_) => unreachable!("a local index is read in place, never split"),
        };
        Ok(UpdateOutcome::Local { detail })
    }
}
