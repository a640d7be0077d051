//! Every format the crate reads, loaded from small fixtures written in the exact published layout
//! (`tests/fixtures/<format>/`): counts, ids, values, timestamps, titles and other features, the duplicate
//! rule, and `detect` recognising each fixture.
//!
//! The Goodbooks-10k fixture holds real rows (CC BY-SA 4.0, Zygmunt Zając): a subset of `books.csv` and
//! `tags.csv` and the author's 99-row samples. The MovieLens, Netflix and Amazon fixtures are hand-written
//! lines in the published formats (no data from those datasets is redistributed).

use std::io::Write;
use std::path::{Path, PathBuf};

use tastebud_core::{Dataset, FeatureTable, FeatureValues, Feedback, ItemIdx, UserIdx};
use tastebud_data::delimited::{Columns, parse_time};
use tastebud_data::{Format, GenericSpec, LoadOptions, detect, load, load_as};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn opts() -> LoadOptions {
    LoadOptions::default()
}

/// The value and time stored for external ids `(user, item)`.
fn get(d: &Dataset, user: &str, item: &str) -> Option<(f32, Option<i64>)> {
    let u = d.user(user)?;
    let i = d.item(item)?;
    let x = &d.interactions;
    let k = x.user_items(u).binary_search(&i).ok()?;
    Some((x.user_values(u)[k], x.user_times(u).map(|t| t[k])))
}

/// Labels and weights of entity `e` in categorical column `col`.
fn weighted(t: &FeatureTable, col: &str, e: usize) -> Vec<(String, f32)> {
    match t.column(col) {
        Some(FeatureValues::Categorical {
            vocab,
            offsets,
            labels,
            weights,
        }) => (offsets[e]..offsets[e + 1])
            .map(|k| (vocab.id(labels[k]).unwrap().to_string(), weights[k]))
            .collect(),
        other => panic!("`{col}` is not categorical: {other:?}"),
    }
}

fn item_features(d: &Dataset) -> &FeatureTable {
    d.item_features.as_ref().expect("item features")
}

fn idx(d: &Dataset, item: &str) -> usize {
    d.item(item)
        .unwrap_or_else(|| panic!("no item {item}"))
        .get()
}

fn gzip(bytes: &[u8], to: &Path) {
    let f = std::fs::File::create(to).unwrap();
    let mut z = flate2::write::GzEncoder::new(f, flate2::Compression::default());
    z.write_all(bytes).unwrap();
    z.finish().unwrap();
}

fn copy_into(dir: &Path, from: &Path, names: &[&str]) {
    for n in names {
        std::fs::copy(from.join(n), dir.join(n)).unwrap();
    }
}

// ---------------------------------------------------------------- Goodbooks-10k

