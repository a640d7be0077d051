#!/usr/bin/env bash
# Fuzzes the REST API against its own OpenAPI document with Schemathesis (all checks): a `tastebud serve`
# debug binary on a small synthetic model, with an admin key and a service key, is run once with the admin
# key (every route opens) and once without a key (keyed routes must answer 401 as documented). Fails on any
# 5xx and on any response the document does not describe.
#
#   scripts/api-fuzz.sh              # about 1-3 minutes on 2 cores once built
#   API_FUZZ_EXAMPLES=50 scripts/api-fuzz.sh
#
# Schemathesis (pinned) is installed in a virtual environment in the user's cache folder, outside the
# repository: ${XDG_CACHE_HOME:-~/.cache}/tastebud/api-fuzz-schemathesis-$VERSION. Reports (JUnit, NDJSON)
# land in target/api-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
EXAMPLES="${API_FUZZ_EXAMPLES:-25}"
SEED="${API_FUZZ_SEED:-20240611}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/tastebud"
VENV="$CACHE/api-fuzz-schemathesis-$SCHEMATHESIS_VERSION"
TARGET="${CARGO_TARGET_DIR:-target}"
OUT="$TARGET/api-fuzz"

if [ ! -x "$VENV/bin/schemathesis" ]; then
  echo "== installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    # Debian's python3 ships venv separately.
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get install -y --no-install-recommends python3-venv >/dev/null 2>&1 \
      || { $sudo apt-get update >/dev/null && $sudo apt-get install -y --no-install-recommends python3-venv >/dev/null; }
    rm -rf "$VENV"
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

echo "== building tastebud (debug)"
cargo build --locked -q -p tastebud-cli
BIN="$TARGET/debug/tastebud"

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== training a small model"
"$BIN" datasets synth --users 60 --items 40 --interactions 1200 --out "$WORK/data" >/dev/null
"$BIN" train --data "$WORK/data" --model ease --out "$WORK/m.tbm" >/dev/null

ADMIN_KEY="fuzz-admin-$RANDOM$RANDOM"
SERVICE_KEY="fuzz-service-$RANDOM$RANDOM"
cat >"$WORK/tastebud.toml" <<EOF
[auth]
require_key_for_events = true
require_key_for_recommendations = false
EOF
TASTEBUD_ADMIN_KEY="$ADMIN_KEY" TASTEBUD_SERVICE_KEY="$SERVICE_KEY" RUST_LOG=error \
  "$BIN" serve --model "$WORK/m.tbm" --config "$WORK/tastebud.toml" --bind 127.0.0.1:0 \
  --data-dir "$WORK/store" >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER_PID=$!
ADDR=""
for _ in $(seq 1 100); do
  ADDR="$(grep -o 'http://[0-9.:]*' "$WORK/serve.out" | head -1 || true)"
  [ -n "$ADDR" ] && break
  sleep 0.1
done
[ -n "$ADDR" ] || { echo "the server did not start:"; cat "$WORK/serve.err"; exit 1; }
echo "== server at $ADDR"

mkdir -p "$OUT"
status=0
# One worker: Hypothesis describing its strategies from several threads trips a CPython 3.11 AST bug
# ("AST constructor recursion depth mismatch").
run() {
  local name="$1"; shift
  echo "== schemathesis ($name)"
  "$VENV/bin/schemathesis" --config-file scripts/api-fuzz.toml run "$ADDR/openapi.json" \
    --checks all --max-examples "$EXAMPLES" --seed "$SEED" --workers 1 \
    --phases examples,coverage,fuzzing --suppress-health-check all \
    --request-timeout 10 --no-color \
    --report junit,ndjson --report-junit-path "$OUT/$name.xml" --report-ndjson-path "$OUT/$name.ndjson" \
    "$@" || status=1
}
run with-key -H "X-Api-Key: $ADMIN_KEY"
run without-key

if grep -q "panicked" "$WORK/serve.err"; then
  echo "the server panicked:"; grep -A3 "panicked" "$WORK/serve.err"; status=1
fi
exit "$status"
