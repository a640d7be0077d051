//! Knowledge-based recommendation on ML-100K's genres and years: constraint satisfaction checked against
//! `u.item` read here independently, the utility order, and minimal relaxations checked against a brute
//! force over every subset of the constraints, including requests no film satisfies.

mod common;

use std::collections::HashSet;

use tastebud_core::{Dataset, ItemIdx};
use tastebud_models::knowledge::KnowledgeQuery;

fn ml100k() -> Dataset {
    tastebud_data::load(&common::shared().join("ml-100k"), &Default::default()).unwrap()
}

/// `u.item` as (movie id, genre names, year), read without the loader.
fn raw_items() -> Vec<(String, HashSet<String>, Option<f32>)> {
    let dir = common::shared().join("ml-100k");
    let genres: Vec<String> = std::fs::read_to_string(dir.join("u.genre"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('|').next().unwrap().to_string())
        .collect();
    let bytes = std::fs::read(dir.join("u.item")).unwrap();
    let text: String = bytes.iter().map(|&b| b as char).collect(); // Latin-1
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            let g = genres
                .iter()
                .enumerate()
                .filter(|(k, _)| f[5 + k] == "1")
                .map(|(_, n)| n.clone())
                .collect();
            let year = f[2].rsplit('-').next().and_then(|y| y.parse().ok());
            (f[0].to_string(), g, year)
        })
        .collect()
}

/// Whether a film (its genres and year) should qualify.
type Film = fn(&HashSet<String>, Option<f32>) -> bool;

fn all(d: &Dataset) -> impl Iterator<Item = ItemIdx> {
    (0..d.n_items() as u32).map(ItemIdx)
}

#[test]
fn constraints_select_exactly_the_films_that_meet_them() {
    let d = ml100k();
    let f = d.item_features.as_ref().unwrap();
    let raw = raw_items();
    let cases: [(&[&str], Film); 4] = [
        (&["genre = Comedy", "year >= 1990"], |g, y| {
            g.contains("Comedy") && y.is_some_and(|y| y >= 1990.0)
        }),
        (
            &["genres = Film-Noir|Western", "year in 1940..1959"],
            |g, y| {
                (g.contains("Film-Noir") || g.contains("Western"))
                    && y.is_some_and(|y| (1940.0..=1959.0).contains(&y))
            },
        ),
        (
            &["genres != Drama", "genres != Comedy", "year < 1960"],
            |g, y| !g.contains("Drama") && !g.contains("Comedy") && y.is_some_and(|y| y < 1960.0),
        ),
        (
            &["genres = Children's", "genres = Animation", "year > 1994"],
            |g, y| {
                g.contains("Children's") && g.contains("Animation") && y.is_some_and(|y| y > 1994.0)
            },
        ),
    ];
    let mut sizes = Vec::new();
    for (constraints, want) in cases {
        let q = KnowledgeQuery::parse(f, constraints, &[] as &[&str], 0.5).unwrap();
        let s = q.select(f, all(&d));
        let got: HashSet<&str> = s.items.iter().map(|&i| d.items.id(i).unwrap()).collect();
        let expected: HashSet<&str> = raw
            .iter()
            .filter(|(_, g, y)| want(g, *y))
            .map(|(id, _, _)| id.as_str())
            .collect();
        assert_eq!(got, expected, "{constraints:?}");
        assert_eq!(s.outcome.satisfying, expected.len());
        assert!(s.outcome.relaxations.is_empty());
        sizes.push(expected.len());
    }
    // The published counts: 416 comedies from 1990 on (of 505).
    assert_eq!(sizes[0], 416);
    assert!(sizes.iter().all(|&n| n > 0), "{sizes:?}");
}

#[test]
fn the_utility_orders_qualifying_films_by_weighted_preferences() {
    let d = ml100k();
    let f = d.item_features.as_ref().unwrap();
    let q = KnowledgeQuery::parse(
        f,
        &["genres = Comedy"],
        &["genres = Romance^2", "year high", "genres = Drama"],
        0.0,
    )
    .unwrap();
    let s = q.select(f, all(&d));
    let ranked = q.rank(f, &s.items, &[]);
    assert_eq!(ranked.len(), 505);
    // Non-increasing utility, and the score is the utility when the model does not count.
    for w in ranked.windows(2) {
        assert!(w[0].score >= w[1].score);
    }
    for r in &ranked {
        assert!((r.score - q.utility(f, r.item)).abs() < 1e-6);
    }
    // The top films are the newest romantic comedies that are also dramas; a romantic comedy outranks
    // every comedy without romance (weight 2 of 4 against at most 2 of 4).
    let top = ranked[0].item.get();
    let labels = f.labels("genres", top).unwrap();
    assert!(
        labels.contains(&"Romance") && labels.contains(&"Drama"),
        "{labels:?}"
    );
    let first_plain = ranked
        .iter()
        .position(|r| {
            !f.labels("genres", r.item.get())
                .unwrap()
                .contains(&"Romance")
        })
        .unwrap();
    assert!(ranked[..first_plain].iter().all(|r| {
        f.labels("genres", r.item.get())
            .unwrap()
            .contains(&"Romance")
    }));
    assert!(first_plain > 10, "{first_plain}");
    // The explanation names the constraint and each preference's value.
    let why = q.reason(f, ranked[0].item, &[]).render();
    assert!(
        why.starts_with("meets genres = Comedy; preferences: genres = Romance (yes)"),
        "{why}"
    );
    assert!(why.contains("genres = Drama (yes)"), "{why}");
}

