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

use serde::{Deserialize, Serialize};
use tastebud_models::file::Lineage;

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

/// A registry folder.
#[derive(Debug)]
pub struct Registry {
    dir: PathBuf,
    index: Index,
}

use LifecycleError as E;

/// Replaces `path` with `bytes` atomically and durably ([`tastebud_core::fsio::write_atomic`]): a reader
/// sees the old file or the new one, never a mix.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    tastebud_core::fsio::write_atomic(path, |w| w.write_all(bytes))
        .map_err(|e| E::io("writing", path, e))
}

impl Registry {
    /// Opens (or creates) a registry folder.
    pub fn open(dir: &Path) -> Result<Registry> {
        std::fs::create_dir_all(dir.join("versions")).map_err(|e| E::io("creating", dir, e))?;
        let path = dir.join("registry.json");
        let index = if path.is_file() {
            let text = std::fs::read_to_string(&path).map_err(|e| E::io("reading", &path, e))?;
            let index: Index = serde_json::from_str(&text)
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
        write_atomic(&self.dir.join("registry.json"), &json)
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
}
