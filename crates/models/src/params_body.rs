//! How a model body stores its hyperparameters, and which format version a body being decoded has.
//!
//! From format version 2 on, the hyperparameters inside a binary model body are one JSON string: a field
//! added later (every parameter struct is `#[serde(default)]`) reads as its default from an older file, and
//! the body layout no longer changes with the parameters. A version-1 body wrote them positionally; each
//! parameter struct names its version-1 layout through [`LegacyParams`] (the frozen layouts live in the
//! `compat` module).
//!
//! This module depends on no model, so every model can use it; the model file reader sets the version with
//! [`with_body_version`].

use std::cell::Cell;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

thread_local! {
    /// The format version of the body being decoded on this thread; `None` outside
    /// [`with_body_version`], i.e. a body this build wrote.
    static BODY_VERSION: Cell<Option<u32>> = const { Cell::new(None) };
}

/// Runs `f` (a decode) with `version` as the format version of the bodies it reads, nested models
/// included.
pub(crate) fn with_body_version<R>(version: u32, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<u32>);
    impl Drop for Restore {
        fn drop(&mut self) {
            BODY_VERSION.with(|v| v.set(self.0));
        }
    }
    let _restore = Restore(BODY_VERSION.with(|v| v.replace(Some(version))));
    f()
}

/// Whether the body being decoded on this thread was written by format version 1.
fn decoding_v1() -> bool {
    BODY_VERSION.with(Cell::get).is_some_and(|v| v < 2)
}

/// A hyperparameter struct and the layout it had in format version 1.
pub(crate) trait LegacyParams: Sized {
    /// The version-1 layout (the struct itself when it has not changed since).
    type V1: DeserializeOwned + Into<Self>;
}

/// `#[serde(with = "crate::params_body")]` for a model's `params` field: one JSON string in binary bodies
/// (version 2), the plain struct in human-readable formats.
pub(crate) fn serialize<S: Serializer, T: Serialize>(
    p: &T,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    if s.is_human_readable() {
        return p.serialize(s);
    }
    let json = serde_json::to_string(p).map_err(serde::ser::Error::custom)?;
    s.serialize_str(&json)
}

/// The reading side of [`serialize`]; a version-1 body is read through [`LegacyParams::V1`].
pub(crate) fn deserialize<'de, D: Deserializer<'de>, T: DeserializeOwned + LegacyParams>(
    d: D,
) -> std::result::Result<T, D::Error> {
    if d.is_human_readable() {
        return T::deserialize(d);
    }
    if decoding_v1() {
        return T::V1::deserialize(d).map(Into::into);
    }
    let json = String::deserialize(d)?;
    serde_json::from_str(&json).map_err(serde::de::Error::custom)
}