#[test]
fn goodbooks_loads_catalogue_tags_and_ratings() {
    let dir = fixture("goodbooks");
    assert_eq!(detect(&dir).unwrap(), Format::Goodbooks);
    let d = load(&dir, &opts()).unwrap();
    assert_eq!(d.kind(), Feedback::Explicit);
    assert!(!d.interactions.has_times());
    // Every book of the truncated books.csv, in file order; the sample ratings only reference these books.
    assert_eq!(d.n_items(), 199);
    assert_eq!(d.item("1"), Some(ItemIdx(0)));
    assert_eq!(d.item("2"), Some(ItemIdx(1)));
    assert_eq!(d.items.id(ItemIdx(198)), Some("9296"));
    // The ratings count equals the number of distinct (user, book) pairs of ratings.csv.
    let text = std::fs::read_to_string(dir.join("ratings.csv")).unwrap();
    let pairs: std::collections::HashSet<(&str, &str)> = text
        .lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut f = l.split(',');
            (f.next().unwrap(), f.next().unwrap())
        })
        .collect();
    assert_eq!(pairs.len(), 99);
    assert_eq!(d.interactions.nnz(), pairs.len());
    assert_eq!(d.n_users(), 5);
    assert_eq!(get(&d, "1", "258"), Some((5.0, None)));
    assert_eq!(get(&d, "2", "2318"), Some((3.0, None)));
    assert_eq!(get(&d, "4", "111"), Some((2.0, None)));

    let f = item_features(&d);
    assert_eq!(
        d.item_title(d.item("1").unwrap()),
        Some("The Hunger Games (The Hunger Games, #1)")
    );
    assert_eq!(
        d.item_title(d.item("2").unwrap()),
        Some("Harry Potter and the Sorcerer's Stone (Harry Potter, #1)")
    );
    assert_eq!(f.labels("authors", 0).unwrap(), vec!["Suzanne Collins"]);
    assert_eq!(
        f.labels("authors", idx(&d, "2")).unwrap(),
        vec!["J.K. Rowling", "Mary GrandPré"]
    );
    assert_eq!(
        f.labels("authors", idx(&d, "13")).unwrap(),
        vec!["George Orwell", "Erich Fromm", "Celâl Üster"]
    );
    assert_eq!(f.number("year", 0), Some(2008.0));
    assert_eq!(f.number("year", idx(&d, "772")), Some(-380.0));
    assert_eq!(f.labels("language", 0).unwrap(), vec!["eng"]);
    assert!(f.labels("language", idx(&d, "45")).unwrap().is_empty());
    assert_eq!(f.vocab_len("language"), Some(5));

    // book_tags.csv is keyed by goodreads_book_id: goodreads book 1 is book_id 27 (Half-Blood Prince).
    let hbp = idx(&d, "27");
    assert_eq!(
        d.item_title(ItemIdx(hbp as u32)),
        Some("Harry Potter and the Half-Blood Prince (Harry Potter, #6)")
    );
    let tags = weighted(f, "tags", hbp);
    assert_eq!(tags.len(), 99);
    assert_eq!(tags[0], ("to-read".to_string(), 167_697.0));
    assert_eq!(tags[1], ("fantasy".to_string(), 37_174.0));
    assert_eq!(tags[2], ("favorites".to_string(), 34_173.0));
    // Book 1 (goodreads id 2767052) has no tag rows in the sample.
    assert!(f.labels("tags", 0).unwrap().is_empty());
}

#[test]
fn goodbooks_without_ratings_reads_to_read_as_implicit() {
    let tmp = tempfile::tempdir().unwrap();
    copy_into(
        tmp.path(),
        &fixture("goodbooks"),
        &["books.csv", "to_read.csv"],
    );
    assert_eq!(detect(tmp.path()).unwrap(), Format::Goodbooks);
    let d = load(tmp.path(), &opts()).unwrap();
    assert_eq!(d.kind(), Feedback::Implicit);
    assert_eq!(d.interactions.nnz(), 99);
    assert_eq!(d.n_users(), 30);
    assert_eq!(d.n_items(), 199);
    assert!(d.interactions.values().iter().all(|&v| v == 1.0));
    assert_eq!(get(&d, "9", "8"), Some((1.0, None)));
    // No book_tags.csv: no tags column.
    assert!(item_features(&d).column("tags").is_none());
}

// ---------------------------------------------------------------- Netflix Prize

#[test]
fn netflix_combined_data_and_titles() {
    let dir = fixture("netflix");
    assert_eq!(detect(&dir).unwrap(), Format::Netflix);
    let d = load(&dir, &opts()).unwrap();
    assert_eq!(d.kind(), Feedback::Explicit);
    // movie_titles.csv fixes the item order; movie 5 has no ratings and is kept.
    assert_eq!(d.n_items(), 5);
    assert_eq!(d.item("1"), Some(ItemIdx(0)));
    assert_eq!(d.item("5"), Some(ItemIdx(4)));
    assert_eq!(d.interactions.item_len(ItemIdx(4)), 0);
    assert_eq!(d.n_users(), 7);
    // 12 rating lines, one duplicate pair.
    assert_eq!(d.interactions.nnz(), 11);
    assert!(d.interactions.has_times());
    assert_eq!(
        get(&d, "1000001", "1"),
        Some((3.0, parse_time("2005-09-06")))
    );
    assert_eq!(parse_time("2005-09-06"), Some(1_125_964_800));
    assert_eq!(
        get(&d, "1000002", "2"),
        Some((2.0, parse_time("2005-03-11")))
    );
    // Customer 1000001 rated movie 3 twice: 4 on 2005-11-01, then (later in the file) 2 on 2004-06-01.
    // Explicit rule: the latest timestamp wins, whatever the file order.
    assert_eq!(
        get(&d, "1000001", "3"),
        Some((4.0, parse_time("2005-11-01")))
    );
    // Titles: unquoted, split on the first two commas only; Latin-1; NULL year.
    let f = item_features(&d);
    assert_eq!(d.item_title(ItemIdx(0)), Some("Dinosaur Planet"));
    assert_eq!(f.number("year", 0), Some(2003.0));
    assert_eq!(
        d.item_title(d.item("4").unwrap()),
        Some("Crouching Tiger, Hidden Dragon")
    );
    assert_eq!(
        d.item_title(d.item("5").unwrap()),
        Some("Happy Birthday, Mr. Président")
    );
    assert_eq!(f.number("year", 4), None);
}

