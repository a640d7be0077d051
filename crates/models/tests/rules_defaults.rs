//! Association rules fit at their defaults on ML-100K, for the evaluator's split protocols: the support is
//! chosen (a whole user history per basket gives far more than 5,000,000 frequent itemsets at the old
//! fixed 0.01) and recorded in the resolved parameters; an explicit `min_support` is used as given and
//! keeps its clear error. The debug-build check covers `last:1` and a random split; BENCHMARKS.md times
//! every protocol in a release build.

use tastebud_core::SplitSpec;
use tastebud_models::registry::{ModelSpec, fit};
use tastebud_models::{NoProgress, Progress};

mod common;

/// Keeps the notes of a fit.
#[derive(Default)]
struct Notes(std::sync::Mutex<Vec<String>>);

impl Progress for Notes {
    fn start(&self, _: &str, _: u64) {}
    fn inc(&self, _: u64) {}
    fn message(&self, _: &str) {}
    fn note(&self, msg: &str) {
        self.0.lock().unwrap().push(msg.to_owned());
    }
}

#[test]
fn rules_fit_at_their_defaults_on_ml100k_splits() {
    let data = tastebud_data::load(&common::shared().join("ml-100k"), &Default::default()).unwrap();
    for split in ["last:1", "random:0.2"] {
        let spec: SplitSpec = split.parse().unwrap();
        let s = spec.apply(&data.interactions, 42).unwrap().remove(0);
        let train = data.with_interactions(s.train).unwrap();
        let t = std::time::Instant::now();
        let notes = Notes::default();
        let (model, params) = fit(&ModelSpec::new("rules").unwrap(), &train, &notes).unwrap();
        let secs = t.elapsed().as_secs_f64();
        let support = params["min_support"]
            .as_f64()
            .expect("the chosen support is recorded");
        let notes = notes.0.into_inner().unwrap();
        eprintln!("{split}: {notes:?} in {secs:.1} s");
        assert!(support > 0.01 && support < 1.0, "{split}: {params}");
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].starts_with(&format!("rules: min_support {support:.4} chosen")),
            "{notes:?}"
        );
        // Rules were mined, and they recommend.
        let m = model.as_recommender();
        let n_rules = rules_of(&model);
        assert!(n_rules > 1_000, "{split}: {n_rules} rules");
        let history = train.interactions.user_items(tastebud_core::UserIdx(0));
        let h: Vec<(tastebud_core::ItemIdx, f32)> = history.iter().map(|&i| (i, 1.0)).collect();
        assert_eq!(
            m.recommend(&tastebud_models::Query::new(&h), 10)
                .unwrap()
                .len(),
            10
        );
        // Fitting again with the recorded parameters gives the same rules.
        if split == "last:1" {
            let mut again = ModelSpec::new("rules").unwrap();
            again = again.param(&format!("min_support={support}")).unwrap();
            let (m2, _) = fit(&again, &train, &NoProgress).unwrap();
            assert_eq!(rules_of(&m2), n_rules);
        }
    }
    // An explicit support is used as given: 0.01 is over the itemset limit, with the error it always had
    // (a lower max_itemsets keeps the debug build quick; the message is the same at 5,000,000).
    let spec = ModelSpec::new("rules")
        .unwrap()
        .param("min_support=0.01")
        .unwrap()
        .param("max_itemsets=200000")
        .unwrap();
    let err = fit(&spec, &data, &NoProgress).unwrap_err().to_string();
    assert!(
        err.contains(
            "more than 200000 frequent itemsets (max_itemsets); raise min_support or lower max_len"
        ),
        "{err}"
    );
}

/// The number of rules of a fitted `rules` model.
fn rules_of(m: &tastebud_models::AnyModel) -> usize {
    match m {
        tastebud_models::AnyModel::Rules(r) => r.rules().len(),
        other => panic!("not rules: {}", other.kind()),
    }
}
