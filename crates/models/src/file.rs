//! Model files (`.tbm`): one versioned, self-describing format for every model.
//!
//! Layout:
//! 1. the magic line `TASTEBUD-MODEL\n`;
//! 2. one line of JSON, the [`Header`]: format version, model type, every hyperparameter (defaults
//!    included), the dataset's name and shape, and the byte lengths of the two bodies; `head -2 model.tbm`
//!    shows what a file holds;
//! 3. the context body (postcard): external ids, item features (titles, genres) and, optionally, the
//!    training interactions (so `recommend --user ID` knows the user's history);
//! 4. the model body (postcard), decoded according to the header's model type.
//!
//! **Integrity.** Since format version 3 the header carries `checksum`, `sha256:` and the SHA-256 of the two
//! bodies; a file whose bodies do not match it is refused ([`Error::Corrupt`], check `checksum`) before
//! anything is decoded. Then, for every version, the decoded file is validated structurally
//! ([`ModelFile::validate`]): ids distinct, the training interactions' CSR and CSC consistent, the model's arrays of
//! the right shape with indices in range and finite numbers ([`AnyModel::validate`]), and every part the
//! same number of users and items. A file that passes both answers every request without panicking; one
//! that fails is refused with [`Error::Corrupt`] naming the check, so a server keeps the model it had.
//! Hashing costs about 1 ms per 1.5 MB here (SHA-NI), e.g. 8 ms of an ML-100K EASE file's load
//! (BENCHMARKS.md, "Reliability").
//!
//! Files are written to a temporary name, fsynced and renamed, so a crash never leaves a half-written model.
//! A file from a newer format version is refused with a clear error; older versions keep loading (golden
//! files in `tests/golden/` check it).

use std::path::Path;

use serde::{Deserialize, Serialize};
use tastebud_core::fsio::write_atomic;
use tastebud_core::{Dataset, Error, FeatureTable, Interactions, ItemMap, Result, UserMap};

use crate::any::AnyModel;

/// The first line of every model file.
pub const MAGIC: &[u8] = b"TASTEBUD-MODEL\n";
/// The format version this build writes (and the newest it reads). Version 2 stores each model's
/// hyperparameters inside the body as JSON, so adding one no longer changes the layout; version 3 adds the
/// bodies' checksum to the header. Version-1 and -2 files keep loading without a checksum (see the
/// `compat` module), still validated structurally.
pub const FORMAT_VERSION: u32 = 3;

/// The first format version whose header carries a checksum (required from this version on).
pub const CHECKSUM_SINCE: u32 = 3;

/// `sha256:` and the lowercase hex SHA-256 of `bodies`: the header's [`Header::checksum`].
pub fn checksum(bodies: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(bodies);
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256:");
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The JSON header of a model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Format version of the file.
    pub format_version: u32,
    /// Tastebud version that wrote it.
    pub tastebud_version: String,
    /// Model type, e.g. `als`.
    pub model: String,
    /// Every hyperparameter, defaults included.
    pub params: serde_json::Value,
    /// Name of the training dataset.
    pub dataset: String,
    /// Users in the training data.
    pub n_users: usize,
    /// Items in the training data.
    pub n_items: usize,
    /// Interactions in the training data.
    pub n_interactions: usize,
    /// Unix time of writing.
    pub created_unix: u64,
    /// Byte length of the context body.
    pub context_bytes: u64,
    /// Byte length of the model body.
    pub model_bytes: u64,
    /// `sha256:<hex>` of the context and model bodies together (format version 3 on; absent before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    /// Where the model came from, when a retraining run made it (absent in older files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage: Option<Lineage>,
}

/// The provenance of a retrained model: its base data, the slice of the event log it learned from, and
/// the version it replaced.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Lineage {
    /// The base dataset (path or name).
    pub base_data: String,
    /// Events up to this log sequence number are in the training data.
    pub event_seq: u64,
    /// Events turned into training interactions.
    pub events_used: u64,
    /// Version of the model it was compared with (and replaced, when promoted).
    pub parent: Option<String>,
}

/// What a model needs besides its parameters to serve people: ids, titles, histories.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Context {
    /// External user ids.
    pub users: UserMap,
    /// External item ids.
    pub items: ItemMap,
    /// Item features (titles, genres...), when the dataset has them.
    pub item_features: Option<FeatureTable>,
    /// Training interactions, when kept (histories of known users).
    pub train: Option<Interactions>,
}

impl Context {
    /// The context of a training dataset; `keep_train` stores its interactions too.
    pub fn of(data: &Dataset, keep_train: bool) -> Self {
        Context {
            users: data.users.clone(),
            items: data.items.clone(),
            item_features: data.item_features.clone(),
            train: keep_train.then(|| data.interactions.clone()),
        }
    }
}

/// A model with its header and context, as stored in a file.
#[derive(Clone, Debug)]
pub struct ModelFile {
    /// The header.
    pub header: Header,
    /// Ids, features, histories.
    pub context: Context,
    /// The model.
    pub model: AnyModel,
}