#[test]
fn netflix_reads_gzipped_parts_and_the_training_set_layout() {
    let tmp = tempfile::tempdir().unwrap();
    copy_into(
        tmp.path(),
        &fixture("netflix"),
        &["combined_data_1.txt", "movie_titles.csv"],
    );
    gzip(
        b"4:\n1000002,5,2005-12-31\n1000008,3,2004-01-15\n",
        &tmp.path().join("combined_data_2.txt.gz"),
    );
    let d = load(tmp.path(), &opts()).unwrap();
    assert_eq!(d.interactions.nnz(), 13);
    assert_eq!(d.n_users(), 8);
    assert_eq!(d.n_items(), 5);
    assert_eq!(
        get(&d, "1000008", "4"),
        Some((3.0, parse_time("2004-01-15")))
    );

    // The original layout: training_set/mv_NNNNNNN.txt, one movie per file, no titles.
    let tmp = tempfile::tempdir().unwrap();
    let ts = tmp.path().join("training_set");
    std::fs::create_dir(&ts).unwrap();
    std::fs::write(
        ts.join("mv_0000001.txt"),
        "1:\n1000001,3,2005-09-06\n1000002,5,2005-05-13\n",
    )
    .unwrap();
    gzip(
        b"2:\r\n1000001,4,2005-09-05\r\n",
        &ts.join("mv_0000002.txt.gz"),
    );
    assert_eq!(detect(tmp.path()).unwrap(), Format::Netflix);
    let d = load(tmp.path(), &opts()).unwrap();
    assert_eq!(d.interactions.nnz(), 3);
    assert_eq!(d.items.id(ItemIdx(1)), Some("2"));
    assert_eq!(
        get(&d, "1000001", "2"),
        Some((4.0, parse_time("2005-09-05")))
    );
    assert!(d.item_features.is_none());
}

// ---------------------------------------------------------------- Amazon

const AZ14_USER0: &str = "AJZDE8GXD6NCF1";
const AZ14_ITEM0: &str = "5075291703";
const AZ14_ITEM2: &str = "B09RI19R0W";

#[test]
fn amazon_2014_ratings_csv() {
    let file = fixture("amazon/2014/ratings_Musical_Instruments.csv");
    assert_eq!(detect(&file).unwrap(), Format::Amazon);
    let d = load(&file, &opts()).unwrap();
    assert_eq!(d.kind(), Feedback::Explicit);
    assert_eq!(d.n_users(), 6);
    assert_eq!(d.n_items(), 5);
    // 10 lines, one (user, item) pair twice.
    assert_eq!(d.interactions.nnz(), 9);
    // user,item order: the reviewer ids are users.
    assert_eq!(d.user(AZ14_USER0), Some(UserIdx(0)));
    assert_eq!(d.item(AZ14_ITEM0), Some(ItemIdx(0)));
    assert_eq!(
        get(&d, AZ14_USER0, AZ14_ITEM0),
        Some((5.0, Some(1_393_545_600)))
    );
    // 2.0 at 1377129600 then 4.0 at 1388534400: the later rating wins.
    assert_eq!(
        get(&d, AZ14_USER0, AZ14_ITEM2),
        Some((4.0, Some(1_388_534_400)))
    );
}

