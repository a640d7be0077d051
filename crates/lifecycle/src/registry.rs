//! The model registry: a folder of model versions with their offline metrics, lineage and status, and
//! `current.tbm`, the version being served (a server started with `--model REGISTRY/current.tbm` and
//! `admin.watch_model = true` hot-swaps whenever it changes).
//!
//! ```text
//! registry/
//!   registry.json          every version: metrics, lineage, status, which one is current
//!   versions/<version>.tbm the model files, never modified
//!   current.tbm            a copy of the current version, replaced atomically (write + rename)
//! ```
//!
//! ```
//! let dir = tempfile::tempdir()?;
//! let reg = tastebud_lifecycle::registry::Registry::open(dir.path())?;
//! assert!(reg.entries().is_empty());
//! assert!(reg.current().is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tastebud_models::file::Lineage;
use tastebud_store::{DirDocuments, Documents};

use crate::error::{LifecycleError, Result};

/// What happened to a version.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Served now.
    Current,
    /// Was served before.
    Retired,
    /// Trained and evaluated but not promoted (worse than the current version beyond the margin).
    Rejected,
}

/// One version in the registry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The version (`{model}-{hash}`, as the server reports it).
    pub version: String,
    /// Model type.
    pub model: String,
    /// Hyperparameters.
    pub params: serde_json::Value,
    /// Unix time it entered the registry.
    pub created_unix: i64,
    /// Offline metrics on the gating holdout (e.g. `ndcg@10`), when evaluated.
    pub metrics: BTreeMap<String, f64>,
    /// Where it came from.
    pub lineage: Option<Lineage>,
    /// Current, retired or rejected.
    pub status: Status,
    /// Why it was promoted or rejected.
    pub note: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Index {
    format_version: u32,
    entries: Vec<Entry>,
}

/// A registry: model files in a folder (`versions/`, `current.tbm`: a shared volume when several servers
/// serve them) and its index, the document `registry.json`, in a [`Documents`] store (by default the
/// folder itself; a shared backend keeps the metadata where every replica reads it).
pub struct Registry {
    dir: PathBuf,
    index: Index,
    documents: Arc<dyn Documents>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("dir", &self.dir)
            .field("versions", &self.index.entries.len())
            .finish_non_exhaustive()
    }
}

/// The name of the registry's index document.
pub const INDEX_DOCUMENT: &str = "registry.json";

use LifecycleError as E;

/// Replaces `path` with `bytes` atomically and durably ([`tastebud_core::fsio::write_atomic`]): a reader
/// sees the old file or the new one, never a mix.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    tastebud_core::fsio::write_atomic(path, |w| w.write_all(bytes))
        .map_err(|e| E::io("writing", path, e))
}

impl Registry {
    /// Opens (or creates) a registry folder, its index in the folder.
    pub fn open(dir: &Path) -> Result<Registry> {
        Registry::open_with(dir, Arc::new(DirDocuments::new(dir)))
    }

