"""Tastebud for Python: load interactions, fit any registered model, recommend, evaluate.

The heavy work runs in Rust (the same crates as the ``tastebud`` binary) with the GIL released, and the model
files are the ones the CLI and the server read and write::

    import tastebud
    data = tastebud.load_dataset("ml-100k")                  # any path the CLI reads, Parquet too
    model = tastebud.fit("ease", data, lambda_=500)          # any registered model; params as in --param
    model.recommend(user="1", k=10)                          # [(item_id, score), ...]
    model.recommend(history=["50", "181"], k=10)             # a new user: fold the history in
    ids, scores = model.recommend_batch(["1", "2"], k=10)    # NumPy arrays, one row per user
    model.similar_items("50", k=10)
    model.save("m.tbm"); tastebud.load_model("m.tbm")
    tastebud.evaluate(data, models=["popularity", "ease"], split="user:0.2", k=[10])  # a pandas DataFrame

A parameter whose name is a Python keyword takes a trailing underscore (``lambda_=500``).
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable, Mapping, Sequence, Union

import numpy as np

from . import _tastebud

__version__: str = _tastebud.__version__
__all__ = [
    "Dataset",
    "Model",
    "load_dataset",
    "load_model",
    "fit",
    "evaluate",
    "models",
    "__version__",
]

PathLike = Union[str, "os.PathLike[str]"]
HistoryItem = Union[str, "tuple[str, float]"]


class Dataset:
    """Interactions with their user and item ids (from :func:`load_dataset` or :meth:`from_pandas`)."""

    def __init__(self, native: _tastebud.Dataset):
        self._native = native

    @classmethod
    def from_pandas(
        cls,
        df: Any,
        user: str = "user",
        item: str = "item",
        rating: str | None = None,
        time: str | None = None,
        implicit: bool = False,
        name: str = "dataframe",
    ) -> "Dataset":
        """A dataset from a pandas DataFrame's columns: ids (any type, compared as text), an optional rating
        column (explicit feedback unless ``implicit``; without it every row weighs 1, implicit), and an
        optional time column (Unix seconds, or datetimes)."""
        users = [str(u) for u in df[user].tolist()]
        items = [str(i) for i in df[item].tolist()]
        ratings = None if rating is None else [float(r) for r in df[rating].tolist()]
        times = None
        if time is not None:
            col = df[time]
            if np.issubdtype(col.dtype, np.datetime64):
                times = (col.astype("datetime64[s]").astype("int64")).tolist()
            else:
                times = [int(t) for t in col.tolist()]
        return cls(_tastebud.Dataset.from_columns(users, items, ratings, times, implicit, name))

    @property
    def n_users(self) -> int:
        """Number of users."""
        return self._native.n_users

    @property
    def n_items(self) -> int:
        """Number of items."""
        return self._native.n_items

    @property
    def n_interactions(self) -> int:
        """Number of interactions (duplicates merged)."""
        return self._native.n_interactions

    @property
    def name(self) -> str:
        """The dataset's name."""
        return self._native.name

    def user_ids(self) -> list[str]:
        """User ids, in index order."""
        return self._native.user_ids()

    def item_ids(self) -> list[str]:
        """Item ids, in index order."""
        return self._native.item_ids()

    def __repr__(self) -> str:
        return repr(self._native)