#[test]
fn amazon_2014_reviews_json_and_folder() {
    let file = fixture("amazon/2014/reviews_Musical_Instruments_5.json");
    assert_eq!(detect(&file).unwrap(), Format::Amazon);
    let d = load(&file, &opts()).unwrap();
    assert_eq!(d.interactions.nnz(), 6);
    assert_eq!(d.n_users(), 5);
    assert_eq!(d.user(AZ14_USER0), Some(UserIdx(0)));
    assert_eq!(
        get(&d, AZ14_USER0, AZ14_ITEM0),
        Some((5.0, Some(1_393_545_600)))
    );
    assert_eq!(
        get(&d, AZ14_USER0, AZ14_ITEM2),
        Some((2.0, Some(1_377_129_600)))
    );
    assert!(d.item_features.is_none());

    // The folder: both files; the reviews are a subset of the ratings, so the union is the CSV.
    let dir = fixture("amazon/2014");
    assert_eq!(detect(&dir).unwrap(), Format::Amazon);
    let d = load(&dir, &opts()).unwrap();
    assert_eq!(d.interactions.nnz(), 9);
    assert_eq!(
        get(&d, AZ14_USER0, AZ14_ITEM2),
        Some((4.0, Some(1_388_534_400)))
    );
}

const AZ18_USER0: &str = "AXUI6D39ZZZZG4Z";
const AZ18_ITEMS: [&str; 4] = ["3852808414", "B07XKWO886", "B0VOMPZOM7", "B05WBBR4QM"];
const AZ18_EXTRA: &str = "B0W2WXFOGO";

#[test]
fn amazon_2018_ratings_csv_is_item_first() {
    let file = fixture("amazon/2018/Musical_Instruments.csv");
    assert_eq!(detect(&file).unwrap(), Format::Amazon);
    let d = load(&file, &opts()).unwrap();
    assert_eq!(d.interactions.nnz(), 8);
    assert_eq!(d.n_users(), 4);
    assert_eq!(d.n_items(), 4);
    assert_eq!(d.user(AZ18_USER0), Some(UserIdx(0)));
    assert_eq!(d.item(AZ18_ITEMS[0]), Some(ItemIdx(0)));
    assert!(d.user(AZ18_ITEMS[0]).is_none());
    assert_eq!(
        get(&d, AZ18_USER0, AZ18_ITEMS[0]),
        Some((5.0, Some(1_404_345_600)))
    );
}

#[test]
fn amazon_2018_folder_with_metadata() {
    let file = fixture("amazon/2018/Musical_Instruments_5.json");
    let d = load(&file, &opts()).unwrap();
    assert_eq!(d.interactions.nnz(), 6);
    assert_eq!(
        get(&d, AZ18_USER0, AZ18_ITEMS[0]),
        Some((5.0, Some(1_404_345_600)))
    );

    let dir = fixture("amazon/2018");
    assert_eq!(detect(&dir).unwrap(), Format::Amazon);
    let d = load(&dir, &opts()).unwrap();
    // Metadata first: its 4 distinct items (one listed twice) in file order, then the one only rated.
    assert_eq!(d.n_items(), 5);
    for (k, id) in AZ18_ITEMS[..3].iter().enumerate() {
        assert_eq!(d.item(id), Some(ItemIdx(k as u32)), "{id}");
    }
    assert_eq!(d.item(AZ18_EXTRA), Some(ItemIdx(3)));
    assert_eq!(d.item(AZ18_ITEMS[3]), Some(ItemIdx(4)));
    assert_eq!(d.interactions.item_len(ItemIdx(3)), 0);
    assert_eq!(d.interactions.nnz(), 8);
    let f = item_features(&d);
    // The first record of a twice-listed item wins.
    assert_eq!(
        d.item_title(ItemIdx(0)),
        Some("Ernie Ball Regular Slinky Strings")
    );
    assert_eq!(
        f.labels("categories", 0).unwrap(),
        vec![
            "Musical Instruments",
            "Instrument Accessories",
            "Guitar & Bass Accessories",
            "Strings"
        ]
    );
    assert_eq!(f.labels("brand", 0).unwrap(), vec!["Ernie Ball"]);
    assert_eq!(
        f.labels("main_category", 0).unwrap(),
        vec!["Musical Instruments"]
    );
    assert_eq!(f.number("price", 0), Some(5.99));
    assert_eq!(f.number("price", 1), None); // ""
    assert_eq!(f.number("price", 2), Some(1299.0)); // "$1,299.00"
    assert_eq!(f.number("price", 3), None); // a range
    assert_eq!(
        d.item_title(ItemIdx(2)),
        Some("Guitar Strap \"Vintage\" Edition")
    );
    assert!(f.labels("brand", 2).unwrap().is_empty());
    assert!(f.labels("categories", 2).unwrap().is_empty());
    assert_eq!(d.item_title(ItemIdx(4)), None);
}

