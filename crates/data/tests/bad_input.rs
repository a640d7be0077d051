//! Malformed input gives clear errors naming file, line and reason (never a panic), and with
//! `skip_bad_lines` the good rows load and the bad ones are counted.

use std::io::Write;
use std::path::{Path, PathBuf};

use tastebud_core::Error;
use tastebud_data::{Format, LoadOptions, detect, load, load_as};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn strict() -> LoadOptions {
    LoadOptions::default()
}

fn skipping() -> LoadOptions {
    LoadOptions {
        skip_bad_lines: true,
        ..LoadOptions::default()
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(bytes).unwrap();
    z.finish().unwrap()
}

/// The `(path, line, reason)` of a parse error; panics on any other error.
fn parse_error(e: Error) -> (PathBuf, u64, String) {
    match e {
        Error::Parse { path, line, reason } => (path, line, reason),
        other => panic!("expected a parse error, got: {other}"),
    }
}

/// The `(path, reason)` of a bad-input error; panics on any other error.
fn bad_input(e: Error) -> (PathBuf, String) {
    match e {
        Error::BadInput { path, reason } => (path, reason),
        other => panic!("expected a bad-input error, got: {other}"),
    }
}

// ---------------------------------------------------------------- whole-file problems

#[test]
fn empty_file_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write(tmp.path(), "empty.csv", b"");
    let (path, reason) = bad_input(load(&p, &strict()).unwrap_err());
    assert_eq!(path, p);
    assert!(reason.contains("empty"), "{reason}");
    // Blank lines only are as empty.
    let p = write(tmp.path(), "blank.tsv", b"\n\r\n  \n");
    let (_, reason) = bad_input(load(&p, &skipping()).unwrap_err());
    assert!(reason.contains("empty"), "{reason}");
}

#[test]
fn header_only_has_no_interactions() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write(tmp.path(), "header.csv", b"user,item,rating,timestamp\n");
    let err = load(&p, &strict()).unwrap_err().to_string();
    assert!(err.contains("no interactions"), "{err}");
    assert!(err.contains("header.csv"), "{err}");
}

#[test]
fn missing_named_column_names_it_and_lists_the_header() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write(tmp.path(), "r.csv", b"uid,iid,stars\nalice,i1,4\n");
    let spec = tastebud_data::GenericSpec {
        columns: Some(
            tastebud_data::delimited::Columns::parse_mapping("user=uid,item=iid,rating=score")
                .unwrap(),
        ),
        ..Default::default()
    };
    let (path, reason) = bad_input(load_as(&p, &Format::Generic(spec), &strict()).unwrap_err());
    assert_eq!(path, p);
    assert!(reason.contains("`score`"), "{reason}");
    assert!(reason.contains("uid, iid, stars"), "{reason}");
}

#[test]
fn nonexistent_path_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("no-such-ratings.csv");
    let err = load(&p, &strict()).unwrap_err().to_string();
    assert!(err.contains("no-such-ratings.csv"), "{err}");
    for f in [
        Format::Goodbooks,
        Format::Netflix,
        Format::Amazon,
        Format::Ml1m,
        Format::MlLatest,
    ] {
        let err = load_as(&p, &f, &strict()).unwrap_err().to_string();
        assert!(err.contains("no-such-ratings.csv"), "{f}: {err}");
    }
}

#[test]
fn truncated_gzip_is_an_error_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..50_000 {
        text.push_str(&format!(
            "u{i}\ti{}\t{}\t{}\n",
            i % 97,
            1 + i % 5,
            978_300_000 + i
        ));
    }
    let gz = gzip(text.as_bytes());
    let p = write(tmp.path(), "ratings.tsv.gz", &gz[..gz.len() / 2]);
    for opts in [strict(), skipping()] {
        let err = load(&p, &opts).unwrap_err().to_string();
        assert!(err.contains("ratings.tsv.gz"), "{err}");
    }
    // The same in a Netflix folder (streamed reader) and an Amazon reviews file (chunked JSON reader).
    let nf = tmp.path().join("netflix");
    std::fs::create_dir(&nf).unwrap();
    let mut rows = String::from("1:\n");
    for i in 0..50_000 {
        rows.push_str(&format!("{},{},2005-09-06\n", 1_000_000 + i, 1 + i % 5));
    }
    let gz = gzip(rows.as_bytes());
    write(&nf, "combined_data_1.txt.gz", &gz[..gz.len() / 2]);
    let err = load(&nf, &strict()).unwrap_err().to_string();
    assert!(err.contains("combined_data_1.txt.gz"), "{err}");
    let reviews = std::fs::read(fixture("amazon/2014/reviews_Musical_Instruments_5.json")).unwrap();
    let gz = gzip(&reviews.repeat(200));
    let p = write(tmp.path(), "reviews_X.json.gz", &gz[..gz.len() / 2]);
    let err = load_as(&p, &Format::Amazon, &strict())
        .unwrap_err()
        .to_string();
    assert!(err.contains("reviews_X.json.gz"), "{err}");
}

