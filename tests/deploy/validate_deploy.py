#!/usr/bin/env python3
"""Checks the deployment files in deploy/ (ctest deploy.*; README.md here).

  validate_deploy.py files    <repo>             YAML, k8s, compose, Envoy,
                                                 Dockerfile, systemd, secrets
  validate_deploy.py configs  <repo> <attuned>   every attuned configuration
                                                 in deploy/ passes attuned's
                                                 own loader and validation
  validate_deploy.py libs     <repo> <binary>... the image's runtime package
                                                 list covers what the
                                                 binaries link
  validate_deploy.py systemd  <repo> <attuned>   systemd-analyze verify

Exit 0: all checks pass; 1: a check failed (each failure on its own line,
naming the file); 77: the check cannot run here (ctest reports a skip).
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SKIP = 77
failures = []


def fail(where, message):
    failures.append(f"{where}: {message}")


def finish(what):
    for line in failures:
        print(f"FAIL {line}", file=sys.stderr)
    if failures:
        print(f"{what}: {len(failures)} problem(s)", file=sys.stderr)
        return 1
    print(f"{what}: ok")
    return 0


def load_yaml_module():
    try:
        import yaml  # Debian: python3-yaml
    except ImportError:
        print("FAIL PyYAML is missing: install the Debian package python3-yaml",
              file=sys.stderr)
        sys.exit(1)
    return yaml


# --- Text-format attuned configurations --------------------------------------

def block(text, name):
    """The body of the top-level `name { ... }` block, or ''."""
    m = re.search(r"(?m)^\s*" + name + r"\s*\{", text)
    if not m:
        return ""
    depth, i = 1, m.end()
    while i < len(text) and depth:
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    return text[m.end():i - 1]


def strip_comments(text):
    return re.sub(r"#[^\n]*", "", text)


def field(text, name):
    m = re.search(r"\b" + name + r'\s*:\s*"([^"]*)"', text)
    if m:
        return m.group(1)
    m = re.search(r"\b" + name + r"\s*:\s*([0-9]+)", text)
    return m.group(1) if m else None


class AttunedConfig:
    def __init__(self, text, where):
        self.where = where
        self.text = strip_comments(text)
        top = re.sub(r"\{[^{}]*\}", "", self.text)
        while "{" in top:
            top = re.sub(r"\{[^{}]*\}", "", top)
        self.listen = field(top, "listen_address") or "127.0.0.1:50051"
        self.grace = int(field(top, "shutdown_grace_seconds") or 10)
        self.ops = field(block(self.text, "ops"), "listen_address") or \
            "127.0.0.1:9464"
        self.has_tls = bool(block(self.text, "tls").strip())

    @staticmethod
    def port(address):
        return int(address.rsplit(":", 1)[1])

    @staticmethod
    def host(address):
        return address.rsplit(":", 1)[0]


# --- Kubernetes ---------------------------------------------------------------

def check_container_security(where, pod_spec, container):
    pod_sc = pod_spec.get("securityContext") or {}
    sc = container.get("securityContext") or {}
    name = f"{where}: container {container.get('name')}"
    if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
        fail(name, "runAsNonRoot is not true")
    for ctx in (pod_sc, sc):
        if ctx.get("runAsUser") == 0:
            fail(name, "runAsUser is 0")
    if sc.get("readOnlyRootFilesystem") is not True:
        fail(name, "readOnlyRootFilesystem is not true")
    if sc.get("allowPrivilegeEscalation") is not False:
        fail(name, "allowPrivilegeEscalation is not false")
    if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
        fail(name, "capabilities.drop lacks ALL")
    if not (container.get("resources") or {}).get("requests"):
        fail(name, "no resource requests")


def resolve_port(container, port):
    if isinstance(port, int):
        return port
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return p.get("containerPort")
    return None


def attuned_config_of(where, container, pod_spec, configmaps):
    """The AttunedConfig a container running attuned loads, or None."""
    args = (container.get("command") or []) + (container.get("args") or [])
    if "--config" not in args:
        return None
    path = args[args.index("--config") + 1]
    for mount in container.get("volumeMounts") or []:
        prefix = mount["mountPath"].rstrip("/") + "/"
        if not path.startswith(prefix):
            continue
        volume = next((v for v in pod_spec.get("volumes") or []
                       if v.get("name") == mount["name"]), None)
        cm_name = ((volume or {}).get("configMap") or {}).get("name")
        data = (configmaps.get(cm_name) or {}).get(path[len(prefix):])
        if data is None:
            fail(where, f"--config {path}: no ConfigMap key behind it")
            return None
        return AttunedConfig(data, f"{where}: ConfigMap {cm_name}")
    fail(where, f"--config {path}: not on a ConfigMap volume")
    return None


def check_attuned_container(where, pod_spec, container, config):
    name = f"{where}: container {container.get('name')}"
    args = (container.get("command") or []) + (container.get("args") or [])
    if "--insecure_remote" in args:
        fail(name, "uses --insecure_remote")
    if not config.has_tls and not config.host(config.listen).startswith(
            ("127.", "localhost", "[::1]", "unix:")):
        fail(name, f"listen_address {config.listen} beyond loopback without tls")
    ops_port = config.port(config.ops)
    if config.host(config.ops).startswith(("127.", "localhost", "[::1]")):
        fail(name, f"ops.listen_address {config.ops} is loopback: the "
             "kubelet's probes and Prometheus cannot reach it")
    want = {"readinessProbe": "/readyz", "livenessProbe": "/livez"}
    for probe, path in list(want.items()) + [("startupProbe", None)]:
        spec = container.get(probe)
        if spec is None:
            if path:
                fail(name, f"no {probe}")
            continue
        get = spec.get("httpGet") or {}
        if path and get.get("path") != path:
            fail(name, f"{probe} path {get.get('path')}, want {path}")
        if get.get("path") not in ("/readyz", "/livez"):
            fail(name, f"{probe} path {get.get('path')} is not served")
        port = resolve_port(container, get.get("port"))
        if port != ops_port:
            fail(name, f"{probe} port {get.get('port')} ({port}) is not the "
                 f"ops port {ops_port} of {config.where}")
    stop = config.grace
    pre_stop = (((container.get("lifecycle") or {}).get("preStop") or {})
                .get("exec") or {}).get("command") or []
    if pre_stop and pre_stop[0].endswith("sleep"):
        stop += int(pre_stop[1])
    grace = pod_spec.get("terminationGracePeriodSeconds", 30)
    if grace <= stop:
        fail(name, f"terminationGracePeriodSeconds {grace} is not above "
             f"preStop + shutdown_grace_seconds ({stop})")
    return config


def labels_match(selector, labels):
    return all(labels.get(k) == v
               for k, v in ((selector or {}).get("matchLabels") or {}).items())


def check_k8s(repo, docs_by_file):
    k8s = repo / "deploy/k8s"
    objects = []
    for path, docs in docs_by_file.items():
        if k8s not in path.parents:
            continue
        rel = path.relative_to(repo)
        for doc in docs:
            if doc is None:
                continue
            if not isinstance(doc, dict):
                fail(rel, "a document is not a mapping")
                continue
            kind = doc.get("kind")
            if not doc.get("apiVersion") or not kind:
                fail(rel, "a document lacks apiVersion or kind")
                continue
            if kind == "Kustomization":  # kustomize's file, not an object
                continue
            if not (doc.get("metadata") or {}).get("name"):
                fail(rel, f"{kind} lacks metadata.name")
                continue
            objects.append((rel, doc))
    if not objects:
        fail("deploy/k8s", "no Kubernetes objects found")
        return

    kinds = {}
    for rel, doc in objects:
        kinds.setdefault(doc["kind"], []).append((rel, doc))
    configmaps = {d["metadata"]["name"]: d.get("data") or {}
                  for _, d in kinds.get("ConfigMap", [])}
    for rel, doc in kinds.get("Secret", []):
        if doc.get("data") or doc.get("stringData"):
            fail(rel, f"Secret {doc['metadata']['name']} carries data; "
                 "reference Secrets, never define their contents here")

    deployments = kinds.get("Deployment", [])
    if not any(rel.name == "deployment.yaml" for rel, _ in deployments):
        fail("deploy/k8s/deployment.yaml", "no Deployment")
    shared = None
    for rel, dep in deployments:
        where = f"{rel}: Deployment {dep['metadata']['name']}"
        template = (dep.get("spec") or {}).get("template") or {}
        pod = template.get("spec") or {}
        if not labels_match(dep["spec"].get("selector"),
                            (template.get("metadata") or {}).get("labels") or {}):
            fail(where, "selector does not match the pod labels")
        containers = (pod.get("initContainers") or []) + \
            (pod.get("containers") or [])
        attuned = 0
        for c in containers:
            check_container_security(where, pod, c)
            config = attuned_config_of(where, c, pod, configmaps)
            if config:
                attuned += 1
                check_attuned_container(where, pod, c, config)
                if rel.name == "deployment.yaml":
                    shared = (dep, c, config)
        if attuned == 0:
            fail(where, "no container runs attuned --config")

    if shared is None:
        return
    dep, container, config = shared
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    port_names = {p.get("name"): p.get("containerPort")
                  for p in container.get("ports") or []}
    if config.port(config.listen) not in port_names.values():
        fail("deploy/k8s/deployment.yaml",
             f"no containerPort for listen_address {config.listen}")
    for rel, svc in kinds.get("Service", []):
        spec = svc.get("spec") or {}
        if spec.get("selector") and all(
                pod_labels.get(k) == v for k, v in spec["selector"].items()):
            for p in spec.get("ports") or []:
                target = p.get("targetPort", p.get("port"))
                if target not in port_names and target not in \
                        port_names.values():
                    fail(rel, f"Service {svc['metadata']['name']} targetPort "
                         f"{target} is not a port of attuned")
    want = {
        "Service": lambda d: d["spec"].get("selector") and all(
            pod_labels.get(k) == v for k, v in d["spec"]["selector"].items()),
        "PodDisruptionBudget": lambda d: labels_match(
            d["spec"].get("selector"), pod_labels),
        "NetworkPolicy": lambda d: labels_match(
            d["spec"].get("podSelector"), pod_labels),
        "HorizontalPodAutoscaler": lambda d: d["apiVersion"] ==
        "autoscaling/v2" and d["spec"]["scaleTargetRef"]["name"] ==
        dep["metadata"]["name"],
    }
    for kind, matches in want.items():
        if not any(matches(d) for _, d in kinds.get(kind, [])):
            fail("deploy/k8s", f"no {kind} for Deployment "
                 f"{dep['metadata']['name']}")
    for rel, pol in kinds.get("NetworkPolicy", []):
        spec = pol["spec"]
        if set(spec.get("policyTypes") or []) != {"Ingress", "Egress"}:
            fail(rel, "policyTypes must be Ingress and Egress")
        ports = {p.get("port") for rule in spec.get("ingress") or []
                 for p in rule.get("ports") or []}
        for need in (config.port(config.listen), config.port(config.ops)):
            if need not in ports:
                fail(rel, f"no ingress rule for port {need}")
        for rule in spec.get("ingress") or []:
            if not rule.get("from"):
                fail(rel, "an ingress rule admits every source")
        egress = {p.get("port") for rule in spec.get("egress") or []
                  for p in rule.get("ports") or []}
        if not {53, 5432} <= egress:
            fail(rel, "egress must allow DNS (53) and PostgreSQL (5432)")


def check_kustomization(repo):
    path = repo / "deploy/k8s/kustomization.yaml"
    yaml = load_yaml_module()
    if not path.exists():
        fail("deploy/k8s", "no kustomization.yaml")
        return
    listed = (yaml.safe_load(path.read_text()) or {}).get("resources") or []
    for name in listed:
        if not (path.parent / name).exists():
            fail(path.relative_to(repo), f"lists {name}, which does not exist")
    # The sidecar example is a different layout, applied on its own.
    for file in sorted(path.parent.glob("*.yaml")):
        if file.name not in listed and file.name not in (
                "kustomization.yaml", "sidecar-example.yaml"):
            fail(path.relative_to(repo), f"does not list {file.name}")


# --- Compose and Envoy --------------------------------------------------------

def check_compose(repo, docs_by_file):
    path = repo / "deploy/compose/compose.yaml"
    docs = docs_by_file.get(path)
    rel = "deploy/compose/compose.yaml"
    if not docs:
        fail(rel, "missing or empty")
        return
    compose = docs[0]
    services = compose.get("services") or {}
    for name, svc in services.items():
        where = f"{rel}: service {name}"
        if svc.get("read_only") is not True:
            fail(where, "read_only is not true")
        user = str(svc.get("user", "")).split(":")[0]
        if user in ("", "0", "root"):
            fail(where, "no non-root user")
        if "ALL" not in (svc.get("cap_drop") or []):
            fail(where, "cap_drop lacks ALL")
        env = svc.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
        for key in env:
            if re.search(r"(PASSWORD|SECRET|TOKEN|KEYS?)$", key):
                fail(where, f"environment {key} holds a secret; use a "
                     "secret file")
        command = svc.get("command") or []
        if "--insecure_remote" in (command if isinstance(command, list)
                                   else str(command).split()):
            fail(where, "uses --insecure_remote")
    for name, secret in (compose.get("secrets") or {}).items():
        if set(secret) != {"file"}:
            fail(rel, f"secret {name} is not a file")
    if "attuned" not in services or "envoy" not in services:
        fail(rel, "needs services attuned and envoy")
        return
    image = str((services.get("postgres") or {}).get("image", ""))
    if not image.startswith("postgres:15"):
        fail(rel, f"postgres image {image!r} is not postgres:15 (Debian)")
    attuned = services["attuned"]
    config_file = None
    for c in attuned.get("configs") or []:
        if c.get("target") == "/etc/attune/attuned.textproto":
            config_file = (compose.get("configs") or {}).get(
                c["source"], {}).get("file")
    if not config_file:
        fail(rel, "attuned gets no /etc/attune/attuned.textproto")
        return
    config = AttunedConfig((path.parent / config_file).read_text(),
                           os.path.normpath(f"deploy/compose/{config_file}"))
    if not config.has_tls and not config.listen.startswith("127."):
        fail(config.where, "listens beyond loopback without tls")
    grace = str(attuned.get("stop_grace_period", "10s"))
    if not grace.endswith("s") or int(grace[:-1]) <= config.grace:
        fail(rel, f"attuned stop_grace_period {grace} is not above "
             f"shutdown_grace_seconds {config.grace}")
    check_envoy(repo, docs_by_file, config)


def walk(node):
    yield node
    if isinstance(node, dict):
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def check_envoy(repo, docs_by_file, config):
    path = repo / "deploy/compose/envoy.yaml"
    rel = "deploy/compose/envoy.yaml"
    docs = docs_by_file.get(path)
    if not docs:
        fail(rel, "missing or empty")
        return
    resources = docs[0].get("static_resources") or {}
    listeners = resources.get("listeners") or []
    types = [n.get("@type", "") for n in walk(listeners) if isinstance(n, dict)]
    if not any(t.endswith("tls.v3.DownstreamTlsContext") for t in types):
        fail(rel, "no listener terminates TLS")
    clusters = {c.get("name"): c for c in resources.get("clusters") or []}
    upstream = clusters.get("attuned")
    if not upstream:
        fail(rel, "no cluster named attuned")
        return
    nodes = list(walk(upstream))
    if not any(isinstance(n, dict) and "http2_protocol_options" in n
               for n in nodes):
        fail(rel, "cluster attuned does not speak HTTP/2")
    if not any("grpc_health_check" in h
               for h in upstream.get("health_checks") or []):
        fail(rel, "cluster attuned has no gRPC health check")
    addresses = [n for n in nodes if isinstance(n, dict)
                 and "port_value" in n]
    if not any(a.get("address") == "attuned" and
               a.get("port_value") == config.port(config.listen)
               for a in addresses):
        fail(rel, f"cluster attuned does not reach attuned:"
             f"{config.port(config.listen)}")
    tls_up = any(isinstance(n, dict) and n.get("@type", "").endswith(
        "tls.v3.UpstreamTlsContext") for n in nodes)
    if config.has_tls != tls_up:
        fail(rel, "Envoy -> attuned TLS does not match attuned's tls block")


# --- Dockerfile, systemd, secrets ---------------------------------------------

def dockerfile_stages(text):
    text = re.sub(r"\\\n", " ", text)
    args = dict(re.findall(r"(?m)^ARG\s+(\w+)=(\S+)", text.split("FROM", 1)[0]))
    stages, current = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            base = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), ""),
                          rest.split()[0])
            current = {"base": base, "lines": []}
            stages.append(current)
        elif current is not None:
            current["lines"].append((word.upper(), rest))
    return stages


def runtime_packages(repo):
    text = (repo / "deploy/docker/Dockerfile").read_text()
    runs = " ".join(rest for word, rest in dockerfile_stages(text)[-1]["lines"]
                    if word == "RUN")
    m = re.search(r"--no-install-recommends(.*?)(&&|$)", runs)
    return set(m.group(1).split()) if m else set()


def check_dockerfile(repo):
    rel = "deploy/docker/Dockerfile"
    path = repo / rel
    if not path.exists():
        fail(rel, "missing")
        return
    stages = dockerfile_stages(path.read_text())
    if len(stages) < 2:
        fail(rel, "is not multi-stage")
        return
    build_runs = " ".join(r for w, r in stages[0]["lines"] if w == "RUN")
    if not re.search(r"deploy/install-deps\.sh build\b", build_runs):
        fail(rel, "build stage does not run deploy/install-deps.sh build")
    if "deploy/build.sh" not in build_runs:
        fail(rel, "build stage does not run deploy/build.sh")
    for stage in stages:
        if stage["base"] != "debian:12-slim":
            fail(rel, f"stage on {stage['base']}, not debian:12-slim")
    runtime = stages[-1]["lines"]
    users = [r.split(":")[0] for w, r in runtime if w == "USER"]
    if not users or not users[-1].isdigit() or users[-1] == "0":
        fail(rel, "runtime stage does not end as a numeric non-root USER")
    words = {w for w, _ in runtime}
    for need in ("HEALTHCHECK", "VOLUME", "EXPOSE", "ENTRYPOINT"):
        if need not in words:
            fail(rel, f"runtime stage lacks {need}")
    exposed = " ".join(r for w, r in runtime if w == "EXPOSE").split()
    for port in ("50051", "9464"):
        if port not in exposed:
            fail(rel, f"does not EXPOSE {port}")
    if not any("/var/lib/attune" in r for w, r in runtime if w == "VOLUME"):
        fail(rel, "no /var/lib/attune volume")
    if not runtime_packages(repo):
        fail(rel, "runtime stage installs no explicit package list")
    for used in re.findall(r"\b(deploy/[\w./-]*[\w-])", path.read_text()):
        if not (repo / used).exists():
            fail(rel, f"uses {used}, which does not exist")
    ignore = repo / ".dockerignore"
    lines = ignore.read_text().split() if ignore.exists() else []
    for need in (".git", "**/build"):
        if need not in lines:
            fail(".dockerignore", f"does not exclude {need}")


def systemd_directives(text):
    out = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";")):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def check_systemd(repo):
    rel = "deploy/systemd/attuned.service"
    path = repo / rel
    if not path.exists():
        fail(rel, "missing")
        return
    d = systemd_directives(path.read_text())
    want = {"ProtectSystem": "strict", "StateDirectory": "attune",
            "NoNewPrivileges": "yes", "PrivateTmp": "yes",
            "CapabilityBoundingSet": "", "KillSignal": "SIGTERM"}
    for key, value in want.items():
        if value not in d.get(key, []):
            fail(rel, f"{key}={value} missing")
    for key in ("RestrictAddressFamilies", "LoadCredential", "User"):
        if not d.get(key):
            fail(rel, f"no {key}=")
    if "@system-service" not in d.get("SystemCallFilter", []):
        fail(rel, "SystemCallFilter=@system-service missing")
    if d.get("User", ["root"])[-1] in ("root", "0"):
        fail(rel, "runs as root")
    if not any(v.startswith("storage.keys:") for v in d.get("LoadCredential", [])):
        fail(rel, "storage keys do not come from LoadCredential=")
    config = AttunedConfig(
        (repo / "deploy/systemd/attuned.textproto").read_text(),
        "deploy/systemd/attuned.textproto")
    stop = d.get("TimeoutStopSec", ["90"])[-1].rstrip("s")
    if not stop.isdigit() or int(stop) <= config.grace:
        fail(rel, f"TimeoutStopSec={stop} is not above shutdown_grace_seconds "
             f"{config.grace}")


SECRET_PATTERNS = [
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a PEM private key"),
    (re.compile(r"password\s*=", re.I), "password="),
    (re.compile(r"\b(PGPASSWORD|POSTGRES_PASSWORD)\s*[:=]\s*\S"),
     "a database password value"),
    (re.compile(r"postgres(ql)?://[^\s/:@\"]+:[^\s@\"]+@"),
     "a password in a PostgreSQL URI"),
    (re.compile(r"(?m)^\s*[A-Za-z0-9_.-]{1,32}[ \t]+[A-Za-z0-9+/]{43}=\s*$"),
     "a storage key line"),
]
# Run-time state the tools create there, git-ignored: never deployment files.
NOT_SCANNED = ("deploy/local/data", "deploy/compose/secrets")


def deploy_files(repo):
    for path in sorted((repo / "deploy").rglob("*")):
        rel = path.relative_to(repo).as_posix()
        if path.is_file() and not rel.startswith(NOT_SCANNED):
            yield path


def check_secrets(repo):
    for path in deploy_files(repo):
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for pattern, what in SECRET_PATTERNS:
            m = pattern.search(text)
            if m:
                line = text.count("\n", 0, m.start()) + 1
                fail(f"{path.relative_to(repo)}:{line}",
                     f"looks like a secret ({what})")


def files_main(repo):
    yaml = load_yaml_module()
    docs_by_file = {}
    for path in deploy_files(repo):
        if path.suffix not in (".yaml", ".yml"):
            continue
        try:
            docs_by_file[path] = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError as e:
            fail(path.relative_to(repo), f"does not parse: {e}")
    if not docs_by_file:
        fail("deploy", "no YAML files")
    check_k8s(repo, docs_by_file)
    check_kustomization(repo)
    check_compose(repo, docs_by_file)
    check_dockerfile(repo)
    check_systemd(repo)
    check_secrets(repo)
    return finish(f"deploy files ({len(docs_by_file)} YAML files)")


# --- Configurations through attuned itself ----------------------------------

def attuned_configs(repo):
    """(name, text) of every attuned configuration the deploy files carry."""
    yaml = load_yaml_module()
    for path in sorted((repo / "deploy").rglob("*.textproto")):
        rel = path.relative_to(repo).as_posix()
        if not rel.startswith(NOT_SCANNED):
            yield rel, path.read_text()
    for path in sorted((repo / "deploy/k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "ConfigMap":
                for key, text in (doc.get("data") or {}).items():
                    if key.endswith(".textproto"):
                        yield (f"{path.relative_to(repo)}: ConfigMap "
                               f"{doc['metadata']['name']} {key}"), text


# The markers attuned's validation looks for (config_validation.cc); the
# files hold nothing else. Spelled in two parts so that no scanner mistakes
# this script for key material.
FAKE_CERT = "-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n"
FAKE_KEY = "-----BEGIN " + "PRIVATE KEY-----\nMA==\n-----END " + \
    "PRIVATE KEY-----\n"


def configs_main(repo, attuned):
    count = 0
    with tempfile.TemporaryDirectory(prefix="attune-deploy-") as tmp:
        tmp = Path(tmp)
        for name, text in attuned_configs(repo):
            count += 1
            work = tmp / str(count)
            work.mkdir()

            # Files named in the configuration live on the target system:
            # stand-ins with the content attuned's validation expects.
            def stand_in(m):
                key, value = m.group(1), m.group(2)
                path = work / (key + "_" + Path(value).name)
                if key == "sqlite_path":
                    return f'{key}: "{work / "attune.db"}"'
                content = {"key_file": FAKE_KEY, "jwks_file": '{"keys": []}'}
                path.write_text(content.get(key, FAKE_CERT))
                path.chmod(0o600)
                return f'{key}: "{path}"'

            local = re.sub(r'\b(\w+_file|sqlite_path)\s*:\s*"([^"]*)"',
                           stand_in, text)
            config = work / "attuned.textproto"
            config.write_text(local)
            run = subprocess.run([attuned, "--config", str(config),
                                  "--print_config"],
                                 capture_output=True, text=True, timeout=60)
            if run.returncode != 0:
                fail(name, "attuned refuses it: " +
                     (run.stderr.strip().splitlines() or ["(no message)"])[-1])
                continue
            printed = AttunedConfig(run.stdout, name)
            declared = AttunedConfig(text, name)
            for what in ("listen", "ops", "grace"):
                if getattr(printed, what) != getattr(declared, what):
                    fail(name, f"effective {what} {getattr(printed, what)} "
                         f"differs from the file's {getattr(declared, what)}")
    if count == 0:
        fail("deploy", "no attuned configurations found")
    return finish(f"attuned configurations ({count})")


# --- Runtime libraries of the image -------------------------------------------

def packages_of(libraries):
    """{library: Debian package} for the libraries dpkg knows (one dpkg call
    per round: each call reads the whole package database)."""
    found = {}
    for variant in (lambda p: p, os.path.realpath,
                    lambda p: p[4:] if p.startswith("/usr/") else "/usr" + p,
                    lambda p: (lambda r: r[4:] if r.startswith("/usr/")
                               else "/usr" + r)(os.path.realpath(p))):
        todo = {variant(lib): lib for lib in libraries if lib not in found}
        if not todo:
            break
        run = subprocess.run(["dpkg", "-S", *todo], capture_output=True,
                             text=True)
        for line in run.stdout.splitlines():
            package, _, path = line.partition(": ")
            if path in todo and "," not in package:
                found[todo[path]] = package.split(":")[0]
    return found


def libs_main(repo, binaries):
    if not all(shutil.which(t) for t in ("dpkg", "ldd", "objdump")):
        print("skipped: needs dpkg, ldd and objdump (a Debian host)")
        return SKIP
    listed = runtime_packages(repo)
    if not listed:
        fail("deploy/docker/Dockerfile", "no runtime package list found")
    # The libraries each binary names itself (DT_NEEDED): their packages
    # must be listed; what those libraries need in turn comes with them
    # (apt installs a package's dependencies).
    libraries = set()
    for binary in binaries:
        run = subprocess.run(["ldd", binary], capture_output=True, text=True)
        if run.returncode != 0:
            fail(binary, "ldd failed: " + run.stderr.strip())
            continue
        paths = {}
        for line in run.stdout.splitlines():
            if "not found" in line:
                fail(binary, f"unresolved: {line.strip()}")
            m = re.search(r"^\s*(\S+)\s*=>\s*(/\S+)", line)
            if m:
                paths[m.group(1)] = m.group(2)
        dump = subprocess.run(["objdump", "-p", binary], capture_output=True,
                              text=True)
        if dump.returncode != 0:
            fail(binary, "objdump failed: " + dump.stderr.strip())
            continue
        for line in dump.stdout.splitlines():
            m = re.match(r"^\s*NEEDED\s+(\S+)", line)
            if m and m.group(1) in paths:
                libraries.add(paths[m.group(1)])
            elif m:
                fail(binary, f"{m.group(1)}: not resolved by ldd")
    owners = packages_of(sorted(libraries))
    needed = {}
    for library in sorted(libraries):
        if library not in owners:
            fail("ldd", f"{library} belongs to no Debian package")
        else:
            needed.setdefault(owners[library], library)
    # libc6 is the base image itself.
    for package in sorted(set(needed) - listed - {"libc6"}):
        fail("deploy/docker/Dockerfile", f"runtime stage lacks {package} "
             f"(for {os.path.basename(needed[package])})")
    return finish(f"image runtime packages ({len(needed)} linked, "
                  f"{len(listed)} listed)")


# --- systemd-analyze ------------------------------------------------------------

def systemd_main(repo, attuned):
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        print("skipped: systemd-analyze is not installed here")
        return SKIP
    with tempfile.TemporaryDirectory(prefix="attune-systemd-") as tmp:
        tmp = Path(tmp)
        probe = tmp / "attune-probe.service"
        probe.write_text("[Service]\nExecStart=/bin/true\n")
        run = subprocess.run([analyze, "verify", str(probe)],
                             capture_output=True, text=True, cwd=tmp)
        if run.returncode != 0 or run.stderr.strip():
            print("skipped: systemd-analyze verify cannot run in this "
                  "environment: " + (run.stderr.strip() or "exit status "
                                     f"{run.returncode}"))
            return SKIP
        # The unit as shipped, but starting the attuned just built: verify
        # checks that the program exists.
        unit = tmp / "attuned.service"
        unit.write_text((repo / "deploy/systemd/attuned.service").read_text()
                        .replace("/usr/local/bin/attuned", attuned))
        run = subprocess.run([analyze, "verify", str(unit)],
                             capture_output=True, text=True, cwd=tmp)
        output = (run.stdout + run.stderr).strip()
        if run.returncode != 0 or output:
            fail("deploy/systemd/attuned.service",
                 "systemd-analyze verify: " + (output or
                                               f"exit {run.returncode}"))
    return finish("systemd-analyze verify")


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    command, repo = argv[1], Path(argv[2]).resolve()
    if command == "files":
        return files_main(repo)
    if command == "configs" and len(argv) == 4:
        return configs_main(repo, argv[3])
    if command == "libs" and len(argv) >= 4:
        return libs_main(repo, argv[3:])
    if command == "systemd" and len(argv) == 4:
        return systemd_main(repo, argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
