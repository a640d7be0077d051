//! Tests of the synthetic dataset generator.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use tastebud_core::Error;
use tastebud_data::synth::{self, SynthParams};

fn small(seed: u64) -> SynthParams {
    SynthParams::new(300, 200, 6_000, seed)
}

struct Rating {
    user: u32,
    item: u32,
    rating: f64,
    time: i64,
}

fn read_ratings(dir: &Path) -> Vec<Rating> {
    let mut r = csv::Reader::from_path(dir.join("ratings.csv")).unwrap();
    assert_eq!(
        r.headers().unwrap(),
        vec!["userId", "movieId", "rating", "timestamp"]
    );
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            assert_eq!(rec.len(), 4);
            Rating {
                user: rec[0].parse().unwrap(),
                item: rec[1].parse().unwrap(),
                rating: rec[2].parse().unwrap(),
                time: rec[3].parse().unwrap(),
            }
        })
        .collect()
}

fn read_movies(dir: &Path) -> Vec<(u32, String, String)> {
    let mut r = csv::Reader::from_path(dir.join("movies.csv")).unwrap();
    assert_eq!(r.headers().unwrap(), vec!["movieId", "title", "genres"]);
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            assert_eq!(rec.len(), 3);
            (
                rec[0].parse().unwrap(),
                rec[1].to_string(),
                rec[2].to_string(),
            )
        })
        .collect()
}

#[test]
fn same_seed_gives_identical_files_and_different_seed_does_not() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    synth::generate(&small(7), a.path(), false).unwrap();
    synth::generate(&small(7), b.path(), false).unwrap();
    synth::generate(&small(8), c.path(), false).unwrap();
    for file in ["ratings.csv", "movies.csv"] {
        let fa = std::fs::read(a.path().join(file)).unwrap();
        assert_eq!(fa, std::fs::read(b.path().join(file)).unwrap(), "{file}");
        assert_ne!(fa, std::fs::read(c.path().join(file)).unwrap(), "{file}");
    }
}

#[test]
fn ratings_are_valid_distinct_and_in_user_then_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let params = small(1);
    let summary = synth::generate(&params, dir.path(), false).unwrap();
    let ratings = read_ratings(dir.path());
    assert_eq!(ratings.len() as u64, params.interactions);
    assert_eq!(summary.interactions, params.interactions);
    assert_eq!(
        summary.files,
        vec![
            dir.path().join("ratings.csv"),
            dir.path().join("movies.csv")
        ]
    );

    let end = params.start_time + params.span_seconds as i64;
    let mut pairs = HashSet::new();
    let mut users = HashSet::new();
    let mut items = HashSet::new();
    let mut sum = 0.0;
    for (k, r) in ratings.iter().enumerate() {
        assert!((0.5..=5.0).contains(&r.rating), "{}", r.rating);
        assert_eq!((r.rating * 2.0).fract(), 0.0, "{}", r.rating);
        assert!((1..=params.users).contains(&r.user));
        assert!((1..=params.items).contains(&r.item));
        assert!((params.start_time..=end).contains(&r.time), "{}", r.time);
        assert!(
            pairs.insert((r.user, r.item)),
            "duplicate ({}, {})",
            r.user,
            r.item
        );
        if k > 0 {
            let p = &ratings[k - 1];
            assert!(p.user < r.user || (p.user == r.user && p.time <= r.time));
        }
        users.insert(r.user);
        items.insert(r.item);
        sum += r.rating;
    }
    // Every user rates at least once when there are more ratings than users.
    assert_eq!(users.len(), params.users as usize);
    assert_eq!(summary.users as usize, users.len());
    assert_eq!(summary.rated_items as usize, items.len());
    let mean = sum / ratings.len() as f64;
    assert!((summary.mean_rating - mean).abs() < 1e-9);
    assert!((2.8..=4.2).contains(&mean), "mean rating {mean}");
    // Ratings use most of the scale.
    let distinct: HashSet<u64> = ratings.iter().map(|r| (r.rating * 2.0) as u64).collect();
    assert!(distinct.len() >= 8, "{distinct:?}");
}

