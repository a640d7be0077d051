#!/usr/bin/env python3
"""RecBole peer for the sequential benchmark: SASRec and GRU4Rec (PyTorch, CPU) on a leave-last-one-out split.

Input: TRAIN.tsv / TEST.tsv, no header, `user<TAB>item<TAB>rating<TAB>timestamp` (raw ids kept as strings).
TEST holds one row per test user (their last interaction by time); TRAIN holds every other interaction.

Protocol (the one the Rust SASRec/GRU4Rec are measured under):
  * Only TRAIN reaches RecBole. Each user's TRAIN rows are ordered by (timestamp, file order); the last one is
    the validation item (RecBole's own leave-one-out `{'LS': 'valid_only'}` split with order `TO`; the script
    rewrites timestamps as a global (timestamp, file order) ordinal so RecBole sees no ties, and asserts that
    RecBole's validation targets are exactly the ones carved here). TEST is never used for selection.
  * Training samples are RecBole's sequential augmentation of the remaining prefix (every prefix -> next item),
    sequences of at most MAX_ITEM_LIST_LENGTH (keep the most recent).
  * Early stopping / model selection: NDCG@10 on the validation item, computed by this script with the same
    masking as the test (full ranking, the user's train-prefix items masked). RecBole's own valid NDCG@10 does
    NOT mask history for sequential models; it is logged too, and `--select-on recbole` selects on it instead.
    The best epoch's weights are kept in memory and restored after training.
  * Test: input = the user's WHOLE TRAIN sequence (validation item included), last MAX_ITEM_LIST_LENGTH items,
    scored by `model.full_sort_predict` over every item RecBole knows (= items in TRAIN; the padding id 0 is
    masked), the user's TRAIN items masked to -inf, rank = 1 + #items scored strictly higher than the test item,
    HR@10 = [rank <= 10], NDCG@10 = 1/log2(rank+1) if rank <= 10. Averaged over test users whose user and test
    item RecBole knows; the others are counted as skipped. (A test item that is also in the user's TRAIN
    history would be masked: it counts as a miss and is reported as `target_in_history`.)

Hyperparameters are RecBole 1.2.1's defaults (properties/overall.yaml + properties/model/*.yaml), except
epochs (200 here, RecBole says 300; early stopping ends training long before), valid_metric (NDCG@10, RecBole
says MRR@10), train_neg_sample_args=None (required by loss_type CE) and use_gpu=False:
  common : adam, learning_rate 0.001, train_batch_size 2048, weight_decay 0, eval_step 1, stopping_step 10,
           MAX_ITEM_LIST_LENGTH 50, loss_type CE (softmax over all items)
  SASRec : hidden_size 64, n_layers 2, n_heads 2, inner_size 256, hidden_dropout_prob 0.5,
           attn_dropout_prob 0.5, hidden_act gelu, layer_norm_eps 1e-12, initializer_range 0.02
  GRU4Rec: embedding_size 64, hidden_size 128, num_layers 1, dropout_prob 0.3
Seeds: RecBole's init_seed(--seed, reproducibility=True) (python, numpy, torch) before the dataset and the model.

Environment that works (Python 3.11, CPU only; download.pytorch.org is not reachable here, so the PyPI torch
wheel with its nvidia-* dependencies, ~5.5 GB venv, runs on CPU fine):
    python3 -m venv .venv-recbole
    .venv-recbole/bin/pip install "torch==2.5.1" "numpy<2"          # numpy 1.26.4
    .venv-recbole/bin/pip install --no-deps recbole==1.2.1
    .venv-recbole/bin/pip install "numpy<2" "scipy<1.14" "pandas<2.3" "scikit-learn<1.6" \
        colorlog==4.7.2 colorama==0.4.4 tqdm pyyaml tensorboard tabulate texttable psutil
  recbole 1.2.1 declares ray<=2.6.3, thop and plotly: only hyper-parameter tuning, quick_start and get_flops
  use them, and this script imports none of those, hence --no-deps. numpy<2 because RecBole uses np.float /
  np.bool (its configurator aliases them back only on numpy 1.x). torch<2.6 because RecBole's checkpoint
  loading relies on torch.load(weights_only=False) (this script never loads a checkpoint file anyway).
  Tested with: torch 2.5.1, numpy 1.26.4, scipy 1.13.1, pandas 2.2.3, scikit-learn 1.5.2.
  Two CPU-speed fixes are applied (both recorded in the JSON): OMP_WAIT_POLICY=PASSIVE unless set (spinning
  OpenMP threads made 2-thread epochs 5-10x slower while other processes used the 2 cores), and autograd
  anomaly detection, which importing RecBole's sequential models turns on globally (sine.py), is turned off.

Usage:
    python scripts/bench_seq_peer.py --train TRAIN.tsv --test TEST.tsv [--models SASRec,GRU4Rec]
        [--epochs 200] [--stopping-step 10] [--seed 0] [--threads 2] [--max-fit-minutes M] --out RESULT.json
Prints a table to stdout and RecBole's per-epoch log to stderr. `best_epoch` in the JSON is 1-based.
"""

