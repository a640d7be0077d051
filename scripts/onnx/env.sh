#!/usr/bin/env bash
# Prints the path of a Python interpreter that has onnx and onnxruntime, installing them first when
# needed: a virtual environment in the user's cache folder (outside the repository) with pinned onnx,
# onnxruntime and numpy. The ONNX tests (crates/models/tests/onnx_peer.rs) and `bench-onnx` call it; they
# fail, not skip, when it fails.
#
#   PY=$(scripts/onnx/env.sh) && "$PY" scripts/onnx/peer.py --help
set -euo pipefail

ONNX_VERSION=1.17.0
ORT_VERSION=1.20.1
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/tastebud"
VENV="$CACHE/onnx-$ONNX_VERSION-ort-$ORT_VERSION"

as_root() {
  if [ "$(id -u)" -ne 0 ]; then sudo "$@"; else "$@"; fi
}
apt_install() {
  as_root apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1 \
    || { as_root apt-get update >/dev/null && as_root apt-get install -y --no-install-recommends "$@" >/dev/null; }
}

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import onnx, onnxruntime, numpy" 2>/dev/null; then
  echo "== installing onnx $ONNX_VERSION and onnxruntime $ORT_VERSION into $VENV" >&2
  mkdir -p "$CACHE"
  if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    apt_install python3-venv
    rm -rf "$VENV"
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "onnx==$ONNX_VERSION" "onnxruntime==$ORT_VERSION" "numpy>=1.24,<3" >&2
fi
echo "$VENV/bin/python"
