#!/usr/bin/env python3
"""Reference values for tastebud-experiment's statistics (writes stats.json beside this file).

Run from anywhere:  python3 -m venv /tmp/venv && /tmp/venv/bin/pip install scipy statsmodels numpy
                    /tmp/venv/bin/python crates/experiment/tests/golden/make_goldens.py

Sources (one per Rust function):
  Proportion::wilson_ci / normal_ci   statsmodels proportion_confint(method='wilson' / 'normal')
  two_proportion_ztest z, p           statsmodels proportions_ztest([x_t, x_c], [n_t, n_c])  (pooled)
  two_proportion_ztest ci             statsmodels confint_proportions_2indep(method='wald', compare='diff')
  proportion_lift / mean_lift         delta method written out in numpy, quantile from scipy norm.isf
                                      (no scipy/statsmodels function computes this interval)
  welch_t_test_samples                scipy ttest_ind(t, c, equal_var=False): statistic, pvalue, df,
                                      confidence_interval(confidence)
  welch_t_test (summary stats)        scipy ttest_ind_from_stats(equal_var=False) for t and p;
                                      df / CI from the Welch formula with scipy t.isf
  srm_test                            scipy chisquare(f_obs, f_exp)
  sample_size_proportions             statsmodels samplesize_proportions_2indep_onetail(alternative='two-sided')
  power_proportions                   statsmodels power_proportions_2indep(...).power
  sample_size_means                   statsmodels power.normal_sample_size_one_tail(mde, power, alpha/2, std_null=sd*sqrt(2))
  power_means                         statsmodels NormalIndPower().power(mde/sd, n, alpha, ratio=1)
  Cuped theta                         statsmodels OLS(y, add_constant(x)).fit().params[1]
  variance_reduction                  numpy var(ddof=1)
  Msprt                               Johari et al. (2017) mixture likelihood ratio in numpy
  norm_ppf / norm_isf                 scipy norm.ppf / norm.isf
"""
import json
import math
import os

import numpy as np
import scipy
import statsmodels
from scipy import stats
from statsmodels.regression.linear_model import OLS
from statsmodels.stats.power import NormalIndPower, normal_sample_size_one_tail
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    power_proportions_2indep,
    proportion_confint,
    proportions_ztest,
    samplesize_proportions_2indep_onetail,
)
from statsmodels.tools import add_constant

out = {"versions": {"numpy": np.__version__, "scipy": scipy.__version__, "statsmodels": statsmodels.__version__}}
f = float

# --- quantiles
out["norm"] = [{"p": p, "ppf": f(stats.norm.ppf(p)), "isf": f(stats.norm.isf(p))}
               for p in [1e-9, 0.0005, 0.005, 0.025, 0.05, 0.1, 0.3, 0.5, 0.8, 0.975]]

# --- one proportion
out["proportion_ci"] = []
for count, nobs, conf in [(0, 20, 0.95), (3, 20, 0.95), (45, 100, 0.9), (999, 1000, 0.99),
                          (5123, 50000, 0.95), (20, 20, 0.95), (1, 3, 0.8)]:
    wl, wh = proportion_confint(count, nobs, alpha=1 - conf, method="wilson")
    nl, nh = proportion_confint(count, nobs, alpha=1 - conf, method="normal")
    out["proportion_ci"].append(dict(successes=count, trials=nobs, confidence=conf,
                                     wilson=[f(wl), f(wh)], normal=[f(nl), f(nh)]))


def delta_lift(mc, vc, mt, vt, conf):
    lift = mt / mc - 1
    se = math.sqrt(vt / mc**2 + mt**2 * vc / mc**4)
    z = stats.norm.isf((1 - conf) / 2)
    return dict(lift=lift, std_error=se, ci=[lift - z * se, lift + z * se])