import argparse
import csv
import json
import logging
import math
import os
import platform
import sys
import tempfile
import time
import warnings

# Without this, torch's OpenMP threads spin-wait at every barrier; on a 2-core machine shared with anything else
# (a cargo build) that made RecBole epochs 5-10x slower than with 1 thread. Set it in the environment to override.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch

K = 10


def read_tsv(path):
    rows = []
    with open(path, newline="") as f:
        for line_no, r in enumerate(csv.reader(f, delimiter="\t")):
            if not r or (len(r) == 1 and not r[0].strip()):
                continue
            if len(r) < 4:
                raise SystemExit(f"{path}:{line_no + 1}: expected user, item, rating, timestamp")
            rows.append((r[0], r[1], float(r[2]), float(r[3])))
    return rows


def sequences(rows):
    """Per-user item lists ordered by (timestamp, file order), plus the rows in global (timestamp, file order)."""
    order = sorted(range(len(rows)), key=lambda i: (rows[i][3], i))
    seqs = {}
    for i in order:
        seqs.setdefault(rows[i][0], []).append(rows[i][1])
    return seqs, order


def write_inter(path, rows, order):
    if len(order) >= 1 << 24:
        raise SystemExit("too many rows for exact float32 ordinal timestamps")
    with open(path, "w") as f:
        f.write("user_id:token\titem_id:token\trating:float\ttimestamp:float\n")
        for ordinal, i in enumerate(order):
            u, it, r, _ = rows[i]
            f.write(f"{u}\t{it}\t{r}\t{ordinal}\n")


def rank_metrics(model, batches, n_items, device, batch_size=1024):
    """batches: list of (seq ids, mask ids, target id). Returns per-user (hr, ndcg) arrays and #target-in-history."""
    from recbole.data.interaction import Interaction

    L = model.max_seq_length
    hrs, ndcgs, in_hist = [], [], 0
    model.eval()
    with torch.no_grad():
        for s in range(0, len(batches), batch_size):
            chunk = batches[s:s + batch_size]
            seq = torch.zeros((len(chunk), L), dtype=torch.long)
            lens = torch.zeros(len(chunk), dtype=torch.long)
            for j, (items, _, _) in enumerate(chunk):
                items = items[-L:]
                seq[j, :len(items)] = torch.tensor(items, dtype=torch.long)
                lens[j] = len(items)
            inter = Interaction({model.ITEM_SEQ: seq, model.ITEM_SEQ_LEN: lens}).to(device)
            scores = model.full_sort_predict(inter).view(len(chunk), n_items).float().cpu().numpy()
            for j, (_, hist, target) in enumerate(chunk):
                row = scores[j].astype(np.float64)
                row[0] = -np.inf  # [PAD]
                row[hist] = -np.inf
                if target in set(hist):
                    in_hist += 1
                    hrs.append(0.0)
                    ndcgs.append(0.0)
                    continue
                rank = 1 + int((row > row[target]).sum())
                hit = rank <= K
                hrs.append(1.0 if hit else 0.0)
                ndcgs.append(1.0 / math.log2(rank + 1) if hit else 0.0)
    return np.array(hrs), np.array(ndcgs), in_hist


