use std::io::Write;
use tastebud_data::{load, LoadOptions};
#[test]
fn perf() {
    let tmp = tempfile::tempdir().unwrap();
    let nf = tmp.path().join("nf"); std::fs::create_dir(&nf).unwrap();
    let mut f = std::io::BufWriter::new(std::fs::File::create(nf.join("combined_data_1.txt")).unwrap());
    let n = 5_000_000u64;
    for m in 0..1000u64 { writeln!(f, "{}:", m+1).unwrap(); for k in 0..n/1000 { writeln!(f, "{},{},2005-0{}-1{}", (k*7919+m*31)%480_000+1, 1+k%5, 1+k%9, k%10).unwrap(); } }
    drop(f);
    let t = std::time::Instant::now();
    let d = load(&nf, &LoadOptions::default()).unwrap();
    eprintln!("PERF netflix {} rows in {:.2}s", d.interactions.nnz(), t.elapsed().as_secs_f64());
    let p = tmp.path().join("reviews_X.json");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
    let n = 1_000_000u64;
    for k in 0..n { writeln!(f, "{{\"reviewerID\": \"A{:013}\", \"asin\": \"B{:09}\", \"reviewerName\": \"Some Name\", \"helpful\": [0, 0], \"reviewText\": \"{}\", \"overall\": {}.0, \"summary\": \"ok\", \"unixReviewTime\": {}, \"reviewTime\": \"02 28, 2014\"}}", k % 200_000, (k * 7) % 50_000, "This is a fairly typical review text, some words. ".repeat(8), 1 + k % 5, 1_300_000_000 + k).unwrap(); }
    drop(f);
    let sz = std::fs::metadata(&p).unwrap().len();
    let t = std::time::Instant::now();
    let d = load(&p, &LoadOptions::default()).unwrap();
    eprintln!("PERF amazon json {} rows ({} MB) in {:.2}s", d.interactions.nnz(), sz >> 20, t.elapsed().as_secs_f64());
}
