"""Trains Spark MLlib's ALS on a train file, saves the model, and writes what Spark itself computes for it.

The other side of `tastebud import spark-als` (crates/cli/tests/spark.rs, bench-spark): Spark on
`local[2]` reads the tab-separated train/test files `tastebud datasets split` writes (user, item, rating,
time; integer ids), fits `ALS`, saves it with `model.write().save(DIR)`, and writes a JSON file with

  - `fit_seconds`: the wall time of `ALS.fit` (factors materialised);
  - `rmse`: `RegressionEvaluator` RMSE of `model.transform(test)` (cold users and items dropped);
  - `ndcg_at_10`: `RankingMetrics.ndcgAt(10)` over the test users, each ranking the items Spark's
    `recommendForAllUsers` returns minus the user's training items (Spark does not remove seen items;
    Tastebud does, so the comparison is on unseen items), every test item relevant; with `--ranking numpy`
    (large data) the same metric on the same scores, computed by NumPy from the model's factors;
  - `lists`: for `--sample-users` test users (seeded), Spark's top 10 unseen items with their scores;
  - (with `--train-parquet DIR`) the train part, written by Spark as Parquet.

    PY=$(scripts/spark/env.sh)
    $PY scripts/spark/als.py --train split/train.tsv --test split/test.tsv --model out/model --results out/spark.json
"""

