"""The Python side of Tastebud's ONNX tests and benchmark (interpreter: scripts/onnx/env.sh).

  peer.py external OUT_DIR [--items N] [--dim D] [--seed S] [--form scores|embeddings] [--user-features F]
      Builds, with the `onnx` package, a scoring model trained "elsewhere" that follows Tastebud's contract
      (inputs `items` int64 [n] and `weights` float32 [n]): the weighted sum of the history's item
      embeddings through tanh is the user vector; `scores` form: one output, float32 [1, n_items], the
      user vector against every item embedding; `embeddings` form: two outputs, the user vector [1, d] and
      the item table [n_items, d]. With --user-features F, a third input `user_features` float32 [F]
      adds `user_features @ U` to the sum before tanh. Writes OUT_DIR/model.onnx and OUT_DIR/cases.json: histories
      (including an empty one) with the scores onnxruntime gives for them.

  peer.py score MODEL.onnx CASES.json OUT.json [--repeat R]
      Scores every case of CASES.json ([{"items": [...], "weights": [...]}, ...]) with onnxruntime (one
      thread) and writes [{"scores": [...]}, ...] to OUT.json, plus the mean latency per case over R
      passes ({"ort_us_per_query": ...} in OUT.json's sibling OUT.json.timing).
"""

import argparse
import json
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def session(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def run(sess, case):
    """Every item's score: the one output, or the user vector against the item table."""
    items = np.asarray(case["items"], dtype=np.int64)
    weights = np.asarray(case["weights"], dtype=np.float32)
    feed = {"items": items, "weights": weights}
    if "user_features" in case:
        feed["user_features"] = np.asarray(case["user_features"], dtype=np.float32)
    out = sess.run(None, feed)
    if len(out) == 2:
        user, table = (np.asarray(o, dtype=np.float32) for o in out)
        return table @ user.reshape(-1)
    return np.asarray(out[0], dtype=np.float32).reshape(-1)


def external(args):
    rng = np.random.default_rng(args.seed)
    n, d = args.items, args.dim
    emb = rng.normal(0.0, 0.5, size=(n, d)).astype(np.float32)
    nodes = [
        helper.make_node("Gather", ["E", "items"], ["rows"], axis=0),
        helper.make_node("Unsqueeze", ["weights", "axis1"], ["w_col"]),
        helper.make_node("Mul", ["rows", "w_col"], ["weighted"]),
        helper.make_node("ReduceSum", ["weighted", "axis0"], ["user_sum"], keepdims=1),
    ]
    inputs = [
        helper.make_tensor_value_info("items", TensorProto.INT64, ["n"]),
        helper.make_tensor_value_info("weights", TensorProto.FLOAT, ["n"]),
    ]
    init = [
        numpy_helper.from_array(emb, "E"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "axis0"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
    ]
    f = args.user_features
    if f > 0:
        inputs.append(helper.make_tensor_value_info("user_features", TensorProto.FLOAT, [f]))
        init.append(numpy_helper.from_array(rng.normal(0.0, 0.5, size=(f, d)).astype(np.float32), "U"))
        nodes += [
            helper.make_node("Unsqueeze", ["user_features", "axis0"], ["uf_row"]),
            helper.make_node("MatMul", ["uf_row", "U"], ["uf_term"]),
            helper.make_node("Add", ["user_sum", "uf_term"], ["user_pre"]),
            helper.make_node("Tanh", ["user_pre"], ["user"]),
        ]
    else:
        nodes.append(helper.make_node("Tanh", ["user_sum"], ["user"]))
    if args.form == "scores":
        nodes += [
            helper.make_node("Transpose", ["E"], ["E_t"], perm=[1, 0]),
            helper.make_node("MatMul", ["user", "E_t"], ["scores"]),
        ]
        outputs = [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, n])]
    else:
        nodes.append(helper.make_node("Identity", ["E"], ["item_embeddings"]))
        outputs = [
            helper.make_tensor_value_info("user", TensorProto.FLOAT, [1, d]),
            helper.make_tensor_value_info("item_embeddings", TensorProto.FLOAT, [n, d]),
        ]
    graph = helper.make_graph(
        nodes,
        "external-embeddings",
        inputs,
        outputs,
        initializer=init,
    )
    model = helper.make_model(
        graph, producer_name="tastebud-test", opset_imports=[helper.make_opsetid("", 13)]
    )
    model.ir_version = 7
    onnx.checker.check_model(model)
    path = f"{args.out_dir}/model.onnx"
    onnx.save(model, path)
    sess = session(path)
    cases = [{"items": [], "weights": []}]
    for k in range(20):
        m = int(rng.integers(1, 30))
        items = sorted(rng.choice(n, size=m, replace=False).tolist())
        weights = rng.uniform(0.5, 5.0, size=m).astype(np.float32).tolist()
        cases.append({"items": items, "weights": weights})
    if f > 0:
        for c in cases:
            c["user_features"] = rng.uniform(0.0, 1.0, size=f).astype(np.float32).tolist()
    for c in cases:
        c["scores"] = run(sess, c).tolist()
    with open(f"{args.out_dir}/cases.json", "w") as f:
        json.dump(cases, f)


def score(args):
    onnx.checker.check_model(onnx.load(args.model))
    sess = session(args.model)
    with open(args.cases) as f:
        cases = json.load(f)
    out = [{"scores": run(sess, c).tolist()} for c in cases]
    with open(args.out, "w") as f:
        json.dump(out, f)
    if args.repeat > 0:
        t = time.perf_counter()
        for _ in range(args.repeat):
            for c in cases:
                run(sess, c)
        us = (time.perf_counter() - t) / (args.repeat * len(cases)) * 1e6
        with open(args.out + ".timing", "w") as f:
            json.dump({"ort_us_per_query": us, "onnxruntime": ort.__version__}, f)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("external")
    e.add_argument("out_dir")
    e.add_argument("--items", type=int, default=200)
    e.add_argument("--dim", type=int, default=16)
    e.add_argument("--seed", type=int, default=7)
    e.add_argument("--form", choices=["scores", "embeddings"], default="scores")
    e.add_argument("--user-features", type=int, default=0)
    s = sub.add_parser("score")
    s.add_argument("model")
    s.add_argument("cases")
    s.add_argument("out")
    s.add_argument("--repeat", type=int, default=0)
    a = p.parse_args()
    external(a) if a.cmd == "external" else score(a)


if __name__ == "__main__":
    main()