impl ModelFile {
    /// Wraps a freshly fitted model.
    pub fn new(
        model: AnyModel,
        params: serde_json::Value,
        data: &Dataset,
        keep_train: bool,
    ) -> Self {
        ModelFile {
            header: Header {
                format_version: FORMAT_VERSION,
                tastebud_version: env!("CARGO_PKG_VERSION").to_string(),
                model: model.kind().to_string(),
                params,
                dataset: data.meta.name.clone(),
                n_users: data.n_users(),
                n_items: data.n_items(),
                n_interactions: data.interactions.nnz(),
                created_unix: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
                context_bytes: 0,
                model_bytes: 0,
                checksum: None,
                lineage: None,
            },
            context: Context::of(data, keep_train),
            model,
        }
    }

    /// Writes the file atomically and durably ([`write_atomic`]: temporary file, fsync, rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        let context = postcard::to_stdvec(&self.context)
            .map_err(|e| Error::Shape(format!("encode context: {e}")))?;
        let body = self.model.encode()?;
        let mut header = self.header.clone();
        header.format_version = FORMAT_VERSION;
        header.context_bytes = context.len() as u64;
        header.model_bytes = body.len() as u64;
        let mut h = sha2::Sha256::default();
        sha2::Digest::update(&mut h, &context);
        sha2::Digest::update(&mut h, &body);
        let digest = sha2::Digest::finalize(h);
        header.checksum = Some(format!(
            "sha256:{}",
            digest
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        ));
        let json = serde_json::to_string(&header)
            .map_err(|e| Error::Shape(format!("encode header: {e}")))?;
        write_atomic(path, |f| {
            let io = |e| Error::io(path, e);
            f.write_all(MAGIC).map_err(io)?;
            f.write_all(json.as_bytes()).map_err(io)?;
            f.write_all(b"\n").map_err(io)?;
            f.write_all(&context).map_err(io)?;
            f.write_all(&body).map_err(io)
        })
    }

    /// Reads a file written by [`Self::save`] (this or an older format version).
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(path, &bytes)
    }

    /// Parses the bytes of a model file already read (`path` names it in errors).
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self> {
        let bad = |reason: String| Error::BadInput {
            path: path.to_path_buf(),
            reason,
        };
        let rest = bytes
            .strip_prefix(MAGIC)
            .ok_or_else(|| bad("not a Tastebud model file (bad magic)".into()))?;
        let nl = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| bad("truncated header".into()))?;
        let header: Header = serde_json::from_slice(&rest[..nl])
            .map_err(|e| bad(format!("unreadable header: {e}")))?;
        if header.format_version > FORMAT_VERSION {
            return Err(bad(format!(
                "format version {} is newer than this build reads ({FORMAT_VERSION}); upgrade Tastebud",
                header.format_version
            )));
        }
        let body = &rest[nl + 1..];
        let (c, m) = (header.context_bytes, header.model_bytes);
        if c.checked_add(m) != Some(body.len() as u64) {
            return Err(bad(format!(
                "expected {} body bytes, found {} (truncated file?)",
                c.saturating_add(m),
                body.len()
            )));
        }
        let c = c as usize;
        if header.format_version >= CHECKSUM_SINCE {
            let corrupt = |reason: String| Error::Corrupt {
                path: path.to_path_buf(),
                check: "checksum",
                reason,
            };
            let Some(expected) = header.checksum.as_deref() else {
                return Err(corrupt(format!(
                    "format version {} requires a checksum and the header has none",
                    header.format_version
                )));
            };
            let found = checksum(body);
            if found != expected {
                return Err(corrupt(format!(
                    "checksum mismatch: the bodies hash to {found} but the header says {expected}; the \
                     file is corrupt (re-copy it, or re-save the model)"
                )));
            }
        }
        let mut context: Context = postcard::from_bytes(&body[..c])
            .map_err(|e| bad(format!("unreadable context: {e}")))?;
        context.users.0.rebuild_index();
        context.items.0.rebuild_index();
        if let Some(f) = context.item_features.as_mut() {
            f.rebuild_index();
        }
        let model = crate::params_body::with_body_version(header.format_version, || {
            AnyModel::decode(&header.model, &body[c..])
        })
        .map_err(|e| bad(e.to_string()))?;
        let file = ModelFile {
            header,
            context,
            model,
        };
        file.validate().map_err(|e| Error::Corrupt {
            path: path.to_path_buf(),
            check: "validation",
            reason: format!("inconsistent model file: {e}"),
        })?;
        Ok(file)
    }

    /// Checks the structure of a decoded file (see the module documentation): the ids, the features and
    /// training interactions against them, and the model ([`AnyModel::validate`]) against the item ids.
    /// [`Self::load`] runs it on every file; a file that passes answers every request without panicking.
    pub fn validate(&self) -> Result<()> {
        use tastebud_core::validate as v;
        let ctx = &self.context;
        let (nu, ni) = (ctx.users.len(), ctx.items.len());
        ctx.users.0.validate("user")?;
        ctx.items.0.validate("item")?;
        v::len("header's users", self.header.n_users, nu)?;
        v::len("header's items", self.header.n_items, ni)?;
        if let Some(f) = &ctx.item_features {
            f.validate()?;
            v::len("item features", f.len(), ni)?;
        }
        if let Some(x) = &ctx.train {
            x.validate()?;
            v::len("training interactions' users", x.n_users(), nu)?;
            v::len("training interactions' items", x.n_items(), ni)?;
        }
        self.model.validate()?;
        v::len("model's items", self.model.as_recommender().n_items(), ni)
    }
}
