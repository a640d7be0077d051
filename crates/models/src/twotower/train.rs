//! Training the two towers with candle: in-batch sampled softmax with the log-Q correction, AdamW; every
//! random draw (initialisation, order, history draws, identity dropout) from one seeded generator.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::Optimizer;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tastebud_core::{Dataset, Error, FeatureTable, Result, UserIdx};

use super::{NORM_EPS, Tower, TwoTower, TwoTowerParams};
use crate::Progress;
use crate::featurize::{SparseRows, feature_rows, select};
use crate::nn::train::{Dense, adamw, err, uniform_var, values};

/// One side's feature rows (weights summing to 1 per row) and the number of features; no rows when the
/// spec selects no column.
fn side_features(
    table: Option<&FeatureTable>,
    spec: &str,
    param: &'static str,
    n: usize,
    bucket: f32,
) -> Result<(usize, SparseRows)> {
    if select(table, spec, false, param)?.is_empty() {
        return Ok((0, SparseRows::from_rows(vec![Vec::new(); n])));
    }
    let (names, rows) = feature_rows(table, spec, param, n, false, bucket)?;
    Ok((names.len(), rows))
}

/// A tower being trained: dense layers, ReLU between them.
struct TowerNet {
    layers: Vec<Dense>,
}

impl TowerNet {
    fn new(p: &TwoTowerParams, rng: &mut ChaCha8Rng, dev: &Device) -> Result<TowerNet> {
        let layers = if p.hidden == 0 {
            vec![Dense::new(p.dim, p.dim, rng, dev)?]
        } else {
            vec![
                Dense::new(p.dim, p.hidden, rng, dev)?,
                Dense::new(p.hidden, p.dim, rng, dev)?,
            ]
        };
        Ok(TowerNet { layers })
    }

    /// Unit rows of `x` through the layers.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = x.clone();
        for (k, l) in self.layers.iter().enumerate() {
            x = l.forward(&x)?;
            if k + 1 < self.layers.len() {
                x = x.relu()?;
            }
        }
        let norm = x
            .sqr()?
            .sum_keepdim(1)?
            .affine(1.0, NORM_EPS as f64)?
            .sqrt()?;
        x.broadcast_div(&norm)
    }

    fn vars(&self) -> Vec<Var> {
        self.layers.iter().flat_map(|l| l.vars()).collect()
    }

    fn export(&self) -> Result<Tower> {
        Ok(Tower {
            layers: self
                .layers
                .iter()
                .map(|l| l.export())
                .collect::<Result<_>>()?,
        })
    }
}

/// Everything a batch is built from.
struct Data {
    /// Each user's training items, sorted.
    histories: Vec<Vec<u32>>,
    /// Item feature rows.
    item_rows: SparseRows,
    /// User feature rows (empty rows when unused).
    user_rows: SparseRows,
    /// `ln q_j`: the share of training interactions on each item.
    log_q: Vec<f32>,
}

/// The network being trained.
struct Net {
    p: TwoTowerParams,
    ids: Var,
    item_feats: Option<Var>,
    user_feats: Option<Var>,
    user_tower: TowerNet,
    item_tower: TowerNet,
}

/// Scatter-add of weighted rows: `out[dst[k]] += w[k] * table[src[k]]` into `rows x dim` zeros.
fn pool(
    table: &Tensor,
    rows: usize,
    src: Vec<u32>,
    dst: Vec<u32>,
    w: Vec<f32>,
    dev: &Device,
) -> candle_core::Result<Tensor> {
    let dim = table.dim(1)?;
    let out = Tensor::zeros((rows, dim), DType::F32, dev)?;
    if src.is_empty() {
        return Ok(out);
    }
    let n = src.len();
    let picked = table
        .index_select(&Tensor::from_vec(src, n, dev)?, 0)?
        .broadcast_mul(&Tensor::from_vec(w, (n, 1), dev)?)?;
    out.index_add(&Tensor::from_vec(dst, n, dev)?, &picked, 0)
}