// ---------------------------------------------------------------- malformed lines in delimited files

#[test]
fn non_numeric_rating_names_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write(
        tmp.path(),
        "r.csv",
        b"user,item,rating,time\nalice,i1,4,100\nbob,i2,abc,200\ncarol,i1,5,300\n",
    );
    let err = load(&p, &strict()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}:3: rating `abc` is not a finite number", p.display())
    );
    let (path, line, _) = parse_error(err);
    assert_eq!((path, line), (p.clone(), 3));
    let d = load(&p, &skipping()).unwrap();
    assert_eq!(d.meta.skipped_lines, 1);
    assert_eq!(d.interactions.nnz(), 2);
}

#[test]
fn bad_line_deep_in_a_large_file_has_its_exact_line_number() {
    // About 20 MB: the reader's 8 MiB blocks put line 543,210 in the third block, parsed in parallel.
    const LINES: usize = 600_000;
    const BAD: usize = 543_210;
    let tmp = tempfile::tempdir().unwrap();
    let mut text = String::with_capacity(LINES * 40);
    for n in 1..=LINES {
        if n == BAD {
            text.push_str("user0543210,item00010,four,978300760\n");
        } else {
            text.push_str(&format!(
                "user{n:07},item{:05},{},978300760\n",
                n % 500,
                1 + n % 5
            ));
        }
    }
    assert!(text.len() > 2 * (8 << 20));
    let p = write(tmp.path(), "big.csv", text.as_bytes());
    let err = load(&p, &strict()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("{}:{BAD}: rating `four`", p.display())),
        "{err}"
    );
    let (_, line, _) = parse_error(err);
    assert_eq!(line, BAD as u64);
    let d = load(&p, &skipping()).unwrap();
    assert_eq!(d.meta.skipped_lines, 1);
    assert_eq!(d.interactions.nnz(), LINES - 1);
    assert_eq!(d.n_users(), LINES - 1);
}

#[test]
fn bad_utf8_and_too_few_fields_are_reported_at_their_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write(
        tmp.path(),
        "utf8.tsv",
        b"alice\ti1\t4\t100\nbob\ti2\t3\t200\nal\xffce\ti1\t5\t300\n",
    );
    let (path, line, reason) = parse_error(load(&p, &strict()).unwrap_err());
    assert_eq!((path, line), (p.clone(), 3));
    assert!(reason.contains("UTF-8"), "{reason}");
    assert!(reason.contains("user"), "{reason}");

    let p = write(
        tmp.path(),
        "short.tsv",
        b"alice\ti1\t4\t100\nbob\ti2\ncarol\ti1\t5\t300\n",
    );
    let (_, line, reason) = parse_error(load(&p, &strict()).unwrap_err());
    assert_eq!(line, 2);
    assert_eq!(reason, "expected at least 4 fields, found 2");
}

#[test]
fn skip_bad_lines_counts_every_bad_line_and_keeps_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write(
        tmp.path(),
        "mixed.tsv",
        b"alice\ti1\t4\t100\n\
          bob\ti2\n\
          carol\ti1\tfive\t300\n\
          \n\
          d\xe9\ti3\t2\t400\n\
          dave\ti3\t2\tyesterday\n\
          erin\ti2\t1\t500\n",
    );
    let (_, line, _) = parse_error(load(&p, &strict()).unwrap_err());
    assert_eq!(line, 2, "the first bad line fails a strict load");
    let d = load(&p, &skipping()).unwrap();
    assert_eq!(d.meta.skipped_lines, 4);
    assert_eq!(d.interactions.nnz(), 2);
    assert_eq!(d.n_users(), 2);
    assert!(d.user("carol").is_none());
}

// ---------------------------------------------------------------- Goodbooks

fn shared_data() -> PathBuf {
    let dir = std::env::var_os("TASTEBUD_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    assert!(
        dir.join("goodbooks-10k/books.csv").is_file(),
        "real data not found at {} (set TASTEBUD_DATA to the folder holding goodbooks-10k/)",
        dir.display()
    );
    dir
}

