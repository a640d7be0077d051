#!/usr/bin/env python3
"""Surprise (scikit-surprise 1.1.5) side of `bench-rating`: 5-fold CV on a MovieLens u.data file with
Surprise's benchmark protocol, fit times per fold, RMSE/MAE per fold, and the folds themselves so the Rust
side fits on exactly the same data.

Protocol (as shared/bench/surprise_bench.py and Surprise's examples/benchmark.py):
np.random.seed(0); random.seed(0); KFold(n_splits=5, random_state=0, shuffle=True) over the ratings in
file order, the same folds for every algorithm; default hyper-parameters with random_state=0 for SVD, SVD++
(cache_ratings=False) and NMF; RMSE/MAE of the clipped predictions on each test fold.

Usage: bench_rating_peer.py --data PATH/u.data --folds-out FILE [--algos SVD,SVDpp,...] [--folds 5]
Writes FILE as `user<TAB>item<TAB>fold` (raw ids; `fold` is the test fold of the rating) and prints one
JSON object: {"version": ..., "algos": {name: {"fit_s": [...], "rmse": [...], "mae": [...]}}}.
"""
import argparse
import json
import random
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--folds-out", required=True)
    ap.add_argument("--algos", default="SVD,SVDpp,BaselineOnly,BaselineOnlySGD,NMF,SlopeOne")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seeds", default="0",
                    help="comma-separated random_state values for SVD, SVD++ and NMF; the first is the main row, "
                         "all of them go to the JSON's 'seeds' (mean RMSE/MAE over the folds per seed)")
    a = ap.parse_args()

    import numpy as np
    import surprise as s
    from surprise import accuracy
    from surprise.model_selection import KFold

    np.random.seed(0)
    random.seed(0)
    data = s.Dataset.load_from_file(a.data, reader=s.Reader("ml-100k"))
    folds = list(KFold(n_splits=a.folds, random_state=0, shuffle=True).split(data))
    with open(a.folds_out, "w") as f:
        for k, (_, testset) in enumerate(folds):
            for (u, i, _) in testset:
                f.write(f"{u}\t{i}\t{k}\n")

    make = {
        "SVD": lambda seed: s.SVD(random_state=seed),
        "SVDpp": lambda seed: s.SVDpp(random_state=seed, cache_ratings=False),
        "NMF": lambda seed: s.NMF(random_state=seed),
        "SlopeOne": lambda seed: s.SlopeOne(),
        "BaselineOnly": lambda seed: s.BaselineOnly(verbose=False),
        "BaselineOnlySGD": lambda seed: s.BaselineOnly(bsl_options={"method": "sgd"}, verbose=False),
    }
    seeds = [int(x) for x in a.seeds.split(",")]
    out = {"version": __import__("importlib.metadata").metadata.version("scikit-surprise"), "algos": {},
           "seeds": {}}
    for name in a.algos.split(","):
        seeded = name in ("SVD", "SVDpp", "NMF")
        for seed in seeds if seeded else seeds[:1]:
            rec = {"fit_s": [], "rmse": [], "mae": []}
            for trainset, testset in folds:
                algo = make[name](seed)
                t = time.perf_counter()
                algo.fit(trainset)
                rec["fit_s"].append(time.perf_counter() - t)
                preds = algo.test(testset)
                rec["rmse"].append(accuracy.rmse(preds, verbose=False))
                rec["mae"].append(accuracy.mae(preds, verbose=False))
            if seed == seeds[0]:
                out["algos"][name] = rec
            if seeded:
                out["seeds"].setdefault(name, []).append(
                    {"seed": seed, "rmse": float(np.mean(rec["rmse"])), "mae": float(np.mean(rec["mae"]))})
            print(f"{name} (seed {seed}): fit {sum(rec['fit_s']):.2f} s, RMSE {np.mean(rec['rmse']):.4f}",
                  file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