const AZ23_USER0: &str = "A6MVN6A6WFHYM6L3VFZ5ZFKKIBJ5";
const AZ23_PARENTS: [&str; 3] = ["B06846P7Q9", "B0M2I0HZ2U", "B0EP1ENTHJ"];
const AZ23_CHILD: &str = "B0XJQI3OGZ";

#[test]
fn amazon_2023_reviews_use_parent_asin_and_millisecond_timestamps() {
    let file = fixture("amazon/2023/Musical_Instruments.jsonl");
    assert_eq!(detect(&file).unwrap(), Format::Amazon);
    let d = load(&file, &opts()).unwrap();
    assert_eq!(d.interactions.nnz(), 5);
    assert_eq!(d.n_users(), 3);
    assert_eq!(d.n_items(), 3);
    assert!(d.item(AZ23_CHILD).is_none(), "items are parent ASINs");
    assert_eq!(
        get(&d, AZ23_USER0, AZ23_PARENTS[0]),
        Some((5.0, Some(1_588_687_728)))
    );
    assert_eq!(
        get(&d, AZ23_USER0, AZ23_PARENTS[1]),
        Some((4.0, Some(1_589_665_266)))
    );

    let dir = fixture("amazon/2023");
    assert_eq!(detect(&dir).unwrap(), Format::Amazon);
    let d = load(&dir, &opts()).unwrap();
    assert_eq!(d.n_items(), 3);
    for (k, id) in AZ23_PARENTS.iter().enumerate() {
        assert_eq!(d.item(id), Some(ItemIdx(k as u32)), "{id}");
    }
    let f = item_features(&d);
    assert_eq!(d.item_title(ItemIdx(0)), Some("Donner Guitar Capo"));
    assert_eq!(f.labels("brand", 0).unwrap(), vec!["Donner"]); // `store`
    assert_eq!(f.labels("categories", 0).unwrap().len(), 4);
    assert_eq!(f.number("price", 0), Some(9.99));
    assert_eq!(f.number("price", 1), None); // null
    assert_eq!(
        d.item_title(ItemIdx(1)),
        Some("Electric Guitar Strings, 3 Pack")
    );
    assert_eq!(d.item_title(ItemIdx(2)), None);
}

#[test]
fn amazon_2023_benchmark_csv() {
    let file = fixture("amazon/2023-csv/Musical_Instruments.train.csv");
    assert_eq!(detect(&file).unwrap(), Format::Amazon);
    assert_eq!(detect(&fixture("amazon/2023-csv")).unwrap(), Format::Amazon);
    let d = load(&file, &opts()).unwrap();
    assert_eq!(d.interactions.nnz(), 5);
    assert_eq!(d.user(AZ23_USER0), Some(UserIdx(0)));
    assert_eq!(
        get(&d, AZ23_USER0, AZ23_PARENTS[0]),
        Some((5.0, Some(1_588_687_728)))
    );
    // 1600000000500 ms is 1600000000 s.
    assert_eq!(
        get(&d, "AJ6WJIBAGI3MNBQNSPUQ2IDW52IJ", AZ23_PARENTS[0]),
        Some((1.0, Some(1_600_000_000)))
    );
}