def run_model(name, args, train_rows, test_rows, tmp):
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.trainer import Trainer
    from recbole.utils import calculate_valid_score, get_model, init_seed

    seqs, order = sequences(train_rows)
    data_dir = os.path.join(tmp, "data")
    os.makedirs(os.path.join(data_dir, "seqbench"), exist_ok=True)
    write_inter(os.path.join(data_dir, "seqbench", "seqbench.inter"), train_rows, order)

    config_dict = {
        "data_path": data_dir,
        "checkpoint_dir": os.path.join(tmp, "saved"),
        "use_gpu": False,
        "seed": args.seed,
        "reproducibility": True,
        "state": "INFO" if args.verbose else "WARNING",
        "show_progress": False,
        "epochs": args.epochs,
        "stopping_step": args.stopping_step,
        "eval_step": 1,
        "train_neg_sample_args": None,
        "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"]},
        "eval_args": {"split": {"LS": "valid_only"}, "order": "TO", "group_by": "user", "mode": "full"},
        "metrics": ["Hit", "NDCG"],
        "topk": [K],
        "valid_metric": f"NDCG@{K}",
    }
    for key, val in (("learning_rate", args.lr), ("train_batch_size", args.batch_size),
                     ("MAX_ITEM_LIST_LENGTH", args.max_seq_len)):
        if val is not None:
            config_dict[key] = val
    argv, sys.argv = sys.argv, sys.argv[:1]  # RecBole's Config also parses --key=value from the command line
    try:
        config = Config(model=name, dataset="seqbench", config_dict=config_dict)
    finally:
        sys.argv = argv
    device = config["device"]

    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, valid_data, _ = data_preparation(config, dataset)
    n_items = dataset.item_num
    tok2id = dataset.field2token_id[dataset.iid_field]
    user_tok = dataset.field2token_id[dataset.uid_field]

    # Our validation carve: last train item per user; the prefix is its input and its mask.
    valid_cases, valid_expect = [], {}
    for u, items in seqs.items():
        if len(items) < 2:
            continue
        ids = [tok2id[i] for i in items]
        valid_cases.append((ids[:-1], ids[:-1], ids[-1]))
        valid_expect[user_tok[u]] = ids[-1]
    vfeat = valid_data._dataset.inter_feat
    got = dict(zip(vfeat[dataset.uid_field].tolist(), vfeat[dataset.iid_field].tolist()))
    if got != valid_expect:
        raise SystemExit(f"RecBole's validation split differs from ours ({len(got)} vs {len(valid_expect)} users)")

    # Test cases: the whole train sequence as input and mask.
    test_cases, skipped = [], 0
    for u, it, _, _ in test_rows:
        if u not in seqs or it not in tok2id:
            skipped += 1
            continue
        ids = [tok2id[i] for i in seqs[u]]
        test_cases.append((ids, ids, tok2id[it]))

    init_seed(config["seed"], config["reproducibility"])
    model_cls = get_model(config["model"])
    # recbole/model/sequential_recommender/sine.py runs torch.autograd.set_detect_anomaly(True) at import time,
    # i.e. for every model once the package is imported: a NaN check on every backward op (~40% of a GRU4Rec
    # step on CPU). A debugging aid, not part of the models: switch it off.
    torch.autograd.set_detect_anomaly(False)
    model = model_cls(config, train_data._dataset).to(device)
    log = logging.getLogger()
    log.info(model)

    class TimeUp(Exception):
        pass

    class BenchTrainer(Trainer):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.train_secs, self.valid_log = [], []
            self.best_state, self.best_epoch = None, None

        def _train_epoch(self, train_data, epoch_idx, **kw):
            t = time.perf_counter()
            out = super()._train_epoch(train_data, epoch_idx, **kw)
            self.train_secs.append(time.perf_counter() - t)
            return out

        def _valid_epoch(self, valid_data, show_progress=False):
            rb = self.evaluate(valid_data, load_best_model=False, show_progress=show_progress)
            hr, ndcg, _ = rank_metrics(self.model, valid_cases, n_items, device)
            result = {f"hit@{K}": float(hr.mean()), f"ndcg@{K}": float(ndcg.mean())}
            result.update({f"recbole_{k}": float(v) for k, v in rb.items()})
            score = result[f"ndcg@{K}"] if args.select_on == "masked" else calculate_valid_score(rb, self.valid_metric)
            self.valid_log.append(result)
            if args.verbose:
                print(f"[{name}] epoch {len(self.train_secs):3d} loss {self.train_loss_dict.get(len(self.train_secs) - 1, float('nan')):.4f} "
                      f"valid ndcg@{K} {result[f'ndcg@{K}']:.4f} hr@{K} {result[f'hit@{K}']:.4f} "
                      f"(recbole unmasked ndcg@{K} {result.get(f'recbole_ndcg@{K}', float('nan')):.4f}) "
                      f"train {self.train_secs[-1]:.2f}s", file=sys.stderr, flush=True)
            return score, result

        def _save_checkpoint(self, epoch, verbose=True, **kw):  # keep the best weights in memory
            self.best_epoch = epoch
            self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    trainer = BenchTrainer(config, model)
    t0 = time.perf_counter()

    def after_epoch(epoch_idx, valid_score):  # runs after RecBole's early-stopping bookkeeping and best-save
        if args.max_fit_minutes and time.perf_counter() - t0 > 60 * args.max_fit_minutes:
            raise TimeUp()

    time_up = False
    try:
        trainer.fit(train_data, valid_data, verbose=args.verbose, saved=True, show_progress=False,
                    callback_fn=after_epoch)
    except TimeUp:
        time_up = True
        log.warning(f"{name}: --max-fit-minutes {args.max_fit_minutes} reached after {len(trainer.train_secs)} "
                    f"epochs; testing the best epoch so far")
    best_result = trainer.best_valid_result
    fit_s = time.perf_counter() - t0
    if trainer.best_state is not None:
        model.load_state_dict(trainer.best_state)

    t1 = time.perf_counter()
    hr, ndcg, in_hist = rank_metrics(model, test_cases, n_items, device)
    test_s = time.perf_counter() - t1
    epochs_run = len(trainer.train_secs)
    hyper = {k: config[k] for k in (
        "learning_rate", "train_batch_size", "epochs", "stopping_step", "eval_step", "weight_decay", "learner",
        "MAX_ITEM_LIST_LENGTH", "loss_type", "hidden_size", "n_layers", "n_heads", "inner_size",
        "hidden_dropout_prob", "attn_dropout_prob", "hidden_act", "layer_norm_eps", "initializer_range",
        "embedding_size", "num_layers", "dropout_prob") if config[k] is not None}
    return {
        f"hr@{K}": float(hr.mean()) if len(hr) else None,
        f"ndcg@{K}": float(ndcg.mean()) if len(ndcg) else None,
        "users_evaluated": len(test_cases),
        "users_skipped": skipped,
        "target_in_history": in_hist,
        "n_items": n_items - 1,
        "n_users": dataset.user_num - 1,
        "n_train_samples": len(train_data._dataset),
        "n_valid_users": len(valid_cases),
        "epochs_run": epochs_run,
        "best_epoch": None if trainer.best_epoch is None else trainer.best_epoch + 1,
        "best_valid": best_result,
        "stopped_by_time_budget": time_up,
        "early_stopped": (not time_up) and epochs_run < config["epochs"],
        "select_on": args.select_on,
        "fit_seconds": fit_s,
        "seconds_per_epoch": fit_s / max(epochs_run, 1),
        "train_seconds_per_epoch": float(np.mean(trainer.train_secs)) if trainer.train_secs else None,
        "test_eval_seconds": test_s,
        "hyperparameters": hyper,
        "seed": args.seed,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--models", default="SASRec,GRU4Rec")
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--stopping-step", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lr", type=float, default=None, help="default: RecBole's (0.001)")
    ap.add_argument("--batch-size", type=int, default=None, help="train_batch_size; default: RecBole's (2048)")
    ap.add_argument("--max-seq-len", type=int, default=None, help="default: RecBole's (50)")
    ap.add_argument("--select-on", choices=["masked", "recbole"], default="masked",
                    help="early stopping on our history-masked valid NDCG@10 (default) or RecBole's unmasked one")
    ap.add_argument("--max-fit-minutes", type=float, default=None,
                    help="wall-clock budget per model: stop after the first epoch past it and test the best epoch "
                         "so far (the JSON says stopped_by_time_budget)")
    ap.add_argument("--quiet", dest="verbose", action="store_false")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=FutureWarning)  # RecBole 1.2.1 on pandas 2.2 / torch 2.5
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(message)s")
    import recbole

    train_rows, test_rows = read_tsv(args.train), read_tsv(args.test)
    out_path = os.path.abspath(args.out)
    versions = {"recbole": recbole.__version__, "torch": torch.__version__, "numpy": np.__version__,
                "python": platform.python_version()}
    for mod in ("pandas", "scipy"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            pass
    results = {}
    out = {"protocol": "leave-last-one-out; valid = last train item; test input = whole train sequence; "
                       "full ranking over RecBole's items with train history masked; HR/NDCG@10",
           "train": os.path.abspath(args.train), "test": os.path.abspath(args.test),
           "command": sys.argv, "versions": versions, "torch_threads": torch.get_num_threads(),
           "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "models": results}

    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="bench_seq_peer_") as tmp:
        os.chdir(tmp)  # RecBole writes log_tensorboard/ (and saved/) relative to the working directory
        try:
            for name in [m.strip() for m in args.models.split(",") if m.strip()]:
                results[name] = run_model(name, args, train_rows, test_rows, os.path.join(tmp, name))
                results[name]["torch_threads"] = torch.get_num_threads()
                results[name]["autograd_anomaly_detection"] = torch.is_anomaly_enabled()
                with open(out_path, "w") as f:  # after every model, so a long run keeps what it finished
                    json.dump(out, f, indent=2, default=str)
        finally:
            os.chdir(cwd)

    print(f"{'model':<9} {'HR@10':>7} {'NDCG@10':>8} {'users':>6} {'skip':>5} {'epochs':>6} {'best':>5} "
          f"{'fit_s':>8} {'s/epoch':>8}")
    for name, r in results.items():
        print(f"{name:<9} {r[f'hr@{K}']:7.4f} {r[f'ndcg@{K}']:8.4f} {r['users_evaluated']:6d} {r['users_skipped']:5d} "
              f"{r['epochs_run']:6d} {r['best_epoch'] or 0:5d} {r['fit_seconds']:8.1f} {r['seconds_per_epoch']:8.2f}")
    print(f"recbole {versions['recbole']}, torch {versions['torch']}, threads {torch.get_num_threads()}; "
          f"wrote {out_path}")


if __name__ == "__main__":
    main()
