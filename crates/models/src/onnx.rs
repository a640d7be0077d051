//! ONNX: scoring models trained elsewhere served like any model file, and Tastebud models whose scoring
//! is a fixed graph (EASE, Mult-VAE, Mult-DAE) exported to ONNX files.
//!
//! # The scoring contract
//!
//! An ONNX model Tastebud serves (and every file `export` writes, feature `onnx`) has
//! - input `items`: `int64 [n]`, the history's distinct item indices (the catalogue's order: index `i`
//!   is the `i`-th item of the data the model file was built with), `n` symbolic (0 for an empty
//!   history);
//! - input `weights`: `float32 [n]`, each item's value (a rating, a click count; repeated items
//!   summed); a model may ignore it;
//! - optionally, a third input `user_features`: `float32 [f]`, the known user's features in the layout
//!   [`encode_user_features`] gives (one value per label of each categorical column, `column=label`, its
//!   weight; one per numeric column, its value, 0 when missing), zeros for a user the data does not
//!   know;
//! - outputs, one of two forms:
//!   - **scores**: one output, `float32 [n_items]` (or `[1, n_items]`), every item's score, higher is
//!     better;
//!   - **embeddings**: two outputs, the user's vector `float32 [d]` (or `[1, d]`) and the item table
//!     `float32 [n_items, d]` (a constant of the graph); an item's score is the inner product, and the
//!     server's ANN index (HNSW) searches the table, read once at load.
//!
//! Opset 13 or what tract reads. Tastebud ranks the scores with the same exclusions and candidates as
//! any model; `similar_items` is the ranking of a one-item history. Scoring runs on tract (pure Rust,
//! the `onnx` feature): a build without it loads the model file but refuses to score, saying which
//! feature to turn on.

use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use tastebud_core::{Error, ItemFilter, ItemIdx, Result, top_k};

use crate::{Query, Recommender, Scored};

/// The name of the items input.
pub const INPUT_ITEMS: &str = "items";
/// The name of the weights input.
pub const INPUT_WEIGHTS: &str = "weights";
/// The name of the optional user-features input.
pub const INPUT_USER_FEATURES: &str = "user_features";
/// The name of the scores output of exported files.
pub const OUTPUT_SCORES: &str = "scores";

#[cfg(feature = "onnx")]
type Plan = Arc<tract_onnx::prelude::TypedRunnableModel>;
#[cfg(not(feature = "onnx"))]
type Plan = Arc<()>;

/// An ONNX scoring model behind the [`Recommender`] trait (model kind `onnx`).
#[derive(Clone, Serialize, Deserialize)]
pub struct OnnxModel {
    n_items: usize,
    /// The ONNX file, as given.
    onnx: Vec<u8>,
    /// The optimised tract plan, built on first use.
    #[serde(skip)]
    plan: OnceLock<Plan>,
    /// The item table of an embeddings-form model (`n_items x d`, and `d`), read at the first run.
    #[serde(skip)]
    items: OnceLock<Option<(usize, Vec<f32>)>>,
    /// The `user_features` input's layout (empty: the model has no such input).
    #[serde(default)]
    user_feature_names: Vec<String>,
    /// Each known user's `user_features` input, `n_users x f`.
    #[serde(default)]
    user_features: Vec<f32>,
}