#[test]
fn goodbooks_catalogue_only_folder_names_the_missing_ratings() {
    // The shared copy has books.csv, tags.csv and samples/ but no ratings.csv or to_read.csv.
    let dir = shared_data().join("goodbooks-10k");
    assert_eq!(detect(&dir).unwrap(), Format::Goodbooks);
    if dir.join("ratings.csv").is_file() {
        return; // a complete copy: nothing to report
    }
    let (path, reason) = bad_input(load(&dir, &strict()).unwrap_err());
    assert_eq!(path, dir);
    assert!(reason.contains("ratings.csv"), "{reason}");
}

#[test]
fn goodbooks_bad_rows() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("goodbooks/books.csv"), tmp.path().join("books.csv")).unwrap();
    write(
        tmp.path(),
        "ratings.csv",
        b"user_id,book_id,rating\n1,258,5\n1,2,x\n2,1,4\n",
    );
    let (path, line, _) = parse_error(load(tmp.path(), &strict()).unwrap_err());
    assert_eq!((path, line), (tmp.path().join("ratings.csv"), 3));
    let d = load(tmp.path(), &skipping()).unwrap();
    assert_eq!((d.interactions.nnz(), d.meta.skipped_lines), (2, 1));

    // A bad count in book_tags.csv (CRLF) is reported at its line.
    write(
        tmp.path(),
        "book_tags.csv",
        b"goodreads_book_id,tag_id,count\r\n1,30574,167697\r\n1,11305,many\r\n",
    );
    let (path, line, reason) = parse_error(load(tmp.path(), &strict()).unwrap_err());
    assert_eq!((path, line), (tmp.path().join("book_tags.csv"), 3));
    assert!(reason.contains("many"), "{reason}");
    let d = load(tmp.path(), &skipping()).unwrap();
    assert_eq!(d.meta.skipped_lines, 2);

    // books.csv without its key column.
    write(tmp.path(), "books.csv", b"id,title\n1,A Book\n");
    let (_, reason) = bad_input(load(tmp.path(), &strict()).unwrap_err());
    assert!(reason.contains("`book_id`"), "{reason}");
    assert!(reason.contains("id, title"), "{reason}");

    // Only books.csv: neither ratings.csv nor to_read.csv.
    std::fs::remove_file(tmp.path().join("ratings.csv")).unwrap();
    let (_, reason) = bad_input(load(tmp.path(), &strict()).unwrap_err());
    assert!(reason.contains("ratings.csv"), "{reason}");
}

// ---------------------------------------------------------------- Netflix

#[test]
fn netflix_rating_before_any_movie_line() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write(
        tmp.path(),
        "combined_data_1.txt",
        b"1000001,3,2005-09-06\n1:\n1000002,5,2005-05-13\n",
    );
    let err = load(tmp.path(), &strict()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}:1: rating line before any `MovieID:` line", p.display())
    );
    let d = load(tmp.path(), &skipping()).unwrap();
    assert_eq!((d.interactions.nnz(), d.meta.skipped_lines), (1, 1));
}

#[test]
fn netflix_bad_rows_and_headers() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write(
        tmp.path(),
        "combined_data_1.txt",
        b"1:\n\
          1000001,3,2005-09-06\n\
          1000002,five,2005-05-13\n\
          1000003,4\n\
          1000004,4,2005-13-45\n\
          x1:\n\
          1000005,4,2005-01-01\n\
          2:\n\
          1000006,2,2005-01-02\n",
    );
    let (path, line, reason) = parse_error(load(tmp.path(), &strict()).unwrap_err());
    assert_eq!((path, line), (p.clone(), 3));
    assert!(reason.contains("five"), "{reason}");
    let d = load(tmp.path(), &skipping()).unwrap();
    // Lines 3, 4, 5 (bad rows), 6 (bad header) and 7 (a row under it).
    assert_eq!(d.meta.skipped_lines, 5);
    assert_eq!(d.interactions.nnz(), 2);

    // A malformed movie_titles.csv line.
    write(
        tmp.path(),
        "movie_titles.csv",
        b"1,2003,Dinosaur Planet\n2,two thousand,Isle of Man\n3\n",
    );
    let (path, line, reason) = parse_error(load(tmp.path(), &strict()).unwrap_err());
    assert_eq!((path, line), (tmp.path().join("movie_titles.csv"), 2));
    assert!(reason.contains("two thousand"), "{reason}");
    let d = load(tmp.path(), &skipping()).unwrap();
    assert_eq!(d.meta.skipped_lines, 7);
    assert_eq!(d.item_title(d.item("1").unwrap()), Some("Dinosaur Planet"));
}

