//! Seeded off-policy evaluation simulations: interval coverage of the true target value.
//! Run with `--nocapture` to see the measured coverage.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tastebud_experiment::bandit::{EpsilonGreedy, Policy, UniformRandom};
use tastebud_experiment::ope::*;

/// Mean reward of action `a` in context type `c`.
const MEANS: [[f64; 3]; 3] = [[0.2, 0.5, 0.3], [0.6, 0.1, 0.4], [0.3, 0.3, 0.7]];
/// Logging policy `μ(a | c)`.
const LOGGING: [[f64; 3]; 3] = [[0.6, 0.2, 0.2], [0.2, 0.6, 0.2], [0.2, 0.2, 0.6]];
/// Target policy `π(a | c)`: mostly the best action of each context.
const TARGET: [[f64; 3]; 3] = [[0.1, 0.8, 0.1], [0.8, 0.1, 0.1], [0.1, 0.1, 0.8]];

fn true_value() -> f64 {
    (0..3)
        .map(|c| (0..3).map(|a| TARGET[c][a] * MEANS[c][a]).sum::<f64>())
        .sum::<f64>()
        / 3.0
}

fn simulate(seed: u64, n: usize) -> (Vec<LoggedEvent>, Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut logs = Vec::with_capacity(n);
    let (mut target, mut model) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let c = rng.random_range(0..3);
        let u: f64 = rng.random();
        let a = if u < LOGGING[c][0] {
            0
        } else if u < LOGGING[c][0] + LOGGING[c][1] {
            1
        } else {
            2
        };
        let reward = (rng.random::<f64>() < MEANS[c][a]) as u8 as f64;
        let mut context = vec![0.0; 3];
        context[c] = 1.0;
        logs.push(LoggedEvent {
            context,
            action: a,
            reward,
            propensity: LOGGING[c][a],
        });
        target.push(TARGET[c].to_vec());
        // a deliberately biased reward model: DR must stay unbiased anyway
        model.push(MEANS[c].iter().map(|m| (m + 0.15).min(1.0)).collect());
    }
    (logs, target, model)
}

fn coverage(method: CiMethod, seeds: u64, n: usize) -> [f64; 3] {
    let truth = true_value();
    let mut hits = [0usize; 3];
    for seed in 0..seeds {
        let (logs, target, model) = simulate(seed, n);
        let ests = [
            ips(&logs, &target, 0.95, method).unwrap(),
            snips(&logs, &target, 0.95, method).unwrap(),
            doubly_robust(&logs, &target, &model, 0.95, method).unwrap(),
        ];
        for (h, e) in hits.iter_mut().zip(&ests) {
            *h += e.ci.contains(truth) as usize;
        }
    }
    hits.map(|h| h as f64 / seeds as f64)
}

#[test]
fn normal_intervals_cover_the_true_value() {
    let [i, s, d] = coverage(CiMethod::Normal, 200, 1000);
    eprintln!(
        "95% normal CI coverage over 200 seeds (n = 1000): IPS {i:.3}, SNIPS {s:.3}, DR {d:.3}"
    );
    for c in [i, s, d] {
        assert!(c >= 0.9, "{c}");
    }
}

#[test]
fn bootstrap_intervals_cover_the_true_value() {
    let method = CiMethod::Bootstrap {
        resamples: 200,
        seed: 1,
    };
    let [i, s, d] = coverage(method, 200, 500);
    eprintln!(
        "95% bootstrap CI coverage over 200 seeds (n = 500): IPS {i:.3}, SNIPS {s:.3}, DR {d:.3}"
    );
    for c in [i, s, d] {
        assert!(c >= 0.88, "{c}");
    }
}

#[test]
fn estimators_are_unbiased_and_dr_has_lower_variance() {
    let truth = true_value();
    let seeds = 200;
    let mut sums = [0.0; 3];
    let mut sq = [0.0; 3];
    for seed in 1000..1000 + seeds {
        let (logs, target, model) = simulate(seed, 1000);
        let v = [
            ips(&logs, &target, 0.95, CiMethod::Normal).unwrap().value,
            snips(&logs, &target, 0.95, CiMethod::Normal).unwrap().value,
            doubly_robust(&logs, &target, &model, 0.95, CiMethod::Normal)
                .unwrap()
                .value,
        ];
        for k in 0..3 {
            sums[k] += v[k];
            sq[k] += (v[k] - truth).powi(2);
        }
    }
    let bias = sums.map(|s| s / seeds as f64 - truth);
    let rmse = sq.map(|s| (s / seeds as f64).sqrt());
    eprintln!("truth {truth:.4}; bias IPS/SNIPS/DR {bias:.4?}; RMSE {rmse:.4?}");
    for k in 0..3 {
        assert!(
            bias[k].abs() < 3.0 * rmse[k] / (seeds as f64).sqrt() + 1e-3,
            "{k}: {bias:?}"
        );
    }
    assert!(rmse[2] < rmse[0], "DR should beat IPS: {rmse:?}");
}

/// Logs from a uniform bandit, target = a trained epsilon-greedy policy's probabilities.
#[test]
fn evaluates_a_bandit_policy_from_uniform_logs() {
    let means = [0.2, 0.6, 0.4];
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let mut target = EpsilonGreedy::new(3, 0.2).unwrap();
    for (a, &m) in means.iter().enumerate() {
        for _ in 0..50 {
            target.update(a, None, m).unwrap();
        }
    }
    let truth: f64 = target
        .probabilities(None)
        .unwrap()
        .iter()
        .zip(&means)
        .map(|(p, m)| p * m)
        .sum();
    let mut logger = UniformRandom::new(3).unwrap();
    let logs: Vec<LoggedEvent> = (0..5000)
        .map(|_| {
            let c = logger.choose(None, &mut rng).unwrap();
            let reward = (rng.random::<f64>() < means[c.arm]) as u8 as f64;
            LoggedEvent {
                context: vec![],
                action: c.arm,
                reward,
                propensity: c.propensity,
            }
        })
        .collect();
    let probs = target_probabilities(&target, &logs).unwrap();
    let est = snips(&logs, &probs, 0.99, CiMethod::Normal).unwrap();
    eprintln!(
        "ε-greedy target: truth {truth:.4}, SNIPS {:.4} {:?}",
        est.value, est.ci
    );
    assert!(est.ci.contains(truth));
    assert!(est.effective_sample_size < 5000.0);
}
