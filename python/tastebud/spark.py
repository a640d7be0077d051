"""Batch scoring on Apache Spark with a Tastebud model file.

The model file is shipped to the executors (``SparkContext.addFile``); each partition of users is scored
there by the Rust code through :meth:`tastebud.Model.recommend_batch` (``mapInArrow``: Arrow batches in and
out, no pandas), and the result is the long format ``tastebud batch --out lists.parquet`` writes: one row
per (user, rank) with ``user: string, rank: int, item: string, score: float``.

From Python::

    from pyspark.sql import SparkSession
    from tastebud.spark import score_users
    spark = SparkSession.builder.master("local[2]").getOrCreate()
    users = spark.createDataFrame([("1",), ("2",)], "user string")
    score_users(spark, "m.tbm", users, k=10).write.parquet("lists.parquet")

Or as a job (every user the model knows, or the ``user`` column of a Parquet file)::

    spark-submit -m tastebud.spark ...   # or: python -m tastebud.spark --model m.tbm --out lists.parquet
"""

from __future__ import annotations

import argparse
import os
from typing import Any, Iterator

SCHEMA = "user string, rank int, item string, score float"

_MODELS: dict[str, Any] = {}


def _model(name: str) -> Any:
    """The model file shipped as ``name``, loaded once per Python worker."""
    if name not in _MODELS:
        from pyspark import SparkFiles

        import tastebud

        _MODELS[name] = tastebud.load_model(SparkFiles.get(name))
    return _MODELS[name]


def score_users(spark: Any, model_path: str, users: Any, k: int = 10, user_col: str = "user") -> Any:
    """A DataFrame of the top ``k`` of every user in ``users[user_col]`` (ids as text), in the long format of
    ``tastebud batch`` (``user, rank, item, score``). Users the model does not know raise on the executor."""
    spark.sparkContext.addFile(os.path.abspath(model_path))
    name = os.path.basename(model_path)

    def run(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        model = _model(name)
        for batch in batches:
            ids = [str(u) for u in batch.column(batch.schema.get_field_index(user_col)).to_pylist()]
            if not ids:
                continue
            items, scores = model._native.recommend_batch(ids, k)
            out_user, out_rank, out_item, out_score = [], [], [], []
            for u, row_items, row_scores in zip(ids, items, scores):
                for r, (i, s) in enumerate(zip(row_items, row_scores)):
                    if i is None:
                        break
                    out_user.append(u)
                    out_rank.append(r + 1)
                    out_item.append(i)
                    out_score.append(s)
            yield pa.RecordBatch.from_arrays(
                [
                    pa.array(out_user, pa.string()),
                    pa.array(out_rank, pa.int32()),
                    pa.array(out_item, pa.string()),
                    pa.array(out_score, pa.float32()),
                ],
                names=["user", "rank", "item", "score"],
            )

    return users.select(users[user_col].cast("string").alias(user_col)).mapInArrow(run, SCHEMA)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Score users on Spark with a Tastebud model file.")
    ap.add_argument("--model", required=True, help="the model file (tastebud train / import / Model.save)")
    ap.add_argument("--out", required=True, help="Parquet folder to write (user, rank, item, score)")
    ap.add_argument("--users", help="Parquet with a `user` column; default: every user the model knows")
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--master", default=os.environ.get("SPARK_MASTER", "local[2]"))
    ap.add_argument("--partitions", type=int, default=0, help="user partitions (default: Spark's)")
    args = ap.parse_args(argv)

    from pyspark.sql import SparkSession

    import tastebud

    spark = (
        SparkSession.builder.master(args.master)
        .appName("tastebud-batch")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    if args.users:
        users = spark.read.parquet(args.users)
    else:
        ids = tastebud.load_model(args.model).user_ids()
        users = spark.createDataFrame([(u,) for u in ids], "user string")
    if args.partitions:
        users = users.repartition(args.partitions)
    score_users(spark, args.model, users, k=args.k).write.mode("overwrite").parquet(args.out)
    spark.stop()


if __name__ == "__main__":
    main()
