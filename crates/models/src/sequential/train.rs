//! Training SASRec and GRU4Rec with candle: autograd and AdamW on the CPU; every random draw
//! (initialisation, order, dropout masks) comes from one seeded ChaCha generator on the host.

use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::Optimizer;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use tastebud_core::{Dataset, Error, Result, UserIdx};

use super::gru4rec::{Gru4Rec, Gru4RecParams};
use super::sasrec::{Block, SasRec, SasRecParams};
use crate::Progress;
use crate::nn::Linear;
use crate::nn::train::{Dense, Dropout, LayerNorm, adamw, err, maybe_drop, uniform_var, values};

/// Each user's training items by time (as item indices), for users with at least two.
fn sequences(data: &Dataset) -> Vec<Vec<u32>> {
    let x = &data.interactions;
    (0..x.n_users() as u32)
        .map(|u| x.sequence(UserIdx(u)))
        .filter(|s| s.len() >= 2)
        .map(|s| s.into_iter().map(|i| i.0).collect())
        .collect()
}

struct SasBlock {
    attn_norm: LayerNorm,
    q: Dense,
    k: Dense,
    v: Dense,
    o: Dense,
    ffn_norm: LayerNorm,
    ffn1: Dense,
    ffn2: Dense,
}

/// The SASRec network being trained: item table with a padding row 0, positions, blocks, final norm.
struct SasNet {
    p: SasRecParams,
    n_items: usize,
    items: Var,
    positions: Var,
    blocks: Vec<SasBlock>,
    final_norm: LayerNorm,
}

/// One batch of windows: left-padded item ids (`item + 1`, 0 = padding), which rows are real, the
/// attention mask, and the flat positions and targets of the predictions.
struct Windows {
    ids: Tensor,
    rows: Tensor,
    attn: Tensor,
    at: Tensor,
    targets: Tensor,
}

impl SasNet {
    fn new(p: &SasRecParams, n_items: usize, rng: &mut ChaCha8Rng, dev: &Device) -> Result<SasNet> {
        let d = p.dim;
        let a = (6.0 / (n_items + 1 + d) as f64).sqrt() as f32;
        let items = uniform_var(rng, (n_items + 1, d), a, dev)?;
        let a = (6.0 / (p.max_len + d) as f64).sqrt() as f32;
        let positions = uniform_var(rng, (p.max_len, d), a, dev)?;
        let mut blocks = Vec::with_capacity(p.blocks);
        for _ in 0..p.blocks {
            blocks.push(SasBlock {
                attn_norm: LayerNorm::new(d, dev)?,
                q: Dense::new(d, d, rng, dev)?,
                k: Dense::new(d, d, rng, dev)?,
                v: Dense::new(d, d, rng, dev)?,
                o: Dense::new(d, d, rng, dev)?,
                ffn_norm: LayerNorm::new(d, dev)?,
                ffn1: Dense::new(d, d, rng, dev)?,
                ffn2: Dense::new(d, d, rng, dev)?,
            });
        }
        Ok(SasNet {
            p: p.clone(),
            n_items,
            items,
            positions,
            blocks,
            final_norm: LayerNorm::new(d, dev)?,
        })
    }

    fn vars(&self) -> Vec<Var> {
        let mut v = vec![self.items.clone(), self.positions.clone()];
        for b in &self.blocks {
            v.extend(b.attn_norm.vars());
            v.extend(b.ffn_norm.vars());
            for l in [&b.q, &b.k, &b.v, &b.o, &b.ffn1, &b.ffn2] {
                v.extend(l.vars());
            }
        }
        v.extend(self.final_norm.vars());
        v
    }

