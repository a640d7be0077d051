//! Writing interactions back out with external ids, so a split made here can be read by any other tool.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::Serialize;
use tastebud_core::{Dataset, Error, Interactions, Result, Split, SplitSpec};

/// Writes `x` as tab-separated `user item value [time]` lines with external ids (the ML-100K `u.data`
/// layout), sorted by user then item. `ids` supplies the external ids and must have `x`'s shape.
pub fn write_tsv(path: &Path, ids: &Dataset, x: &Interactions) -> Result<()> {
    if (x.n_users(), x.n_items()) != (ids.n_users(), ids.n_items()) {
        return Err(Error::Shape(
            "interactions and dataset differ in shape".into(),
        ));
    }
    let f = File::create(path).map_err(|e| Error::io(path, e))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    let io = |e| Error::io(path, e);
    for r in x.iter() {
        let u = ids.users.id(r.user).unwrap_or_default();
        let i = ids.items.id(r.item).unwrap_or_default();
        match r.time {
            Some(t) => writeln!(w, "{u}\t{i}\t{}\t{t}", r.value).map_err(io)?,
            None => writeln!(w, "{u}\t{i}\t{}", r.value).map_err(io)?,
        }
    }
    w.flush().map_err(io)
}

/// What `datasets split` wrote, for `split.json`.
#[derive(Clone, Debug, Serialize)]
pub struct SplitManifest {
    /// The protocol, as given on the command line.
    pub spec: String,
    /// The seed.
    pub seed: u64,
    /// The source dataset.
    pub source: String,
    /// One entry per fold (one for every protocol but k-fold).
    pub folds: Vec<FoldManifest>,
}

/// One written fold.
#[derive(Clone, Debug, Serialize)]
pub struct FoldManifest {
    /// Folder holding `train.tsv`, `test.tsv` and, for held-out users, `fold_in.tsv`.
    pub dir: String,
    /// Train interactions.
    pub train: usize,
    /// Test interactions.
    pub test: usize,
    /// Fold-in interactions (held-out users only).
    pub fold_in: Option<usize>,
}

/// Writes each split under `out` (`out/` for one split, `out/fold1/`… for k-fold) plus `out/split.json`.
pub fn write_splits(
    out: &Path,
    d: &Dataset,
    spec: &SplitSpec,
    seed: u64,
    splits: &[Split],
) -> Result<SplitManifest> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut folds = Vec::new();
    for (k, s) in splits.iter().enumerate() {
        let dir = if splits.len() == 1 {
            out.to_path_buf()
        } else {
            out.join(format!("fold{}", k + 1))
        };
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        write_tsv(&dir.join("train.tsv"), d, &s.train)?;
        write_tsv(&dir.join("test.tsv"), d, &s.test)?;
        if let Some(f) = &s.fold_in {
            write_tsv(&dir.join("fold_in.tsv"), d, f)?;
        }
        folds.push(FoldManifest {
            dir: dir.display().to_string(),
            train: s.train.nnz(),
            test: s.test.nnz(),
            fold_in: s.fold_in.as_ref().map(Interactions::nnz),
        });
    }
    let m = SplitManifest {
        spec: spec.to_string(),
        seed,
        source: d.meta.source.clone(),
        folds,
    };
    let json = serde_json::to_string_pretty(&m).map_err(|e| Error::Shape(e.to_string()))?;
    let p = out.join("split.json");
    std::fs::write(&p, json).map_err(|e| Error::io(&p, e))?;
    Ok(m)
}
