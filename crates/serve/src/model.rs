//! The model being served, with everything derived from it at load time: its version, the cold-start
//! popularity order, the ANN index of embedding models and the id maps.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use tastebud_core::{ItemIdx, UserIdx};
use tastebud_index::{AnyIndex, HnswParams, IndexOptions, Metric};
use tastebud_models::Recommender;
use tastebud_models::file::ModelFile;

use crate::config::Ann;
use crate::error::{LoadFailure, ServeError, ServeResult};

/// `{model}-{first 12 hex digits of the SHA-256 of the file}`: the version a server reports for a model
/// file, and the registry's name for it.
pub fn version_of(model: &str, bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    let hex: String = d[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("{model}-{hex}")
}

/// A loaded model file, ready to serve. Immutable: a reload builds a new one and swaps it in.
pub struct Serving {
    /// The model file (header, ids, titles, training histories, model).
    pub file: ModelFile,
    /// `{model}-{first 12 hex digits of the file's SHA-256}`: changes whenever the file does.
    pub version: String,
    /// Where it was loaded from.
    pub path: PathBuf,
    /// The file's modification time when loaded (for the file watch).
    pub mtime: Option<SystemTime>,
    /// Unix time of loading.
    pub loaded_unix: i64,
    /// Items by number of training interactions, most first (empty when the file has no histories).
    pub popularity: Vec<ItemIdx>,
    /// ANN index over the item embeddings, for embedding models with a large catalogue.
    pub index: Option<AnyIndex>,
    /// Training interactions per item (empty when the file has no histories), for long-tail re-ranking.
    pub item_counts: Vec<usize>,
}

impl std::fmt::Debug for Serving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serving")
            .field("version", &self.version)
            .field("path", &self.path)
            .field("ann", &self.index.is_some())
            .finish()
    }
}

