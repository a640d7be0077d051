//! Tests on the real datasets in `TASTEBUD_DATA` (default `../shared/data` next to the repository).
//! They fail loudly when the data is missing: CI has it, and a silent skip would hide a broken reader.

use std::path::PathBuf;

use tastebud_core::{Feedback, ItemIdx, SplitSpec, UserIdx};
use tastebud_data::{Format, LoadOptions, detect, load, load_pair};

fn data_dir() -> PathBuf {
    let dir = std::env::var_os("TASTEBUD_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    assert!(
        dir.join("ml-100k/u.data").is_file(),
        "real data not found at {} (set TASTEBUD_DATA to the folder holding ml-100k/)",
        dir.display()
    );
    dir
}

#[test]
fn ml100k_loads_with_the_published_counts() {
    let dir = data_dir().join("ml-100k");
    assert_eq!(detect(&dir).unwrap(), Format::Ml100k);
    let d = load(&dir, &LoadOptions::default()).unwrap();
    assert_eq!(d.interactions.nnz(), 100_000);
    assert_eq!(d.n_users(), 943);
    assert_eq!(d.n_items(), 1_682);
    assert_eq!(d.kind(), Feedback::Explicit);
    assert!(d.interactions.has_times());
    let items = d.item_features.as_ref().unwrap();
    assert_eq!(items.vocab_len("genres"), Some(19));
    // Item order follows u.item, so index = movie id - 1.
    let toy = d.item("1").unwrap();
    assert_eq!(toy, ItemIdx(0));
    assert_eq!(d.item_title(toy), Some("Toy Story (1995)"));
    assert_eq!(
        items.labels("genres", 0).unwrap(),
        vec!["Animation", "Children's", "Comedy"]
    );
    assert_eq!(items.number("year", 0), Some(1995.0));
    // Latin-1 title decoded.
    assert_eq!(
        d.item_title(d.item("543").unwrap()),
        Some("Misérables, Les (1995)")
    );
    // Rating histogram from the dataset README.
    let mut hist = [0usize; 6];
    for &v in d.interactions.values() {
        hist[v as usize] += 1;
    }
    assert_eq!(hist[1..], [6_110, 11_370, 27_145, 34_174, 21_201]);
    let users = d.user_features.as_ref().unwrap();
    let u1 = d.user("1").unwrap();
    assert_eq!(u1, UserIdx(0));
    assert_eq!(users.number("age", 0), Some(24.0));
    assert_eq!(users.labels("gender", 0).unwrap(), vec!["M"]);
    assert_eq!(users.labels("occupation", 0).unwrap(), vec!["technician"]);
    assert_eq!(users.text("zip", 0), Some("85711"));
    // User 196 rated item 242 with 3 stars at 881250949 (first line of u.data).
    let (u, i) = (d.user("196").unwrap(), d.item("242").unwrap());
    assert_eq!(d.interactions.get(u, i), Some(3.0));
}

#[test]
fn ml100k_official_folds_load_as_train_test_pairs() {
    let dir = data_dir().join("ml-100k");
    for k in 1..=5 {
        let (train, test) = load_pair(
            Some(&dir),
            &dir.join(format!("u{k}.base")),
            &dir.join(format!("u{k}.test")),
            &LoadOptions::default(),
        )
        .unwrap();
        assert_eq!(train.interactions.nnz(), 80_000, "u{k}.base");
        assert_eq!(test.nnz(), 20_000, "u{k}.test");
        assert_eq!(train.n_items(), 1_682);
        assert_eq!(train.n_users(), 943);
        assert_eq!((test.n_users(), test.n_items()), (943, 1_682));
        let overlap = test
            .iter()
            .filter(|r| train.interactions.get(r.user, r.item).is_some())
            .count();
        assert_eq!(overlap, 0, "u{k}: a test pair is in train");
    }
    let (train, test) = load_pair(
        Some(&dir),
        &dir.join("ua.base"),
        &dir.join("ua.test"),
        &LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(train.interactions.nnz(), 90_570);
    assert_eq!(test.nnz(), 9_430);
    for u in 0..943 {
        assert_eq!(test.user_len(UserIdx(u)), 10);
    }
}

#[test]
fn ml100k_splits_are_reproducible_and_lossless() {
    let d = load(&data_dir().join("ml-100k"), &LoadOptions::default()).unwrap();
    for spec in [
        "random:0.2",
        "user:0.2",
        "last:5",
        "time-ratio:0.8",
        "users:0.1:0.2",
    ] {
        let spec: SplitSpec = spec.parse().unwrap();
        let a = spec.apply(&d.interactions, 42).unwrap();
        assert_eq!(a, spec.apply(&d.interactions, 42).unwrap());
        let s = &a[0];
        let total = s.train.nnz() + s.test.nnz() + s.fold_in.as_ref().map_or(0, |f| f.nnz());
        assert_eq!(total, 100_000, "{spec}");
    }
}

#[test]
fn ml1m_partial_folder_is_recognised_and_reports_the_missing_file() {
    let dir = data_dir().join("ml-1m");
    assert_eq!(detect(&dir).unwrap(), Format::Ml1m);
    if dir.join("ratings.dat").is_file() || dir.join("ratings.dat.gz").is_file() {
        let d = load(&dir, &LoadOptions::default()).unwrap();
        assert_eq!(d.interactions.nnz(), 1_000_209);
        assert_eq!(d.n_users(), 6_040);
    } else {
        let err = load(&dir, &LoadOptions::default()).unwrap_err().to_string();
        assert!(err.contains("ratings.dat"), "{err}");
    }
}

#[test]
fn goodbooks_sample_ratings_load_with_the_book_catalogue() {
    let dir = data_dir().join("goodbooks-10k");
    let books = std::fs::read_to_string(dir.join("books.csv")).unwrap();
    assert!(books.starts_with("book_id,"), "unexpected books.csv");
    let d = tastebud_data::load_pair(
        None,
        &dir.join("samples/ratings.csv"),
        &dir.join("samples/ratings.csv"),
        &LoadOptions::default(),
    )
    .unwrap()
    .0;
    assert_eq!(d.interactions.nnz(), 99);
}
