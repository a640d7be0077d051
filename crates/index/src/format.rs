//! The on-disk layout of a saved index: a folder of two files.
//!
//! ```text
//! <dir>/header.json     {"format":"tastebud-index","version":1,"kind":"exact"|"hnsw","dim":64,
//!                        "metric":"inner_product"|"cosine","len":100000,
//!                        "hnsw":{"connectivity":16,"expansion_add":128,"expansion_search":64}}
//! <dir>/vectors.f32     exact only: len x dim little-endian f32, row-major, as stored (unit rows under cosine)
//! <dir>/graph.usearch   hnsw only: the graph and its f32 vectors in usearch's own format (`Index::save`),
//!                        inner-product metric, keys = ids; readable by any usearch binding
//! ```
//!
//! The header is written last, so a folder without one is an interrupted save; loading checks the header
//! against the data file (kind, dimension, count, usearch metric and scalar type) and fails with
//! [`IndexError::Format`] naming the file when they disagree. `version` changes when the layout does.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{IndexError, Result};
use crate::hnsw_params::HnswParams;
use crate::metric::Metric;

/// Name of the JSON header inside a saved index folder.
pub const HEADER_FILE: &str = "header.json";
/// Name of the raw vectors file of a saved [`ExactIndex`](crate::ExactIndex).
pub const VECTORS_FILE: &str = "vectors.f32";
/// Name of the usearch file of a saved [`HnswIndex`](crate::HnswIndex).
pub const GRAPH_FILE: &str = "graph.usearch";

const FORMAT: &str = "tastebud-index";
const VERSION: u32 = 1;

/// Which index a folder holds.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// [`ExactIndex`](crate::ExactIndex): `vectors.f32`.
    Exact,
    /// [`HnswIndex`](crate::HnswIndex): `graph.usearch`.
    Hnsw,
}

/// The contents of `header.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Always `tastebud-index`.
    pub format: String,
    /// Layout version, 1.
    pub version: u32,
    /// Which index.
    pub kind: Kind,
    /// Vector dimension.
    pub dim: usize,
    /// Similarity.
    pub metric: Metric,
    /// Number of items.
    pub len: usize,
    /// HNSW parameters (for `kind = hnsw`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hnsw: Option<HnswParams>,
}

impl Header {
    pub(crate) fn new(
        kind: Kind,
        dim: usize,
        metric: Metric,
        len: usize,
        hnsw: Option<HnswParams>,
    ) -> Self {
        Header {
            format: FORMAT.into(),
            version: VERSION,
            kind,
            dim,
            metric,
            len,
            hnsw,
        }
    }

    /// Reads and checks `dir/header.json`.
    pub fn read(dir: &Path) -> Result<Header> {
        let path = dir.join(HEADER_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| IndexError::io(&path, e))?;
        let header: Header = serde_json::from_str(&text)
            .map_err(|e| IndexError::format(&path, format!("not an index header: {e}")))?;
        if header.format != FORMAT {
            return Err(IndexError::format(
                &path,
                format!("format is `{}`, expected `{FORMAT}`", header.format),
            ));
        }
        if header.version != VERSION {
            return Err(IndexError::format(
                &path,
                format!(
                    "layout version {} is not supported (this build reads {VERSION})",
                    header.version
                ),
            ));
        }
        if header.dim == 0 {
            return Err(IndexError::format(&path, "dim is 0"));
        }
        Ok(header)
    }

    pub(crate) fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(HEADER_FILE);
        let text = serde_json::to_string_pretty(self).expect("a header always serialises");
        std::fs::write(&path, text + "\n").map_err(|e| IndexError::io(&path, e))
    }

    pub(crate) fn expect_kind(&self, dir: &Path, kind: Kind) -> Result<()> {
        if self.kind == kind {
            Ok(())
        } else {
            Err(IndexError::format(
                dir.join(HEADER_FILE),
                format!("holds a {:?} index, not {kind:?}", self.kind),
            ))
        }
    }
}

pub(crate) fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| IndexError::io(dir, e))
}

pub(crate) fn write_f32s(path: &Path, values: &[f32]) -> Result<()> {
    let io = |e| IndexError::io(path, e);
    let mut w = BufWriter::new(File::create(path).map_err(io)?);
    let mut buf = Vec::with_capacity(1 << 16);
    for chunk in values.chunks(1 << 14) {
        buf.clear();
        chunk
            .iter()
            .for_each(|x| buf.extend_from_slice(&x.to_le_bytes()));
        w.write_all(&buf).map_err(io)?;
    }
    w.into_inner().map_err(|e| io(e.into_error()))?;
    Ok(())
}

pub(crate) fn read_f32s(path: &Path, count: usize) -> Result<Vec<f32>> {
    let io = |e| IndexError::io(path, e);
    let file = File::open(path).map_err(io)?;
    let bytes = file.metadata().map_err(io)?.len();
    if Some(bytes) != (count as u64).checked_mul(4) {
        return Err(IndexError::format(
            path,
            format!("{bytes} bytes, the header says {count} f32 values"),
        ));
    }
    let mut r = BufReader::new(file);
    let mut out = Vec::with_capacity(count);
    let mut buf = vec![0u8; 1 << 16];
    while out.len() < count {
        let n = (count - out.len()).min(buf.len() / 4);
        r.read_exact(&mut buf[..n * 4]).map_err(io)?;
        out.extend(
            buf[..n * 4]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
    }
    Ok(out)
}
