#!/usr/bin/env python
"""FAISS's IndexHNSWFlat beside Tastebud's HNSW, for `bench-ann --python PY` (not run on its own).

Reads items.npy, queries.npy (float32) and truth.npy / truth_filtered.npy (int32 exact top-k ids) and
allowed.npy (uint8 per item: 1 = may be returned) from --data, builds IndexHNSWFlat (inner product, M,
efConstruction) on --threads OpenMP threads, and for each ef measures, as bench-ann does for Tastebud:
recall@k against the exact answer, plain and with the disallowed ids filtered out (faiss's IDSelector),
QPS of one batch search on --threads threads, and QPS / p50 / p99 of the queries one after another on one
thread (one search call per query); each timed pass is repeated --reps times and the fastest counts, as in
bench-ann. FAISS's QPS on one thread is one batch call on one OpenMP thread (no Python overhead per
query); its p50/p99 are one call per query, so they include Python's overhead of a call (a few
microseconds). Prints one JSON object."""

import argparse
import json
import time

import faiss
import numpy as np


def recall(approx, truth, k):
    hits = 0
    for a, t in zip(approx, truth):
        hits += len(set(int(x) for x in a[:k] if x >= 0) & set(int(x) for x in t[:k]))
    return hits / (k * len(truth))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=128)
    ap.add_argument("--ef", default="32,64,128,256")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    xb = np.load(f"{a.data}/items.npy")
    xq = np.load(f"{a.data}/queries.npy")
    truth = np.load(f"{a.data}/truth.npy")
    truth_f = np.load(f"{a.data}/truth_filtered.npy")
    allowed = np.load(f"{a.data}/allowed.npy").astype(bool)
    d = xb.shape[1]

    faiss.omp_set_num_threads(a.threads)
    index = faiss.IndexHNSWFlat(d, a.m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = a.ef_construction
    t = time.perf_counter()
    index.add(xb)
    build_s = time.perf_counter() - t

    selector = faiss.IDSelectorBatch(np.flatnonzero(allowed).astype(np.int64))
    rows = []
    for ef in [int(x) for x in a.ef.split(",")]:
        faiss.omp_set_num_threads(a.threads)
        params = faiss.SearchParametersHNSW(efSearch=ef)
        batch = float("inf")
        for _ in range(a.reps):
            t = time.perf_counter()
            _, ids = index.search(xq, a.k, params=params)
            batch = min(batch, time.perf_counter() - t)
        params_f = faiss.SearchParametersHNSW(efSearch=ef, sel=selector)
        _, ids_f = index.search(xq, a.k, params=params_f)
        faiss.omp_set_num_threads(1)
        # QPS on one thread: one batch call (no Python overhead per query, the stricter comparison);
        # the latency percentiles come from one call per query.
        batch1 = float("inf")
        for _ in range(a.reps):
            t = time.perf_counter()
            index.search(xq, a.k, params=params)
            batch1 = min(batch1, time.perf_counter() - t)
        best = None
        for _ in range(a.reps):
            lat = []
            for i in range(len(xq)):
                q = xq[i : i + 1]
                t = time.perf_counter()
                index.search(q, a.k, params=params)
                lat.append(time.perf_counter() - t)
            if best is None or sum(lat) < sum(best):
                best = lat
        lat = sorted(best)
        pct = lambda p: lat[round((len(lat) - 1) * p)] * 1e3  # bench-ann's percentile
        rows.append(
            {
                "ef": ef,
                "recall": recall(ids, truth, a.k),
                "recall_filtered": recall(ids_f, truth_f, a.k),
                "qps_threads": len(xq) / batch,
                "qps_1_thread": len(xq) / batch1,
                "p50_ms": pct(0.5),
                "p99_ms": pct(0.99),
            }
        )
    print(json.dumps({"faiss": faiss.__version__, "threads": a.threads, "build_s": build_s, "rows": rows}))


if __name__ == "__main__":
    main()
