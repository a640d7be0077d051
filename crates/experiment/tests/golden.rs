//! Every statistic against SciPy/statsmodels reference values computed by
//! `tests/golden/make_goldens.py` and committed in `tests/golden/stats.json` (no Python needed).
//!
//! Tolerance: relative `1e-9`, with an absolute floor of `1e-12` for values that are 0 in exact
//! arithmetic (a difference of equal means, a `t` of 0) where a relative error is meaningless.

use serde_json::Value;
use tastebud_experiment::stats::*;

const REL: f64 = 1e-9;
const ABS_FLOOR: f64 = 1e-12;

fn golden() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/stats.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[track_caller]
fn close(what: &str, got: f64, want: &Value) {
    let want = want
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: not a number: {want}"));
    let tol = (REL * want.abs()).max(ABS_FLOOR);
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got:e}, want {want:e} (diff {:e}, tol {tol:e})",
        (got - want).abs()
    );
}

#[track_caller]
fn close_ci(what: &str, got: Interval, want: &Value) {
    close(&format!("{what}.low"), got.low, &want[0]);
    close(&format!("{what}.high"), got.high, &want[1]);
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap()
}

fn items<'a>(g: &'a Value, key: &str) -> &'a Vec<Value> {
    let a = g[key].as_array().unwrap();
    assert!(!a.is_empty(), "{key}: no cases");
    a
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(f).collect()
}

#[test]
fn normal_quantiles_match_scipy() {
    for c in items(&golden(), "norm") {
        close("ppf", norm_ppf(f(&c["p"])), &c["ppf"]);
        close("isf", norm_isf(f(&c["p"])), &c["isf"]);
    }
}

#[test]
fn proportion_intervals_match_statsmodels() {
    for c in items(&golden(), "proportion_ci") {
        let p = Proportion::new(u(&c["successes"]), u(&c["trials"])).unwrap();
        let conf = f(&c["confidence"]);
        close_ci("wilson", p.wilson_ci(conf).unwrap(), &c["wilson"]);
        close_ci("normal", p.normal_ci(conf).unwrap(), &c["normal"]);
    }
}

#[test]
fn two_proportion_ztest_and_lift_match_statsmodels() {
    for c in items(&golden(), "ztest") {
        let ctl = Proportion::new(u(&c["control"][0]), u(&c["control"][1])).unwrap();
        let trt = Proportion::new(u(&c["treatment"][0]), u(&c["treatment"][1])).unwrap();
        let conf = f(&c["confidence"]);
        let r = two_proportion_ztest(ctl, trt, conf).unwrap();
        close("z", r.z, &c["z"]);
        close("p", r.p_value, &c["p_value"]);
        close("difference", r.difference, &c["difference"]);
        close_ci("ci", r.ci, &c["ci"]);
        let l = proportion_lift(ctl, trt, conf).unwrap();
        close("lift", l.lift, &c["lift"]["lift"]);
        close("lift se", l.std_error, &c["lift"]["std_error"]);
        close_ci("lift ci", l.ci, &c["lift"]["ci"]);
    }
}

#[test]
fn welch_on_samples_matches_scipy() {
    for c in items(&golden(), "welch_samples") {
        let r = welch_t_test_samples(
            &floats(&c["control"]),
            &floats(&c["treatment"]),
            f(&c["confidence"]),
        )
        .unwrap();
        close("t", r.t, &c["t"]);
        close("p", r.p_value, &c["p_value"]);
        close("df", r.df, &c["df"]);
        close_ci("ci", r.ci, &c["ci"]);
    }
}

#[test]
fn welch_on_summaries_and_mean_lift_match_scipy() {
    for c in items(&golden(), "welch_summary") {
        let s = |v: &Value| SummaryStats::new(u(&v[0]), f(&v[1]), f(&v[2])).unwrap();
        let (ctl, trt) = (s(&c["control"]), s(&c["treatment"]));
        let conf = f(&c["confidence"]);
        let r = welch_t_test(&ctl, &trt, conf).unwrap();
        close("t", r.t, &c["t"]);
        close("p", r.p_value, &c["p_value"]);
        close("df", r.df, &c["df"]);
        close_ci("ci", r.ci, &c["ci"]);
        let l = mean_lift(&ctl, &trt, conf).unwrap();
        close("lift", l.lift, &c["lift"]["lift"]);
        close("lift se", l.std_error, &c["lift"]["std_error"]);
        close_ci("lift ci", l.ci, &c["lift"]["ci"]);
    }
}

