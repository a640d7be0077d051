//! `bench-thompson`: what a Thompson-sampling choice with its exact propensity costs on the request path,
//! beside the Monte Carlo estimate other libraries use (Open Bandit Pipeline's `BernoulliTS` draws the
//! posteriors `n_sim` times, 100,000 by default, and counts how often each arm wins).
//!
//! ```text
//! cargo run --release -p tastebud-bench --bin bench-thompson [-- --json]
//! ```
//!
//! For 2, 3, 5 and 10 arms and two posterior regimes (a young experiment: 200 impressions per arm; a
//! mature one: 200,000 per arm, CTRs 0.1 percentage point apart), it times `choose_among` (one posterior
//! draw per arm plus the chosen arm's propensity by quadrature; the median over 2,000 calls) and the
//! Monte Carlo estimate of every arm's probability with 10,000 and 100,000 draws (median of 21), and gives
//! the Monte Carlo estimates' largest absolute error against the quadrature.

use std::time::Instant;

use clap::Parser;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution};
use serde::Serialize;
use tastebud_bench::{Table, median};
use tastebud_experiment::bandit::{Policy, ThompsonSampling};

/// The cost of a Thompson-sampling choice with its exact propensity, beside Monte Carlo estimates of
/// every arm's probability (10^4 and 10^5 draws), for 2, 3, 5 and 10 arms.
#[derive(Parser, Debug)]
#[command(name = "bench-thompson")]
struct Args {
    /// Print JSON on stdout (the table goes to stderr)
    #[arg(long)]
    json: bool,
}

/// One configuration's timings.
#[derive(Debug, Serialize)]
struct Row {
    arms: usize,
    regime: &'static str,
    choose_us: f64,
    mc_10k_us: f64,
    mc_10k_max_error: f64,
    mc_100k_us: f64,
    mc_100k_max_error: f64,
}

/// Every arm's win probability from `n` joint posterior draws.
fn monte_carlo(posteriors: &[(f64, f64)], n: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let dists: Vec<Beta<f64>> = posteriors
        .iter()
        .map(|&(a, b)| Beta::new(a, b).expect("valid posterior"))
        .collect();
    let mut wins = vec![0u64; posteriors.len()];
    for _ in 0..n {
        let mut best = (0, f64::NEG_INFINITY);
        for (i, d) in dists.iter().enumerate() {
            let x = d.sample(rng);
            if x > best.1 {
                best = (i, x);
            }
        }
        wins[best.0] += 1;
    }
    wins.iter().map(|&w| w as f64 / n as f64).collect()
}

fn main() {
    let json = Args::parse().json;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut rows = Vec::new();
    for arms in [2usize, 3, 5, 10] {
        for (regime, trials) in [
            ("200 impressions/arm", 200u64),
            ("200k impressions/arm", 200_000),
        ] {
            // CTRs 5.0 %, 5.1 %, 5.2 %, ...: close arms, the hard case for both methods.
            let trials_v = vec![trials; arms];
            let successes: Vec<u64> = (0..arms)
                .map(|a| ((0.05 + 0.001 * a as f64) * trials as f64).round() as u64)
                .collect();
            let mut ts = ThompsonSampling::from_counts(&trials_v, &successes).expect("counts");
            let candidates: Vec<usize> = (0..arms).collect();
            let exact = ts
                .probabilities_among(None, &candidates)
                .expect("probabilities");
            let posteriors: Vec<(f64, f64)> = (0..arms).map(|a| ts.posterior(a)).collect();
            let mut times = Vec::with_capacity(2000);
            for _ in 0..2000 {
                let t = Instant::now();
                let c = ts
                    .choose_among(None, &candidates, &mut rng)
                    .expect("choice");
                times.push(t.elapsed().as_secs_f64() * 1e6);
                std::hint::black_box(c);
            }
            let choose_us = median(times);
            let mut mc = |n: usize| {
                let mut times = Vec::new();
                let mut err: f64 = 0.0;
                for _ in 0..21 {
                    let t = Instant::now();
                    let p = monte_carlo(&posteriors, n, &mut rng);
                    times.push(t.elapsed().as_secs_f64() * 1e6);
                    for (a, b) in p.iter().zip(&exact) {
                        err = err.max((a - b).abs());
                    }
                }
                (median(times), err)
            };
            let (mc_10k_us, mc_10k_max_error) = mc(10_000);
            let (mc_100k_us, mc_100k_max_error) = mc(100_000);
            let row = Row {
                arms,
                regime,
                choose_us,
                mc_10k_us,
                mc_10k_max_error,
                mc_100k_us,
                mc_100k_max_error,
            };
            eprintln!("{row:?}");
            rows.push(row);
        }
    }
    let mut t = Table::new(&[
        "arms",
        "posteriors",
        "choice + exact propensity",
        "MC 10^4 draws (max error)",
        "MC 10^5 draws (max error)",
        "MC 10^5 / ours",
    ]);
    for r in &rows {
        t.row([
            r.arms.to_string(),
            r.regime.to_string(),
            format!("{:.1} µs", r.choose_us),
            format!("{:.0} µs ({:.4})", r.mc_10k_us, r.mc_10k_max_error),
            format!("{:.0} µs ({:.4})", r.mc_100k_us, r.mc_100k_max_error),
            format!("{:.0}x", r.mc_100k_us / r.choose_us),
        ]);
    }
    if json {
        eprint!("{t}");
        println!("{}", serde_json::to_string_pretty(&rows).unwrap());
    } else {
        print!("{t}");
    }
}