# --- two proportions
out["ztest"] = []
for xc, nc, xt, nt, conf in [(1000, 10000, 1100, 10000, 0.95), (120, 1000, 150, 1100, 0.9),
                             (5, 40, 12, 45, 0.99), (48213, 500000, 48950, 500100, 0.95),
                             (300, 1000, 260, 1000, 0.8)]:
    z, p = proportions_ztest([xt, xc], [nt, nc])
    lo, hi = confint_proportions_2indep(xt, nt, xc, nc, method="wald", compare="diff", alpha=1 - conf)
    pc, pt = xc / nc, xt / nt
    out["ztest"].append(dict(control=[xc, nc], treatment=[xt, nt], confidence=conf, z=f(z), p_value=f(p),
                             difference=pt - pc, ci=[f(lo), f(hi)],
                             lift=delta_lift(pc, pc * (1 - pc) / nc, pt, pt * (1 - pt) / nt, conf)))

# --- Welch on samples
rng = np.random.default_rng(20240611)
out["welch_samples"] = []
for nc, nt, mc, mt, sc, st, conf in [(30, 45, 10.0, 11.0, 2.0, 3.5, 0.95), (200, 150, 5.0, 5.1, 1.0, 1.0, 0.9),
                                     (8, 5, 0.0, 3.0, 1.0, 4.0, 0.99), (1000, 1200, 100.0, 100.4, 20.0, 25.0, 0.95)]:
    c = rng.normal(mc, sc, nc).round(6)
    t = rng.normal(mt, st, nt).round(6)
    r = stats.ttest_ind(t, c, equal_var=False)
    ci = r.confidence_interval(conf)
    out["welch_samples"].append(dict(control=c.tolist(), treatment=t.tolist(), confidence=conf,
                                     t=f(r.statistic), p_value=f(r.pvalue), df=f(r.df),
                                     ci=[f(ci.low), f(ci.high)]))

# --- Welch on summary statistics (+ mean lift)
out["welch_summary"] = []
for (nc, mc, vc), (nt, mt, vt), conf in [((500, 10.0, 16.0), (400, 10.9, 25.0), 0.95),
                                         ((12, 3.2, 0.5), (9, 2.1, 2.5), 0.9),
                                         ((100000, 1.234, 7.5), (100100, 1.27, 7.9), 0.99),
                                         ((50, -2.0, 1.0), (60, -2.0, 1.0), 0.95)]:
    r = stats.ttest_ind_from_stats(mt, math.sqrt(vt), nt, mc, math.sqrt(vc), nc, equal_var=False)
    a, b = vt / nt, vc / nc
    df = (a + b) ** 2 / (a**2 / (nt - 1) + b**2 / (nc - 1))
    se = math.sqrt(a + b)
    crit = stats.t.isf((1 - conf) / 2, df)
    d = mt - mc
    out["welch_summary"].append(dict(control=[nc, mc, vc], treatment=[nt, mt, vt], confidence=conf,
                                     t=f(r.statistic), p_value=f(r.pvalue), df=df,
                                     ci=[d - crit * se, d + crit * se],
                                     lift=delta_lift(mc, b, mt, a, conf)))

# --- SRM
out["srm"] = []
for obs, w in [([5000, 5300], [1, 1]), ([50000, 53000], [0.5, 0.5]), ([3300, 3350, 3250], [1, 1, 1]),
               ([9000, 1100], [0.9, 0.1]), ([5000, 5080], [1, 1]), ([10, 0, 5], [0.2, 0.3, 0.5])]:
    exp = np.array(w, float) / sum(w) * sum(obs)
    r = stats.chisquare(obs, exp)
    out["srm"].append(dict(observed=obs, weights=w, statistic=f(r.statistic), p_value=f(r.pvalue)))

