//! [`HnswParams`]: the parameters of an HNSW graph, kept apart from the graph so that the header of a saved
//! index (`format::Header`) can hold them without depending on the index itself.

use serde::{Deserialize, Serialize};

use crate::error::{IndexError, Result};

/// Parameters of an HNSW graph (Malkov & Yashunin 2018), checked before any work starts.
///
/// ```
/// use tastebud_index::HnswParams;
/// let p = HnswParams::new().connectivity(32).expansion_search(128);
/// assert_eq!((p.get_connectivity(), p.get_expansion_add(), p.get_expansion_search()), (32, 128, 128));
/// assert!(HnswParams::new().connectivity(1).validate().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HnswParams {
    pub(crate) connectivity: usize,
    pub(crate) expansion_add: usize,
    pub(crate) expansion_search: usize,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams {
            connectivity: 16,
            expansion_add: 128,
            expansion_search: 64,
        }
    }
}

impl HnswParams {
    /// The defaults: `M = 16`, `ef_construction = 128`, `ef = 64`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Links per node (HNSW's `M`; the base layer keeps `2M`). More links: better recall, more memory and a
    /// slower build. Between 2 and 1024. By default, 16.
    pub fn connectivity(mut self, m: usize) -> Self {
        self.connectivity = m;
        self
    }

    /// Candidate list size while inserting (`ef_construction`): higher builds a better graph, slower.
    /// At least 1. By default, 128.
    pub fn expansion_add(mut self, ef: usize) -> Self {
        self.expansion_add = ef;
        self
    }

    /// Candidate list size while searching (`ef`, raised to `k` when `k` is larger): the recall/latency
    /// knob, which [`HnswIndex::set_expansion_search`](crate::HnswIndex::set_expansion_search) changes after the build. At least 1. By default, 64.
    pub fn expansion_search(mut self, ef: usize) -> Self {
        self.expansion_search = ef;
        self
    }

    /// Links per node (`M`).
    pub fn get_connectivity(&self) -> usize {
        self.connectivity
    }

    /// `ef_construction`.
    pub fn get_expansion_add(&self) -> usize {
        self.expansion_add
    }

    /// `ef` at search time.
    pub fn get_expansion_search(&self) -> usize {
        self.expansion_search
    }

    /// Checks every parameter's range.
    pub fn validate(&self) -> Result<()> {
        if !(2..=1024).contains(&self.connectivity) {
            return Err(IndexError::InvalidParam {
                name: "connectivity",
                reason: format!("must be between 2 and 1024, got {}", self.connectivity),
            });
        }
        check_expansion("expansion_add", self.expansion_add)?;
        check_expansion("expansion_search", self.expansion_search)
    }
}

pub(crate) fn check_expansion(name: &'static str, ef: usize) -> Result<()> {
    if ef == 0 {
        return Err(IndexError::InvalidParam {
            name,
            reason: "must be at least 1".into(),
        });
    }
    Ok(())
}
