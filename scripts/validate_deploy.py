#!/usr/bin/env python3
"""Consistency checks of deploy/ that no schema sees (run by scripts/validate-deploy.sh).

    validate_deploy.py RENDERED_K8S_YAML [--self-test]

The schemas (kubernetes-validate --strict, the Compose Specification) say each file is well formed; this
says the files agree with each other and with the server: every file of deploy/k8s is in the kustomization,
every volume, ConfigMap, Secret key and `$(VAR)` a pod uses exists, every pod runs as non-root on a
read-only root filesystem with resources, the probes hit /healthz and /readyz on the port the config
binds, the Service, HPA and PDB select the Deployment's pods, the batch shards agree on N, the model path
the servers load is the registry the retrain job writes, and in compose.yaml Prometheus and nginx point
at exactly the replicas, every mounted file exists, Grafana's provisioning finds its dashboard.

--self-test breaks copies of the inputs in known ways and fails unless each break is reported (so a check
that cannot fail shows up as a failure).

Needs PyYAML (installed with kubernetes-validate) and Python 3.11+ (tomllib).
"""

from __future__ import annotations

import copy
import re
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"


def pod_specs(docs):
    """(kind/name, pod spec) of every workload in the rendered output."""
    for d in docs:
        kind, name = d["kind"], d["metadata"]["name"]
        if kind == "Deployment" or kind == "Job":
            yield f"{kind}/{name}", d["spec"]["template"]["spec"]
        elif kind == "CronJob":
            yield f"{kind}/{name}", d["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def arg_after(args, flag):
    """The value after `flag` in an argument list, or None."""
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            return args[i + 1]
    return None


def check_k8s(docs, kustomization, k8s_files) -> list[str]:
    errs: list[str] = []
    err = errs.append

    # The kustomization lists every manifest, and only existing ones.
    listed = set(kustomization.get("resources", []))
    present = {p for p in k8s_files if p.endswith(".yaml") and p != "kustomization.yaml"}
    for p in sorted(present - listed):
        err(f"kustomization.yaml: {p} is not in resources")
    for p in sorted(listed - present):
        err(f"kustomization.yaml: resource {p} does not exist")
    generated = {
        f for g in kustomization.get("configMapGenerator", []) for f in g.get("files", [])
    }
    for f in sorted(generated):
        if f not in k8s_files:
            err(f"kustomization.yaml: configMapGenerator file {f} does not exist")

    kinds = {d["kind"] for d in docs}
    for k in [
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "ConfigMap",
        "Secret",
        "CronJob",
        "PodDisruptionBudget",
        "PersistentVolumeClaim",
    ]:
        if k not in kinds:
            err(f"rendered output has no {k}")
    if len(by_kind(docs, "CronJob")) < 2:
        err("expected two CronJobs (sharded batch, retraining)")

    configmaps = {d["metadata"]["name"]: d.get("data", {}) for d in by_kind(docs, "ConfigMap")}
    secrets = {
        d["metadata"]["name"]: set(d.get("stringData", {})) | set(d.get("data", {}))
        for d in by_kind(docs, "Secret")
    }
    pvcs = {d["metadata"]["name"] for d in by_kind(docs, "PersistentVolumeClaim")}
    # Every workload runs the one image the kustomization names.
    img = next((i for i in kustomization.get("images", []) if i.get("name") == "tastebud"), {})
    image = f"{img.get('newName', 'tastebud')}:{img.get('newTag', 'latest')}" if img else "tastebud"
    if not img:
        err("kustomization.yaml: `images` must name `tastebud` (overlays set the tag there)")
    accounts = {d["metadata"]["name"] for d in by_kind(docs, "ServiceAccount")}

    for what, spec in pod_specs(docs):
        psc = spec.get("securityContext", {})
        if psc.get("runAsNonRoot") is not True or not psc.get("runAsUser"):
            err(f"{what}: pod securityContext needs runAsNonRoot: true and a non-zero runAsUser")
        sa = spec.get("serviceAccountName")
        if sa and sa not in accounts:
            err(f"{what}: service account {sa} is not defined")
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for v in volumes.values():
            if "configMap" in v and v["configMap"]["name"] not in configmaps:
                err(f"{what}: volume {v['name']} uses ConfigMap {v['configMap']['name']}, not defined")
            if "persistentVolumeClaim" in v and v["persistentVolumeClaim"]["claimName"] not in pvcs:
                err(f"{what}: volume {v['name']} uses an undefined PVC")
        for c in spec["containers"]:
            cw = f"{what} container {c['name']}"
            sc = c.get("securityContext", {})
            if sc.get("readOnlyRootFilesystem") is not True:
                err(f"{cw}: needs readOnlyRootFilesystem: true")
            if sc.get("allowPrivilegeEscalation") is not False:
                err(f"{cw}: needs allowPrivilegeEscalation: false")
            if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                err(f"{cw}: needs capabilities.drop: [ALL]")
            res = c.get("resources", {})
            if not {"cpu", "memory"} <= set(res.get("requests", {})) or "memory" not in res.get(
                "limits", {}
            ):
                err(f"{cw}: needs cpu and memory requests and a memory limit")
            mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
            for m in mounts.values():
                if m["name"] not in volumes:
                    err(f"{cw}: mounts volume {m['name']}, which the pod does not define")
            tmp = mounts.get("/tmp")
            if not tmp or "emptyDir" not in volumes.get(tmp["name"], {}):
                err(f"{cw}: /tmp must be an emptyDir (the root filesystem is read-only)")
            env = {}
            for e in c.get("env", []):
                env[e["name"]] = e
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["key"] not in secrets.get(ref["name"], set()):
                    err(f"{cw}: env {e['name']} reads {ref['name']}/{ref['key']}, not defined")
            for a in c.get("args", []) + c.get("command", []):
                for var in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", a):
                    if var not in env:
                        err(f"{cw}: `$({var})` in its arguments is not in its env (left unexpanded)")
            if c.get("image") != image:
                err(f"{cw}: image {c.get('image')!r}, not the kustomization's {image!r}")
            # Files under /etc/tastebud come from the ConfigMap.
            cfg_mount = mounts.get("/etc/tastebud")
            args = c.get("args", []) + c.get("command", [])
            for a in args:
                for path in re.findall(r"/etc/tastebud/([\w.-]+)", a):
                    if not cfg_mount:
                        err(f"{cw}: uses /etc/tastebud/{path} without mounting the config")
                        continue
                    cm = volumes[cfg_mount["name"]].get("configMap", {}).get("name")
                    if path not in configmaps.get(cm, {}):
                        err(f"{cw}: /etc/tastebud/{path} is not a key of ConfigMap {cm}")

    # The server's config, retrain.toml, and the paths that must agree with them.
    cm_data = next(iter(configmaps.values()), {})
    server_cfg = tomllib.loads(cm_data.get("tastebud.toml", ""))
    retrain_cfg = tomllib.loads(cm_data.get("retrain.toml", ""))
    port = int(str(server_cfg.get("bind", ":0")).rsplit(":", 1)[1])
    current = str(Path(retrain_cfg.get("registry", "?")) / "current.tbm")

    deployments = by_kind(docs, "Deployment")
    for dep in deployments:
        name = dep["metadata"]["name"]
        tpl = dep["spec"]["template"]
        labels = tpl["metadata"].get("labels", {})
        sel = dep["spec"]["selector"]["matchLabels"]
        if not sel.items() <= labels.items():
            err(f"Deployment/{name}: selector does not match its pod labels")
        c = tpl["spec"]["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        if ports.get("http") != port:
            err(f"Deployment/{name}: container port http={ports.get('http')}, config binds {port}")
        for probe, path in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")]:
            got = c.get(probe, {}).get("httpGet", {})
            if got.get("path") != path or got.get("port") not in ("http", port):
                err(f"Deployment/{name}: {probe} must GET {path} on the http port (got {got})")
        if arg_after(c.get("args", []), "--model") != current:
            err(
                f"Deployment/{name}: serves {arg_after(c.get('args', []), '--model')}, but retrain.toml "
                f"promotes to {current}"
            )
        models = next(
            (m for m in c.get("volumeMounts", []) if current.startswith(m["mountPath"] + "/")), None
        )
        if not models:
            err(f"Deployment/{name}: {current} is on no mounted volume")
        env_names = {e["name"] for e in c.get("env", [])}
        auth = server_cfg.get("auth", {})
        needs_key = auth.get("require_key_for_events") or auth.get("require_key_for_recommendations")
        if needs_key and not env_names & {"TASTEBUD_SERVICE_KEY", "TASTEBUD_ADMIN_KEY"}:
            err(f"Deployment/{name}: [auth] requires a key, but the pod gets no TASTEBUD_SERVICE_KEY")
        if not {"TASTEBUD_STORE_URL", "TASTEBUD_REDIS_URL"} <= env_names:
            err(f"Deployment/{name}: TASTEBUD_STORE_URL and TASTEBUD_REDIS_URL must be set (shared state)")
        if dep["spec"].get("replicas", 1) < 2:
            err(f"Deployment/{name}: fewer than two replicas")

    dep_labels = {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"].get("labels", {}) for d in deployments
    }
    for svc in by_kind(docs, "Service"):
        sel = svc["spec"].get("selector", {})
        if not any(sel.items() <= lab.items() for lab in dep_labels.values()):
            err(f"Service/{svc['metadata']['name']}: selector {sel} matches no Deployment's pods")
        for p in svc["spec"]["ports"]:
            if p.get("targetPort") not in ("http", port):
                err(f"Service/{svc['metadata']['name']}: targetPort {p.get('targetPort')} is not the server's")
    for hpa in by_kind(docs, "HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        if hpa["apiVersion"] != "autoscaling/v2":
            err("HorizontalPodAutoscaler: must be autoscaling/v2")
        if ref.get("kind") != "Deployment" or ref.get("name") not in dep_labels:
            err(f"HorizontalPodAutoscaler: scales {ref}, not a Deployment of this base")
        if hpa["spec"].get("minReplicas", 1) < 2:
            err("HorizontalPodAutoscaler: minReplicas below 2 leaves no replica during a restart")
    for pdb in by_kind(docs, "PodDisruptionBudget"):
        sel = pdb["spec"]["selector"]["matchLabels"]
        if not any(sel.items() <= lab.items() for lab in dep_labels.values()):
            err("PodDisruptionBudget: its selector matches no Deployment's pods")

    # The sharded batch: an Indexed Job whose shard count is its completions.
    sharded = 0
    for cj in by_kind(docs, "CronJob"):
        js = cj["spec"]["jobTemplate"]["spec"]
        for c in js["template"]["spec"]["containers"]:
            args = c.get("args", [])
            if args[:1] == ["batch"]:
                sharded += 1
                shard = arg_after(args, "--shard") or ""
                env = {e["name"]: e for e in c.get("env", [])}
                count = env.get("SHARD_COUNT", {}).get("value")
                index = env.get("SHARD_INDEX", {}).get("valueFrom", {}).get("fieldRef", {})
                if shard != "$(SHARD_INDEX)/$(SHARD_COUNT)":
                    err(f"CronJob/{cj['metadata']['name']}: --shard must be $(SHARD_INDEX)/$(SHARD_COUNT)")
                if js.get("completionMode") != "Indexed":
                    err(f"CronJob/{cj['metadata']['name']}: the batch Job must be Indexed")
                if not (str(js.get("completions")) == str(js.get("parallelism")) == count):
                    err(
                        f"CronJob/{cj['metadata']['name']}: completions {js.get('completions')}, "
                        f"parallelism {js.get('parallelism')} and SHARD_COUNT {count} must be equal"
                    )
                if "job-completion-index" not in index.get("fieldPath", ""):
                    err(f"CronJob/{cj['metadata']['name']}: SHARD_INDEX must be the completion index")
                if arg_after(args, "--model") != current:
                    err(f"CronJob/{cj['metadata']['name']}: batch reads another model than the servers")
            if args[:1] == ["retrain"]:
                cfg = arg_after(args, "--config")
                mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
                reg = retrain_cfg.get("registry", "")
                m = next((m for p, m in mounts.items() if reg.startswith(p + "/")), None)
                if cfg != "/etc/tastebud/retrain.toml":
                    err(f"CronJob/{cj['metadata']['name']}: retrain must read /etc/tastebud/retrain.toml")
                if not m or m.get("readOnly"):
                    err(f"CronJob/{cj['metadata']['name']}: the registry {reg} must be on a writable mount")
    if sharded != 1:
        err(f"expected one sharded batch CronJob, found {sharded}")
    return errs


def compose_replicas(compose) -> list[str]:
    """Services running `tastebud serve`."""
    return sorted(
        n for n, s in compose["services"].items() if (s.get("command") or [None])[0] == "serve"
    )


def check_compose(compose, prometheus, nginx_conf: str, provisioning, dockerfile: str) -> list[str]:
    errs: list[str] = []
    err = errs.append
    services = compose["services"]
    for s in ["postgres", "redis", "prometheus", "grafana", "nginx", "bootstrap"]:
        if s not in services:
            err(f"compose.yaml: no `{s}` service")
    replicas = compose_replicas(compose)
    if len(replicas) < 2:
        err(f"compose.yaml: {len(replicas)} tastebud replica(s), expected two")
    targets = sorted(
        t for job in prometheus["scrape_configs"] for sc in job.get("static_configs", []) for t in sc["targets"]
    )
    want = sorted(f"{r}:8080" for r in replicas)
    if targets != want:
        err(f"prometheus.yml scrapes {targets}, the compose replicas are {want}")
    upstream = sorted(re.findall(r"^\s*server\s+([\w.-]+:\d+)", nginx_conf, re.M))
    if upstream != want:
        err(f"nginx.conf balances over {upstream}, the compose replicas are {want}")

    for name, s in services.items():
        for v in s.get("volumes", []):
            src = v.split(":")[0]
            if src.startswith("."):
                if not (DEPLOY / src).exists():
                    err(f"compose.yaml: {name} mounts {src}, which does not exist")
            elif src not in compose.get("volumes", {}):
                err(f"compose.yaml: {name} uses volume {src}, not declared")
        for dep in s.get("depends_on", {}) or {}:
            if dep not in services:
                err(f"compose.yaml: {name} depends on an undefined service {dep}")
    for r in replicas:
        s = services[r]
        test = s.get("healthcheck", {}).get("test", [])
        if test[:3] != ["CMD", "/usr/local/bin/tastebud", "healthcheck"]:
            err(f"compose.yaml: {r} must be health-checked by `tastebud healthcheck`")
        env = s.get("environment", {})
        for var, host in [("TASTEBUD_STORE_URL", "postgres"), ("TASTEBUD_REDIS_URL", "redis")]:
            if f"@{host}:" not in env.get(var, "") and f"//{host}:" not in env.get(var, ""):
                err(f"compose.yaml: {r} {var} must point at the `{host}` service")
        if not s.get("read_only"):
            err(f"compose.yaml: {r} must run read_only")
        if "nginx" in services and r not in (services["nginx"].get("depends_on") or {}):
            err(f"compose.yaml: nginx must wait for {r}")

    # Grafana: the provider path is where compose mounts the dashboard; the datasource is the service.
    graf = services.get("grafana", {})
    dash_dirs = {
        str(Path(v.split(":")[1]).parent)
        for v in graf.get("volumes", [])
        if v.split(":")[0].endswith(".json")
    }
    paths = {p["options"]["path"] for p in provisioning["dashboards"]["providers"]}
    if not paths or not paths <= dash_dirs:
        err(f"grafana: provisioning reads {paths}, compose mounts the dashboard in {dash_dirs}")
    for ds in provisioning["datasources"]["datasources"]:
        if not re.match(r"http://prometheus:9090/?$", ds.get("url", "")):
            err(f"grafana: datasource url {ds.get('url')} is not the prometheus service")

    # The Dockerfile and the services agree on the port, the user and the health check.
    if not re.search(r"^EXPOSE 8080\b", dockerfile, re.M):
        err("Dockerfile: EXPOSE 8080 missing")
    user = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    if not user or not re.fullmatch(r"[1-9]\d*:[1-9]\d*", user[-1]):
        err("Dockerfile: the last USER must be a numeric non-root uid:gid")
    if "tastebud\", \"healthcheck\"" not in dockerfile or "HEALTHCHECK" not in dockerfile:
        err("Dockerfile: HEALTHCHECK must run `tastebud healthcheck`")
    return errs


def load_inputs(rendered: Path):
    docs = [d for d in yaml.safe_load_all(rendered.read_text()) if d]
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    k8s_files = {str(p.relative_to(K8S)) for p in K8S.rglob("*") if p.is_file()}
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    prometheus = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    nginx_conf = (DEPLOY / "nginx.conf").read_text()
    prov = DEPLOY / "grafana" / "provisioning"
    provisioning = {
        "dashboards": yaml.safe_load((prov / "dashboards" / "tastebud.yaml").read_text()),
        "datasources": yaml.safe_load((prov / "datasources" / "prometheus.yaml").read_text()),
    }
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    return docs, kustomization, k8s_files, compose, prometheus, nginx_conf, provisioning, dockerfile


def run_all(inputs) -> list[str]:
    docs, kustomization, k8s_files, compose, prometheus, nginx_conf, provisioning, dockerfile = inputs
    return check_k8s(docs, kustomization, k8s_files) + check_compose(
        compose, prometheus, nginx_conf, provisioning, dockerfile
    )


def self_test(inputs) -> list[str]:
    """Each break must be reported by run_all; returns the breaks that were not."""

    def deployment(i):
        return next(d for d in i[0] if d["kind"] == "Deployment")

    def batch_job(i):
        cj = next(
            d
            for d in i[0]
            if d["kind"] == "CronJob"
            and d["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"][0] == "batch"
        )
        return cj["spec"]["jobTemplate"]["spec"]

    def container(i):
        return deployment(i)["spec"]["template"]["spec"]["containers"][0]

    breaks = {
        "writable root filesystem": lambda i: container(i)["securityContext"].pop("readOnlyRootFilesystem"),
        "readiness on /healthz": lambda i: container(i)["readinessProbe"]["httpGet"].update(path="/healthz"),
        "a file left out of the kustomization": lambda i: i[2].add("extra.yaml"),
        "shards disagree": lambda i: batch_job(i).update(completions=3),
        "unknown $(VAR)": lambda i: container(i)["args"].append("$(NOPE)"),
        "another model path": lambda i: container(i)["args"].__setitem__(2, "/models/m.tbm"),
        "missing secret key": lambda i: container(i)["env"][1]["valueFrom"]["secretKeyRef"].update(key="x"),
        "no service key in the pod": lambda i: container(i).update(
            env=[e for e in container(i)["env"] if "KEY" not in e["name"]]
        ),
        "service selects nothing": lambda i: next(d for d in i[0] if d["kind"] == "Service")["spec"][
            "selector"
        ].update(tier="none"),
        "prometheus misses a replica": lambda i: i[4]["scrape_configs"][0]["static_configs"][0][
            "targets"
        ].pop(),
        "nginx misses a replica": None,
        "grafana reads another folder": lambda i: i[6]["dashboards"]["providers"][0]["options"].update(
            path="/elsewhere"
        ),
        "root user in the image": None,
    }
    missed = []
    for name, brk in breaks.items():
        broken = list(copy.deepcopy(inputs))
        if name == "nginx misses a replica":
            broken[5] = re.sub(r"^\s*server\s+tastebud-2:8080.*$", "", broken[5], flags=re.M)
        elif name == "root user in the image":
            broken[7] = broken[7].replace("USER 10001:10001", "USER 0:0")
        else:
            brk(broken)
        if not run_all(broken):
            missed.append(name)
    return missed


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    inputs = load_inputs(Path(args[0]))
    errs = run_all(inputs)
    for e in errs:
        print(f"FAIL {e}")
    if errs:
        return 1
    print("ok: deploy/ is consistent (kustomization, pods, probes, shards, paths, compose, Grafana, Dockerfile)")
    if "--self-test" in sys.argv:
        missed = self_test(inputs)
        for m in missed:
            print(f"FAIL self-test: breaking `{m}` was not reported")
        if missed:
            return 1
        print("ok: self-test, every deliberate break was reported")
    return 0


if __name__ == "__main__":
    sys.exit(main())