impl Net {
    fn new(
        p: &TwoTowerParams,
        n_items: usize,
        n_item_feats: usize,
        n_user_feats: usize,
        rng: &mut ChaCha8Rng,
        dev: &Device,
    ) -> Result<Net> {
        let d = p.dim;
        let a = (1.0 / d as f64).sqrt() as f32;
        Ok(Net {
            p: p.clone(),
            ids: uniform_var(rng, (n_items, d), a, dev)?,
            item_feats: (n_item_feats > 0)
                .then(|| uniform_var(rng, (n_item_feats, d), a, dev))
                .transpose()?,
            user_feats: (n_user_feats > 0)
                .then(|| uniform_var(rng, (n_user_feats, d), a, dev))
                .transpose()?,
            user_tower: TowerNet::new(p, rng, dev)?,
            item_tower: TowerNet::new(p, rng, dev)?,
        })
    }

    fn vars(&self) -> Vec<Var> {
        let mut v = Vec::new();
        if self.p.item_identity {
            v.push(self.ids.clone());
        }
        v.extend(self.item_feats.clone());
        v.extend(self.user_feats.clone());
        v.extend(self.user_tower.vars());
        v.extend(self.item_tower.vars());
        v
    }

    /// Item inputs of `items` (identity times `keep`, plus the features' weighted mean).
    fn item_inputs(
        &self,
        items: &[u32],
        keep: Vec<f32>,
        rows: &SparseRows,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let n = items.len();
        let idx = Tensor::from_vec(items.to_vec(), n, dev)?;
        let mut x = if self.p.item_identity {
            self.ids
                .as_tensor()
                .index_select(&idx, 0)?
                .broadcast_mul(&Tensor::from_vec(keep, (n, 1), dev)?)?
        } else {
            Tensor::zeros((n, self.p.dim), DType::F32, dev)?
        };
        if let Some(f) = &self.item_feats {
            let (mut src, mut dst, mut w) = (Vec::new(), Vec::new(), Vec::new());
            for (s, &i) in items.iter().enumerate() {
                let (cols, vals) = rows.row(i as usize);
                src.extend_from_slice(cols);
                w.extend_from_slice(vals);
                dst.extend(std::iter::repeat_n(s as u32, cols.len()));
            }
            x = (x + pool(f.as_tensor(), n, src, dst, w, dev)?)?;
        }
        Ok(x)
    }

    /// The loss of one batch of `(user, item)` positives.
    fn loss(
        &self,
        data: &Data,
        batch: &[(u32, u32)],
        rng: &mut ChaCha8Rng,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let b = batch.len();
        // The distinct items the batch reads (positives and histories), with local indices.
        let mut local = std::collections::HashMap::<u32, u32>::new();
        let mut items = Vec::new();
        let mut at = |i: u32, items: &mut Vec<u32>| {
            *local.entry(i).or_insert_with(|| {
                items.push(i);
                items.len() as u32 - 1
            })
        };
        let targets: Vec<u32> = batch.iter().map(|&(_, i)| at(i, &mut items)).collect();
        let (mut h_src, mut h_dst, mut h_w) = (Vec::new(), Vec::new(), Vec::new());
        for (r, &(u, i)) in batch.iter().enumerate() {
            let h: Vec<u32> = data.histories[u as usize]
                .iter()
                .copied()
                .filter(|&j| j != i)
                .collect();
            let h: Vec<u32> = if self.p.max_history > 0 && h.len() > self.p.max_history {
                h.choose_multiple(rng, self.p.max_history)
                    .copied()
                    .collect()
            } else {
                h
            };
            let w = 1.0 / h.len().max(1) as f32;
            for j in h {
                h_src.push(at(j, &mut items));
                h_dst.push(r as u32);
                h_w.push(w);
            }
        }
        let keep: Vec<f32> = items
            .iter()
            .map(|_| {
                if rng.random::<f64>() < self.p.identity_dropout {
                    0.0
                } else {
                    1.0
                }
            })
            .collect();
        let x = self.item_inputs(&items, keep, &data.item_rows, dev)?;
        let mut users = pool(&x, b, h_src, h_dst, h_w, dev)?;
        if let Some(f) = &self.user_feats {
            let (mut src, mut dst, mut w) = (Vec::new(), Vec::new(), Vec::new());
            for (r, &(u, _)) in batch.iter().enumerate() {
                let (cols, vals) = data.user_rows.row(u as usize);
                src.extend_from_slice(cols);
                w.extend_from_slice(vals);
                dst.extend(std::iter::repeat_n(r as u32, cols.len()));
            }
            users = (users + pool(f.as_tensor(), b, src, dst, w, dev)?)?;
        }
        let u = self.user_tower.forward(&users)?;
        let v = self
            .item_tower
            .forward(&x.index_select(&Tensor::from_vec(targets, b, dev)?, 0)?)?;
        // Column j: item batch[j].1; masked in row r when it is r's positive or in r's history.
        let mut bias = vec![0f32; b * b];
        for (r, &(ur, ir)) in batch.iter().enumerate() {
            let hist = &data.histories[ur as usize];
            for (c, &(_, ic)) in batch.iter().enumerate() {
                let masked = c != r && (ic == ir || hist.binary_search(&ic).is_ok());
                bias[r * b + c] = if masked {
                    -1e9
                } else if self.p.log_q {
                    -data.log_q[ic as usize]
                } else {
                    0.0
                };
            }
        }
        let logits = u
            .matmul(&v.t()?)?
            .affine(1.0 / self.p.temperature, 0.0)?
            .add(&Tensor::from_vec(bias, (b, b), dev)?)?;
        let labels = Tensor::from_vec((0..b as u32).collect::<Vec<_>>(), b, dev)?;
        candle_nn::loss::cross_entropy(&logits, &labels)
    }
}

