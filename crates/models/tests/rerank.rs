//! The re-rankers' effects on a skewed synthetic candidate list, and on EASE's lists for ML-100K users.

use tastebud_core::{FeatureTable, ItemIdx, UserIdx};
use tastebud_models::ease::EaseParams;
use tastebud_models::rerank::{
    Calibration, FairShare, GroupCap, Mmr, Protected, Rerank, RerankContext, intra_list_diversity,
    long_tail_mask, miscalibration, normalised_relevance,
};
use tastebud_models::{Fit, NoProgress, Query, Recommender, Scored};

mod common;
use common::shared;

const GENRES: [&str; 5] = ["A", "B", "C", "D", "E"];
const N_CAND: usize = 100;

/// 120 items: candidates 0..100 (0..80 genre A, every fourth of them also B; 80..100 cycling B..E) and
/// history items 100..120 (10 of genre A, 10 cycling B..E).
fn table() -> FeatureTable {
    let mut t = FeatureTable::new(120);
    let mut g = t.categorical_builder();
    for l in GENRES {
        g.declare(l);
    }
    for i in 0..120 {
        match i {
            0..80 => {
                g.push(i, "A", 1.0);
                if i % 4 == 3 {
                    g.push(i, "B", 1.0);
                }
            }
            80..100 => g.push(i, GENRES[1 + (i - 80) % 4], 1.0),
            100..110 => g.push(i, "A", 1.0),
            _ => g.push(i, GENRES[1 + (i - 110) % 4], 1.0),
        }
    }
    t.add("genres", g.finish()).unwrap();
    t
}

/// Items 0..80 popular (200 − i interactions), the rest one each.
fn popularity() -> Vec<usize> {
    (0..120).map(|i| if i < 80 { 200 - i } else { 1 }).collect()
}

/// Candidates 0..100 with decreasing scores.
fn candidates() -> Vec<Scored> {
    (0..N_CAND)
        .map(|i| Scored {
            item: ItemIdx(i as u32),
            score: 5.0 - i as f32 * 0.03,
        })
        .collect()
}

fn history() -> Vec<(ItemIdx, f32)> {
    (100..120).map(|i| (ItemIdx(i), 1.0)).collect()
}

fn items(list: &[Scored]) -> Vec<ItemIdx> {
    list.iter().map(|s| s.item).collect()
}

/// Sum of the normalised relevance of the input's top `k` minus that of `out`'s (≥ 0).
fn relevance_loss(cands: &[Scored], out: &[Scored], k: usize) -> f64 {
    let rel = normalised_relevance(cands);
    let pos = |s: &Scored| cands.iter().position(|c| c.item == s.item).unwrap();
    let kept: f64 = out.iter().map(|s| rel[pos(s)]).sum();
    rel[..k].iter().sum::<f64>() - kept
}

fn is_permutation_subset(cands: &[Scored], out: &[Scored]) -> bool {
    let mut seen = std::collections::HashSet::new();
    out.iter().all(|s| cands.contains(s) && seen.insert(s.item))
}

fn lambdas() -> Vec<f64> {
    (0..=10).map(|i| f64::from(i) / 10.0).collect()
}

#[test]
fn mmr_diversity_grows_as_lambda_falls() {
    let (t, c) = (table(), candidates());
    let ctx = RerankContext::new().features(&t, "genres");
    for k in [10, 20] {
        let mut prev: Option<(f64, f64)> = None;
        for lambda in lambdas().into_iter().rev() {
            let out = Mmr::new(lambda).unwrap().rerank(&c, k, &ctx).unwrap();
            assert_eq!(out.len(), k);
            assert!(is_permutation_subset(&c, &out));
            if lambda == 1.0 {
                assert_eq!(out, c[..k].to_vec());
            }
            let div = intra_list_diversity(&items(&out), &ctx).unwrap();
            let loss = relevance_loss(&c, &out, k);
            if let Some((d, l)) = prev {
                assert!(div >= d - 1e-12, "k {k} λ {lambda}: diversity {div} < {d}");
                assert!(
                    loss >= l - 1e-12,
                    "k {k} λ {lambda}: relevance loss {loss} < {l}"
                );
            }
            prev = Some((div, loss));
        }
        let base = intra_list_diversity(&items(&c[..k]), &ctx).unwrap();
        let top = prev.unwrap().0;
        println!("k {k}: diversity {base:.3} (input) -> {top:.3} (λ = 0)");
        assert!(
            top > base + 0.25,
            "λ = 0 barely diversifies: {base} -> {top}"
        );
    }
}

