#!/usr/bin/env bash
# Prints the path of a Python interpreter that has PySpark, installing it first when needed: a virtual
# environment in the user's cache folder (outside the repository) with pinned pyspark, pyarrow and numpy,
# and Java 17 from Debian when no `java` is on PATH. The Spark tests (crates/cli/tests/spark.rs) and
# benchmarks call it; they fail, not skip, when it fails.
#
#   PY=$(scripts/spark/env.sh) && "$PY" scripts/spark/als.py --help
set -euo pipefail

PYSPARK_VERSION=3.5.5
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/tastebud"
VENV="$CACHE/spark-pyspark-$PYSPARK_VERSION"

as_root() {
  if [ "$(id -u)" -ne 0 ]; then sudo "$@"; else "$@"; fi
}
apt_install() {
  as_root apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1 \
    || { as_root apt-get update >/dev/null && as_root apt-get install -y --no-install-recommends "$@" >/dev/null; }
}

if ! command -v java >/dev/null 2>&1; then
  echo "== installing Java 17 (Debian package openjdk-17-jre-headless) for PySpark" >&2
  apt_install openjdk-17-jre-headless
fi

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import pyspark, pyarrow, numpy" 2>/dev/null; then
  echo "== installing pyspark $PYSPARK_VERSION into $VENV" >&2
  mkdir -p "$CACHE"
  if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    apt_install python3-venv
    rm -rf "$VENV"
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "pyspark==$PYSPARK_VERSION" "pyarrow>=14,<27" "numpy>=1.24,<3" >&2
fi
echo "$VENV/bin/python"