// ---------------------------------------------------------------- MovieLens

#[test]
fn ml1m_dat_files_latin1_and_duplicates() {
    let dir = fixture("ml-1m");
    assert_eq!(detect(&dir).unwrap(), Format::Ml1m);
    let d = load(&dir, &opts()).unwrap();
    assert_eq!(d.n_users(), 3);
    assert_eq!(d.n_items(), 5);
    assert_eq!(d.interactions.nnz(), 6);
    assert_eq!(d.item("1"), Some(ItemIdx(0)));
    assert_eq!(d.item("3952"), Some(ItemIdx(4)));
    assert_eq!(d.interactions.item_len(ItemIdx(4)), 0);
    let f = item_features(&d);
    assert_eq!(
        d.item_title(d.item("73").unwrap()),
        Some("Misérables, Les (1995)")
    );
    assert_eq!(
        f.labels("genres", idx(&d, "73")).unwrap(),
        vec!["Drama", "Musical"]
    );
    assert_eq!(
        f.labels("genres", 0).unwrap(),
        vec!["Animation", "Children's", "Comedy"]
    );
    assert_eq!(f.number("year", idx(&d, "3952")), Some(2000.0));
    assert_eq!(
        d.item_title(d.item("11").unwrap()),
        Some("American President, The (1995)")
    );
    let u = d.user_features.as_ref().unwrap();
    assert_eq!(d.user("1"), Some(UserIdx(0)));
    assert_eq!(u.labels("gender", 0).unwrap(), vec!["F"]);
    assert_eq!(u.number("age", 1), Some(56.0));
    assert_eq!(u.labels("occupation", 0).unwrap(), vec!["K-12 student"]);
    assert_eq!(u.text("zip", 2), Some("55117"));
    assert_eq!(get(&d, "1", "1"), Some((5.0, Some(978_300_760))));
    // Rated twice; the second line in the file has the earlier timestamp: the latest timestamp wins.
    assert_eq!(get(&d, "2", "11"), Some((4.0, Some(978_298_413))));
    assert_eq!(get(&d, "1", "73"), Some((3.0, Some(978_302_109))));
}

#[test]
fn ml_latest_csv_with_crlf_quotes_and_tags() {
    let dir = fixture("ml-latest");
    assert_eq!(detect(&dir).unwrap(), Format::MlLatest);
    let d = load(&dir, &opts()).unwrap();
    check_ml_latest(&d);
    let f = item_features(&d);
    assert_eq!(
        d.item_title(d.item("11").unwrap()),
        Some("American President, The (1995)")
    );
    assert_eq!(
        d.item_title(d.item("2019").unwrap()),
        Some("\"Great Performances\" Cats (1998)")
    );
    assert_eq!(
        f.labels("genres", 0).unwrap(),
        vec!["Adventure", "Animation", "Children", "Comedy", "Fantasy"]
    );
    assert!(f.labels("genres", idx(&d, "182727")).unwrap().is_empty());
    assert_eq!(f.number("year", idx(&d, "182727")), Some(2017.0));
    assert_eq!(weighted(f, "tags", 0), vec![("pixar".to_string(), 2.0)]);
    assert_eq!(
        weighted(f, "tags", idx(&d, "11")),
        vec![("politics, romance".to_string(), 1.0)]
    );
}

fn check_ml_latest(d: &Dataset) {
    assert_eq!(d.n_items(), 5);
    assert_eq!(d.n_users(), 3);
    assert_eq!(d.interactions.nnz(), 5);
    assert_eq!(d.item("193609"), Some(ItemIdx(4)));
    assert_eq!(get(d, "1", "11"), Some((3.5, Some(964_981_247))));
    assert_eq!(get(d, "3", "182727"), Some((2.5, Some(1_527_000_000))));
    // 0.5 at 1445714994, then 4.5 at the earlier 1445714000: the latest timestamp wins.
    assert_eq!(get(d, "2", "2019"), Some((0.5, Some(1_445_714_994))));
}