// ---------------------------------------------------------------- Amazon

#[test]
fn amazon_malformed_review_line() {
    let p = fixture("amazon/bad/reviews_Musical_Instruments_5.json");
    let (path, line, reason) = parse_error(load(&p, &strict()).unwrap_err());
    assert_eq!((path, line), (p.clone(), 4));
    assert!(reason.starts_with("not JSON"), "{reason}");
    let d = load(&p, &skipping()).unwrap();
    assert_eq!((d.interactions.nnz(), d.meta.skipped_lines), (5, 1));
}

#[test]
fn amazon_2014_python_literal_metadata_is_rejected_with_a_hint() {
    let dir = fixture("amazon/bad");
    let (path, line, reason) = parse_error(load(&dir, &strict()).unwrap_err());
    assert_eq!(path, dir.join("meta_Musical_Instruments.json"));
    assert_eq!(line, 1);
    assert!(reason.contains("Python literal"), "{reason}");
    assert!(reason.contains("ast.literal_eval"), "{reason}");
    let d = load(&dir, &skipping()).unwrap();
    assert_eq!(d.meta.skipped_lines, 3);
    assert_eq!(d.interactions.nnz(), 5);
}

#[test]
fn amazon_missing_keys_and_metadata_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write(
        tmp.path(),
        "reviews_X.jsonl",
        b"{\"reviewerID\": \"A1B2C3D4E5F6G7\", \"asin\": \"B000000001\", \"overall\": 4.0, \"unixReviewTime\": 1}\n\
          {\"reviewerID\": \"A1B2C3D4E5F6G7\", \"asin\": \"B000000002\", \"unixReviewTime\": 2}\n\
          {\"reviewerID\": \"A1B2C3D4E5F6G7\", \"overall\": \"5\", \"asin\": \"B000000003\", \"unixReviewTime\": 3}\n\
          {\"user_id\": \"A1B2C3D4E5F6G7\", \"asin\": \"B000000004\", \"rating\": 5.0}\n",
    );
    let (_, line, reason) = parse_error(load(&p, &strict()).unwrap_err());
    assert_eq!(line, 2);
    assert!(reason.contains("overall"), "{reason}");
    let d = load(&p, &skipping()).unwrap();
    assert_eq!((d.interactions.nnz(), d.meta.skipped_lines), (1, 3));

    let meta = fixture("amazon/2018/meta_Musical_Instruments.json");
    let (path, reason) = bad_input(load_as(&meta, &Format::Amazon, &strict()).unwrap_err());
    assert_eq!(path, meta);
    assert!(reason.contains("metadata"), "{reason}");

    let other = fixture("generic/plays.tsv");
    let (_, reason) = bad_input(load_as(&other, &Format::Amazon, &strict()).unwrap_err());
    assert!(reason.contains("not an Amazon"), "{reason}");
}

#[test]
fn amazon_bad_csv_line() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write(
        tmp.path(),
        "ratings_X.csv",
        b"A2SUAM1J3GNN3B,0000013714,5.0,1393545600\nA2SUAM1J3GNN3C,0000013714,great,1393545600\n",
    );
    assert_eq!(detect(&p).unwrap(), Format::Amazon);
    let (_, line, reason) = parse_error(load(&p, &strict()).unwrap_err());
    assert_eq!(line, 2);
    assert!(reason.contains("great"), "{reason}");
}

/// Regression: a UTF-8 byte-order mark before the header must not hide the first column's name.
#[test]
fn utf8_bom_before_the_header_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bom.csv");
    std::fs::write(&f, b"\xEF\xBB\xBFuserId,movieId,rating\n1,2,4\n").unwrap();
    let spec = tastebud_data::GenericSpec {
        columns: Some(
            tastebud_data::delimited::Columns::parse_mapping(
                "user=userId,item=movieId,rating=rating",
            )
            .unwrap(),
        ),
        ..Default::default()
    };
    let d = tastebud_data::load_as(
        &f,
        &tastebud_data::Format::Generic(spec),
        &Default::default(),
    )
    .unwrap();
    assert_eq!(d.interactions.nnz(), 1);
    assert!(d.user("1").is_some());
}

/// Regression: in a CRLF `movies.csv` a bad record is reported at its own line, not the one before.
#[test]
fn crlf_movies_csv_reports_the_right_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("movies.csv"),
        "movieId,title,genres\r\n1,A (1990),Drama\r\n2,\"B (1991),Comedy\r\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("ratings.csv"),
        "userId,movieId,rating,timestamp\r\n1,1,4,10\r\n",
    )
    .unwrap();
    let err = tastebud_data::load(dir.path(), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("movies.csv:3"), "{err}");
}