    /// Builds a batch from windows `(sequence, start, end)`: inputs `s[start..end]`, targets
    /// `s[start + 1..=end]`.
    fn windows(
        &self,
        seqs: &[Vec<u32>],
        batch: &[(usize, usize, usize)],
        dev: &Device,
    ) -> Result<Windows> {
        let l = self.p.max_len;
        let b = batch.len();
        let mut ids = vec![0u32; b * l];
        let mut rows = vec![0f32; b * l];
        let mut attn = vec![-1e9f32; b * l * l];
        let mut at = Vec::new();
        let mut targets = Vec::new();
        for (r, &(s, start, end)) in batch.iter().enumerate() {
            let seq = &seqs[s];
            let pad = l - (end - start);
            for t in pad..l {
                let j = start + t - pad;
                ids[r * l + t] = seq[j] + 1;
                rows[r * l + t] = 1.0;
                at.push((r * l + t) as u32);
                targets.push(seq[j + 1]);
                // Causal over the real items: position t reads pad..=t.
                for u in pad..=t {
                    attn[(r * l + t) * l + u] = 0.0;
                }
            }
        }
        let t = |v: Vec<f32>, shape: &[usize]| Tensor::from_vec(v, shape, dev).map_err(err);
        Ok(Windows {
            ids: Tensor::from_vec(ids, b * l, dev).map_err(err)?,
            rows: t(rows, &[b, l, 1])?,
            attn: t(attn, &[b, 1, l, l])?,
            targets: Tensor::new(targets.as_slice(), dev).map_err(err)?,
            at: Tensor::new(at.as_slice(), dev).map_err(err)?,
        })
    }

    /// The final normalised states of every position, `(batch, max_len, dim)`.
    fn forward(&self, w: &Windows, mut drop_: Option<Dropout<'_>>) -> candle_core::Result<Tensor> {
        let (d, l, h) = (self.p.dim, self.p.max_len, self.p.heads);
        let b = w.rows.dims()[0];
        let dh = d / h;
        let e = self
            .items
            .as_tensor()
            .index_select(&w.ids, 0)?
            .reshape((b, l, d))?;
        let e = e
            .affine((d as f64).sqrt(), 0.0)?
            .broadcast_add(self.positions.as_tensor())?;
        let mut x = maybe_drop(&mut drop_, e)?.broadcast_mul(&w.rows)?;
        let heads = |t: Tensor| -> candle_core::Result<Tensor> {
            t.reshape((b, l, h, dh))?.transpose(1, 2)?.contiguous()
        };
        for blk in &self.blocks {
            let qn = blk.attn_norm.forward(&x)?;
            let q = heads(blk.q.forward(&qn)?)?;
            let k = heads(blk.k.forward(&x)?)?;
            let v = heads(blk.v.forward(&x)?)?;
            let scores = q
                .matmul(&k.transpose(2, 3)?.contiguous()?)?
                .affine(1.0 / (dh as f64).sqrt(), 0.0)?
                .broadcast_add(&w.attn)?;
            let att = maybe_drop(&mut drop_, candle_nn::ops::softmax(&scores, D::Minus1)?)?;
            let a = att
                .matmul(&v)?
                .transpose(1, 2)?
                .contiguous()?
                .reshape((b, l, d))?;
            let x1 = (qn + blk.o.forward(&a)?)?;
            let y = blk.ffn_norm.forward(&x1)?;
            let f = maybe_drop(&mut drop_, blk.ffn1.forward(&y)?.relu()?)?;
            let f = maybe_drop(&mut drop_, blk.ffn2.forward(&f)?)?;
            x = (y + f)?.broadcast_mul(&w.rows)?;
        }
        self.final_norm.forward(&x)
    }

    fn loss(&self, w: &Windows, drop_: Option<Dropout<'_>>) -> candle_core::Result<Tensor> {
        let d = self.p.dim;
        let states = self
            .forward(w, drop_)?
            .reshape(((), d))?
            .index_select(&w.at, 0)?;
        let table = self.items.as_tensor().narrow(0, 1, self.n_items)?;
        let logits = states.matmul(&table.t()?)?;
        candle_nn::loss::cross_entropy(&logits, &w.targets)
    }