pub(super) fn fit(p: &TwoTowerParams, data: &Dataset, progress: &dyn Progress) -> Result<TwoTower> {
    let x = &data.interactions;
    let (n_users, n_items) = (x.n_users(), x.n_items());
    let (n_item_feats, item_rows) = side_features(
        data.item_features.as_ref(),
        &p.item_features,
        "item_features",
        n_items,
        p.numeric_bucket,
    )?;
    let (n_user_feats, user_rows) = side_features(
        data.user_features.as_ref(),
        &p.user_features,
        "user_features",
        n_users,
        p.numeric_bucket,
    )?;
    if !p.item_identity && n_item_feats == 0 {
        return Err(Error::InvalidParam {
            name: "item_features",
            reason: "no item features at all: keep item_identity on or name feature columns".into(),
        });
    }
    let histories: Vec<Vec<u32>> = (0..n_users as u32)
        .map(|u| x.user_items(UserIdx(u)).iter().map(|i| i.0).collect())
        .collect();
    let mut pairs: Vec<(u32, u32)> = histories
        .iter()
        .enumerate()
        .flat_map(|(u, h)| h.iter().map(move |&i| (u as u32, i)))
        .collect();
    if pairs.len() < 2 {
        return Err(Error::Shape(
            "two-tower training needs at least two interactions".into(),
        ));
    }
    let mut counts = vec![0usize; n_items];
    for &(_, i) in &pairs {
        counts[i as usize] += 1;
    }
    let total = pairs.len() as f32;
    let log_q = counts
        .iter()
        .map(|&c| (c.max(1) as f32 / total).ln())
        .collect();
    let d = Data {
        histories,
        item_rows,
        user_rows,
        log_q,
    };
    let dev = Device::Cpu;
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    let net = Net::new(p, n_items, n_item_feats, n_user_feats, &mut rng, &dev)?;
    let mut opt = adamw(net.vars(), p.lr, p.weight_decay)?;
    let batches = pairs.len().div_ceil(p.batch_size);
    progress.start("two-tower epochs", p.epochs as u64);
    for epoch in 0..p.epochs {
        pairs.shuffle(&mut rng);
        let mut sum = 0f64;
        for batch in pairs.chunks(p.batch_size) {
            // A last batch of one row has no negatives.
            if batch.len() < 2 {
                continue;
            }
            let loss = net.loss(&d, batch, &mut rng, &dev).map_err(err)?;
            opt.backward_step(&loss).map_err(err)?;
            sum += loss.to_scalar::<f32>().map_err(err)? as f64;
        }
        progress.inc(1);
        progress.message(&format!(
            "epoch {}/{}: loss {:.3}",
            epoch + 1,
            p.epochs,
            sum / batches as f64
        ));
    }
    export(&net, &d, &counts, n_users)
}

/// The model file's weights: every item's input (identity zero for items without training
/// interactions), the towers, and each known user's pooled features.
fn export(net: &Net, d: &Data, counts: &[usize], n_users: usize) -> Result<TwoTower> {
    let dim = net.p.dim;
    let ids = values(&net.ids)?;
    let item_feats = net.item_feats.as_ref().map(values).transpose()?;
    let user_feats = net.user_feats.as_ref().map(values).transpose()?;
    let mut inputs = vec![0f32; counts.len() * dim];
    for (i, row) in inputs.chunks_exact_mut(dim).enumerate() {
        if net.p.item_identity && counts[i] > 0 {
            row.copy_from_slice(&ids[i * dim..][..dim]);
        }
        if let Some(f) = &item_feats {
            add_rows(row, &d.item_rows, i, f);
        }
    }
    let mut users = Vec::new();
    if let Some(f) = &user_feats {
        users = vec![0f32; n_users * dim];
        for (u, row) in users.chunks_exact_mut(dim).enumerate() {
            add_rows(row, &d.user_rows, u, f);
        }
    }
    TwoTower::new(
        net.p.clone(),
        inputs,
        net.user_tower.export()?,
        net.item_tower.export()?,
        users,
    )
}

