#!/usr/bin/env bash
# Builds the Python package (python/: PyO3 + maturin) into a wheel, installs it into the PySpark virtual
# environment of scripts/spark/env.sh (a cache folder outside the repository; pytest, pandas and maturin are
# added to it), builds the `tastebud` binary with the `parquet` feature for the tests to compare with, and
# runs python/tests with pytest: the package against the CLI, the PySpark batch job against `tastebud batch`,
# and the README's Python and Spark examples.
#
#   scripts/python.sh                 # release wheel (minutes cold on 2 cores), then the tests
#   TASTEBUD_PY_PROFILE=dev scripts/python.sh   # a faster-to-build, slower-to-run wheel
#   TASTEBUD_BIN=path/to/tastebud scripts/python.sh   # compare with this binary (built with `parquet`)
#   pip install ./python              # the same package, built by pip (in an isolated, cold target folder)
set -euo pipefail
cd "$(dirname "$0")/.."

MATURIN_VERSION=1.9.4
PROFILE="${TASTEBUD_PY_PROFILE:-release}"
export TASTEBUD_DATA="${TASTEBUD_DATA:-$(cd .. && pwd)/shared/data}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(pwd)/target}"
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"

PY="$(scripts/spark/env.sh)"
if ! "$PY" -c "import maturin, pytest, pandas" 2>/dev/null; then
  echo "== installing maturin $MATURIN_VERSION, pytest and pandas beside PySpark"
  "$PY" -m pip install --quiet --disable-pip-version-check "maturin==$MATURIN_VERSION" "pytest>=7,<10" "pandas>=1.5,<4"
fi
export PYSPARK_PYTHON="$PY"

if [ -z "${TASTEBUD_BIN:-}" ]; then
  echo "== building tastebud (debug, --features parquet) for the tests to compare with"
  cargo build --locked -q -p tastebud-cli --features parquet
  export TASTEBUD_BIN="$CARGO_TARGET_DIR/debug/tastebud"
fi

echo "== building the wheel (maturin, profile $PROFILE)"
WHEELS="$CARGO_TARGET_DIR/wheels"
rm -rf "$WHEELS"
"$PY" -m maturin build --quiet --locked --profile "$PROFILE" -m python/Cargo.toml -o "$WHEELS" -i "$PY"
"$PY" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$WHEELS"/tastebud-*.whl

echo "== pytest python/tests"
cd python/tests
"$PY" -m pytest -q -p no:cacheprovider .
