#!/usr/bin/env python3
"""implicit's ALS on a ratings.csv: seconds per iteration and peak memory, printed as JSON.

Usage: bench_als_scale_peer.py RATINGS_CSV FACTORS ITERATIONS THREADS
The matrix holds the ratings as confidences (implicit 0.7 uses the values as given), users x items.
"""
import json
import resource
import sys
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

path, factors, iterations, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
t = time.perf_counter()
df = pd.read_csv(path, dtype={"userId": "int32", "movieId": "int32", "rating": "float32", "timestamp": "int64"})
u, _ = pd.factorize(df["userId"])
i, _ = pd.factorize(df["movieId"])
m = sp.csr_matrix((df["rating"].to_numpy(np.float32), (u, i)))
del df
load = time.perf_counter() - t

from implicit.cpu.als import AlternatingLeastSquares  # noqa: E402

stamps = []
model = AlternatingLeastSquares(factors=factors, iterations=iterations, regularization=0.01, alpha=1.0,
                                random_state=42, num_threads=threads)
with threadpool_limits(1, "blas"):
    t = time.perf_counter()
    model.fit(m, show_progress=False, callback=lambda it, elapsed, loss: stamps.append(time.perf_counter()))
    fit = time.perf_counter() - t
per_iter = np.diff([t] + stamps).tolist()
print(json.dumps({"load_seconds": load, "fit_seconds": fit, "seconds_per_iteration": per_iter,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "nnz": int(m.nnz), "shape": list(m.shape)}))