import argparse
import json
import os
import random
import sys
import time

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--model", required=True, help="folder to save the ALSModel to")
    ap.add_argument("--results", required=True, help="JSON file to write")
    ap.add_argument("--rank", type=int, default=10)
    ap.add_argument("--max-iter", type=int, default=10)
    ap.add_argument("--reg-param", type=float, default=0.1)
    ap.add_argument("--implicit-prefs", action="store_true")
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sample-users", type=int, default=60)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--train-parquet", help="also write the train part as Parquet (a folder of parts) here")
    ap.add_argument(
        "--ranking",
        choices=["spark", "numpy"],
        default="spark",
        help="how the NDCG@10 ranking is computed: Spark's recommendForAllUsers over every item, collected "
        "into Python (small data), or the same dot products with NumPy from the model's factors, by chunks "
        "of users (large data; no sampled lists then)",
    )
    ap.add_argument("--driver-memory", default="4g")
    args = ap.parse_args()

    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F
    from pyspark.ml.recommendation import ALS
    from pyspark.ml.evaluation import RegressionEvaluator

    spark = (
        SparkSession.builder.master(f"local[{args.cores}]")
        .appName("tastebud-als")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", args.driver_memory)
        .config("spark.sql.shuffle.partitions", str(2 * args.cores))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    schema = "user INT, item INT, rating FLOAT, ts LONG"
    train = spark.read.csv(args.train, sep="\t", schema=schema).cache()
    test = spark.read.csv(args.test, sep="\t", schema=schema).cache()
    train.count()
    test.count()
    if args.train_parquet:
        train.write.mode("overwrite").parquet(args.train_parquet)

    als = ALS(
        rank=args.rank,
        maxIter=args.max_iter,
        regParam=args.reg_param,
        implicitPrefs=args.implicit_prefs,
        alpha=args.alpha,
        seed=args.seed,
        userCol="user",
        itemCol="item",
        ratingCol="rating",
        coldStartStrategy="drop",
    )
    t = time.perf_counter()
    model = als.fit(train)
    model.userFactors.count()
    model.itemFactors.count()
    fit_seconds = time.perf_counter() - t
    model.write().overwrite().save(args.model)

    rmse = RegressionEvaluator(metricName="rmse", labelCol="rating", predictionCol="prediction").evaluate(
        model.transform(test)
    )
    out = {
        "spark_version": spark.version,
        "params": vars(args),
        "fit_seconds": fit_seconds,
        "rmse": rmse,
    }

    if args.ranking == "numpy":
        out["ndcg_at_10"], out["n_test_users"] = numpy_ndcg(model, args.train, args.test, args.k)
    else:
        from pyspark.mllib.evaluation import RankingMetrics

        n_items = model.itemFactors.count()
        seen = {}
        for row in train.select("user", "item").collect():
            seen.setdefault(row.user, set()).add(row.item)
        truth = {}
        for row in test.select("user", "item").collect():
            truth.setdefault(row.user, []).append(row.item)
        ranked = {}
        recs = model.recommendForAllUsers(n_items).select("user", F.col("recommendations"))
        for row in recs.toLocalIterator():
            s = seen.get(row.user, set())
            top = []
            for r in row.recommendations:
                if r.item not in s:
                    top.append((r.item, r.rating))
                    if len(top) == args.k:
                        break
            ranked[row.user] = top
        users = sorted(u for u in truth if u in ranked)
        pairs = [([i for i, _ in ranked[u]], truth[u]) for u in users]
        metrics = RankingMetrics(spark.sparkContext.parallelize(pairs, 2))
        out["ndcg_at_10"] = metrics.ndcgAt(10)
        out["n_test_users"] = len(users)
        sample = random.Random(args.seed).sample(users, min(args.sample_users, len(users)))
        out["lists"] = {str(u): [[str(i), float(s)] for i, s in ranked[u]] for u in sample}

    with open(args.results, "w") as f:
        json.dump(out, f, indent=1)
    spark.stop()


def numpy_ndcg(model, train_path, test_path, k):
    """NDCG@k of the model over unseen items, as RankingMetrics.ndcgAt computes it (binary relevance, every
    test item relevant, ideal DCG over min(|test items|, k)), with the scores `recommendForAllUsers` would
    compute (user factor . item factor) evaluated by NumPy in chunks of users."""
    import numpy as np
    import pyarrow.csv as pcsv

    def read(path):
        t = pcsv.read_csv(
            path,
            read_options=pcsv.ReadOptions(column_names=["user", "item", "rating", "ts"]),
            parse_options=pcsv.ParseOptions(delimiter="\t"),
        )
        return t["user"].to_numpy().astype(np.int64), t["item"].to_numpy().astype(np.int64)

    uf = model.userFactors.collect()
    vf = model.itemFactors.collect()
    uid = np.array([r.id for r in uf], dtype=np.int64)
    U = np.array([r.features for r in uf], dtype=np.float32)
    iid = np.array([r.id for r in vf], dtype=np.int64)
    V = np.array([r.features for r in vf], dtype=np.float32)
    uo, io = np.argsort(uid), np.argsort(iid)
    uid, U, iid, V = uid[uo], U[uo], iid[io], V[io]

    def rows(ids, keys):  # index of each id in keys, -1 when absent
        pos = np.searchsorted(keys, ids)
        pos = np.clip(pos, 0, len(keys) - 1)
        return np.where(keys[pos] == ids, pos, -1)

    tu, ti = read(train_path)
    su, si = rows(tu, uid), rows(ti, iid)
    keep = (su >= 0) & (si >= 0)
    su, si = su[keep], si[keep]
    order = np.argsort(su, kind="stable")
    su, si = su[order], si[order]
    seen_ptr = np.searchsorted(su, np.arange(len(uid) + 1))

    eu, ei = read(test_path)
    eu_r = rows(eu, uid)
    known = eu_r >= 0  # a test user Spark never saw is left out, as recommendForAllUsers has no row for it
    eu_r, ei = eu_r[known], ei[known]
    order = np.argsort(eu_r, kind="stable")
    eu_r, ei = eu_r[order], ei[order]
    users = np.unique(eu_r)
    test_ptr = np.searchsorted(eu_r, np.append(users, len(uid)))
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    total = 0.0
    for c in range(0, len(users), 2048):
        chunk = users[c : c + 2048]
        scores = U[chunk] @ V.T
        for r, u in enumerate(chunk):
            scores[r, si[seen_ptr[u] : seen_ptr[u + 1]]] = -np.inf
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        top_scores = np.take_along_axis(scores, top, axis=1)
        top = np.take_along_axis(top, np.argsort(-top_scores, axis=1, kind="stable"), axis=1)
        for r, u in enumerate(chunk):
            j = c + r
            truth = ei[test_ptr[j] : test_ptr[j + 1]]
            rel = np.isin(iid[top[r]], truth)
            idcg = discount[: min(len(truth), k)].sum()
            total += float((rel * discount).sum() / idcg)
    return total / len(users), int(len(users))


if __name__ == "__main__":
    main()