#[test]
fn movies_cover_every_rated_item_with_genres_and_quoted_titles() {
    let dir = tempfile::tempdir().unwrap();
    let params = small(2);
    synth::generate(&params, dir.path(), false).unwrap();
    let movies = read_movies(dir.path());
    assert_eq!(movies.len(), params.items as usize);
    let ids: HashSet<u32> = movies.iter().map(|m| m.0).collect();
    assert_eq!(ids.len(), movies.len());
    for r in read_ratings(dir.path()) {
        assert!(
            ids.contains(&r.item),
            "movieId {} not in movies.csv",
            r.item
        );
    }
    let known: HashSet<&str> = synth::MOVIELENS_GENRES.iter().copied().collect();
    let mut with_comma = 0;
    for (id, title, genres) in &movies {
        assert!(
            title.starts_with(&format!("Synthetic Movie {id}")),
            "{title}"
        );
        assert!(title.ends_with(')') && title.contains(" ("), "{title}");
        let g: Vec<&str> = genres.split('|').collect();
        assert!((1..=3).contains(&g.len()), "{genres}");
        assert!(g.iter().all(|x| known.contains(x)), "{genres}");
        if title.contains(',') {
            with_comma += 1;
        }
    }
    assert!(with_comma > 0, "some titles should carry a comma");
    // Titles with commas are quoted in the raw file.
    let raw = std::fs::read_to_string(dir.path().join("movies.csv")).unwrap();
    assert!(raw.contains(", The ("));
    for line in raw.lines().skip(1).filter(|l| l.contains(", The (")) {
        assert!(line.contains(",\"Synthetic Movie"), "{line}");
    }
    assert!(!raw.contains('\r'));
}

#[test]
fn genres_follow_the_latent_vectors() {
    // Users' ratings within a genre are correlated with the genre: check that genres are not uniform
    // noise by looking at how concentrated each user's genres are compared with the catalogue.
    let dir = tempfile::tempdir().unwrap();
    let params = SynthParams::new(400, 500, 20_000, 3);
    synth::generate(&params, dir.path(), false).unwrap();
    let movies = read_movies(dir.path());
    let genres: HashMap<u32, Vec<String>> = movies
        .into_iter()
        .map(|(id, _, g)| (id, g.split('|').map(str::to_string).collect()))
        .collect();
    let mut catalogue: HashMap<&str, f64> = HashMap::new();
    for g in genres.values().flatten() {
        *catalogue.entry(g).or_default() += 1.0;
    }
    let total: f64 = catalogue.values().sum();
    let ratings = read_ratings(dir.path());
    // Average, over users, of the share of their ratings in their single most-rated genre, against the
    // catalogue's most common genre share: personal taste should concentrate ratings.
    let mut per_user: HashMap<u32, HashMap<&str, f64>> = HashMap::new();
    for r in &ratings {
        for g in &genres[&r.item] {
            *per_user.entry(r.user).or_default().entry(g).or_default() += 1.0;
        }
    }
    let mut share = 0.0;
    let mut n = 0.0;
    for counts in per_user.values() {
        let sum: f64 = counts.values().sum();
        if sum >= 30.0 {
            share += counts.values().cloned().fold(0.0, f64::max) / sum;
            n += 1.0;
        }
    }
    let top_catalogue = catalogue.values().cloned().fold(0.0, f64::max) / total;
    assert!(n > 10.0);
    assert!(
        share / n > top_catalogue * 1.3,
        "{} vs {top_catalogue}",
        share / n
    );
}

#[test]
fn popularity_is_skewed() {
    let dir = tempfile::tempdir().unwrap();
    let params = SynthParams::new(2_000, 1_000, 50_000, 11);
    synth::generate(&params, dir.path(), false).unwrap();
    let mut counts = vec![0u64; params.items as usize + 1];
    let ratings = read_ratings(dir.path());
    assert_eq!(ratings.len(), 50_000);
    for r in &ratings {
        counts[r.item as usize] += 1;
    }
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let top: u64 = counts[..100].iter().sum();
    let share = top as f64 / ratings.len() as f64;
    assert!(share > 0.30, "top 10% of items got {share:.3} of ratings");
    // And users' activity is skewed too.
    let mut per_user = vec![0u64; params.users as usize + 1];
    for r in &ratings {
        per_user[r.user as usize] += 1;
    }
    per_user.sort_unstable_by(|a, b| b.cmp(a));
    let top_users: u64 = per_user[..200].iter().sum();
    assert!(top_users as f64 / ratings.len() as f64 > 0.25);
}

