//! Snapshots of a directory tree: every entry under it with what it holds,
//! taken before and after a command, to show that the command changed
//! nothing (or exactly what) outside the places it may write.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One entry of a [`Tree`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir,
    File(Vec<u8>),
    /// A symbolic link, with its target.
    Link(PathBuf),
}

/// Every entry under a directory, by '/'-separated relative path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tree(pub BTreeMap<String, Node>);

impl Tree {
    /// Everything under `dir` (nothing when it does not exist). Links are
    /// recorded, not followed.
    pub fn of(dir: &Path) -> Tree {
        Self::skipping(dir, &[])
    }

    /// [`Tree::of`] leaving out the entries `skip` names (relative paths)
    /// and everything under them.
    pub fn skipping(dir: &Path, skip: &[&str]) -> Tree {
        fn walk(base: &Path, dir: &Path, skip: &[&str], out: &mut BTreeMap<String, Node>) {
            let Ok(items) = std::fs::read_dir(dir) else {
                return;
            };
            for item in items {
                let p = item.unwrap().path();
                let rel = p
                    .strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                if skip.contains(&rel.as_str()) {
                    continue;
                }
                let meta = std::fs::symlink_metadata(&p).unwrap();
                if meta.file_type().is_symlink() {
                    out.insert(rel, Node::Link(std::fs::read_link(&p).unwrap()));
                } else if meta.is_dir() {
                    out.insert(rel, Node::Dir);
                    walk(base, &p, skip, out);
                } else {
                    out.insert(rel, Node::File(std::fs::read(&p).unwrap_or_default()));
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(dir, dir, skip, &mut out);
        Tree(out)
    }

    /// The paths added, removed or changed between `self` and `after`.
    pub fn changes(&self, after: &Tree) -> Vec<String> {
        let mut out: Vec<String> = self
            .0
            .iter()
            .filter(|(p, n)| after.0.get(*p) != Some(n))
            .map(|(p, _)| p.clone())
            .chain(after.0.keys().filter(|p| !self.0.contains_key(*p)).cloned())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Asserts that `dir` is as this snapshot (minus `skip`) says,
    /// naming every path that changed.
    #[track_caller]
    pub fn assert_unchanged(&self, dir: &Path, skip: &[&str], what: &str) {
        let changed = self.changes(&Tree::skipping(dir, skip));
        assert!(changed.is_empty(), "{what}: changed: {changed:?}");
    }

    /// The relative paths of the regular files.
    pub fn files(&self) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(_, n)| matches!(n, Node::File(_)))
            .map(|(p, _)| p.as_str())
            .collect()
    }
}

/// Every regular file or link under `dir`, recursively, sorted (none when
/// it does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Every path under `dir`, directories included, recursively (links not
/// followed), sorted.
pub fn paths_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            out.push(p.clone());
            if std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
                out.extend(paths_under(&p));
            }
        }
    }
    out.sort();
    out
}

/// Copies the tree `from` to `to` (regular files and directories only).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for item in std::fs::read_dir(from).unwrap() {
        let p = item.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if std::fs::symlink_metadata(&p).unwrap().is_dir() {
            copy_tree(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_name_added_removed_and_changed_paths_and_skip_leaves_out_subtrees() {
        let t = tempfile::tempdir().unwrap();
        crate::write(&t.path().join("a/keep"), "1");
        crate::write(&t.path().join("a/change"), "1");
        crate::write(&t.path().join("gone"), "1");
        crate::write(&t.path().join("private/x"), "1");
        let before = Tree::skipping(t.path(), &["private"]);
        crate::write(&t.path().join("a/change"), "2");
        std::fs::remove_file(t.path().join("gone")).unwrap();
        crate::write(&t.path().join("new/file"), "1");
        crate::write(&t.path().join("private/y"), "1");
        let after = Tree::skipping(t.path(), &["private"]);
        assert_eq!(
            before.changes(&after),
            ["a/change", "gone", "new", "new/file"]
        );
        assert_eq!(before.files(), ["a/change", "a/keep", "gone"]);
    }
}