/// The `user_features` layout of the contract for `columns` (comma-separated) of a user feature table:
/// the names (`column=label` per label of a categorical column, `column` for a numeric one) and each
/// user's values, `table.len() x names.len()`. Text columns are refused.
///
/// ```
/// use tastebud_core::FeatureTable;
/// let mut t = FeatureTable::new(2);
/// let mut g = t.categorical_builder();
/// g.push(0, "F", 1.0);
/// g.push(1, "M", 1.0);
/// t.add("gender", g.finish()).unwrap();
/// t.add_numeric("age", vec![Some(24.0), None]).unwrap();
/// let (names, values) = tastebud_models::onnx::encode_user_features(&t, "gender,age").unwrap();
/// assert_eq!(names, ["gender=F", "gender=M", "age"]);
/// assert_eq!(values, [1.0, 0.0, 24.0, 0.0, 1.0, 0.0]);
/// ```
pub fn encode_user_features(
    table: &tastebud_core::FeatureTable,
    columns: &str,
) -> Result<(Vec<String>, Vec<f32>)> {
    use tastebud_core::FeatureValues;
    let n = table.len();
    let mut names = Vec::new();
    let mut blocks: Vec<(usize, Vec<f32>)> = Vec::new();
    for c in columns.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        let values = table.column(c).ok_or_else(|| Error::InvalidParam {
            name: "user_features",
            reason: format!("no user feature column `{c}`"),
        })?;
        match values {
            FeatureValues::Categorical {
                vocab,
                offsets,
                labels,
                weights,
            } => {
                let w = vocab.len();
                let mut block = vec![0f32; n * w];
                for e in 0..n {
                    for k in offsets[e]..offsets[e + 1] {
                        block[e * w + labels[k] as usize] += weights[k];
                    }
                }
                names.extend((0..w as u32).map(|l| format!("{c}={}", vocab.id(l).unwrap_or("?"))));
                blocks.push((w, block));
            }
            FeatureValues::Numeric(v) => {
                names.push(c.to_string());
                blocks.push((1, v.iter().map(|x| x.unwrap_or(0.0)).collect()));
            }
            FeatureValues::Text(_) => {
                return Err(Error::InvalidParam {
                    name: "user_features",
                    reason: format!(
                        "`{c}` is a text column; only categorical and numeric columns are inputs"
                    ),
                });
            }
        }
    }
    let f = names.len();
    let mut out = vec![0f32; n * f];
    for e in 0..n {
        let mut at = 0;
        for (w, block) in &blocks {
            out[e * f + at..][..*w].copy_from_slice(&block[e * w..][..*w]);
            at += w;
        }
    }
    Ok((names, out))
}

impl std::fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxModel")
            .field("n_items", &self.n_items)
            .field("onnx_bytes", &self.onnx.len())
            .field(
                "embedding_dim",
                &self.items.get().and_then(|e| e.as_ref().map(|e| e.0)),
            )
            .finish()
    }
}

fn onnx_error(e: impl std::fmt::Display) -> Error {
    Error::Shape(format!("ONNX model: {e}"))
}

impl OnnxModel {
    /// An ONNX file following the contract, for a catalogue of `n_items` items. Fails when the file
    /// does not load, or its output for a one-item history is not `n_items` scores.
    pub fn new(onnx: Vec<u8>, n_items: usize) -> Result<OnnxModel> {
        let m = OnnxModel {
            n_items,
            onnx,
            plan: OnceLock::new(),
            items: OnceLock::new(),
            user_feature_names: Vec::new(),
            user_features: Vec::new(),
        };
        m.validate()?;
        Ok(m)
    }

    /// An ONNX file with the third input, `user_features`, fed from `columns` of the data's user
    /// feature table ([`encode_user_features`]; row `u` is user `u`).
    pub fn with_user_features(
        onnx: Vec<u8>,
        n_items: usize,
        users: &tastebud_core::FeatureTable,
        columns: &str,
    ) -> Result<OnnxModel> {
        let (names, values) = encode_user_features(users, columns)?;
        if names.is_empty() {
            return Err(Error::InvalidParam {
                name: "user_features",
                reason: "no column named".into(),
            });
        }
        let m = OnnxModel {
            n_items,
            onnx,
            plan: OnceLock::new(),
            items: OnceLock::new(),
            user_feature_names: names,
            user_features: values,
        };
        m.validate()?;
        Ok(m)
    }

    /// The `user_features` input's layout (empty when the model has no such input).
    pub fn user_feature_names(&self) -> &[String] {
        &self.user_feature_names
    }

