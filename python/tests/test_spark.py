"""The PySpark batch job (tastebud.spark, `local[2]`) writes the lists `tastebud batch` writes for the same
model file, and the README's Python and Spark examples run as written."""

import os
import re
import subprocess
from pathlib import Path

import pyarrow.parquet as pq

import tastebud
from tastebud.spark import score_users

from test_tastebud import BIN, ML100K, ROOT, cli

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


def rows(path):
    t = pq.read_table(path).to_pydict()
    out = sorted(zip(t["user"], t["rank"], t["item"], t["score"]))
    return [(u, int(r), i, float(s)) for u, r, i, s in out]


def test_spark_batch_equals_tastebud_batch(tmp_path):
    from pyspark.sql import SparkSession

    model = tmp_path / "als.tbm"
    cli("train", str(ML100K), "--model", "als", "--param", "factors=16", "--param", "iterations=4", "--out", str(model))
    cli("batch", "--model", str(model), "--out", str(tmp_path / "cli.parquet"), "-k", "10", "--data-dir", str(tmp_path / "store"))

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("tastebud-test")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    try:
        ids = tastebud.load_model(model).user_ids()
        users = spark.createDataFrame([(u,) for u in ids], "user string").repartition(4)
        score_users(spark, str(model), users, k=10).write.parquet(str(tmp_path / "spark.parquet"))
    finally:
        spark.stop()
    ours, theirs = rows(tmp_path / "spark.parquet"), rows(tmp_path / "cli.parquet")
    assert len(ours) == len(theirs) == 943 * 10
    assert [r[:3] for r in ours] == [r[:3] for r in theirs]
    assert all(abs(a[3] - b[3]) <= 1e-6 * max(1.0, abs(b[3])) for a, b in zip(ours, theirs))


def test_spark_job_command_line(tmp_path):
    model = tmp_path / "pop.tbm"
    cli("train", str(ML100K), "--model", "popularity", "--out", str(model))
    out = tmp_path / "lists.parquet"
    env = dict(os.environ, PYSPARK_PYTHON=os.sys.executable)
    r = subprocess.run(
        [os.sys.executable, "-m", "tastebud.spark", "--model", str(model), "--out", str(out), "-k", "5"],
        capture_output=True, text=True, env=env,
    )
    assert r.returncode == 0, r.stderr
    assert len(rows(out)) == 943 * 5


def readme_blocks(section):
    text = (ROOT / "README.md").read_text()
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, re.S)


def test_readme_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # what the examples write lands here; their data path is made absolute
    blocks = readme_blocks("Python") + readme_blocks("Spark")
    assert len(blocks) >= 2
    for code in blocks:
        code = code.replace('"../shared/data/', f'"{ML100K.parent}/')
        # Spark resolves relative paths against its JVM's folder, started by an earlier test elsewhere.
        code = code.replace('"lists.parquet"', f'"{tmp_path}/lists.parquet"')
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