#[test]
fn ml_latest_gzipped_ratings() {
    let tmp = tempfile::tempdir().unwrap();
    copy_into(tmp.path(), &fixture("ml-latest"), &["movies.csv"]);
    let ratings = std::fs::read(fixture("ml-latest/ratings.csv")).unwrap();
    gzip(&ratings, &tmp.path().join("ratings.csv.gz"));
    assert_eq!(detect(tmp.path()).unwrap(), Format::MlLatest);
    let d = load(tmp.path(), &opts()).unwrap();
    check_ml_latest(&d);
    assert!(item_features(&d).column("tags").is_none());
}

// ---------------------------------------------------------------- generic delimited files

#[test]
fn generic_named_columns_in_another_order() {
    let file = fixture("generic/stars.csv");
    assert_eq!(
        detect(&file).unwrap(),
        Format::Generic(GenericSpec::default())
    );
    let spec = GenericSpec {
        columns: Some(Columns::parse_mapping("user=uid,item=iid,rating=stars,time=ts").unwrap()),
        ..GenericSpec::default()
    };
    let d = load_as(&file, &Format::Generic(spec), &opts()).unwrap();
    assert_eq!(d.kind(), Feedback::Explicit);
    assert_eq!(d.n_users(), 2);
    assert_eq!(d.n_items(), 2);
    assert_eq!(d.interactions.nnz(), 3);
    assert_eq!(d.user("alice"), Some(UserIdx(0)));
    assert_eq!(d.item("i1"), Some(ItemIdx(0)));
    assert_eq!(get(&d, "bob", "i1"), Some((4.0, Some(978_301_968))));
    // 5 at 978300760, then 2 at the earlier 978300000: the latest timestamp wins.
    assert_eq!(get(&d, "alice", "i1"), Some((5.0, Some(978_300_760))));
}

#[test]
fn generic_headerless_tab_file_is_sniffed() {
    let file = fixture("generic/plays.tsv");
    assert_eq!(
        detect(&file).unwrap(),
        Format::Generic(GenericSpec::default())
    );
    let d = load(&file, &opts()).unwrap();
    assert_eq!(d.kind(), Feedback::Explicit);
    assert_eq!(d.interactions.nnz(), 3);
    assert_eq!(d.user("u1"), Some(UserIdx(0)));
    assert_eq!(get(&d, "u2", "x"), Some((1.0, Some(50))));
    assert_eq!(get(&d, "u1", "y"), Some((3.0, Some(120))));
    assert_eq!(get(&d, "u1", "x"), Some((2.0, Some(100))));
}

// ---------------------------------------------------------------- detection

#[test]
fn detect_recognises_every_fixture() {
    let cases = [
        ("goodbooks", Format::Goodbooks),
        ("netflix", Format::Netflix),
        ("ml-1m", Format::Ml1m),
        ("ml-latest", Format::MlLatest),
        ("amazon/2014", Format::Amazon),
        ("amazon/2018", Format::Amazon),
        ("amazon/2023", Format::Amazon),
        ("amazon/2023-csv", Format::Amazon),
        ("amazon/bad", Format::Amazon),
        ("amazon/2018/Musical_Instruments_5.json", Format::Amazon),
        ("generic/stars.csv", Format::Generic(GenericSpec::default())),
        ("generic/plays.tsv", Format::Generic(GenericSpec::default())),
        // Files of other formats passed alone are generic delimited files (they have headers or no
        // Amazon ids).
        (
            "goodbooks/ratings.csv",
            Format::Generic(GenericSpec::default()),
        ),
        (
            "netflix/combined_data_1.txt",
            Format::Generic(GenericSpec::default()),
        ),
    ];
    for (rel, want) in cases {
        assert_eq!(detect(&fixture(rel)).unwrap(), want, "{rel}");
    }
    assert!(!tastebud_data::amazon::detect(&fixture(
        "amazon/2018/meta_Musical_Instruments.json"
    )));
    assert!(!tastebud_data::goodbooks::detect(&fixture("netflix")));
    assert!(!tastebud_data::netflix::detect(&fixture("goodbooks")));
    assert!(!tastebud_data::amazon::detect(&fixture("generic")));
    assert!(detect(&fixture("generic")).is_err());
}