impl Serving {
    /// Loads a model file and prepares it (popularity order, ANN index when the catalogue has at least
    /// `ann.min_items` items and the model has query embeddings). The file's checksum and structure are
    /// verified ([`ModelFile::from_bytes`]); any failure is [`ServeError::ModelRejected`] with its
    /// [`LoadFailure`] reason.
    pub fn load(path: &Path, ann: &Ann) -> ServeResult<Serving> {
        let rejected = |reason, message| ServeError::ModelRejected { reason, message };
        let bytes = std::fs::read(path).map_err(|e| {
            rejected(
                LoadFailure::Io,
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        // Checks the checksum and validates the structure: a corrupt or inconsistent file stops here.
        let file = ModelFile::from_bytes(path, &bytes)
            .map_err(|e| rejected(LoadFailure::of(&e), e.to_string()))?;
        let version = version_of(&file.header.model, &bytes);
        drop(bytes);
        let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let mut s = Serving::new(file, version, ann).map_err(|e| match e {
            ServeError::Model(message) => rejected(LoadFailure::Index, message),
            other => other,
        })?;
        s.path = path.to_path_buf();
        s.mtime = mtime;
        Ok(s)
    }

    /// Prepares a model file already in memory (tests, tools, a model just trained): `version` names it
    /// (see [`version_of`]); `path` stays empty and `mtime` unset.
    pub fn new(file: ModelFile, version: String, ann: &Ann) -> ServeResult<Serving> {
        let item_counts = file
            .context
            .train
            .as_ref()
            .map(|x| x.item_counts())
            .unwrap_or_default();
        let popularity = match &file.context.train {
            Some(x) => {
                let mut counts: Vec<(usize, ItemIdx)> = (0..x.n_items())
                    .map(|i| (x.item_len(ItemIdx(i as u32)), ItemIdx(i as u32)))
                    .collect();
                counts.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
                counts.into_iter().map(|(_, i)| i).collect()
            }
            None => Vec::new(),
        };
        let model = file.model.as_recommender();
        let index = match model.item_embeddings() {
            Some((dim, emb))
                if model.n_items() >= ann.min_items
                    && model
                        .query_embedding(&tastebud_models::Query::new(&[]))
                        .ok()
                        .flatten()
                        .is_some() =>
            {
                let opts = IndexOptions::new()
                    .ann_min_items(ann.min_items)
                    .hnsw(HnswParams::new().expansion_search(ann.ef_search));
                Some(
                    AnyIndex::build(emb.to_vec(), dim, Metric::InnerProduct, &opts)
                        .map_err(|e| ServeError::Model(format!("building the ANN index: {e}")))?,
                )
            }
            _ => None,
        };
        Ok(Serving {
            file,
            version,
            path: PathBuf::new(),
            mtime: None,
            loaded_unix: crate::now_unix(),
            popularity,
            index,
            item_counts,
        })
    }

    /// The newest event log sequence number in the model's training data (0 when it learned from none).
    pub fn event_seq(&self) -> u64 {
        self.file.header.lineage.as_ref().map_or(0, |l| l.event_seq)
    }

    /// The model.
    pub fn model(&self) -> &dyn Recommender {
        self.file.model.as_recommender()
    }

    /// Items for a request's `filter=column:value[|value...]`.
    pub fn parse_filter(&self, f: &str) -> ServeResult<Vec<ItemIdx>> {
        let (col, vals) = f.split_once(':').ok_or_else(|| {
            ServeError::BadRequest(format!(
                "filter `{f}`: expected `column:value` (e.g. genres:Comedy)"
            ))
        })?;
        let labels: Vec<&str> = vals.split('|').filter(|s| !s.is_empty()).collect();
        if labels.is_empty() {
            return Err(ServeError::BadRequest(format!(
                "filter `{f}` names no value"
            )));
        }
        self.items_with(col, &labels)
    }

    /// The indices of external item ids; unknown ids are skipped (they cannot be recommended anyway).
    pub fn item_list(&self, ids: impl IntoIterator<Item = impl AsRef<str>>) -> Vec<ItemIdx> {
        ids.into_iter()
            .filter_map(|id| self.item(id.as_ref().trim()))
            .collect()
    }

    /// The index of an external item id.
    pub fn item(&self, id: &str) -> Option<ItemIdx> {
        self.file.context.items.get(id)
    }

    /// The external id of an item.
    pub fn item_id(&self, i: ItemIdx) -> &str {
        self.file.context.items.id(i).unwrap_or("?")
    }

    /// The index of an external user id known at training time.
    pub fn user(&self, id: &str) -> Option<UserIdx> {
        self.file.context.users.get(id)
    }

    /// The item's title, when the dataset has titles.
    pub fn title(&self, i: ItemIdx) -> Option<&str> {
        self.file
            .context
            .item_features
            .as_ref()
            .and_then(|f| f.text("title", i.get()))
    }

    /// The training history of a known user (empty when the file stores none).
    pub fn train_history(&self, u: UserIdx) -> Vec<(ItemIdx, f32)> {
        match &self.file.context.train {
            Some(x) if u.get() < x.n_users() => x.history(u),
            _ => Vec::new(),
        }
    }

    /// The training items of user `u` in time order (empty when the model file keeps no histories).
    pub fn train_sequence(&self, u: UserIdx) -> Vec<ItemIdx> {
        match &self.file.context.train {
            Some(x) if u.get() < x.n_users() => x.sequence(u),
            _ => Vec::new(),
        }
    }

    /// Items carrying `label` in the categorical feature `column` (for `filter=column:label`).
    pub fn items_with(&self, column: &str, labels: &[&str]) -> ServeResult<Vec<ItemIdx>> {
        let f = self.file.context.item_features.as_ref().ok_or_else(|| {
            ServeError::BadRequest("this model's dataset has no item features to filter on".into())
        })?;
        let Some(tastebud_core::FeatureValues::Categorical { vocab, .. }) = f.column(column) else {
            let names: Vec<&str> = f
                .columns()
                .iter()
                .filter(|c| matches!(c.values, tastebud_core::FeatureValues::Categorical { .. }))
                .map(|c| c.name.as_str())
                .collect();
            return Err(ServeError::BadRequest(format!(
                "unknown filter column `{column}` (categorical columns: {})",
                names.join(", ")
            )));
        };
        for l in labels {
            if vocab.get(l).is_none() {
                return Err(ServeError::BadRequest(format!(
                    "`{column}` has no value `{l}`"
                )));
            }
        }
        Ok((0..f.len())
            .filter(|&e| {
                f.labels(column, e)
                    .is_some_and(|ls| ls.iter().any(|l| labels.contains(l)))
            })
            .map(|e| ItemIdx(e as u32))
            .collect())
    }
}
