"""Users scored per second on Spark, in one session: Spark's own `recommendForAllUsers(k)` on a saved ALS model
vs the Tastebud job (`tastebud.spark.score_users`, mapInArrow) on the same model imported as a model file,
both written out as Parquet; and the Python package's `recommend_batch` over every user in the driver.
bench-spark runs it (the Python package must be installed: scripts/python.sh).

    $PY scripts/spark/score.py --spark-model model/ --tastebud-model spark.tbm --out /tmp/score --results r.json
"""

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def timed(f, repeat):
    f()  # warm-up: JVM code paths, the shipped model file, Python workers
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spark-model", required=True)
    ap.add_argument("--tastebud-model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--driver-memory", default="4g")
    args = ap.parse_args()

    from pyspark.ml.recommendation import ALSModel
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    import tastebud
    from tastebud.spark import score_users

    spark = (
        SparkSession.builder.master(f"local[{args.cores}]")
        .appName("tastebud-score")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", args.driver_memory)
        .config("spark.sql.shuffle.partitions", str(2 * args.cores))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    model = ALSModel.load(args.spark_model)
    users = model.userFactors.select(F.col("id").cast("string").alias("user")).repartition(2 * args.cores).cache()
    n = users.count()

    spark_s = timed(
        lambda: model.recommendForAllUsers(args.k).write.mode("overwrite").parquet(os.path.join(args.out, "spark")),
        args.repeat,
    )
    tastebud_s = timed(
        lambda: score_users(spark, args.tastebud_model, users, k=args.k)
        .write.mode("overwrite")
        .parquet(os.path.join(args.out, "tastebud")),
        args.repeat,
    )
    m = tastebud.load_model(args.tastebud_model)
    ids = m.user_ids()
    python_s = timed(lambda: m.recommend_batch(ids, k=args.k), args.repeat)
    out = {
        "users": n,
        "k": args.k,
        "spark_recommend_for_all_users_seconds": spark_s,
        "tastebud_on_spark_seconds": tastebud_s,
        "python_recommend_batch_seconds": python_s,
        "python_users": len(ids),
    }
    with open(args.results, "w") as f:
        json.dump(out, f, indent=1)
    spark.stop()


if __name__ == "__main__":
    main()
