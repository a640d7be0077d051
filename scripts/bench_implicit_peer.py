#!/usr/bin/env python3
"""implicit 0.7.3 side of `bench-implicit`: ALS and BPR on ML-100K's fixed split, fit times and NDCG/Recall@10.

Same protocol as ../shared/bench/implicit_bench.py: binary train matrix over every user and item of u.data
(index = rank of the raw id), ALS(factors=64, iterations=15, regularization=0.05, alpha=1.0) and
BPR(factors=64, iterations=100, learning_rate=0.01, regularization=0.01), top-10 with train items filtered,
NDCG@10 (gain 1, IDCG over min(10, |test|)) and Recall@10 = hits / |test|, macro-averaged.

Run it with OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 OMP_NUM_THREADS=<threads> (bench-implicit does).
Prints one JSON line per (model, seed): {"model", "threads", "seed", "fit_s": [...], "ndcg10", "recall10"}.

Usage: bench_implicit_peer.py --data ml-100k/u.data --split-dir DIR --threads N [--runs 3] [--seeds 42]
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp


def load(data, split_dir):
    full = np.loadtxt(data, dtype=np.int64, usecols=(0, 1))
    user_raw, item_raw = np.unique(full[:, 0]), np.unique(full[:, 1])

    def csr(name):
        a = np.loadtxt(Path(split_dir) / name, dtype=np.int64, usecols=(0, 1), ndmin=2)
        u = np.searchsorted(user_raw, a[:, 0])
        i = np.searchsorted(item_raw, a[:, 1])
        m = sp.csr_matrix((np.ones(len(a), dtype=np.float32), (u, i)), shape=(len(user_raw), len(item_raw)))
        m.sum_duplicates()
        m.sort_indices()
        return m

    return csr("train.tsv"), csr("test.tsv")


def metrics(recs, test, users, k=10):
    ndcg, recall = [], []
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    for row, u in zip(recs, users):
        rel = set(test.indices[test.indptr[u]:test.indptr[u + 1]].tolist())
        hits = np.array([1.0 if i in rel else 0.0 for i in row[:k]])
        dcg = float((hits * disc[:len(hits)]).sum())
        idcg = float(disc[:min(k, len(rel))].sum())
        ndcg.append(dcg / idcg)
        recall.append(hits.sum() / len(rel))
    return float(np.mean(ndcg)), float(np.mean(recall))


def build(name, threads, seed):
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    if name == "als":
        return AlternatingLeastSquares(factors=64, iterations=15, regularization=0.05, alpha=1.0,
                                       random_state=seed, num_threads=threads)
    if name == "bpr":
        return BayesianPersonalizedRanking(factors=64, iterations=100, learning_rate=0.01,
                                           regularization=0.01, random_state=seed, num_threads=threads)
    raise KeyError(name)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--split-dir", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seeds", default="42")
    ap.add_argument("--models", default="als,bpr")
    a = ap.parse_args()
    train, test = load(a.data, a.split_dir)
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    for name in a.models.split(","):
        for seed in [int(s) for s in a.seeds.split(",")]:
            fits, quality = [], None
            for r in range(a.runs):
                model = build(name, a.threads, seed)
                t0 = time.perf_counter()
                model.fit(train, show_progress=False)
                fits.append(time.perf_counter() - t0)
                if r == 0:
                    ids, _ = model.recommend(users, train[users], N=10, filter_already_liked_items=True)
                    quality = metrics(np.asarray(ids), test, users)
            print(json.dumps({"model": name, "threads": a.threads, "seed": seed, "fit_s": fits,
                              "ndcg10": quality[0], "recall10": quality[1]}), flush=True)


if __name__ == "__main__":
    main()