class Model:
    """A fitted model with its ids and training histories (a Tastebud model file)."""

    def __init__(self, native: _tastebud.Model):
        self._native = native

    @property
    def kind(self) -> str:
        """The model type, e.g. ``"ease"``."""
        return self._native.kind

    @property
    def params(self) -> dict[str, Any]:
        """Every hyperparameter, defaults included."""
        return json.loads(self._native.params_json)

    def recommend(
        self,
        user: str | None = None,
        history: Iterable[HistoryItem] | None = None,
        k: int = 10,
        exclude_seen: bool = True,
    ) -> list[tuple[str, float]]:
        """The best ``k`` items as ``(item_id, score)``, best first, for a known ``user`` (their training
        history) and/or a ``history`` of item ids or ``(item_id, value)`` pairs (a new user, fresh events).
        Seen items are left out unless ``exclude_seen`` is false. Unknown ids raise ``KeyError``."""
        h = None
        if history is not None:
            h = [(x, None) if isinstance(x, str) else (str(x[0]), float(x[1])) for x in history]
        return self._native.recommend(None if user is None else str(user), h, k, exclude_seen)

    def recommend_batch(self, users: Sequence[str], k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The top ``k`` of many known users at once, in parallel: ``(ids, scores)``, arrays of shape
        ``(len(users), k)`` (ids of dtype object; a row shorter than ``k`` is padded with None / NaN)."""
        ids, scores = self._native.recommend_batch([str(u) for u in users], k)
        out_ids = np.empty((len(ids), k), dtype=object)
        for r, row in enumerate(ids):
            out_ids[r, :] = row
        return out_ids, np.asarray(scores, dtype=np.float32).reshape(len(ids), k)

    def similar_items(self, item: str, k: int = 10) -> list[tuple[str, float]]:
        """Items similar to ``item`` as ``(item_id, score)``, best first."""
        return self._native.similar_items(str(item), k)

    def user_ids(self) -> list[str]:
        """The users the model knows (with a training history)."""
        return self._native.user_ids()

    def save(self, path: PathLike) -> None:
        """Writes the model file (the format ``tastebud serve`` and ``tastebud recommend`` read)."""
        self._native.save(os.fspath(path))

    def __repr__(self) -> str:
        return repr(self._native)


def load_dataset(
    path: PathLike, columns: str | None = None, delimiter: str | None = None, implicit: bool = False
) -> Dataset:
    """Loads any dataset the CLI reads: a MovieLens, Goodbooks-10k, Netflix Prize or Amazon folder, a
    delimited file (``columns="user=userId,item=movieId,rating=rating,time=timestamp"``), or Parquet (a file
    or a folder of parts)."""
    return Dataset(_tastebud.Dataset.load(os.fspath(path), columns, delimiter, implicit))


def load_model(path: PathLike) -> Model:
    """Loads a model file written by :meth:`Model.save`, ``tastebud train`` or ``tastebud import``."""
    return Model(_tastebud.Model.load(os.fspath(path)))


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return ",".join(_value(x) for x in v)
    return str(v)


def _key(k: str) -> str:
    return k[:-1] if k.endswith("_") else k


def fit(name: str, data: Dataset, **params: Any) -> Model:
    """Fits a registered model (see :func:`models`) on ``data``; ``params`` as ``tastebud train --param``
    takes them (``factors=64``, ``lambda_=500``)."""
    return Model(_tastebud.fit(name, data._native, [f"{_key(k)}={_value(v)}" for k, v in params.items()]))


def evaluate(
    data: Dataset,
    models: Sequence[str] = ("popularity", "random"),
    split: str = "user:0.2",
    k: Sequence[int] = (10,),
    metrics: Sequence[str] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int = 42,
    threshold: float | None = None,
    as_json: bool = False,
) -> Any:
    """Evaluates ``models`` on a split of ``data`` as ``tastebud evaluate`` does (full ranking, seen items
    excluded). Returns a pandas DataFrame with one row per model and the mean of each metric (and RMSE/MAE
    for rating predictors, and the fit time), or with ``as_json`` the whole report as a dict."""
    flat = [
        f"{m}.{_key(key)}={_value(v)}" for m, kv in (params or {}).items() for key, v in kv.items()
    ]
    report = json.loads(
        _tastebud.evaluate_json(
            data._native, list(models), split, list(k), None if metrics is None else list(metrics), flat, seed, threshold
        )
    )
    if as_json:
        return report
    import pandas as pd

    rows = []
    for m in report["models"]:
        row: dict[str, Any] = {"model": m["model"]}
        for metric, v in m["metrics"].items():
            row[metric] = v["mean"]
        row["fit_seconds"] = m.get("fit_seconds")
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")


def models() -> list[tuple[str, str]]:
    """The registered model names, each with a one-line description."""
    return _tastebud.models()
