//! Seeded bandit simulations. Run with `--nocapture` to see the measured regrets.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tastebud_experiment::bandit::*;

/// Pseudo-regret `Σ (μ* - μ_chosen)` of `policy` on Bernoulli arms over `horizon` rounds.
fn bernoulli_regret(policy: &mut dyn Policy, means: &[f64], horizon: usize, seed: u64) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let best = means.iter().cloned().fold(f64::MIN, f64::max);
    let mut regret = 0.0;
    for _ in 0..horizon {
        let c = policy.choose(None, &mut rng).unwrap();
        assert!(c.propensity > 0.0 && c.propensity <= 1.0 + 1e-9, "{c:?}");
        let reward = (rng.random::<f64>() < means[c.arm]) as u8 as f64;
        policy.update(c.arm, None, reward).unwrap();
        regret += best - means[c.arm];
    }
    regret
}

#[test]
fn thompson_beats_epsilon_greedy_beats_uniform() {
    let means = [0.2, 0.3, 0.4, 0.5, 0.6];
    let (horizon, seeds) = (2000, 5);
    let mut total = [0.0; 3];
    for seed in 0..seeds {
        let k = means.len();
        total[0] += bernoulli_regret(
            &mut ThompsonSampling::new(k).unwrap(),
            &means,
            horizon,
            seed,
        );
        total[1] += bernoulli_regret(
            &mut EpsilonGreedy::new(k, 0.1).unwrap(),
            &means,
            horizon,
            seed,
        );
        total[2] += bernoulli_regret(&mut UniformRandom::new(k).unwrap(), &means, horizon, seed);
    }
    let [ts, eg, un] = total.map(|t| t / seeds as f64);
    eprintln!(
        "mean regret over {horizon} rounds: Thompson {ts:.1}, ε-greedy(0.1) {eg:.1}, uniform {un:.1}"
    );
    assert!(ts < eg && eg < un, "{ts} {eg} {un}");
    assert!(ts < 0.6 * eg, "Thompson should win clearly: {ts} vs {eg}");
}

#[test]
fn ucb1_learns_the_best_arm() {
    let means = [0.2, 0.3, 0.4, 0.5, 0.6];
    let ucb = bernoulli_regret(&mut Ucb1::new(5).unwrap(), &means, 2000, 1);
    let un = bernoulli_regret(&mut UniformRandom::new(5).unwrap(), &means, 2000, 1);
    eprintln!("UCB1 regret {ucb:.1}, uniform {un:.1}");
    assert!(ucb < 0.5 * un);
}

#[test]
fn policies_are_deterministic_for_a_seed_and_serialisable() {
    let means = [0.2, 0.5, 0.4];
    let run = |seed| {
        let mut p = ThompsonSampling::new(3).unwrap();
        let r = bernoulli_regret(&mut p, &means, 200, seed);
        (r, serde_json::to_string(&p).unwrap())
    };
    assert_eq!(run(4), run(4));
    assert_ne!(run(4).1, run(5).1);
    let (_, state) = run(4);
    let restored: ThompsonSampling = serde_json::from_str(&state).unwrap();
    assert_eq!(serde_json::to_string(&restored).unwrap(), state);
    let lin = LinUcb::new(2, 3, 1.0, 1.0).unwrap();
    let back: LinUcb = serde_json::from_str(&serde_json::to_string(&lin).unwrap()).unwrap();
    assert_eq!(back, lin);
}

#[test]
fn logged_propensities_match_empirical_choice_frequencies() {
    // freeze each policy's state and choose many times: the empirical frequency of each arm
    // must match the propensity the policy reports
    let mut eg = EpsilonGreedy::new(3, 0.3).unwrap();
    let mut ts = ThompsonSampling::new(3).unwrap();
    for (arm, r) in [
        (0, 1.0),
        (0, 0.0),
        (1, 1.0),
        (1, 1.0),
        (2, 0.0),
        (2, 1.0),
        (1, 0.0),
    ] {
        eg.update(arm, None, r).unwrap();
        ts.update(arm, None, r).unwrap();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    for policy in [&mut eg as &mut dyn Policy, &mut ts] {
        let probs = policy.probabilities(None).unwrap();
        let mut counts = [0usize; 3];
        let n = 10_000;
        for _ in 0..n {
            let c = policy.choose(None, &mut rng).unwrap();
            assert!((c.propensity - probs[c.arm]).abs() < 1e-12);
            counts[c.arm] += 1;
        }
        for a in 0..3 {
            let f = counts[a] as f64 / n as f64;
            // 4.5 binomial standard deviations: six comparisons, false alarm odds ~4e-5
            let tol = 4.5 * (probs[a] * (1.0 - probs[a]) / n as f64).sqrt();
            assert!((f - probs[a]).abs() < tol, "arm {a}: {f} vs {}", probs[a]);
        }
    }
}

/// Contexts `x = [1, u1, u2, u3, u4]`, `u ~ U(0,1)`; arm `a` pays Bernoulli(0.2 + 0.6·u_{a+1}),
/// so the best arm depends on the context and every arm has the same average payoff (0.5).
#[test]
fn linucb_beats_a_context_blind_policy() {
    let (horizon, seeds) = (3000, 3);
    let (mut lin_total, mut blind_total, mut oracle_total) = (0.0, 0.0, 0.0);
    for seed in 0..seeds {
        let mut rng = ChaCha8Rng::seed_from_u64(100 + seed);
        let mut lin = LinUcb::new(4, 5, 0.5, 1.0).unwrap();
        let mut blind = Ucb1::new(4).unwrap();
        for _ in 0..horizon {
            let mut x = vec![1.0];
            x.extend((0..4).map(|_| rng.random::<f64>()));
            let mean = |a: usize| 0.2 + 0.6 * x[a + 1];
            let a = lin.choose(Some(&x), &mut rng).unwrap().arm;
            let r = (rng.random::<f64>() < mean(a)) as u8 as f64;
            lin.update(a, Some(&x), r).unwrap();
            lin_total += mean(a);
            let b = blind.choose(None, &mut rng).unwrap().arm;
            let r = (rng.random::<f64>() < mean(b)) as u8 as f64;
            blind.update(b, None, r).unwrap();
            blind_total += mean(b);
            oracle_total += (0..4).map(mean).fold(f64::MIN, f64::max);
        }
    }
    let n = (horizon * seeds as usize) as f64;
    let (lin, blind, oracle) = (lin_total / n, blind_total / n, oracle_total / n);
    eprintln!(
        "mean expected reward: LinUCB {lin:.3}, context-blind UCB1 {blind:.3}, oracle {oracle:.3}"
    );
    assert!(lin > blind + 0.08, "{lin} vs {blind}");
}