#[test]
fn srm_matches_scipy_chisquare() {
    for c in items(&golden(), "srm") {
        let obs: Vec<u64> = c["observed"].as_array().unwrap().iter().map(u).collect();
        let r = srm_test(&obs, &floats(&c["weights"])).unwrap();
        close("statistic", r.statistic, &c["statistic"]);
        close("p", r.p_value, &c["p_value"]);
        assert_eq!(r.df, obs.len() - 1);
    }
}

#[test]
fn proportion_power_matches_statsmodels() {
    for c in items(&golden(), "power_proportions") {
        let effect = match c["kind"].as_str().unwrap() {
            "relative" => Effect::Relative(f(&c["effect"])),
            _ => Effect::Absolute(f(&c["effect"])),
        };
        let (base, alpha) = (f(&c["baseline"]), f(&c["alpha"]));
        let n = sample_size_proportions(base, effect, alpha, f(&c["power"])).unwrap();
        close("n", n.exact, &c["n_exact"]);
        assert_eq!(n.per_arm, f(&c["n_exact"]).ceil() as u64);
        let p = power_proportions(base, effect, f(&c["n_check"]), alpha).unwrap();
        close("power", p, &c["power_at_n_check"]);
    }
}

#[test]
fn mean_power_matches_statsmodels() {
    for c in items(&golden(), "power_means") {
        let (sd, mde, alpha) = (f(&c["sd"]), f(&c["mde"]), f(&c["alpha"]));
        let n = sample_size_means(sd, mde, alpha, f(&c["power"])).unwrap();
        close("n", n.exact, &c["n_exact"]);
        let p = power_means(sd, mde, f(&c["n_check"]), alpha).unwrap();
        close("power", p, &c["power_at_n_check"]);
    }
}

#[test]
fn cuped_matches_statsmodels_ols() {
    let g = golden();
    let c = &g["cuped"];
    let (y, x) = (floats(&c["outcome"]), floats(&c["covariate"]));
    let cuped = Cuped::fit(&y, &x).unwrap();
    close("theta", cuped.theta, &c["theta"]);
    close("covariate mean", cuped.covariate_mean, &c["covariate_mean"]);
    let adj = cuped.adjust(&y, &x).unwrap();
    for (i, want) in c["adjusted_head"].as_array().unwrap().iter().enumerate() {
        close("adjusted", adj[i], want);
    }
    close(
        "variance reduction",
        variance_reduction(&y, &adj).unwrap(),
        &c["variance_reduction"],
    );
}

fn check_msprt(looks: &[Look], expected: &Value) {
    let expected = expected.as_array().unwrap();
    assert_eq!(looks.len(), expected.len());
    for (got, want) in looks.iter().zip(expected) {
        close(
            "likelihood ratio",
            got.likelihood_ratio,
            &want["likelihood_ratio"],
        );
        close("always-valid p", got.p_value, &want["p_value"]);
        close_ci("confidence sequence", got.ci, &want["ci"]);
    }
}

#[test]
fn msprt_matches_reference_formula() {
    let g = golden();
    let c = &g["msprt_proportions"];
    let looks: Vec<(Proportion, Proportion)> = c["looks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let p = |v: &Value| Proportion::new(u(&v[0]), u(&v[1])).unwrap();
            (p(&l[0]), p(&l[1]))
        })
        .collect();
    let out = run_looks_proportions(&looks, f(&c["tau2"]), f(&c["alpha"])).unwrap();
    check_msprt(&out, &c["expected"]);

    let c = &g["msprt_means"];
    let looks: Vec<(SummaryStats, SummaryStats)> = c["looks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let s = |v: &Value| SummaryStats::new(u(&v[0]), f(&v[1]), f(&v[2])).unwrap();
            (s(&l[0]), s(&l[1]))
        })
        .collect();
    let out = run_looks_means(&looks, f(&c["tau2"]), f(&c["alpha"])).unwrap();
    check_msprt(&out, &c["expected"]);
}