#[test]
fn mmr_uses_embeddings_when_given() {
    // Items 0..4 point the same way, item 4 is orthogonal; no features at all.
    let emb: Vec<f32> = (0..5)
        .flat_map(|i| {
            if i < 4 {
                [1.0, 0.1 * i as f32]
            } else {
                [0.0, 1.0]
            }
        })
        .collect();
    let c: Vec<Scored> = (0..5)
        .map(|i| Scored {
            item: ItemIdx(i),
            score: 1.0 - i as f32 * 0.1,
        })
        .collect();
    let ctx = RerankContext::new().embeddings(2, &emb);
    let out = Mmr::new(0.5).unwrap().rerank(&c, 2, &ctx).unwrap();
    assert_eq!(items(&out), vec![ItemIdx(0), ItemIdx(4)]);
    let same = Mmr::new(1.0).unwrap().rerank(&c, 5, &ctx).unwrap();
    assert_eq!(same, c);
}

#[test]
fn calibration_follows_the_history_as_lambda_grows() {
    let (t, c, h) = (table(), candidates(), history());
    let ctx = RerankContext::new().features(&t, "genres").history(&h);
    for k in [10, 20] {
        let mut prev: Option<(f64, f64)> = None;
        for lambda in lambdas() {
            let out = Calibration::new(lambda)
                .unwrap()
                .rerank(&c, k, &ctx)
                .unwrap();
            assert_eq!(out.len(), k);
            assert!(is_permutation_subset(&c, &out));
            if lambda == 0.0 {
                assert_eq!(out, c[..k].to_vec());
            }
            let kl = miscalibration(&items(&out), &ctx, 0.01).unwrap();
            let loss = relevance_loss(&c, &out, k);
            if let Some((p, l)) = prev {
                assert!(kl <= p + 1e-12, "k {k} λ {lambda}: KL {kl} > {p}");
                assert!(
                    loss >= l - 1e-12,
                    "k {k} λ {lambda}: relevance loss {loss} < {l}"
                );
            }
            prev = Some((kl, loss));
        }
        let base = miscalibration(&items(&c[..k]), &ctx, 0.01).unwrap();
        assert!(prev.unwrap().0 < base / 4.0, "λ = 1 barely calibrates");
    }
    // No history: nothing to calibrate to.
    let bare = RerankContext::new().features(&t, "genres");
    let out = Calibration::new(1.0)
        .unwrap()
        .rerank(&c, 10, &bare)
        .unwrap();
    assert_eq!(out, c[..10].to_vec());
}

#[test]
fn fair_share_meets_the_target() {
    let (t, c, pop) = (table(), candidates(), popularity());
    let ctx = RerankContext::new().features(&t, "genres").popularity(&pop);
    let tail = long_tail_mask(&pop, 0.5).unwrap();
    let share = |out: &[Scored]| out.iter().filter(|s| tail[s.item.get()]).count();
    let available = c.iter().filter(|s| tail[s.item.get()]).count();
    assert!(available > 20 && !tail[0]);
    for k in [10, 20, 50] {
        let mut prev_loss = 0.0;
        for s in lambdas() {
            let f = FairShare::long_tail(s, 0.5).unwrap();
            let out = f.rerank(&c, k, &ctx).unwrap();
            assert_eq!(out.len(), k);
            assert!(is_permutation_subset(&c, &out));
            if s == 0.0 {
                assert_eq!(out, c[..k].to_vec());
                assert_eq!(share(&out), share(&c[..k]));
            }
            let want = ((s * k as f64) - 1e-9).ceil() as usize;
            assert!(
                share(&out) >= want.min(available),
                "k {k} s {s}: {}",
                share(&out)
            );
            let loss = relevance_loss(&c, &out, k);
            assert!(loss >= prev_loss - 1e-12);
            prev_loss = loss;
        }
    }
    // Fewer protected candidates than the target: all of them get in.
    let few = &c[70..85];
    let out = FairShare::long_tail(1.0, 0.5)
        .unwrap()
        .rerank(few, 10, &ctx)
        .unwrap();
    let avail = few.iter().filter(|s| tail[s.item.get()]).count();
    assert_eq!(share(&out), avail.min(10));
    // A label group.
    let f = FairShare::new(0.4, Protected::Labels(vec!["C".into(), "D".into()])).unwrap();
    let out = f.rerank(&c, 10, &ctx).unwrap();
    let prot = f.is_protected(&items(&out), &ctx).unwrap();
    assert_eq!(prot.iter().filter(|&&p| p).count(), 4);
    assert_eq!(out[..6].to_vec(), c[..6].to_vec());
}

