//! Model names and [`ModelSpec`]: which models exist, their aliases, and hyperparameters from `key=value`
//! pairs. No model depends on the registry that fits them by name; what a model needs of names (an
//! ensemble naming its parts) it takes from here. Re-exported from the registry.

use tastebud_core::{Error, Result};

/// Names accepted by the registry's `fit`, with a one-line description.
pub const MODELS: &[(&str, &str)] = &[
    (
        "popularity",
        "most interacted-with items; trending with half_life_days; within a genre with genre",
    ),
    ("random", "uniformly random ranking, seeded"),
    (
        "itemknn",
        "item-item neighbours (cosine, tfidf, bm25, pearson, jaccard...), implicit-style top-N",
    ),
    (
        "userknn",
        "user-user neighbours, similarities computed against the query history on the fly",
    ),
    (
        "knn_basic",
        "Surprise KNNBasic rating predictor (msd, user-based, k=40)",
    ),
    ("knn_with_means", "Surprise KNNWithMeans rating predictor"),
    (
        "knn_baseline",
        "Surprise KNNBaseline rating predictor (ALS baselines)",
    ),
    (
        "als",
        "implicit-feedback ALS (Hu, Koren & Volinsky 2008), conjugate gradient, as implicit",
    ),
    (
        "bpr",
        "Bayesian personalised ranking (Rendle et al. 2009), as implicit",
    ),
    ("ease", "EASE linear autoencoder (Steck 2019), closed form"),
    (
        "baseline",
        "Surprise BaselineOnly: global mean + user and item biases (ALS or SGD)",
    ),
    (
        "svd",
        "Surprise SVD: biased matrix factorisation by SGD (Funk / Koren)",
    ),
    (
        "svdpp",
        "Surprise SVD++: SVD with implicit feedback from what users rated",
    ),
    ("nmf", "Surprise NMF: non-negative matrix factorisation"),
    ("slope_one", "Surprise SlopeOne (Lemire & Maclachlan 2005)"),
    (
        "content",
        "content-based: TF-IDF/one-hot item features, cosine to the history's profile; serves untouched items",
    ),
    (
        "lightfm",
        "LightFM-style hybrid factorisation: feature + identity embeddings, WARP or BPR, Adagrad",
    ),
    (
        "blend",
        "weighted blend of per-query normalised scores: models=ease:0.7,popularity:0.3, PART.KEY=VALUE",
    ),
    (
        "switch",
        "cold model below min_history interactions, warm model above: cold=popularity,warm=ease",
    ),
    (
        "spark_als",
        "ALS as Spark MLlib computes it (ALS-WR, explicit or implicit); what `tastebud import spark-als` reads",
    ),
    (
        "rules",
        "association rules (FP-growth) over sessions or baskets: people who watched X also watched Y",
    ),
    (
        "multvae",
        "Mult-VAE (Liang et al. 2018): variational autoencoder, multinomial likelihood, KL annealing; trains with --features deep",
    ),
    (
        "multdae",
        "Mult-DAE (Liang et al. 2018): denoising autoencoder, multinomial likelihood; trains with --features deep",
    ),
    (
        "sasrec",
        "SASRec (Kang & McAuley 2018): causal self-attention over the item sequence; trains with --features deep",
    ),
    (
        "gru4rec",
        "GRU4Rec (Hidasi et al. 2016): GRU over the item sequence, session-parallel mini-batches; trains with --features deep",
    ),
    (
        "twotower",
        "two-tower retrieval: history + user features vs item ids + features, in-batch softmax with log-Q; trains with --features deep",
    ),
];

/// A model name with hyperparameters, e.g. from `--model als --param factors=64`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelSpec {
    /// Canonical model name.
    pub name: String,
    /// Hyperparameters as a JSON object (values parsed from text: numbers, booleans, strings).
    pub params: serde_json::Map<String, serde_json::Value>,
}

impl ModelSpec {
    /// A spec with no parameters; aliases (`pop`) are resolved.
    pub fn new(name: &str) -> Result<Self> {
        Ok(ModelSpec {
            name: canonical(name)?.to_string(),
            params: Default::default(),
        })
    }

    /// Adds `key=value` (the value is read as an integer, a number, a boolean, or else a string).
    pub fn param(mut self, kv: &str) -> Result<Self> {
        let (k, v) = kv.split_once('=').ok_or_else(|| Error::InvalidParam {
            name: "param",
            reason: format!("`{kv}` is not key=value"),
        })?;
        let v = v.trim();
        let value = if let Ok(i) = v.parse::<i64>() {
            serde_json::Value::from(i)
        } else if let Ok(f) = v.parse::<f64>() {
            serde_json::Value::from(f)
        } else if let Ok(b) = v.parse::<bool>() {
            serde_json::Value::from(b)
        } else {
            serde_json::Value::from(v)
        };
        self.params.insert(k.trim().to_string(), value);
        Ok(self)
    }
}

fn canonical(name: &str) -> Result<&'static str> {
    let n = name.trim().to_ascii_lowercase();
    let found = match n.as_str() {
        "pop" | "most-popular" => Some("popularity"),
        "rand" => Some("random"),
        "item-knn" | "itemknn_cos" | "cosine" => Some("itemknn"),
        "user-knn" => Some("userknn"),
        "knnbasic" => Some("knn_basic"),
        "knnwithmeans" => Some("knn_with_means"),
        "knnbaseline" => Some("knn_baseline"),
        "baselineonly" | "baseline_only" => Some("baseline"),
        "svd++" | "svd_pp" => Some("svdpp"),
        "slopeone" | "slope-one" => Some("slope_one"),
        "hybrid" | "light_fm" => Some("lightfm"),
        "content-based" | "content_based" => Some("content"),
        "ensemble" => Some("blend"),
        "association_rules" | "apriori" | "fpgrowth" => Some("rules"),
        "mult-vae" | "mult_vae" | "vae" => Some("multvae"),
        "mult-dae" | "mult_dae" | "dae" => Some("multdae"),
        "sas-rec" | "sas_rec" => Some("sasrec"),
        "gru-4-rec" | "gru" | "gru_4_rec" => Some("gru4rec"),
        "two-tower" | "two_tower" | "twotowers" => Some("twotower"),
        other => MODELS.iter().map(|m| m.0).find(|m| *m == other),
    };
    found.ok_or_else(|| {
        let known: Vec<&str> = MODELS.iter().map(|m| m.0).collect();
        Error::InvalidParam {
            name: "model",
            reason: format!("unknown model `{name}`; known: {}", known.join(", ")),
        }
    })
}