// ---------------------------------------------------------------- issue "Trust" #9

#[test]
fn trust_9_an_overlong_id_names_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let mut text = b"u1,i1,4\nu2,i2,3\n".to_vec();
    text.extend(std::iter::repeat_n(b'x', 100_000));
    text.extend(b",i3,5\n");
    let p = write(tmp.path(), "long.csv", &text);
    let (path, line, reason) = parse_error(load(&p, &strict()).unwrap_err());
    assert_eq!((path, line), (p.clone(), 3));
    assert!(reason.contains("longer than 256 bytes"), "{reason}");
    // Exactly 256 bytes is still an id.
    let mut ok = b"u1,i1,4\n".to_vec();
    ok.extend(std::iter::repeat_n(b'y', 256));
    ok.extend(b",i2,3\n");
    let p = write(tmp.path(), "ok.csv", &ok);
    assert_eq!(load(&p, &strict()).unwrap().n_users(), 2);
}

#[test]
fn trust_9_timestamps_read_as_ratings_are_warned_about() {
    let tmp = tempfile::tempdir().unwrap();
    // user;item glued by a stray `;`, so the third column read as the rating is the timestamp.
    let p = write(
        tmp.path(),
        "shifted.csv",
        b"1;10,4,881250949\n2;10,5,891717742\n3;11,3,878887116\n",
    );
    let d = load(&p, &strict()).unwrap();
    let w = tastebud_data::warnings(&d);
    assert_eq!(w.len(), 1, "{w:?} (values {:?})", d.interactions.values());
    assert!(w[0].contains("looks like unix timestamps"), "{w:?}");
    assert!(w[0].contains("shifted.csv"), "{w:?}");
    // Real ratings: no warning.
    let p = write(tmp.path(), "fine.csv", b"1,10,4\n2,10,5\n3,11,3\n");
    assert!(tastebud_data::warnings(&load(&p, &strict()).unwrap()).is_empty());
}

#[test]
fn trust_9_a_gz_that_is_not_gzip_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write(tmp.path(), "ratings.csv.gz", b"1,10,4\n2,10,5\n");
    let e = load(&p, &strict()).unwrap_err().to_string();
    assert!(
        e.contains("not valid gzip") && e.contains("ratings.csv.gz"),
        "{e}"
    );
    // A gzip stream cut short.
    let z = gzip(b"1,10,4\n2,10,5\n3,11,3\n");
    let p = write(tmp.path(), "cut.csv.gz", &z[..z.len() / 2]);
    let e = load(&p, &strict()).unwrap_err().to_string();
    assert!(
        e.contains("not valid gzip") && e.contains("cut.csv.gz"),
        "{e}"
    );
    // A good one loads.
    let p = write(tmp.path(), "good.csv.gz", &gzip(b"1,10,4\n2,10,5\n"));
    assert_eq!(load(&p, &strict()).unwrap().interactions.nnz(), 2);
}

#[test]
fn trust_9_overlong_ids_in_the_netflix_and_amazon_readers_name_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let nf = tmp.path().join("nf");
    std::fs::create_dir_all(&nf).unwrap();
    let mut text = b"1:\n1000001,3,2005-09-06\n".to_vec();
    text.extend(std::iter::repeat_n(b'7', 300));
    text.extend(b",4,2005-09-07\n");
    let p = write(&nf, "combined_data_1.txt", &text);
    let (path, line, reason) = parse_error(load(&nf, &strict()).unwrap_err());
    assert_eq!((path, line), (p, 3));
    assert!(
        reason.contains("customer id longer than 256 bytes"),
        "{reason}"
    );

    let az = tmp.path().join("az");
    std::fs::create_dir_all(&az).unwrap();
    let long = "A".repeat(300);
    let reviews = format!(
        "{{\"reviewerID\": \"AJZDE8GXD6NCF1\", \"asin\": \"5075291703\", \"overall\": 5.0, \"unixReviewTime\": 1393545600}}\n\
         {{\"reviewerID\": \"{long}\", \"asin\": \"4236671276\", \"overall\": 4.0, \"unixReviewTime\": 1393545600}}\n"
    );
    let p = write(
        &az,
        "reviews_Musical_Instruments_5.json",
        reviews.as_bytes(),
    );
    let (path, line, reason) = parse_error(load(&p, &strict()).unwrap_err());
    assert_eq!((path, line), (p.clone(), 2));
    assert!(reason.contains("user id longer than 256 bytes"), "{reason}");
}