    fn export(&self) -> Result<SasRec> {
        let items = self
            .items
            .as_tensor()
            .narrow(0, 1, self.n_items)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1())
            .map_err(err)?;
        let blocks = self
            .blocks
            .iter()
            .map(|b| {
                Ok(Block {
                    attn_norm: b.attn_norm.export()?,
                    q: b.q.export()?,
                    k: b.k.export()?,
                    v: b.v.export()?,
                    o: b.o.export()?,
                    ffn_norm: b.ffn_norm.export()?,
                    ffn1: b.ffn1.export()?,
                    ffn2: b.ffn2.export()?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(SasRec::new(
            self.p.clone(),
            self.n_items,
            items,
            values(&self.positions)?,
            blocks,
            self.final_norm.export()?,
        ))
    }
}

/// Windows of at most `max_len` inputs covering each sequence from its end, so every item after the
/// first is a target exactly once per epoch.
fn cover(seqs: &[Vec<u32>], max_len: usize) -> Vec<(usize, usize, usize)> {
    let mut out = Vec::new();
    for (s, seq) in seqs.iter().enumerate() {
        let mut end = seq.len() - 1;
        loop {
            let start = end.saturating_sub(max_len);
            out.push((s, start, end));
            if start == 0 {
                break;
            }
            end = start;
        }
    }
    out
}

fn no_sequences() -> Error {
    Error::Shape("no user has two interactions to learn a next item from".into())
}

pub(super) fn fit_sasrec(
    p: &SasRecParams,
    data: &Dataset,
    progress: &dyn Progress,
) -> Result<SasRec> {
    let dev = Device::Cpu;
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    let seqs = sequences(data);
    if seqs.is_empty() {
        return Err(no_sequences());
    }
    let net = SasNet::new(p, data.interactions.n_items(), &mut rng, &dev)?;
    let mut opt = adamw(net.vars(), p.lr, p.weight_decay)?;
    let mut windows = cover(&seqs, p.max_len);
    let batches = windows.len().div_ceil(p.batch_size);
    progress.start("SASRec epochs", p.epochs as u64);
    for epoch in 0..p.epochs {
        windows.shuffle(&mut rng);
        let mut total = 0f64;
        for batch in windows.chunks(p.batch_size) {
            let w = net.windows(&seqs, batch, &dev)?;
            let d = Dropout {
                rng: &mut rng,
                p: p.dropout,
            };
            let loss = net.loss(&w, Some(d)).map_err(err)?;
            opt.backward_step(&loss).map_err(err)?;
            total += loss.to_scalar::<f32>().map_err(err)? as f64;
        }
        progress.inc(1);
        progress.message(&format!(
            "epoch {}/{}: loss {:.3}",
            epoch + 1,
            p.epochs,
            total / batches as f64
        ));
    }
    net.export()
}

/// `sigmoid(x) = (1 + tanh(x / 2)) / 2`, stable in both directions and in its gradient.
fn sigmoid(x: &Tensor) -> candle_core::Result<Tensor> {
    x.affine(0.5, 0.0)?.tanh()?.affine(0.5, 0.5)
}

pub(super) fn fit_gru4rec(
    p: &Gru4RecParams,
    data: &Dataset,
    progress: &dyn Progress,
) -> Result<Gru4Rec> {
    let dev = Device::Cpu;
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    let seqs = sequences(data);
    if seqs.is_empty() {
        return Err(no_sequences());
    }
    let n = data.interactions.n_items();
    let h = p.hidden;
    // PyTorch's GRU initialisation (uniform in ±1/sqrt(hidden)); Glorot for the output layer.
    let a = 1.0 / (h as f32).sqrt();
    let inputs = uniform_var(&mut rng, (n, 3 * h), a, &dev)?;
    let rec_w = uniform_var(&mut rng, (h, 3 * h), a, &dev)?;
    let rec_b = uniform_var(&mut rng, (1, 3 * h), a, &dev)?;
    let out = Dense::new(h, n, &mut rng, &dev)?;
    let mut opt = adamw(
        vec![
            inputs.clone(),
            rec_w.clone(),
            rec_b.clone(),
            out.w.clone(),
            out.b.clone(),
        ],
        p.lr,
        p.weight_decay,
    )?;
    let lanes = p.batch_size.min(seqs.len());
    let events: usize = seqs.iter().map(|s| s.len() - 1).sum();
    progress.start("GRU4Rec epochs", p.epochs as u64);
    let mut order: Vec<usize> = (0..seqs.len()).collect();
    for epoch in 0..p.epochs {
        order.shuffle(&mut rng);
        let mut next = lanes;
        // Each lane: (sequence, position of its current input).
        let mut lane: Vec<(usize, usize)> = order[..lanes].iter().map(|&s| (s, 0)).collect();
        let mut state = Tensor::zeros((lanes, h), DType::F32, &dev).map_err(err)?;
        let (mut total, mut steps, mut done) = (0f64, 0usize, false);
        while !done {
            let mut loss: Option<Tensor> = None;
            let mut hs = state.clone();
            for _ in 0..p.bptt {
                let input: Vec<u32> = lane.iter().map(|&(s, t)| seqs[s][t]).collect();
                let target: Vec<u32> = lane.iter().map(|&(s, t)| seqs[s][t + 1]).collect();
                let step = (|| -> candle_core::Result<(Tensor, Tensor)> {
                    let gx = inputs
                        .as_tensor()
                        .index_select(&Tensor::new(input.as_slice(), &dev)?, 0)?;
                    let gh = hs
                        .matmul(rec_w.as_tensor())?
                        .broadcast_add(rec_b.as_tensor())?;
                    let r = sigmoid(&(gx.narrow(1, 0, h)? + gh.narrow(1, 0, h)?)?)?;
                    let z = sigmoid(&(gx.narrow(1, h, h)? + gh.narrow(1, h, h)?)?)?;
                    let c = (gx.narrow(1, 2 * h, h)? + r.mul(&gh.narrow(1, 2 * h, h)?)?)?.tanh()?;
                    // h' = (1 - z) c + z h = c + z (h - c)
                    let next_state = (&c + z.mul(&(&hs - &c)?)?)?;
                    let mut d = Dropout {
                        rng: &mut rng,
                        p: p.dropout,
                    };
                    let logits = out.forward(&d.apply(&next_state)?)?;
                    let l = candle_nn::loss::cross_entropy(
                        &logits,
                        &Tensor::new(target.as_slice(), &dev)?,
                    )?;
                    Ok((next_state, l))
                })()
                .map_err(err)?;
                hs = step.0;
                loss = Some(match loss {
                    Some(sum) => (sum + step.1).map_err(err)?,
                    None => step.1,
                });
                // Advance every lane; a finished sequence hands its lane to the next one, whose state
                // starts at zero. The epoch ends when a lane finds no sequence left.
                let mut keep = vec![1f32; lanes];
                for (k, l) in lane.iter_mut().enumerate() {
                    l.1 += 1;
                    if l.1 + 1 >= seqs[l.0].len() {
                        match order.get(next) {
                            Some(&s) => {
                                *l = (s, 0);
                                next += 1;
                                keep[k] = 0.0;
                            }
                            None => done = true,
                        }
                    }
                }
                if keep.contains(&0.0) {
                    let m = Tensor::from_vec(keep, (lanes, 1), &dev).map_err(err)?;
                    hs = hs.broadcast_mul(&m).map_err(err)?;
                }
                steps += 1;
                if done {
                    break;
                }
            }
            let Some(loss) = loss else { break };
            opt.backward_step(&loss).map_err(err)?;
            total += loss.to_scalar::<f32>().map_err(err)? as f64;
            state = hs.detach();
        }
        progress.inc(1);
        progress.message(&format!(
            "epoch {}/{}: loss {:.3} ({} of {events} events)",
            epoch + 1,
            p.epochs,
            total / steps.max(1) as f64,
            steps * lanes
        ));
    }
    let rec = Linear {
        inputs: h,
        outputs: 3 * h,
        weights: values(&rec_w)?,
        bias: values(&rec_b)?,
    };
    let out_w = out.export()?;
    // The output layer is `h -> n` (row-major h x n); the model stores it item-major.
    let mut item_major = vec![0f32; n * h];
    for j in 0..h {
        for i in 0..n {
            item_major[i * h + j] = out_w.weights[j * n + i];
        }
    }
    Ok(Gru4Rec::new(
        p.clone(),
        n,
        values(&inputs)?,
        rec,
        &item_major,
        &out_w.bias,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tastebud_core::{Feedback, Interaction, Interactions, ItemIdx};

    use crate::{Fit, NoProgress, Query, Recommender};

    /// 30 users walking a cycle of 8 items from different starting points, with timestamps: the next
    /// item is always the successor of the last.
    fn cycles() -> Dataset {
        let mut rows = Vec::new();
        for u in 0..30u32 {
            for t in 0..6u32 {
                rows.push(Interaction {
                    user: UserIdx(u),
                    item: ItemIdx((u + t) % 8),
                    value: 1.0,
                    time: Some(t as i64),
                });
            }
        }
        let x = Interactions::from_records(30, 8, &rows, Feedback::Implicit).unwrap();
        Dataset::from_parts(
            "cycles",
            x,
            (0..30).map(|u| format!("u{u}")),
            (0..8).map(|i| format!("i{i}")),
        )
        .unwrap()
    }

    #[test]
    fn the_rust_forward_pass_equals_the_trained_network() {
        let p = SasRecParams {
            dim: 8,
            heads: 2,
            max_len: 5,
            epochs: 2,
            batch_size: 8,
            dropout: 0.0,
            ..SasRecParams::default()
        };
        let data = cycles();
        let dev = Device::Cpu;
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let net = SasNet::new(&p, 8, &mut rng, &dev).unwrap();
        let model = net.export().unwrap();
        model.validate().unwrap();
        let seqs = sequences(&data);
        // A padded window (3 inputs) and a full one (5 inputs).
        for &(start, end) in &[(0usize, 3usize), (0, 5)] {
            let w = net.windows(&seqs, &[(4, start, end)], &dev).unwrap();
            let states = net.forward(&w, None).unwrap();
            let last: Vec<f32> = states
                .narrow(1, p.max_len - 1, 1)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let seq: Vec<ItemIdx> = seqs[4][start..end].iter().map(|&i| ItemIdx(i)).collect();
            let rust = model.encode(&seq).unwrap();
            for (a, b) in last.iter().zip(&rust) {
                assert!((a - b).abs() < 1e-4, "{last:?} vs {rust:?}");
            }
        }
    }

    #[test]
    fn both_models_learn_the_successor() {
        let data = cycles();
        let sas = SasRecParams {
            dim: 16,
            max_len: 5,
            epochs: 60,
            batch_size: 16,
            lr: 0.01,
            dropout: 0.0,
            ..SasRecParams::default()
        }
        .fit(&data, &NoProgress)
        .unwrap();
        let gru = Gru4RecParams {
            hidden: 16,
            epochs: 40,
            batch_size: 8,
            lr: 0.02,
            dropout: 0.0,
            ..Gru4RecParams::default()
        }
        .fit(&data, &NoProgress)
        .unwrap();
        sas.validate().unwrap();
        gru.validate().unwrap();
        let m: [&dyn Recommender; 2] = [&sas, &gru];
        for m in m {
            // After ... 5, 6 the next is 7; after ... 2, 3 it is 4.
            for (seq, want) in [([4u32, 5, 6], 7u32), ([1, 2, 3], 4)] {
                let s: Vec<ItemIdx> = seq.iter().map(|&i| ItemIdx(i)).collect();
                let h: Vec<(ItemIdx, f32)> = s.iter().map(|&i| (i, 1.0)).collect();
                let r = m.recommend(&Query::new(&h).sequence(&s), 1).unwrap();
                assert_eq!(r[0].item, ItemIdx(want), "{} after {seq:?}", m.name());
            }
        }
    }
}