#[test]
fn group_cap_is_never_exceeded() {
    let (t, c) = (table(), candidates());
    let ctx = RerankContext::new().features(&t, "genres");
    for k in [10, 20] {
        let mut prev_loss = 0.0;
        for m in (1..=k).rev() {
            let out = GroupCap::new(m).unwrap().rerank(&c, k, &ctx).unwrap();
            assert!(is_permutation_subset(&c, &out));
            for g in GENRES {
                let n = out
                    .iter()
                    .filter(|s| t.labels("genres", s.item.get()).unwrap().contains(&g))
                    .count();
                assert!(n <= m, "k {k} m {m}: {n} of {g}");
            }
            if m >= k {
                assert_eq!(out, c[..k].to_vec());
            }
            let loss = relevance_loss(&c, &out, k);
            assert!(loss >= prev_loss - 1e-12, "k {k} m {m}");
            prev_loss = loss;
        }
    }
    // 5 genres, at most 1 each: items 0 (A), 80..84 (B..E); item 3 (A and B) is left out.
    let out = GroupCap::new(1).unwrap().rerank(&c, 10, &ctx).unwrap();
    assert_eq!(items(&out), [0, 80, 81, 82, 83].map(ItemIdx).to_vec());
}

#[test]
fn edge_cases() {
    let (t, c, h, pop) = (table(), candidates(), history(), popularity());
    let ctx = RerankContext::new()
        .features(&t, "genres")
        .history(&h)
        .popularity(&pop);
    let rerankers: Vec<Box<dyn Rerank>> = vec![
        Box::new(Mmr::new(0.3).unwrap()),
        Box::new(Calibration::new(0.7).unwrap()),
        Box::new(FairShare::long_tail(0.5, 0.5).unwrap()),
        Box::new(GroupCap::new(100).unwrap()),
    ];
    for r in &rerankers {
        assert!(r.rerank(&[], 10, &ctx).unwrap().is_empty(), "{}", r.name());
        assert!(r.rerank(&c, 0, &ctx).unwrap().is_empty(), "{}", r.name());
        let all = r.rerank(&c[..30], 1000, &ctx).unwrap();
        assert_eq!(all.len(), 30, "{}", r.name());
        assert!(is_permutation_subset(&c, &all));
        // Deterministic.
        assert_eq!(all, r.rerank(&c[..30], 1000, &ctx).unwrap());
    }
    // Equal scores: ties by candidate order.
    let flat: Vec<Scored> = [5u32, 2, 9]
        .iter()
        .map(|&i| Scored {
            item: ItemIdx(i),
            score: 1.0,
        })
        .collect();
    assert_eq!(Mmr::new(1.0).unwrap().rerank(&flat, 3, &ctx).unwrap(), flat);
    assert_eq!(
        Calibration::new(0.0)
            .unwrap()
            .rerank(&flat, 3, &ctx)
            .unwrap(),
        flat
    );
}