/// Every minimal drop set, by brute force over all subsets: a set is a relaxation when some film meets
/// the other constraints, and minimal when no proper subset is one.
fn brute_force(q: &KnowledgeQuery, d: &Dataset) -> Vec<(Vec<String>, usize)> {
    let f = d.item_features.as_ref().unwrap();
    let n = q.constraints.len();
    let count = |drop: u32| {
        all(d)
            .filter(|&i| {
                q.constraints
                    .iter()
                    .enumerate()
                    .all(|(k, c)| drop & (1 << k) != 0 || c.matches(f, i))
            })
            .count()
    };
    let feasible: Vec<u32> = (0..1u32 << n).filter(|&s| count(s) > 0).collect();
    let mut out: Vec<(Vec<String>, usize)> = feasible
        .iter()
        .filter(|&&s| !feasible.iter().any(|&t| t != s && t & !s == 0))
        .map(|&s| {
            let names = (0..n)
                .filter(|k| s & (1 << k) != 0)
                .map(|k| q.constraints[k].text.clone())
                .collect();
            (names, count(s))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn unsatisfiable_requests_get_every_minimal_relaxation() {
    let d = ml100k();
    let f = d.item_features.as_ref().unwrap();
    // "No Comedy after 1998": ML-100K ends in 1998, so the year alone is the conflict.
    let q =
        KnowledgeQuery::parse(f, &["genre = Comedy", "year > 1998"], &[] as &[&str], 0.5).unwrap();
    let s = q.select(f, all(&d));
    assert!(s.items.is_empty());
    assert_eq!(s.outcome.conflict, vec!["year > 1998"]);
    assert_eq!(s.outcome.relaxations.len(), 1);
    assert_eq!(s.outcome.relaxations[0].drop, vec!["year > 1998"]);
    assert_eq!(s.outcome.relaxations[0].items, 505);
    assert!(
        s.outcome
            .message
            .starts_with("No item meets `year > 1998`; dropping `year > 1998` gives 505 items"),
        "{}",
        s.outcome.message
    );

    // No animated film noir, and none before 1951 at that: three two-way tensions.
    for constraints in [
        &["genres = Animation", "genres = Film-Noir", "year <= 1950"][..],
        &[
            "genres = Comedy",
            "genres = Horror",
            "year >= 1997",
            "genres != Drama",
        ][..],
        &[
            "genres = Western",
            "genres = Sci-Fi",
            "genres = Romance",
            "year in 1950..1960",
            "title ~ star",
        ][..],
    ] {
        let q = KnowledgeQuery::parse(f, constraints, &[] as &[&str], 0.5).unwrap();
        let s = q.select(f, all(&d));
        assert!(
            s.items.is_empty(),
            "{constraints:?} has {} films",
            s.items.len()
        );
        let mut got: Vec<(Vec<String>, usize)> = s
            .outcome
            .relaxations
            .iter()
            .map(|r| (r.drop.clone(), r.items))
            .collect();
        got.sort();
        assert_eq!(got, brute_force(&q, &d), "{constraints:?}");
        // The conflict is one no film meets, and minimal: without any one of its constraints, films
        // meet the rest of it.
        let c = &s.outcome.conflict;
        assert!(!c.is_empty());
        let meets = |names: &[&String]| {
            all(&d).any(|i| {
                q.constraints
                    .iter()
                    .filter(|k| names.contains(&&k.text))
                    .all(|k| k.matches(f, i))
            })
        };
        assert!(!meets(&c.iter().collect::<Vec<_>>()), "{c:?}");
        for skip in 0..c.len() {
            let rest: Vec<&String> = c
                .iter()
                .enumerate()
                .filter(|(k, _)| *k != skip)
                .map(|x| x.1)
                .collect();
            assert!(meets(&rest), "{c:?} without {}", c[skip]);
        }
        // Relaxing applies the first (fewest dropped, most films) and says so.
        let r = q.clone().relaxing(true).select(f, all(&d));
        assert_eq!(r.items.len(), s.outcome.relaxations[0].items);
        assert_eq!(r.outcome.relaxed, s.outcome.relaxations[0].drop);
        assert!(r.outcome.message.contains("recommending without"));
    }
}
