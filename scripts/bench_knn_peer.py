#!/usr/bin/env python
"""Peer side of `bench-knn`: implicit's CosineRecommender(K=20) and Surprise's KNNBaseline timings.

Prints one JSON object on stdout:
  itemknn:     {threads: {fit_s: [...], recommend_s: [...]}, p10, r10, ndcg10, n_users}
  knnbaseline: {fit_s: [...], test_s: [...], rmse, n_test}
ItemKNN uses ML-100K's fixed implicit split (../shared/bench/splits/ml-100k, train values set to 1.0, as
implicit_bench.py does), KNNBaseline the first fold of Surprise's KFold(n_splits=5, random_state=0,
shuffle=True) on u.data (as surprise_bench.py). With --dump DIR, also writes implicit's top-10 lists
(`implicit_recs.tsv`: user item rank, raw ids) and neighbour lists (`implicit_sims.tsv`: item neighbour sim).

Usage: bench_knn_peer.py --data ../shared/data [--repeat 3] [--threads 1,2] [--dump DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path


def load_split(data, split_dir):
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp

    full = pd.read_csv(Path(data) / "ml-100k" / "u.data", sep="\t", header=None,
                       names=["user", "item", "rating", "timestamp"])
    user_raw = np.sort(full["user"].unique())
    item_raw = np.sort(full["item"].unique())
    cols = ["user", "item", "rating", "timestamp"]
    tr = pd.read_csv(Path(split_dir) / "train.tsv", sep="\t", header=None, names=cols)
    te = pd.read_csv(Path(split_dir) / "test.tsv", sep="\t", header=None, names=cols)

    def csr(df):
        u = np.searchsorted(user_raw, df["user"].to_numpy())
        i = np.searchsorted(item_raw, df["item"].to_numpy())
        m = sp.csr_matrix((np.ones(len(df), dtype=np.float32), (u, i)),
                          shape=(len(user_raw), len(item_raw)))
        m.sum_duplicates()
        m.sort_indices()
        return m

    return csr(tr), csr(te), user_raw, item_raw


def metrics(recs, test, users, k=10):
    import numpy as np

    p = r = n = 0.0
    for row, u in zip(recs, users):
        rel = set(test.indices[test.indptr[u]:test.indptr[u + 1]].tolist())
        hits = [1.0 if i in rel else 0.0 for i in row[:k]]
        p += sum(hits) / k
        r += sum(hits) / len(rel)
        dcg = sum(h / np.log2(j + 2) for j, h in enumerate(hits))
        idcg = sum(1.0 / np.log2(j + 2) for j in range(min(len(rel), k)))
        n += dcg / idcg
    m = len(users)
    return p / m, r / m, n / m


def bench_itemknn(a, threads):
    import numpy as np
    from implicit.nearest_neighbours import CosineRecommender

    train, test, user_raw, item_raw = load_split(a.data, a.split_dir)
    users = np.flatnonzero(np.diff(test.indptr) > 0).astype(np.int32)
    out = {"n_users": int(len(users)), "threads": {}}
    for t in threads:
        fits, recs_t = [], []
        for _ in range(a.repeat):
            model = CosineRecommender(K=20, num_threads=t)
            t0 = time.perf_counter()
            model.fit(train, show_progress=False)
            t1 = time.perf_counter()
            ids, _scores = model.recommend(users, train[users], N=10,
                                           filter_already_liked_items=True)
            t2 = time.perf_counter()
            fits.append(t1 - t0)
            recs_t.append(t2 - t1)
        out["threads"][str(t)] = {"fit_s": fits, "recommend_s": recs_t}
    p, r, n = metrics(np.asarray(ids), test, users)
    out.update({"p10": p, "r10": r, "ndcg10": n})
    if a.dump:
        d = Path(a.dump)
        d.mkdir(parents=True, exist_ok=True)
        with open(d / "implicit_recs.tsv", "w") as f:
            for row, sc, u in zip(ids, _scores, users):
                for rank, (i, s) in enumerate(zip(row, sc)):
                    f.write(f"{user_raw[u]}\t{item_raw[i]}\t{rank}\t{s:.9g}\n")
        sim = model.similarity.tocsr()
        with open(d / "implicit_sims.tsv", "w") as f:
            for i in range(sim.shape[0]):
                for p_ in range(sim.indptr[i], sim.indptr[i + 1]):
                    if sim.data[p_] != 0:
                        f.write(f"{item_raw[i]}\t{item_raw[sim.indices[p_]]}\t{sim.data[p_]:.9g}\n")
    return out


def bench_knnbaseline(a):
    import numpy as np
    import surprise as s
    from surprise import accuracy
    from surprise.model_selection import KFold

    np.random.seed(0)
    random.seed(0)
    data = s.Dataset.load_from_file(str(Path(a.data) / "ml-100k" / "u.data"),
                                    reader=s.Reader("ml-100k"))
    trainset, testset = next(iter(KFold(n_splits=5, random_state=0, shuffle=True).split(data)))
    fits, tests = [], []
    for _ in range(a.repeat):
        algo = s.KNNBaseline(verbose=False)
        t0 = time.perf_counter()
        algo.fit(trainset)
        t1 = time.perf_counter()
        preds = algo.test(testset)
        t2 = time.perf_counter()
        fits.append(t1 - t0)
        tests.append(t2 - t1)
    return {"fit_s": fits, "test_s": tests, "rmse": accuracy.rmse(preds, verbose=False),
            "n_test": len(testset)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--split-dir", default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--dump", default=None)
    a = ap.parse_args()
    if a.split_dir is None:
        a.split_dir = str(Path(a.data) / ".." / "bench" / "splits" / "ml-100k")
    threads = [int(t) for t in a.threads.split(",")]
    import implicit
    import surprise

    out = {
        "versions": {"implicit": implicit.__version__, "surprise": surprise.__version__,
                     "python": sys.version.split()[0]},
        "itemknn": bench_itemknn(a, threads),
        "knnbaseline": bench_knnbaseline(a),
        "env_threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