# --- power, proportions
out["power_proportions"] = []
for base, kind, eff, alpha, power, n_check in [(0.1, "relative", 0.1, 0.05, 0.8, 14751),
                                               (0.2, "absolute", -0.02, 0.05, 0.9, 3000),
                                               (0.03, "relative", 0.05, 0.01, 0.8, 200000),
                                               (0.5, "absolute", 0.01, 0.1, 0.95, 1000)]:
    pt = base * (1 + eff) if kind == "relative" else base + eff
    diff = pt - base
    n = samplesize_proportions_2indep_onetail(diff, base, power, ratio=1, alpha=alpha, alternative="two-sided")
    pw = power_proportions_2indep(diff, base, n_check, ratio=1, alpha=alpha, alternative="two-sided").power
    out["power_proportions"].append(dict(baseline=base, kind=kind, effect=eff, alpha=alpha, power=power,
                                         n_exact=f(n), n_check=n_check, power_at_n_check=f(pw)))

# --- power, means
out["power_means"] = []
for sd, mde, alpha, power, n_check in [(1.0, 0.1, 0.05, 0.8, 1000), (25.0, -2.0, 0.01, 0.9, 500),
                                       (3.0, 0.5, 0.1, 0.95, 80)]:
    n = normal_sample_size_one_tail(mde, power, alpha / 2, std_null=sd * math.sqrt(2))
    pw = NormalIndPower().power(effect_size=mde / sd, nobs1=n_check, alpha=alpha, ratio=1)
    out["power_means"].append(dict(sd=sd, mde=mde, alpha=alpha, power=power, n_exact=f(n),
                                   n_check=n_check, power_at_n_check=f(pw)))

# --- CUPED
x = rng.gamma(2.0, 5.0, 300).round(4)
y = (3.0 + 0.8 * x + rng.normal(0, 4.0, 300)).round(4)
theta = OLS(y, add_constant(x)).fit().params[1]
adj = y - theta * (x - x.mean())
out["cuped"] = dict(outcome=y.tolist(), covariate=x.tolist(), theta=f(theta), covariate_mean=f(x.mean()),
                    adjusted_head=adj[:10].tolist(),
                    variance_reduction=f(1 - adj.var(ddof=1) / y.var(ddof=1)))


# --- mSPRT (Johari et al. 2017): Lambda = sqrt(V/(V+tau2)) exp(tau2 d^2 / (2 V (V+tau2)))
def msprt(looks, tau2, alpha):
    p, lo, hi, res = 1.0, -math.inf, math.inf, []
    for d, v in looks:
        lr = math.sqrt(v / (v + tau2)) * math.exp(tau2 * d * d / (2 * v * (v + tau2)))
        p = min(p, 1 / lr)
        half = math.sqrt(v * (v + tau2) / tau2 * (2 * math.log(1 / alpha) + math.log((v + tau2) / v)))
        lo, hi = max(lo, d - half), min(hi, d + half)
        res.append(dict(likelihood_ratio=lr, p_value=p, ci=[lo, hi]))
    return res


prop_looks = [((100, 1000), (112, 1000)), ((230, 2100), (262, 2080)), ((350, 3000), (401, 3050)),
              ((460, 4000), (540, 4010)), ((580, 5000), (690, 5020))]
dv = []
for (xc, nc), (xt, nt) in prop_looks:
    pc, pt = xc / nc, xt / nt
    dv.append((pt - pc, pc * (1 - pc) / nc + pt * (1 - pt) / nt))
out["msprt_proportions"] = dict(tau2=1e-4, alpha=0.05, looks=[[list(c), list(t)] for c, t in prop_looks],
                                expected=msprt(dv, 1e-4, 0.05))
mean_looks = [((50, 10.0, 9.0), (52, 10.5, 10.0)), ((100, 10.1, 9.5), (98, 10.2, 9.8)),
              ((150, 10.0, 9.2), (155, 10.9, 10.1)), ((200, 10.05, 9.1), (203, 11.0, 9.9))]
dv = [(t[1] - c[1], c[2] / c[0] + t[2] / t[0]) for c, t in mean_looks]
out["msprt_means"] = dict(tau2=0.25, alpha=0.1, looks=[[list(c), list(t)] for c, t in mean_looks],
                          expected=msprt(dv, 0.25, 0.1))

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stats.json")
with open(path, "w") as fh:
    json.dump(out, fh, indent=1)
    fh.write("\n")
print("wrote", path)