    /// The ONNX file's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.onnx
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.n_items == 0 || self.onnx.is_empty() {
            return Err(onnx_error("an empty catalogue or file"));
        }
        let f = self.user_feature_names.len();
        if (f == 0 && !self.user_features.is_empty())
            || (f > 0 && !self.user_features.len().is_multiple_of(f))
        {
            return Err(onnx_error(format!(
                "{} user feature values for {f} features",
                self.user_features.len()
            )));
        }
        tastebud_core::validate::finite_f32("ONNX user features", &self.user_features)?;
        // A probe: item 0 alone must give one finite-or-not score per item.
        let s = self.scores(&[(ItemIdx(0), 1.0)])?;
        tastebud_core::validate::len("ONNX model scores", s.len(), self.n_items)
    }

    #[cfg(feature = "onnx")]
    fn plan(&self) -> Result<&Plan> {
        use tract_onnx::prelude::*;
        if let Some(p) = self.plan.get() {
            return Ok(p);
        }
        let build = || -> TractResult<Plan> {
            let mut model = tract_onnx::onnx().model_for_read(&mut &self.onnx[..])?;
            let n = model.sym("n");
            model.set_input_fact(
                0,
                InferenceFact::dt_shape(i64::datum_type(), tvec![n.to_dim()]),
            )?;
            model.set_input_fact(
                1,
                InferenceFact::dt_shape(f32::datum_type(), tvec![n.to_dim()]),
            )?;
            let f = self.user_feature_names.len();
            if f > 0 {
                model.set_input_fact(2, InferenceFact::dt_shape(f32::datum_type(), tvec![f]))?;
            }
            model.into_optimized()?.into_runnable()
        };
        let p = build().map_err(|e| onnx_error(format!("{e:#}")))?;
        Ok(self.plan.get_or_init(|| p))
    }

    /// The history checked against the catalogue, sorted, repeated items' values summed.
    fn prepare(&self, history: &[(ItemIdx, f32)]) -> Result<Vec<(ItemIdx, f32)>> {
        let mut h: Vec<(ItemIdx, f32)> = history.to_vec();
        for &(i, _) in &h {
            if i.get() >= self.n_items {
                return Err(Error::IndexOutOfRange {
                    kind: "item",
                    index: i.0,
                    len: self.n_items,
                });
            }
        }
        h.sort_by_key(|x| x.0);
        h.dedup_by(|b, a| {
            let same = a.0 == b.0;
            if same {
                a.1 += b.1;
            }
            same
        });
        Ok(h)
    }

    /// The score of every item for a history (repeated items' values summed).
    pub fn scores(&self, history: &[(ItemIdx, f32)]) -> Result<Vec<f32>> {
        self.scores_for(history, None)
    }

    /// The score of every item for a history and, when the model reads user features, a known user.
    pub fn scores_for(
        &self,
        history: &[(ItemIdx, f32)],
        user: Option<tastebud_core::UserIdx>,
    ) -> Result<Vec<f32>> {
        Ok(match self.run(&self.prepare(history)?, user)? {
            Output::Scores(s) => s,
            Output::User(u) => self.item_table(&u)?,
        })
    }

    /// Every item's inner product with `user` (the embeddings form).
    fn item_table(&self, user: &[f32]) -> Result<Vec<f32>> {
        match self.items.get() {
            Some(Some((d, t))) if *d == user.len() => Ok(crate::nn::inner_products(t, user)),
            _ => Err(onnx_error("the user vector does not match the item table")),
        }
    }

    /// The user vector of a query (the embeddings form), `None` for a scores-form model.
    fn user_vector(
        &self,
        history: &[(ItemIdx, f32)],
        user: Option<tastebud_core::UserIdx>,
    ) -> Result<Option<Vec<f32>>> {
        Ok(match self.run(&self.prepare(history)?, user)? {
            Output::User(u) => Some(u),
            Output::Scores(_) => None,
        })
    }

    /// The `user_features` input of a query: the known user's row, zeros for anyone else.
    #[cfg_attr(not(feature = "onnx"), allow(dead_code))]
    fn user_row(&self, user: Option<tastebud_core::UserIdx>) -> Vec<f32> {
        let f = self.user_feature_names.len();
        user.and_then(|u| self.user_features.get(u.get() * f..(u.get() + 1) * f))
            .map_or_else(|| vec![0.0; f], <[f32]>::to_vec)
    }

    /// Runs the graph on a deduplicated history: the scores, or (embeddings form) the user vector, the
    /// item table kept on the first run.
    #[cfg(feature = "onnx")]
    fn run(&self, h: &[(ItemIdx, f32)], user: Option<tastebud_core::UserIdx>) -> Result<Output> {
        use tract_onnx::prelude::*;
        let plan = self.plan()?;
        let f = self.user_feature_names.len();
        let user_row = self.user_row(user);
        let items: Vec<i64> = h.iter().map(|x| i64::from(x.0.0)).collect();
        let weights: Vec<f32> = h.iter().map(|x| x.1).collect();
        let n = h.len();
        // The item table (a second output) is copied out once; later runs read its shape only.
        let table_kept = self.items.get().is_some();
        let out = (|| -> TractResult<Vec<(Vec<usize>, Vec<f32>)>> {
            let items = Tensor::from_shape(&[n], &items)?;
            let weights = Tensor::from_shape(&[n], &weights)?;
            let mut inputs = tvec![items.into_tvalue(), weights.into_tvalue()];
            if f > 0 {
                inputs.push(Tensor::from_shape(&[f], &user_row)?.into_tvalue());
            }
            let out = plan.run(inputs)?;
            out.iter()
                .take(2)
                .enumerate()
                .map(|(k, o)| {
                    if k == 1 && table_kept {
                        return Ok((o.shape().to_vec(), Vec::new()));
                    }
                    let t = o.cast_to::<f32>()?;
                    let v = t.to_plain_array_view::<f32>()?;
                    Ok((v.shape().to_vec(), v.iter().copied().collect()))
                })
                .collect()
        })()
        .map_err(|e| onnx_error(format!("{e:#}")))?;
        let flat = |shape: &[usize]| shape.iter().filter(|&&d| d != 1).count() <= 1;
        let mut out = out;
        match out.as_mut_slice() {
            [(shape, scores)] if flat(shape) && scores.len() == self.n_items => {
                Ok(Output::Scores(std::mem::take(scores)))
            }
            [(shape, user), (table_shape, table)]
                if flat(shape)
                    && !user.is_empty()
                    && table_shape.as_slice() == [self.n_items, user.len()] =>
            {
                let d = user.len();
                let kept = self.items.get_or_init(|| Some((d, std::mem::take(table))));
                if !matches!(kept, Some((k, _)) if *k == d) {
                    return Err(onnx_error("the item table changed between runs"));
                }
                Ok(Output::User(std::mem::take(user)))
            }
            other => Err(onnx_error(format!(
                "outputs of shapes {:?} for a catalogue of {} items: expected one output [n_items] (or \
                 [1, n_items]) of scores, or a user vector [d] (or [1, d]) and an item table \
                 [n_items, d]",
                other.iter().map(|o| &o.0).collect::<Vec<_>>(),
                self.n_items
            ))),
        }
    }

    #[cfg(not(feature = "onnx"))]
    fn run(&self, _h: &[(ItemIdx, f32)], _user: Option<tastebud_core::UserIdx>) -> Result<Output> {
        let _ = &self.plan;
        Err(Error::InvalidParam {
            name: "model",
            reason: "ONNX models are scored with the `onnx` cargo feature (cargo build --features onnx); \
                     this build cannot serve them"
                .into(),
        })
    }
}

