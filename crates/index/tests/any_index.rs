//! `AnyIndex`: choice by catalogue size, and save/load of both kinds.

mod common;

use std::path::Path;

use tastebud_index::format::{GRAPH_FILE, HEADER_FILE, VECTORS_FILE};
use tastebud_index::{
    AnyIndex, ExactIndex, HnswIndex, HnswParams, IndexError, IndexOptions, Metric, VectorIndex,
};

fn round_trip(index: &AnyIndex, queries: &[f32], dir: &Path) -> AnyIndex {
    index.save(dir).unwrap();
    let loaded = AnyIndex::load(dir).unwrap();
    assert_eq!(loaded.kind(), index.kind());
    assert_eq!(loaded.metric(), index.metric());
    assert_eq!((loaded.len(), loaded.dim()), (index.len(), index.dim()));
    let filter = |id: u32| !id.is_multiple_of(3);
    assert_eq!(
        loaded.search_batch(queries, 10, None).unwrap(),
        index.search_batch(queries, 10, None).unwrap()
    );
    assert_eq!(
        loaded.search_batch(queries, 10, Some(&filter)).unwrap(),
        index.search_batch(queries, 10, Some(&filter)).unwrap()
    );
    loaded
}

#[test]
fn picks_exact_below_the_threshold_and_hnsw_from_it() {
    let (items, queries) = common::clustered(3000, 16, 20, 42, 50);
    let small =
        AnyIndex::build(items.clone(), 16, Metric::Cosine, &IndexOptions::default()).unwrap();
    assert_eq!(small.kind(), "exact");
    let opts = IndexOptions::new().ann_min_items(3000);
    let large = AnyIndex::build(items.clone(), 16, Metric::Cosine, &opts).unwrap();
    assert_eq!(large.kind(), "hnsw");
    let below = IndexOptions::new().ann_min_items(3001);
    assert_eq!(
        AnyIndex::build(items, 16, Metric::Cosine, &below)
            .unwrap()
            .kind(),
        "exact"
    );

    let dir = tempfile::tempdir().unwrap();
    let e = round_trip(&small, &queries, &dir.path().join("exact"));
    let h = round_trip(&large, &queries, &dir.path().join("hnsw"));
    assert!(matches!(e, AnyIndex::Exact(_)));
    assert!(matches!(h, AnyIndex::Hnsw(_)));
    assert!(dir.path().join("exact").join(VECTORS_FILE).is_file());
    assert!(dir.path().join("hnsw").join(GRAPH_FILE).is_file());
}

#[test]
fn bad_hnsw_params_fail_even_for_a_small_catalogue() {
    let opts = IndexOptions::new().hnsw(HnswParams::new().connectivity(0));
    assert!(matches!(
        AnyIndex::build(vec![1.0; 8], 2, Metric::InnerProduct, &opts),
        Err(IndexError::InvalidParam {
            name: "connectivity",
            ..
        })
    ));
}

#[test]
fn loading_checks_kind_header_and_sizes() {
    let (items, _) = common::clustered(500, 8, 5, 42, 0);
    let dir = tempfile::tempdir().unwrap();
    let (e, h) = (dir.path().join("e"), dir.path().join("h"));
    ExactIndex::new(items.clone(), 8, Metric::InnerProduct)
        .unwrap()
        .save(&e)
        .unwrap();
    HnswIndex::build(&items, 8, Metric::InnerProduct, &HnswParams::new())
        .unwrap()
        .save(&h)
        .unwrap();

    // Wrong kind.
    assert!(matches!(
        HnswIndex::load(&e),
        Err(IndexError::Format { .. })
    ));
    assert!(matches!(
        ExactIndex::load(&h),
        Err(IndexError::Format { .. })
    ));
    // Missing folder.
    assert!(matches!(
        AnyIndex::load(&dir.path().join("nope")),
        Err(IndexError::Io { .. })
    ));

    // A header that disagrees with the data file.
    let header = std::fs::read_to_string(e.join(HEADER_FILE)).unwrap();
    let lying = header.replace("\"len\": 500", "\"len\": 501");
    assert_ne!(header, lying);
    std::fs::write(e.join(HEADER_FILE), &lying).unwrap();
    assert!(matches!(AnyIndex::load(&e), Err(IndexError::Format { .. })));
    let header = std::fs::read_to_string(h.join(HEADER_FILE)).unwrap();
    std::fs::write(
        h.join(HEADER_FILE),
        header.replace("\"dim\": 8", "\"dim\": 9"),
    )
    .unwrap();
    assert!(matches!(AnyIndex::load(&h), Err(IndexError::Format { .. })));
    std::fs::write(h.join(HEADER_FILE), "{\"format\": \"something else\"}").unwrap();
    assert!(matches!(AnyIndex::load(&h), Err(IndexError::Format { .. })));
}
