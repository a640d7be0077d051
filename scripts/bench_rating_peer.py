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
        "SVD": lambda: s.SVD(random_state=0),
        "SVDpp": lambda: s.SVDpp(random_state=0, cache_ratings=False),
        "NMF": lambda: s.NMF(random_state=0),
        "SlopeOne": lambda: s.SlopeOne(),
        "BaselineOnly": lambda: s.BaselineOnly(verbose=False),
        "BaselineOnlySGD": lambda: s.BaselineOnly(bsl_options={"method": "sgd"}, verbose=False),
    }
    out = {"version": __import__("importlib.metadata").metadata.version("scikit-surprise"), "algos": {}}
    for name in a.algos.split(","):
        rec = {"fit_s": [], "rmse": [], "mae": []}
        for trainset, testset in folds:
            algo = make[name]()
            t = time.perf_counter()
            algo.fit(trainset)
            rec["fit_s"].append(time.perf_counter() - t)
            preds = algo.test(testset)
            rec["rmse"].append(accuracy.rmse(preds, verbose=False))
            rec["mae"].append(accuracy.mae(preds, verbose=False))
        out["algos"][name] = rec
        print(f"{name}: fit {sum(rec['fit_s']):.2f} s, RMSE {np.mean(rec['rmse']):.4f}", file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
