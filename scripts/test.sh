#!/usr/bin/env bash
# The test command of README.md: installs the system tools some tests call when they are missing, then runs
# `cargo test --workspace --locked` with any extra arguments (e.g. `scripts/test.sh -p tastebud-data`), then
# (whole-workspace runs only) scripts/api-fuzz.sh: Schemathesis against the server's OpenAPI document.
#
#   promtool  (Debian package `prometheus`): crates/server/tests/metrics.rs checks /metrics with it;
#   chromium  (Debian package `chromium`): crates/server/tests/dashboard.rs renders /dashboard headless
#             (`CHROMIUM=/path/to/chrome` uses another browser and skips the install).
#   pyspark, Java 17 (PyPI; Debian package `openjdk-17-jre-headless`): scripts/spark/env.sh installs them in
#             a cache folder for crates/cli/tests/spark.rs (feature `parquet`) and scripts/python.sh (the
#             Python package: maturin, pytest and pandas go into the same folder), run after the workspace
#             tests.
#   onnx, onnxruntime (PyPI): scripts/onnx/env.sh installs them in a cache folder for
#             crates/models/tests/onnx_peer.rs (feature `onnx`), run after the workspace tests.
#   postgres, redis-server (Debian packages `postgresql`, `redis-server`): the shared backends' tests
#             (crates/store/tests/shared.rs, crates/cli/tests/replicas.rs) start throwaway servers of
#             their own on free ports; they fail, not skip, without them.
#
# Tests on real data read TASTEBUD_DATA, by default ../shared/data next to this repository.
set -euo pipefail
cd "$(dirname "$0")/.."

export TASTEBUD_DATA="${TASTEBUD_DATA:-$(cd .. && pwd)/shared/data}"

# Installs Debian package $1 quietly; when that fails (a fresh machine has no package lists yet, or stale
# ones), refreshes the lists with `apt-get update` and tries once more. Uses sudo when not root.
apt_install() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "scripts/test.sh: $1 is needed but apt-get is not available; install it by hand" >&2
    return 1
  fi
  $sudo apt-get install -y --no-install-recommends "$1" >/dev/null 2>&1 \
    || { $sudo apt-get update >/dev/null && $sudo apt-get install -y --no-install-recommends "$1" >/dev/null; }
}

if ! command -v promtool >/dev/null 2>&1; then
  echo "== installing promtool (Debian package prometheus)"
  apt_install prometheus
fi
if [ -z "${CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1 \
  && ! command -v chromium-browser >/dev/null 2>&1; then
  echo "== installing chromium (Debian package chromium)"
  apt_install chromium
fi

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  echo "== installing PostgreSQL's server binaries (Debian package postgresql)"
  apt_install postgresql
fi
if ! command -v redis-server >/dev/null 2>&1; then
  echo "== installing redis-server (Debian package redis-server)"
  apt_install redis-server
fi

# `cargo test --workspace -p X` would test the whole workspace: with a package named, drop `--workspace`.
workspace=(--workspace)
for arg in "$@"; do
  case "$arg" in
    --) break ;;
    -p | -p?* | --package | --package=*) workspace=() ;;
  esac
done

echo "== cargo test ${workspace[*]:+${workspace[*]} }--locked $*"
cargo test "${workspace[@]}" --locked "$@"

# Then the `parquet` feature (Parquet input, Spark ALS import) and the Spark test: PySpark trains ALS on an
# ML-100K split, Tastebud imports it and must rank and score as Spark does (whole-workspace runs only).
if [ "$#" -eq 0 ]; then
  echo "== cargo test --features parquet (tastebud-data, tastebud-cli's Spark test)"
  cargo test --locked -p tastebud-data --features parquet --lib
  cargo test --locked -p tastebud-cli --features parquet --test spark
  # The `deep` feature (candle): the deep models' training, the conformance suite with them, and their
  # quality on ML-100K (held-out users; leave-last-one-out by time for the sequential models; cold items for
  # the two towers).
  echo "== cargo test --features deep (tastebud-models: autoencoders, SASRec, GRU4Rec, two towers)"
  cargo test --locked -p tastebud-models --features deep --lib -- autoencoder sequential twotower nn::
  cargo test --locked -p tastebud-models --features deep --test conformance -- mult sasrec gru4rec twotower
  cargo test --locked -p tastebud-models --features deep --test autoencoder_quality -- --nocapture
  cargo test --locked -p tastebud-models --features deep --test sequential_quality -- --nocapture
  cargo test --locked -p tastebud-models --features deep --test twotower_quality -- --nocapture
  # The `onnx` feature (tract): exported EASE and autoencoders scored by onnxruntime, an external ONNX
  # model built with Python's `onnx` served by Tastebud, and an ONNX model file through the pipeline.
  echo "== cargo test --features onnx (tastebud-models, tastebud-serve: ONNX beside onnxruntime)"
  cargo test --locked -p tastebud-models --features onnx --lib -- onnx
  cargo test --locked -p tastebud-models --features onnx --test onnx_peer -- --nocapture
  cargo test --locked -p tastebud-serve --features onnx --test onnx
  echo "== scripts/python.sh (the Python package and the PySpark batch job, with pytest)"
  scripts/python.sh
fi

# Then the API against its OpenAPI document (Schemathesis; scripts/api-fuzz.sh installs it in a cache
# folder): on a whole-workspace run only, and not with TASTEBUD_SKIP_API_FUZZ=1.
if [ "$#" -eq 0 ] && [ -z "${TASTEBUD_SKIP_API_FUZZ:-}" ]; then
  if ! command -v python3 >/dev/null 2>&1; then
    echo "== installing python3 (for Schemathesis)"
    apt_install python3
  fi
  echo "== scripts/api-fuzz.sh"
  exec scripts/api-fuzz.sh
fi
