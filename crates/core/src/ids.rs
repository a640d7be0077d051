//! Typed dense indices and the two-way maps between them and external ids.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// Dense index of a user, `0..n_users`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UserIdx(pub u32);

/// Dense index of an item, `0..n_items`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ItemIdx(pub u32);

impl UserIdx {
    /// The index as a `usize`, for slicing.
    #[inline]
    pub fn get(self) -> usize {
        self.0 as usize
    }
}

impl ItemIdx {
    /// The index as a `usize`, for slicing.
    #[inline]
    pub fn get(self) -> usize {
        self.0 as usize
    }
}

/// A two-way map between external ids (as found in files: `"42"`, `"B00005JLXH"`) and dense `u32` indices.
///
/// Indices are assigned in order of first insertion, so loading the same file twice gives the same indices.
/// Integer ids are stored as their decimal text: `"42"` and `42` are the same id.
///
/// ```
/// use tastebud_core::IdMap;
/// let mut m = IdMap::new();
/// assert_eq!(m.insert("u7"), 0);
/// assert_eq!(m.insert("u9"), 1);
/// assert_eq!(m.insert("u7"), 0);
/// assert_eq!(m.get("u9"), Some(1));
/// assert_eq!(m.get("nobody"), None);
/// assert_eq!(m.id(1), Some("u9"));
/// ```
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct IdMap {
    to_id: Vec<Box<str>>,
    #[serde(skip)]
    to_idx: FxHashMap<Box<str>, u32>,
}

impl PartialEq for IdMap {
    fn eq(&self, other: &Self) -> bool {
        self.to_id == other.to_id
    }
}

impl IdMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a map from ids in index order. Fails on a repeated id.
    pub fn from_ids<I, S>(ids: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = S>,
        S: Into<Box<str>>,
    {
        let mut m = IdMap::new();
        for id in ids {
            let id: Box<str> = id.into();
            let n = m.to_id.len() as u32;
            if m.to_idx.insert(id.clone(), n).is_some() {
                return Err(format!("duplicate id `{id}`"));
            }
            m.to_id.push(id);
        }
        Ok(m)
    }

    /// Rebuilds the reverse index after deserialisation (serde skips it).
    pub fn rebuild_index(&mut self) {
        self.to_idx = self
            .to_id
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as u32))
            .collect();
    }

    /// Checks a map decoded from a file (after [`Self::rebuild_index`]): no id appears twice, so every id
    /// names exactly one index.
    pub fn validate(&self, what: &str) -> crate::Result<()> {
        if self.to_idx.len() == self.to_id.len() {
            return Ok(());
        }
        let mut seen = rustc_hash::FxHashSet::default();
        let dup = self.to_id.iter().find(|s| !seen.insert(&***s));
        Err(crate::Error::Shape(format!(
            "{what} ids repeat `{}`",
            dup.map_or("?", |s| &**s)
        )))
    }

    /// Returns the index of `id`, inserting it when new.
    pub fn insert(&mut self, id: &str) -> u32 {
        if let Some(&i) = self.to_idx.get(id) {
            return i;
        }
        let i = u32::try_from(self.to_id.len()).expect("more than 2^32 ids");
        let b: Box<str> = id.into();
        self.to_idx.insert(b.clone(), i);
        self.to_id.push(b);
        i
    }

    /// The index of `id`, or `None` when unknown.
    pub fn get(&self, id: &str) -> Option<u32> {
        self.to_idx.get(id).copied()
    }

    /// The external id of index `idx`, or `None` when out of range.
    pub fn id(&self, idx: u32) -> Option<&str> {
        self.to_id.get(idx as usize).map(|s| &**s)
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.to_id.len()
    }

    /// True when there are no ids.
    pub fn is_empty(&self) -> bool {
        self.to_id.is_empty()
    }

    /// All ids in index order.
    pub fn ids(&self) -> impl ExactSizeIterator<Item = &str> {
        self.to_id.iter().map(|s| &**s)
    }
}

/// External user ids ⇄ [`UserIdx`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UserMap(pub IdMap);

/// External item ids ⇄ [`ItemIdx`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemMap(pub IdMap);

impl UserMap {
    /// The index of a user id, or `None` when unknown.
    pub fn get(&self, id: &str) -> Option<UserIdx> {
        self.0.get(id).map(UserIdx)
    }
    /// The external id of a user index, or `None` when out of range.
    pub fn id(&self, u: UserIdx) -> Option<&str> {
        self.0.id(u.0)
    }
    /// Number of users.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True when there are no users.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl ItemMap {
    /// The index of an item id, or `None` when unknown.
    pub fn get(&self, id: &str) -> Option<ItemIdx> {
        self.0.get(id).map(ItemIdx)
    }
    /// The external id of an item index, or `None` when out of range.
    pub fn id(&self, i: ItemIdx) -> Option<&str> {
        self.0.id(i.0)
    }
    /// Number of items.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True when there are no items.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(ids in proptest::collection::vec("[a-z0-9]{1,6}", 0..200)) {
            let mut m = IdMap::new();
            let idx: Vec<u32> = ids.iter().map(|s| m.insert(s)).collect();
            for (s, i) in ids.iter().zip(&idx) {
                prop_assert_eq!(m.get(s), Some(*i));
                prop_assert_eq!(m.id(*i), Some(s.as_str()));
            }
            let distinct: std::collections::HashSet<_> = ids.iter().collect();
            prop_assert_eq!(m.len(), distinct.len());
            prop_assert_eq!(m.id(m.len() as u32), None);
        }
    }

    #[test]
    fn serde_round_trip_rebuilds_index() {
        let m = IdMap::from_ids(["a", "b"]).unwrap();
        let s = serde_json::to_string(&m).unwrap();
        let mut back: IdMap = serde_json::from_str(&s).unwrap();
        back.rebuild_index();
        assert_eq!(back.get("b"), Some(1));
        assert!(IdMap::from_ids(["a", "a"]).is_err());
    }
}