#[test]
fn dense_users_and_exact_counts_at_the_limit() {
    // interactions = users * items / 2: many users rate half the catalogue or more.
    let dir = tempfile::tempdir().unwrap();
    let params = SynthParams::new(20, 30, 300, 5);
    let summary = synth::generate(&params, dir.path(), false).unwrap();
    let ratings = read_ratings(dir.path());
    assert_eq!(ratings.len(), 300);
    assert_eq!(summary.interactions, 300);
    let pairs: HashSet<(u32, u32)> = ratings.iter().map(|r| (r.user, r.item)).collect();
    assert_eq!(pairs.len(), 300);

    // Fewer ratings than users, and a single item.
    for (users, items, n) in [(50, 40, 10), (10, 1, 5), (1, 2, 1)] {
        let dir = tempfile::tempdir().unwrap();
        let params = SynthParams::new(users, items, n, 9);
        let summary = synth::generate(&params, dir.path(), false).unwrap();
        let ratings = read_ratings(dir.path());
        assert_eq!(ratings.len() as u64, n);
        assert_eq!(
            summary.users as usize,
            ratings.iter().map(|r| r.user).collect::<HashSet<_>>().len()
        );
        let pairs: HashSet<(u32, u32)> = ratings.iter().map(|r| (r.user, r.item)).collect();
        assert_eq!(pairs.len() as u64, n);
    }
}

#[test]
fn validate_rejects_bad_parameters() {
    let ok = SynthParams::new(10, 10, 50, 0);
    assert!(ok.validate().is_ok());
    assert!(SynthParams::default().validate().is_ok());
    let too_many = SynthParams::new(10, 10, 51, 0);
    assert!(matches!(
        too_many.validate(),
        Err(Error::InvalidParam {
            name: "interactions",
            ..
        })
    ));
    let dir = tempfile::tempdir().unwrap();
    assert!(synth::generate(&too_many, dir.path(), false).is_err());
    assert!(!dir.path().join("ratings.csv").exists());

    let cases: Vec<(&str, SynthParams)> = vec![
        (
            "users",
            SynthParams {
                users: 0,
                ..ok.clone()
            },
        ),
        (
            "items",
            SynthParams {
                items: 0,
                ..ok.clone()
            },
        ),
        (
            "interactions",
            SynthParams {
                interactions: 0,
                ..ok.clone()
            },
        ),
        (
            "factors",
            SynthParams {
                factors: 0,
                ..ok.clone()
            },
        ),
        (
            "genres",
            SynthParams {
                genres: vec![],
                ..ok.clone()
            },
        ),
        (
            "genres",
            SynthParams {
                genres: vec!["A|B".into()],
                ..ok.clone()
            },
        ),
        (
            "zipf_exponent",
            SynthParams {
                zipf_exponent: f64::NAN,
                ..ok.clone()
            },
        ),
        (
            "zipf_exponent",
            SynthParams {
                zipf_exponent: -1.0,
                ..ok.clone()
            },
        ),
        (
            "start_time",
            SynthParams {
                start_time: -1,
                ..ok.clone()
            },
        ),
        (
            "span_seconds",
            SynthParams {
                span_seconds: u64::MAX,
                ..ok.clone()
            },
        ),
    ];
    for (name, p) in cases {
        match p.validate() {
            Err(Error::InvalidParam { name: got, .. }) => assert_eq!(got, name),
            other => panic!("{name}: expected InvalidParam, got {other:?}"),
        }
    }
}

#[test]
fn custom_genres_and_zero_span() {
    let dir = tempfile::tempdir().unwrap();
    let params = SynthParams {
        genres: vec!["Jazz".into(), "Rock, Classic".into()],
        span_seconds: 0,
        start_time: 1_000,
        ..SynthParams::new(30, 40, 200, 4)
    };
    synth::generate(&params, dir.path(), false).unwrap();
    for (_, _, g) in read_movies(dir.path()) {
        assert!(
            g.split('|').all(|x| x == "Jazz" || x == "Rock, Classic"),
            "{g}"
        );
    }
    assert!(read_ratings(dir.path()).iter().all(|r| r.time == 1_000));
}

#[test]
fn the_movielens_reader_loads_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let params = small(12);
    synth::generate(&params, dir.path(), false).unwrap();
    let ds = tastebud_data::load(dir.path(), &tastebud_data::LoadOptions::default()).unwrap();
    assert_eq!(ds.interactions.nnz() as u64, params.interactions);
    assert_eq!(ds.n_users(), params.users as usize);
}

/// 20M ratings (MovieLens-20M-sized): run with
/// `cargo test --release -p tastebud-data --test synth -- --ignored --nocapture`.
#[test]
#[ignore = "large: 20M ratings, about 500 MB written"]
fn twenty_million_ratings() {
    let dir = tempfile::tempdir().unwrap();
    let params = SynthParams::new(138_493, 27_278, 20_000_263, 1);
    let t = std::time::Instant::now();
    let summary = synth::generate(&params, dir.path(), false).unwrap();
    eprintln!("{summary:?} in {:.1?}", t.elapsed());
    assert_eq!(summary.interactions, params.interactions);
}
