#!/usr/bin/env python3
"""Times pytrec_eval and ranx on a TREC run/qrels pair and prints their mean metrics as JSON.

Usage: bench_eval_peers.py RUN QRELS KS REPEAT
Loading the files into dicts is not timed (the same for Tastebud's side): only the evaluation call.
"""
import json
import sys
import time
from collections import defaultdict

run_path, qrels_path, ks, repeat = sys.argv[1], sys.argv[2], [int(k) for k in sys.argv[3].split(",")], int(sys.argv[4])

run = defaultdict(dict)
with open(run_path) as f:
    for line in f:
        q, _, d, _, s, _ = line.split()
        run[q][d] = float(s)
qrels = defaultdict(dict)
with open(qrels_path) as f:
    for line in f:
        q, _, d, r = line.split()
        qrels[q][d] = int(r)
run, qrels = dict(run), dict(qrels)

out = {"queries": len(qrels)}

import pytrec_eval  # noqa: E402

measures = set()
for k in ks:
    measures |= {f"P.{k}", f"recall.{k}", f"ndcg_cut.{k}", f"map_cut.{k}", f"success.{k}"}
measures.add("recip_rank")
times = []
for _ in range(repeat):
    t = time.perf_counter()
    ev = pytrec_eval.RelevanceEvaluator(qrels, measures)
    res = ev.evaluate(run)
    times.append(time.perf_counter() - t)
n = len(res)
means = {}
for k in ks:
    for ours, theirs in [("precision", f"P_{k}"), ("recall", f"recall_{k}"), ("ndcg", f"ndcg_cut_{k}"),
                         ("map", f"map_cut_{k}"), ("hit_rate", f"success_{k}")]:
        means[f"{ours}@{k}"] = sum(v[theirs] for v in res.values()) / n
means[f"mrr@{max(ks)}"] = sum(v["recip_rank"] for v in res.values()) / n
out["pytrec_eval"] = {"seconds": sorted(times)[len(times) // 2], "all_seconds": times, "means": means,
                      "version": __import__("importlib.metadata").metadata.version("pytrec-eval-terrier")}

import ranx  # noqa: E402

metrics = []
for k in ks:
    metrics += [f"precision@{k}", f"recall@{k}", f"ndcg@{k}", f"map@{k}", f"hit_rate@{k}"]
metrics.append(f"mrr@{max(ks)}")
rq, rr = ranx.Qrels(qrels), ranx.Run(run)
t = time.perf_counter()
ranx.evaluate(rq, rr, metrics)  # first call compiles with numba
first = time.perf_counter() - t
times = []
for _ in range(repeat):
    rq, rr = ranx.Qrels(qrels), ranx.Run(run)
    t = time.perf_counter()
    res = ranx.evaluate(rq, rr, metrics)
    times.append(time.perf_counter() - t)
out["ranx"] = {"seconds": sorted(times)[len(times) // 2], "all_seconds": times, "first_call_seconds": first,
               "means": {m: float(v) for m, v in res.items()}, "version": __import__("importlib.metadata").metadata.version("ranx")}
print(json.dumps(out))