/// What one run of the graph gave (a build without the feature never runs one).
#[cfg_attr(not(feature = "onnx"), allow(dead_code))]
enum Output {
    /// Every item's score.
    Scores(Vec<f32>),
    /// The user vector (the item table is kept in [`OnnxModel::items`]).
    User(Vec<f32>),
}

impl Recommender for OnnxModel {
    fn name(&self) -> &str {
        "onnx"
    }
    fn n_items(&self) -> usize {
        self.n_items
    }
    fn recommend(&self, q: &Query<'_>, k: usize) -> Result<Vec<Scored>> {
        let filter = q.filter(self.n_items)?;
        let mut s = self.scores_for(q.history, q.user)?;
        // A NaN ranks last rather than anywhere.
        s.iter_mut()
            .filter(|v| v.is_nan())
            .for_each(|v| *v = f32::NEG_INFINITY);
        top_k(&s, k, &filter)
    }
    /// The ranking of a history of `item` alone (the item left out).
    fn similar_items(&self, item: ItemIdx, k: usize) -> Result<Vec<Scored>> {
        let filter = ItemFilter::new(self.n_items).exclude(&[item])?;
        top_k(&self.scores(&[(item, 1.0)])?, k, &filter)
    }
    /// The item table of an embeddings-form model (none for the scores form).
    fn item_embeddings(&self) -> Option<(usize, &[f32])> {
        self.items
            .get()
            .and_then(|e| e.as_ref().map(|(d, t)| (*d, t.as_slice())))
    }
    /// The user vector of an embeddings-form model.
    fn query_embedding(&self, q: &Query<'_>) -> Result<Option<Vec<f32>>> {
        self.user_vector(q.history, q.user)
    }
}

