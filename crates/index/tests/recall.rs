//! HNSW recall against exact search on an embedding-like catalogue, before and after a save/load round
//! trip, with and without a filter.

mod common;

use tastebud_index::{
    ExactIndex, Hit, HnswIndex, HnswParams, Metric, VectorIndex, dot, recall_at_k,
};

const K: usize = 10;
const MIN_RECALL: f64 = 0.95;

/// About 20% of ids, spread over the catalogue (a multiplicative hash, not a stride that could line up
/// with the clusters).
fn excluded(id: u32) -> bool {
    id.wrapping_mul(2_654_435_761).is_multiple_of(5)
}

fn check_scores(index: &ExactIndex, queries: &[f32], answers: &[Vec<Hit>]) {
    let dim = index.dim();
    for (q, hits) in queries.chunks_exact(dim).zip(answers) {
        for h in hits {
            let exact = dot(q, index.vector(h.id).unwrap());
            assert!(
                (h.score - exact).abs() <= 1e-4 * exact.abs().max(1.0),
                "id {}: hnsw score {} vs exact {exact}",
                h.id,
                h.score
            );
        }
    }
}

#[test]
fn hnsw_recall_at_10_on_100k_clustered_inner_product() {
    let (n, dim, nq) = (100_000, 64, 1000);
    let (items, queries) = common::clustered(n, dim, 300, 2024, nq);
    let exact = ExactIndex::new(items.clone(), dim, Metric::InnerProduct).unwrap();
    let t = std::time::Instant::now();
    let hnsw = HnswIndex::build(&items, dim, Metric::InnerProduct, &HnswParams::new()).unwrap();
    eprintln!("built {n} x {dim} in {:.1?}", t.elapsed());
    assert_eq!(hnsw.len(), n);

    let truth = exact.search_batch(&queries, K, None).unwrap();
    let approx = hnsw.search_batch(&queries, K, None).unwrap();
    let recall = recall_at_k(&approx, &truth, K);
    eprintln!(
        "recall@{K} (ef {}): {recall:.4}",
        hnsw.params().get_expansion_search()
    );
    assert!(
        recall >= MIN_RECALL,
        "recall@{K} {recall:.4} < {MIN_RECALL}"
    );
    assert!(approx.iter().all(|a| a.len() == K));
    check_scores(&exact, &queries, &approx);

    // The filter: excluded ids never come back, and recall against the exact filtered answer holds.
    let allow = |id: u32| !excluded(id);
    let truth_f = exact.search_batch(&queries, K, Some(&allow)).unwrap();
    let approx_f = hnsw.search_batch(&queries, K, Some(&allow)).unwrap();
    assert!(approx_f.iter().flatten().all(|h| !excluded(h.id)));
    let recall_f = recall_at_k(&approx_f, &truth_f, K);
    eprintln!("recall@{K} with 20% of ids excluded: {recall_f:.4}");
    assert!(
        recall_f >= MIN_RECALL,
        "filtered recall@{K} {recall_f:.4} < {MIN_RECALL}"
    );

    // Save, load into a fresh index: identical answers.
    let dir = tempfile::tempdir().unwrap();
    hnsw.save(dir.path()).unwrap();
    drop(hnsw);
    let loaded = HnswIndex::load(dir.path()).unwrap();
    assert_eq!((loaded.len(), loaded.dim()), (n, dim));
    assert_eq!(loaded.params(), &HnswParams::new());
    let reloaded = loaded.search_batch(&queries, K, None).unwrap();
    let recall_loaded = recall_at_k(&reloaded, &truth, K);
    eprintln!("recall@{K} after save/load: {recall_loaded:.4}");
    assert!(recall_loaded >= MIN_RECALL);
    assert_eq!(reloaded, approx, "answers changed across save/load");
    assert_eq!(
        loaded.search_batch(&queries, K, Some(&allow)).unwrap(),
        approx_f
    );
}

#[test]
fn hnsw_cosine_recall_on_clustered_data() {
    let (n, dim, nq) = (20_000, 32, 300);
    let (items, queries) = common::clustered(n, dim, 100, 9, nq);
    let exact = ExactIndex::new(items.clone(), dim, Metric::Cosine).unwrap();
    let hnsw = HnswIndex::build(&items, dim, Metric::Cosine, &HnswParams::new()).unwrap();
    let truth = exact.search_batch(&queries, K, None).unwrap();
    let approx = hnsw.search_batch(&queries, K, None).unwrap();
    let recall = recall_at_k(&approx, &truth, K);
    eprintln!("cosine recall@{K}: {recall:.4}");
    assert!(recall >= MIN_RECALL);
    // Scores are cosines: compare with the exact index's (normalised) rows and a normalised query.
    for (q, hits) in queries.chunks_exact(dim).zip(&approx) {
        let mut q = q.to_vec();
        Metric::Cosine.preprocess(&mut q);
        for h in hits {
            let c = dot(&q, exact.vector(h.id).unwrap());
            assert!((h.score - c).abs() < 1e-4 && h.score <= 1.0 + 1e-5);
        }
    }
}
