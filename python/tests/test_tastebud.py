"""The Python package against the CLI: the same data, models, files and answers.

Run by scripts/python.sh (which builds and installs the package, and sets TASTEBUD_BIN to a `tastebud`
built with the `parquet` feature). Real data: $TASTEBUD_DATA/ml-100k (default ../shared/data/ml-100k);
the tests fail, not skip, when it is missing.
"""

import json
import math
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import tastebud

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("TASTEBUD_DATA", ROOT.parent / "shared" / "data"))
ML100K = DATA / "ml-100k"
BIN = os.environ.get("TASTEBUD_BIN", str(ROOT / "target" / "debug" / "tastebud"))


def cli(*args: str) -> str:
    out = subprocess.run([BIN, *args], capture_output=True, text=True)
    assert out.returncode == 0, f"tastebud {args} failed: {out.stderr}"
    return out.stdout


@pytest.fixture(scope="module")
def ml():
    assert (ML100K / "u.data").is_file(), f"ML-100K not found at {ML100K} (set TASTEBUD_DATA)"
    return tastebud.load_dataset(ML100K)


@pytest.fixture(scope="module")
def ease(ml, tmp_path_factory):
    model = tastebud.fit("ease", ml, lambda_=250)
    path = tmp_path_factory.mktemp("m") / "ease.tbm"
    model.save(path)
    return model, path


def close(a, b):
    return math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-6)


def test_dataset_counts(ml):
    assert (ml.n_users, ml.n_items, ml.n_interactions) == (943, 1682, 100_000)
    assert ml.user_ids()[0] == "1" and "196" in ml.user_ids()  # u.user order
    assert "Dataset(" in repr(ml)


def test_recommend_equals_the_cli(ease):
    model, path = ease
    assert model.kind == "ease" and model.params["lambda"] == 250
    for user in ["1", "42", "943"]:
        ours = model.recommend(user=user, k=10)
        theirs = json.loads(cli("recommend", "--model", str(path), "--user", user, "-k", "10", "--json"))
        assert [i for i, _ in ours] == [r["item"] for r in theirs]
        assert all(close(s, r["score"]) for (_, s), r in zip(ours, theirs))


def test_new_user_history_equals_the_cli(ease):
    model, path = ease
    ours = model.recommend(history=["50", "181", ("172", 3.0)], k=10)
    theirs = json.loads(
        cli("recommend", "--model", str(path), "--history", "50", "--history", "181", "--history", "172:3", "-k", "10", "--json")
    )
    assert [i for i, _ in ours] == [r["item"] for r in theirs]
    assert not {"50", "181", "172"} & {i for i, _ in ours}


def test_similar_items_equal_the_cli(ease):
    model, path = ease
    ours = model.similar_items("50", k=5)
    theirs = json.loads(cli("similar", "--model", str(path), "--item", "50", "-k", "5", "--json"))
    assert [i for i, _ in ours] == [r["item"] for r in theirs]


def test_recommend_batch_arrays(ease):
    model, _ = ease
    ids, scores = model.recommend_batch(["1", "2", "3"], k=10)
    assert ids.shape == (3, 10) and scores.shape == (3, 10) and scores.dtype == np.float32
    for r, u in enumerate(["1", "2", "3"]):
        single = model.recommend(user=u, k=10)
        assert list(ids[r]) == [i for i, _ in single]
        assert np.allclose(scores[r], [s for _, s in single])


def test_files_round_trip_with_the_cli(ml, tmp_path):
    # A file the CLI trains loads in Python, and answers the same.
    path = tmp_path / "pop.tbm"
    cli("train", str(ML100K), "--model", "popularity", "--out", str(path))
    m = tastebud.load_model(path)
    assert m.kind == "popularity"
    theirs = json.loads(cli("recommend", "--model", str(path), "--user", "1", "-k", "5", "--json"))
    assert [i for i, _ in m.recommend(user="1", k=5)] == [r["item"] for r in theirs]


def test_from_pandas_equals_the_file_reader(ml):
    import pandas as pd

    df = pd.read_csv(ML100K / "u.data", sep="\t", names=["userId", "movieId", "rating", "timestamp"])
    d = tastebud.Dataset.from_pandas(df, user="userId", item="movieId", rating="rating", time="timestamp")
    assert (d.n_users, d.n_interactions) == (943, 100_000)
    a = tastebud.fit("itemknn", d).recommend(user="1", k=10)
    b = tastebud.fit("itemknn", ml).recommend(user="1", k=10)
    assert [i for i, _ in a] == [i for i, _ in b]


def test_evaluate_returns_a_dataframe(ml):
    df = tastebud.evaluate(ml, models=["popularity", "ease"], split="user:0.2", k=[10], metrics=["ndcg", "recall"])
    assert list(df.index) == ["popularity", "ease"]
    assert df.loc["ease", "ndcg@10"] > df.loc["popularity", "ndcg@10"] > 0
    report = tastebud.evaluate(ml, models=["popularity"], k=[5], metrics=["precision"], as_json=True)
    assert report["models"][0]["metrics"]["precision@5"]["mean"] > 0


def test_evaluate_equals_the_cli(ml):
    ours = tastebud.evaluate(ml, models=["popularity"], split="user:0.2", k=[10], metrics=["ndcg"], seed=3)
    theirs = json.loads(
        cli("evaluate", str(ML100K), "--models", "popularity", "--split", "user:0.2", "--k", "10", "--metrics", "ndcg", "--seed", "3", "--format", "json")
    )
    assert close(ours.loc["popularity", "ndcg@10"], theirs["models"][0]["metrics"]["ndcg@10"]["mean"])


def test_bad_input_is_a_clear_error(ml, ease):
    model, _ = ease
    with pytest.raises(KeyError, match="unknown user"):
        model.recommend(user="no-such-user")
    with pytest.raises(KeyError, match="unknown item"):
        model.recommend(history=["no-such-item"])
    with pytest.raises(ValueError, match="lambda"):
        tastebud.fit("ease", ml, lambda_=-1)
    with pytest.raises(ValueError, match="unknown model"):
        tastebud.fit("nope", ml)
    assert "ease" in dict(tastebud.models())


def test_parquet_dataset(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = pa.table({"u": ["a", "a", "b"], "i": [1, 2, 2], "r": [5.0, 3.0, 4.0]})
    pq.write_table(t, tmp_path / "x.parquet")
    d = tastebud.load_dataset(tmp_path / "x.parquet", columns="user=u,item=i,rating=r")
    assert (d.n_users, d.n_items, d.n_interactions) == (2, 2, 3)