#[cfg(feature = "onnx")]
pub use export::export;

#[cfg(feature = "onnx")]
mod export {
    //! Writing the contract's graph for the fixed-graph models (ModelProto through tract's prost types).

    use prost::Message;
    use tract_onnx::pb;

    use super::{INPUT_ITEMS, INPUT_WEIGHTS, OUTPUT_SCORES};
    use crate::AnyModel;
    use crate::autoencoder::Autoencoder;
    use tastebud_core::{Error, Result};

    const FLOAT: i32 = pb::tensor_proto::DataType::Float as i32;
    const INT64: i32 = pb::tensor_proto::DataType::Int64 as i32;

    fn floats(name: &str, dims: &[usize], v: &[f32]) -> pb::TensorProto {
        pb::TensorProto {
            name: name.into(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: FLOAT,
            raw_data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ..Default::default()
        }
    }

    fn ints(name: &str, v: &[i64]) -> pb::TensorProto {
        pb::TensorProto {
            name: name.into(),
            dims: vec![v.len() as i64],
            data_type: INT64,
            raw_data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ..Default::default()
        }
    }

    fn node(op: &str, inputs: &[&str], output: &str) -> pb::NodeProto {
        pb::NodeProto {
            op_type: op.into(),
            name: output.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            ..Default::default()
        }
    }

    fn with_int(mut n: pb::NodeProto, name: &str, v: i64) -> pb::NodeProto {
        n.attribute.push(pb::AttributeProto {
            name: name.into(),
            r#type: pb::attribute_proto::AttributeType::Int as i32,
            i: v,
            ..Default::default()
        });
        n
    }

    fn value(name: &str, elem: i32, dims: &[Option<usize>]) -> pb::ValueInfoProto {
        use pb::tensor_shape_proto::{Dimension, dimension::Value};
        let dim = dims
            .iter()
            .map(|d| Dimension {
                value: Some(match d {
                    Some(k) => Value::DimValue(*k as i64),
                    None => Value::DimParam("n".into()),
                }),
                ..Default::default()
            })
            .collect();
        pb::ValueInfoProto {
            name: name.into(),
            r#type: Some(pb::TypeProto {
                value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                    elem_type: elem,
                    shape: Some(pb::TensorShapeProto { dim }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn model(
        name: &str,
        n_items: usize,
        nodes: Vec<pb::NodeProto>,
        init: Vec<pb::TensorProto>,
    ) -> Vec<u8> {
        pb::ModelProto {
            ir_version: 7,
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: 13,
            }],
            producer_name: "tastebud".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            graph: Some(pb::GraphProto {
                name: name.into(),
                node: nodes,
                initializer: init,
                input: vec![
                    value(INPUT_ITEMS, INT64, &[None]),
                    value(INPUT_WEIGHTS, FLOAT, &[None]),
                ],
                output: vec![value(OUTPUT_SCORES, FLOAT, &[Some(n_items)])],
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec()
    }

    /// EASE: `scores = Σ_j w_j B[j]`, as `ReduceSum(Gather(B, items) * weights[:, None], axis 0)`.
    fn ease(n: usize, b: &[f32]) -> Vec<u8> {
        let nodes = vec![
            node("Gather", &["B", INPUT_ITEMS], "rows"),
            node("Unsqueeze", &[INPUT_WEIGHTS, "axis1"], "w_col"),
            node("Mul", &["rows", "w_col"], "weighted"),
            with_int(
                node("ReduceSum", &["weighted", "axis0"], OUTPUT_SCORES),
                "keepdims",
                0,
            ),
        ];
        let init = vec![
            floats("B", &[n, n], b),
            ints("axis0", &[0]),
            ints("axis1", &[1]),
        ];
        model("tastebud-ease", n, nodes, init)
    }

    /// Mult-VAE / Mult-DAE: the history as binary clicks, L2-normalised (`1 / sqrt(n)` each), through
    /// the encoder (the VAE's mean) and decoder layers, then the output layer.
    fn autoencoder(a: &Autoencoder) -> Vec<u8> {
        let (layers, items, dim, n) = a.parts();
        let mut nodes = vec![
            node("Gather", &["W0", INPUT_ITEMS], "rows0"),
            node("ReduceSum", &["rows0", "axis0"], "sum0"),
            node("Shape", &[INPUT_ITEMS], "n_int"),
            with_int(node("Cast", &["n_int"], "n_float"), "to", FLOAT as i64),
            node("Max", &["n_float", "one"], "n_at_least_1"),
            node("Sqrt", &["n_at_least_1"], "root"),
            node("Div", &["sum0", "root"], "pre0"),
            node("Add", &["pre0", "b0"], "lin0"),
        ];
        let mut init = vec![ints("axis0", &[0]), floats("one", &[1], &[1.0])];
        let mut h = "lin0".to_string();
        for (k, l) in layers.iter().enumerate() {
            if k > 0 {
                let pre = format!("pre{k}");
                nodes.push(node("MatMul", &[&h, &format!("W{k}")], &pre));
                h = format!("lin{k}");
                nodes.push(node("Add", &[&pre, &format!("b{k}")], &h));
            }
            init.push(floats(&format!("W{k}"), &[l.inputs, l.outputs], &l.weights));
            init.push(floats(&format!("b{k}"), &[l.outputs], &l.bias));
            if l.tanh {
                let t = format!("tanh{k}");
                nodes.push(node("Tanh", &[&h], &t));
                h = t;
            }
        }
        // The output layer, stored item-major (`n x (dim + 1)`): weights `dim x n`, bias `n`.
        let mut w = vec![0f32; dim * n];
        let mut bias = vec![0f32; n];
        for (i, row) in items.chunks_exact(dim + 1).enumerate() {
            for d in 0..dim {
                w[d * n + i] = row[d];
            }
            bias[i] = row[dim];
        }
        init.push(floats("W_out", &[dim, n], &w));
        init.push(floats("b_out", &[n], &bias));
        init.push(ints("flat", &[-1]));
        nodes.push(node("MatMul", &[&h, "W_out"], "logits_pre"));
        nodes.push(node("Add", &["logits_pre", "b_out"], "logits"));
        nodes.push(node("Reshape", &["logits", "flat"], OUTPUT_SCORES));
        model("tastebud-autoencoder", n, nodes, init)
    }

    /// An ONNX file (the contract of [`super`]) that scores as `model` does: EASE, Mult-VAE and
    /// Mult-DAE, whose scoring is a fixed graph. Other kinds are refused with the list.
    ///
    /// ```no_run
    /// # fn f(m: &tastebud_models::AnyModel) -> tastebud_core::Result<()> {
    /// let bytes = tastebud_models::onnx::export(m)?;
    /// std::fs::write("ease.onnx", bytes)?;
    /// # Ok(()) }
    /// ```
    pub fn export(model: &AnyModel) -> Result<Vec<u8>> {
        match model {
            AnyModel::Ease(e) => {
                let (n, b) = e.parts();
                Ok(ease(n, b))
            }
            AnyModel::MultVae(m) => Ok(autoencoder(&m.0)),
            AnyModel::MultDae(m) => Ok(autoencoder(&m.0)),
            other => Err(Error::InvalidParam {
                name: "model",
                reason: format!(
                    "`{}` models have no ONNX export; exported: ease, multvae, multdae",
                    other.kind()
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(feature = "onnx"))]
    #[test]
    fn a_build_without_the_feature_says_which_feature() {
        let e = OnnxModel::new(vec![1, 2, 3], 3).unwrap_err();
        assert!(e.to_string().contains("`onnx` cargo feature"), "{e}");
    }

    #[cfg(feature = "onnx")]
    #[test]
    fn exported_ease_and_autoencoders_score_as_the_models_do() {
        use crate::autoencoder::{Autoencoder, AutoencoderParams, Layer, MultVae};
        use crate::{AnyModel, Exclude};
        // EASE with a hand-made B.
        let n = 4;
        let b: Vec<f32> = (0..n * n).map(|k| ((k * 7) % 5) as f32 - 2.0).collect();
        let ease = crate::ease::Ease::from_parts(n, b);
        // An autoencoder with one tanh hidden layer of 3 and a latent of 2.
        let w = |r: usize, c: usize, s: f32| -> Vec<f32> {
            (0..r * c).map(|k| ((k as f32 + s) * 0.37).sin()).collect()
        };
        let ae = Autoencoder::new(
            AutoencoderParams::dae(),
            n,
            vec![
                Layer {
                    inputs: n,
                    outputs: 3,
                    weights: w(n, 3, 0.0),
                    bias: w(1, 3, 1.0),
                    tanh: true,
                },
                Layer {
                    inputs: 3,
                    outputs: 2,
                    weights: w(3, 2, 2.0),
                    bias: w(1, 2, 3.0),
                    tanh: true,
                },
            ],
            Layer {
                inputs: 2,
                outputs: n,
                weights: w(2, n, 4.0),
                bias: w(1, n, 5.0),
                tanh: false,
            },
        );
        for model in [AnyModel::Ease(ease), AnyModel::MultVae(MultVae(ae))] {
            let onnx = OnnxModel::new(export(&model).unwrap(), n).unwrap();
            for h in [
                vec![],
                vec![(ItemIdx(2), 1.0)],
                vec![(ItemIdx(3), 2.0), (ItemIdx(0), 0.5)],
                vec![(ItemIdx(1), 1.0), (ItemIdx(1), 3.0), (ItemIdx(2), 1.0)],
            ] {
                let q = Query::new(&h).exclude(Exclude::Nothing);
                let want = model.recommend(&q, n).unwrap();
                let got = onnx.recommend(&q, n).unwrap();
                for (a, b) in want.iter().zip(&got) {
                    assert_eq!(a.item, b.item, "{}: {h:?}", model.kind());
                    assert!((a.score - b.score).abs() < 1e-5, "{want:?} vs {got:?}");
                }
            }
        }
        let (pop, _) = crate::registry::fit(
            &crate::registry::ModelSpec::new("popularity").unwrap(),
            &tiny_data(),
            &crate::NoProgress,
        )
        .unwrap();
        assert!(
            export(&pop)
                .unwrap_err()
                .to_string()
                .contains("exported: ease")
        );
        // A file that is not ONNX, or an output of the wrong length, is refused.
        assert!(OnnxModel::new(vec![1, 2, 3], n).is_err());
        let e = OnnxModel::new(
            export(&AnyModel::Ease(crate::ease::Ease::from_parts(
                2,
                vec![0.0; 4],
            )))
            .unwrap(),
            3,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("shapes [[2]] for a catalogue of 3 items"),
            "{e}"
        );
        assert!(onnx_out_of_range());
    }

    #[cfg(feature = "onnx")]
    fn tiny_data() -> tastebud_core::Dataset {
        use tastebud_core::{Dataset, Feedback, Interactions};
        let x = Interactions::from_triplets(1, 2, &[(0, 0, 1.0)], Feedback::Implicit).unwrap();
        Dataset::from_parts("t", x, ["u"], ["a", "b"]).unwrap()
    }

    #[cfg(feature = "onnx")]
    fn onnx_out_of_range() -> bool {
        let m = OnnxModel::new(
            export(&crate::AnyModel::Ease(crate::ease::Ease::from_parts(
                2,
                vec![0.0; 4],
            )))
            .unwrap(),
            2,
        )
        .unwrap();
        m.scores(&[(ItemIdx(2), 1.0)]).is_err()
    }
}