#[test]
fn parameters_and_context_are_checked() {
    for bad in [-0.1, 1.1, f64::NAN, f64::INFINITY] {
        assert!(Mmr::new(bad).is_err());
        assert!(Calibration::new(bad).is_err());
        assert!(FairShare::long_tail(bad, 0.2).is_err());
        assert!(FairShare::long_tail(0.2, bad).is_err());
        assert!(long_tail_mask(&[1, 2], bad).is_err());
    }
    assert!(GroupCap::new(0).is_err());
    let mut cal = Calibration::new(0.5).unwrap();
    cal.alpha = 0.0;
    let c = candidates();
    let t = table();
    let ctx = RerankContext::new().features(&t, "genres");
    let err = cal.rerank(&c, 10, &ctx).unwrap_err().to_string();
    assert!(err.contains("alpha"), "{err}");
    assert!(FairShare::new(0.5, Protected::Labels(vec![])).is_err());

    let none = RerankContext::new();
    let err = Mmr::new(0.5)
        .unwrap()
        .rerank(&c, 10, &none)
        .unwrap_err()
        .to_string();
    assert!(err.contains("features"), "{err}");
    let err = GroupCap::new(2)
        .unwrap()
        .rerank(&c, 10, &ctx.features(&t, "year"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("year"), "{err}");
    let err = FairShare::long_tail(0.5, 0.2)
        .unwrap()
        .rerank(&c, 10, &ctx)
        .unwrap_err()
        .to_string();
    assert!(err.contains("popularity"), "{err}");
    let f = FairShare::new(0.5, Protected::Labels(vec!["Z".into()])).unwrap();
    let err = f.rerank(&c, 10, &ctx).unwrap_err().to_string();
    assert!(err.contains("`Z`"), "{err}");
    let out_of_range = [Scored {
        item: ItemIdx(500),
        score: 1.0,
    }];
    assert!(
        GroupCap::new(1)
            .unwrap()
            .rerank(&out_of_range, 1, &ctx)
            .is_err()
    );
    assert!(
        Mmr::new(0.5)
            .unwrap()
            .rerank(&out_of_range, 1, &ctx)
            .is_err()
    );
}

/// EASE's top 100 for 100 ML-100K users, re-ranked to 10: diversity and long-tail share go up.
#[test]
fn movielens_100k_rerankers() {
    let data = tastebud_data::load(&shared().join("ml-100k"), &Default::default()).unwrap();
    let t = data
        .item_features
        .as_ref()
        .expect("ML-100K has item features");
    assert!(t.vocab_len("genres").unwrap() >= 18);
    let pop = data.interactions.item_counts();
    let tail = long_tail_mask(&pop, 0.5).unwrap();
    let model = EaseParams::default().fit(&data, &NoProgress).unwrap();
    let k = 10;
    type Row = (String, f64, f64, f64, f64);
    let mut rows: Vec<Row> = Vec::new();
    let users: Vec<UserIdx> = (0..100).map(|u| UserIdx(u * 9)).collect();
    let runs: Vec<(String, Box<dyn Rerank>)> = vec![
        ("none (mmr λ=1)".into(), Box::new(Mmr::new(1.0).unwrap())),
        ("mmr λ=0.7".into(), Box::new(Mmr::new(0.7).unwrap())),
        ("mmr λ=0.5".into(), Box::new(Mmr::new(0.5).unwrap())),
        ("mmr λ=0.3".into(), Box::new(Mmr::new(0.3).unwrap())),
        (
            "calibration λ=0.5".into(),
            Box::new(Calibration::new(0.5).unwrap()),
        ),
        (
            "calibration λ=0.9".into(),
            Box::new(Calibration::new(0.9).unwrap()),
        ),
        (
            "long tail s=0.3".into(),
            Box::new(FairShare::long_tail(0.3, 0.5).unwrap()),
        ),
        (
            "long tail s=0.5".into(),
            Box::new(FairShare::long_tail(0.5, 0.5).unwrap()),
        ),
        ("cap m=3".into(), Box::new(GroupCap::new(3).unwrap())),
        ("cap m=2".into(), Box::new(GroupCap::new(2).unwrap())),
    ];
    type HistoryAndCandidates = (Vec<(ItemIdx, f32)>, Vec<Scored>);
    let lists: Vec<HistoryAndCandidates> = users
        .iter()
        .map(|&u| {
            let h = data.interactions.history(u);
            let c = model.recommend(&Query::new(&h).user(u), 100).unwrap();
            (h, c)
        })
        .collect();
    for (name, r) in &runs {
        let (mut kept, mut div, mut lt, mut kl) = (0.0, 0.0, 0.0, 0.0);
        for (h, c) in &lists {
            let ctx = RerankContext::new()
                .features(t, "genres")
                .popularity(&pop)
                .history(h);
            let out = r.rerank(c, k, &ctx).unwrap();
            let rel = normalised_relevance(c);
            let best: f64 = rel[..k].iter().sum();
            let pos = |s: &Scored| c.iter().position(|x| x.item == s.item).unwrap();
            kept += out.iter().map(|s| rel[pos(s)]).sum::<f64>() / best;
            div += intra_list_diversity(&items(&out), &ctx).unwrap();
            lt += out.iter().filter(|s| tail[s.item.get()]).count() as f64 / out.len() as f64;
            kl += miscalibration(&items(&out), &ctx, 0.01).unwrap();
        }
        let n = lists.len() as f64;
        rows.push((name.clone(), kept / n, div / n, lt / n, kl / n));
    }
    println!(
        "{:<20} {:>9} {:>9} {:>9} {:>9}",
        "re-ranker", "rel kept", "diversity", "long tail", "KL"
    );
    for (name, kept, div, lt, kl) in &rows {
        println!("{name:<20} {kept:>9.3} {div:>9.3} {lt:>9.3} {kl:>9.3}");
    }
    let get = |name: &str| rows.iter().find(|r| r.0 == name).unwrap().clone();
    let base = get("none (mmr λ=1)");
    assert!((base.1 - 1.0).abs() < 1e-9);
    assert!(
        get("mmr λ=0.5").2 > base.2 + 0.05,
        "MMR should raise diversity"
    );
    assert!(get("mmr λ=0.3").2 >= get("mmr λ=0.7").2);
    assert!(get("long tail s=0.5").3 >= 0.5 - 1e-9 || get("long tail s=0.5").3 > base.3);
    assert!(
        get("long tail s=0.5").3 > base.3,
        "long-tail share should rise"
    );
    assert!(
        get("calibration λ=0.9").4 < base.4,
        "calibration should lower KL"
    );
    assert!(get("cap m=2").2 >= base.2);
}