    /// Opens (or creates) a registry whose model files are in `dir` and whose index is the document
    /// `registry.json` of `documents`.
    pub fn open_with(dir: &Path, documents: Arc<dyn Documents>) -> Result<Registry> {
        std::fs::create_dir_all(dir.join("versions")).map_err(|e| E::io("creating", dir, e))?;
        let path = dir.join(INDEX_DOCUMENT);
        let index = if let Some(bytes) = documents.get_document(INDEX_DOCUMENT)? {
            let index: Index = serde_json::from_slice(&bytes)
                .map_err(|e| E::Registry(format!("parsing {}: {e}", path.display())))?;
            if index.format_version > 1 {
                return Err(E::Registry(format!(
                    "{} was written by a newer Tastebud (format {})",
                    path.display(),
                    index.format_version
                )));
            }
            index
        } else {
            Index {
                format_version: 1,
                entries: Vec::new(),
            }
        };
        Ok(Registry {
            dir: dir.to_path_buf(),
            index,
            documents,
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every version, oldest first.
    pub fn entries(&self) -> &[Entry] {
        &self.index.entries
    }

    /// The version being served.
    pub fn current(&self) -> Option<&Entry> {
        self.index
            .entries
            .iter()
            .find(|e| e.status == Status::Current)
    }

    /// The path the server should serve (`current.tbm`).
    pub fn current_path(&self) -> PathBuf {
        self.dir.join("current.tbm")
    }

    /// The file of a version.
    pub fn version_path(&self, version: &str) -> PathBuf {
        self.dir.join("versions").join(format!("{version}.tbm"))
    }

    fn save(&self) -> Result<()> {
        let json =
            serde_json::to_vec_pretty(&self.index).map_err(|e| E::Registry(e.to_string()))?;
        Ok(self.documents.put_document(INDEX_DOCUMENT, &json)?)
    }

    /// Adds a model file as a new version (copied into `versions/`), with its status. A version already
    /// present is updated in place (same file, same bytes).
    pub fn add(&mut self, file: &Path, mut entry: Entry) -> Result<()> {
        let dest = self.version_path(&entry.version);
        if !dest.is_file() {
            let bytes = std::fs::read(file).map_err(|e| E::io("reading", file, e))?;
            write_atomic(&dest, &bytes)?;
        }
        let promote = entry.status == Status::Current;
        entry.status = if promote {
            Status::Retired // set below, after the file is in place
        } else {
            entry.status
        };
        match self
            .index
            .entries
            .iter_mut()
            .find(|e| e.version == entry.version)
        {
            Some(e) => *e = entry.clone(),
            None => self.index.entries.push(entry.clone()),
        }
        self.save()?;
        if promote {
            self.promote(&entry.version, None)?;
        }
        Ok(())
    }

    /// Makes `version` the current one: `current.tbm` is replaced atomically, the previous current version
    /// is retired. Used by promotion and by rollback.
    pub fn promote(&mut self, version: &str, note: Option<&str>) -> Result<()> {
        let src = self.version_path(version);
        if !self.index.entries.iter().any(|e| e.version == version) || !src.is_file() {
            let known: Vec<&str> = self
                .index
                .entries
                .iter()
                .map(|e| e.version.as_str())
                .collect();
            return Err(E::Registry(format!(
                "no version `{version}` in {} (versions: {})",
                self.dir.display(),
                known.join(", ")
            )));
        }
        let bytes = std::fs::read(&src).map_err(|e| E::io("reading", &src, e))?;
        write_atomic(&self.current_path(), &bytes)?;
        for e in &mut self.index.entries {
            if e.version == version {
                e.status = Status::Current;
                if let Some(n) = note {
                    e.note = n.to_string();
                }
            } else if e.status == Status::Current {
                e.status = Status::Retired;
            }
        }
        self.save()
    }

    /// Rolls back to an earlier version (any version in the registry, rejected ones included).
    pub fn rollback(&mut self, version: &str) -> Result<()> {
        self.promote(version, Some("rolled back to"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(v: &str, status: Status) -> Entry {
        Entry {
            version: v.into(),
            model: "m".into(),
            params: serde_json::json!({}),
            created_unix: 0,
            metrics: BTreeMap::new(),
            lineage: None,
            status,
            note: String::new(),
        }
    }

    #[test]
    fn promote_retire_reject_and_rollback() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.bin");
        let b = dir.path().join("b.bin");
        std::fs::write(&a, b"model a").unwrap();
        std::fs::write(&b, b"model b").unwrap();
        let mut r = Registry::open(&dir.path().join("reg")).unwrap();
        r.add(&a, entry("v1", Status::Current)).unwrap();
        assert_eq!(std::fs::read(r.current_path()).unwrap(), b"model a");
        r.add(&b, entry("v2", Status::Rejected)).unwrap();
        assert_eq!(r.current().unwrap().version, "v1");
        r.promote("v2", Some("forced")).unwrap();
        assert_eq!(std::fs::read(r.current_path()).unwrap(), b"model b");
        // Reopened from disk: the same state.
        let mut r = Registry::open(&dir.path().join("reg")).unwrap();
        assert_eq!(r.current().unwrap().version, "v2");
        assert_eq!(r.entries()[0].status, Status::Retired);
        r.rollback("v1").unwrap();
        assert_eq!(std::fs::read(r.current_path()).unwrap(), b"model a");
        assert_eq!(r.current().unwrap().version, "v1");
        let e = r.rollback("v9").unwrap_err();
        assert!(matches!(e, LifecycleError::Registry(_)), "{e:?}");
        assert!(e.to_string().contains("v1, v2"), "{e}");
    }

    #[test]
    fn the_index_lives_in_the_documents_store_it_is_given() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.bin");
        std::fs::write(&a, b"model a").unwrap();
        let docs = Arc::new(tastebud_store::MemoryStore::new());
        let reg = dir.path().join("reg");
        let mut r = Registry::open_with(&reg, docs.clone()).unwrap();
        r.add(&a, entry("v1", Status::Current)).unwrap();
        // The model files are in the folder; the index is in the documents store, not the folder.
        assert_eq!(std::fs::read(r.current_path()).unwrap(), b"model a");
        assert!(!reg.join(INDEX_DOCUMENT).exists());
        let index = docs.get_document(INDEX_DOCUMENT).unwrap().unwrap();
        assert!(String::from_utf8(index).unwrap().contains("\"v1\""));
        // Another process over the same documents sees the same registry.
        let again = Registry::open_with(&reg, docs).unwrap();
        assert_eq!(again.current().unwrap().version, "v1");
        // A corrupt index is an error naming it.
        let bad = Arc::new(tastebud_store::MemoryStore::new());
        bad.put_document(INDEX_DOCUMENT, b"{").unwrap();
        let e = Registry::open_with(&reg, bad).unwrap_err();
        assert!(e.to_string().contains("registry.json"), "{e}");
    }
}