/// `row += Σ w_f table[f]` over entity `e`'s features.
fn add_rows(row: &mut [f32], rows: &SparseRows, e: usize, table: &[f32]) {
    let dim = row.len();
    let (cols, vals) = rows.row(e);
    for (&f, &w) in cols.iter().zip(vals) {
        for (o, &v) in row.iter_mut().zip(&table[f as usize * dim..][..dim]) {
            *o += w * v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Fit, NoProgress, Query, Recommender};
    use tastebud_core::{Feedback, Interactions, ItemIdx};

    /// Two taste groups over six items: users 0-19 take items 0-2, users 20-39 items 3-5, each all but
    /// one of their group's items.
    fn groups() -> Dataset {
        let mut t = Vec::new();
        for u in 0..40u32 {
            let base = if u < 20 { 0 } else { 3 };
            for k in 0..3 {
                if k != u % 3 {
                    t.push((u, base + k, 1.0));
                }
            }
        }
        let x = Interactions::from_triplets(40, 6, &t, Feedback::Implicit).unwrap();
        let users: Vec<String> = (0..40).map(|u| format!("u{u}")).collect();
        let items: Vec<String> = (0..6).map(|i| format!("i{i}")).collect();
        Dataset::from_parts("groups", x, users, items).unwrap()
    }

    #[test]
    fn it_learns_taste_groups_and_its_rust_scores_are_the_network() {
        let p = TwoTowerParams {
            dim: 8,
            hidden: 16,
            epochs: 30,
            batch_size: 8,
            lr: 0.01,
            item_features: "none".into(),
            identity_dropout: 0.0,
            ..Default::default()
        };
        let m = p.fit(&groups(), &NoProgress).unwrap();
        // A user of group A who has item 0 gets 1 and 2 before any item of group B.
        let h = [(ItemIdx(0), 1.0)];
        let top = m.recommend(&Query::new(&h), 2).unwrap();
        let mut got: Vec<u32> = top.iter().map(|s| s.item.0).collect();
        got.sort();
        assert_eq!(got, [1, 2]);
        let h = [(ItemIdx(4), 1.0)];
        let top = m.recommend(&Query::new(&h), 2).unwrap();
        let mut got: Vec<u32> = top.iter().map(|s| s.item.0).collect();
        got.sort();
        assert_eq!(got, [3, 5]);
        // The same seed gives the same model.
        let again = p.fit(&groups(), &NoProgress).unwrap();
        assert_eq!(again.item_vectors(), m.item_vectors());
    }

    #[test]
    fn the_towers_in_rust_compute_what_candle_computes() {
        let dev = Device::Cpu;
        let p = TwoTowerParams {
            dim: 4,
            hidden: 6,
            ..Default::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let t = TowerNet::new(&p, &mut rng, &dev).unwrap();
        let x: Vec<f32> = (0..12).map(|k| (k as f32 * 0.37).sin()).collect();
        let got = t
            .forward(&Tensor::from_vec(x.clone(), (3, 4), &dev).unwrap())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let tower = t.export().unwrap();
        let want: Vec<f32> = x.chunks(4).flat_map(|r| tower.forward(r)).collect();
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() < 1e-5, "{got:?} vs {want:?}");
        }
    }

    /// 40 users, 24 items in two blocks; items 20..22 (genre A) and 22..24 (genre B) have no
    /// interaction. Genre `A` on items 0..10 and 20..22, `B` on 10..20 and 22..24.
    fn blocks() -> Dataset {
        let mut t = Vec::new();
        for u in 0..40u32 {
            let base = if u < 20 { 0 } else { 10 };
            for o in 0..6 {
                t.push((u, base + (u + 3 * o) % 10, 1.0));
            }
        }
        let x = Interactions::from_triplets(40, 24, &t, Feedback::Implicit).unwrap();
        let mut d = Dataset::from_parts(
            "blocks",
            x,
            (0..40).map(|u| format!("u{u}")),
            (0..24).map(|i| format!("i{i}")),
        )
        .unwrap();
        let mut f = FeatureTable::new(24);
        let mut g = f.categorical_builder();
        for i in 0..24 {
            let a = i < 10 || (20..22).contains(&i);
            g.push(i, if a { "A" } else { "B" }, 1.0);
        }
        f.add("genres", g.finish()).unwrap();
        d.item_features = Some(f);
        d
    }

    #[test]
    fn items_without_interactions_are_placed_by_their_features() {
        let p = TwoTowerParams {
            dim: 8,
            hidden: 16,
            epochs: 20,
            batch_size: 16,
            lr: 0.01,
            ..Default::default()
        };
        let m = p.fit(&blocks(), &NoProgress).unwrap();
        // Among the four cold items only, a block-A user gets the two genre-A ones first, a block-B
        // user the genre-B ones.
        let cold = [ItemIdx(20), ItemIdx(21), ItemIdx(22), ItemIdx(23)];
        for (u, want) in [(0u32, [20, 21]), (25, [22, 23])] {
            let h = blocks().interactions.history(UserIdx(u));
            let top = m.recommend(&Query::new(&h).candidates(&cold), 2).unwrap();
            let mut got: Vec<u32> = top.iter().map(|s| s.item.0).collect();
            got.sort();
            assert_eq!(got, want, "user {u}");
        }
        // Their inputs are their features alone: the two genre-A cold items share one vector.
        let v = m.item_vectors();
        assert_eq!(v[20 * 8..21 * 8], v[21 * 8..22 * 8]);
        assert_ne!(v[0..8], v[8..16]);
    }

    #[test]
    fn user_features_place_a_known_user_without_history() {
        // groups() plus users 40 (group A) and 41 (group B) with no interaction; every user has a
        // `group` feature.
        let g = groups();
        let t: Vec<(u32, u32, f32)> = g
            .interactions
            .iter()
            .map(|x| (x.user.0, x.item.0, x.value))
            .collect();
        let x = Interactions::from_triplets(42, 6, &t, Feedback::Implicit).unwrap();
        let mut d = Dataset::from_parts(
            "groups",
            x,
            (0..42).map(|u| format!("u{u}")),
            (0..6).map(|i| format!("i{i}")),
        )
        .unwrap();
        let mut f = FeatureTable::new(42);
        let mut c = f.categorical_builder();
        for u in 0..42 {
            let a = u < 20 || u == 40;
            c.push(u, if a { "A" } else { "B" }, 1.0);
        }
        f.add("group", c.finish()).unwrap();
        d.user_features = Some(f);
        let p = TwoTowerParams {
            dim: 8,
            hidden: 16,
            epochs: 30,
            batch_size: 8,
            lr: 0.01,
            item_features: "none".into(),
            user_features: "group".into(),
            identity_dropout: 0.0,
            ..Default::default()
        };
        let m = p.fit(&d, &NoProgress).unwrap();
        for (u, want) in [(40u32, [0, 1, 2]), (41, [3, 4, 5])] {
            let top = m.recommend(&Query::new(&[]).user(UserIdx(u)), 3).unwrap();
            let mut got: Vec<u32> = top.iter().map(|s| s.item.0).collect();
            got.sort();
            assert_eq!(got, want, "user {u}");
        }
        // A column that does not exist is named.
        let e = TwoTowerParams {
            user_features: "age".into(),
            ..p
        }
        .fit(&d, &NoProgress)
        .unwrap_err();
        assert!(e.to_string().contains("age"), "{e}");
    }

    #[test]
    fn no_features_and_no_identity_is_refused() {
        let p = TwoTowerParams {
            item_features: "none".into(),
            item_identity: false,
            ..Default::default()
        };
        let e = p.fit(&groups(), &NoProgress).unwrap_err();
        assert!(e.to_string().contains("item_identity"), "{e}");
        // One interaction has no in-batch negative: a clear error, no panic.
        let x = Interactions::from_triplets(1, 2, &[(0, 0, 1.0)], Feedback::Implicit).unwrap();
        let one = Dataset::from_parts("one", x, ["u"], ["a", "b"]).unwrap();
        let e = TwoTowerParams::default()
            .fit(&one, &NoProgress)
            .unwrap_err();
        assert!(e.to_string().contains("at least two interactions"), "{e}");
    }
}
