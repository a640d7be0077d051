"""Trains Spark MLlib's ALS on a train file, saves the model, and writes what Spark itself computes for it.

The other side of `tastebud import spark-als` (crates/cli/tests/spark.rs, bench-spark): Spark on
`local[2]` reads the tab-separated train/test files `tastebud datasets split` writes (user, item, rating,
time; integer ids), fits `ALS`, saves it with `model.write().save(DIR)`, and writes a JSON file with

  - `fit_seconds`: the wall time of `ALS.fit` (factors materialised);
  - `rmse`: `RegressionEvaluator` RMSE of `model.transform(test)` (cold users and items dropped);
  - `ndcg_at_10`: `RankingMetrics.ndcgAt(10)` over the test users, each ranking the items Spark's
    `recommendForAllUsers` returns minus the user's training items (Spark does not remove seen items;
    Tastebud does, so the comparison is on unseen items), every test item relevant;
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
    ap.add_argument("--skip-ranking", action="store_true", help="fit, save and RMSE only")
    args = ap.parse_args()

    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F
    from pyspark.ml.recommendation import ALS
    from pyspark.ml.evaluation import RegressionEvaluator

    spark = (
        SparkSession.builder.master(f"local[{args.cores}]")
        .appName("tastebud-als")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "4g")
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

    if not args.skip_ranking:
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


if __name__ == "__main__":
    main()
