#!/usr/bin/env python3
"""Offline checks of the deployment files, for scripts/deploy-check.

    deploy_files.py render DIR          kustomize DIR to stdout
    deploy_files.py same A B            two renderings hold the same objects
    deploy_files.py context             the Docker build context keeps what cargo needs
    deploy_files.py compose FILE        compose semantics beyond the schema
    deploy_files.py alerts FILE         Prometheus rule file structure and PromQL
    deploy_files.py settings            every LEADQUAL_* setting deployed is documented

The renderer supports only what deploy/k8s/kustomization.yaml uses,
`resources` (files) and `images`, and refuses anything else, so what it
prints is what kustomize prints (`same` compares the two where kubectl is
installed).
"""

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent

# The metrics the service exports (RUNBOOK.md, "Metrics"), by type.
COUNTERS = [
    "leadqual_rpc_requests_total",
    "leadqual_rpc_shed_total",
    "leadqual_verdicts_total",
    "leadqual_criteria_fired_total",
    "leadqual_storage_errors_total",
]
HISTOGRAMS = [
    "leadqual_rpc_duration_seconds",
    "leadqual_storage_duration_seconds",
    "leadqual_group_commit_size",
]
GAUGES = [
    "leadqual_rpc_in_flight",
    "leadqual_db_pool_connections",
    "leadqual_db_pool_max_connections",
    "leadqual_database_up",
    "leadqual_build_info",
]
METRICS = COUNTERS + HISTOGRAMS + GAUGES


def fail(message):
    print(f"deploy_files: {message}", file=sys.stderr)
    sys.exit(1)


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


# --- kustomize ----------------------------------------------------------------

SUPPORTED_KUSTOMIZATION = {"apiVersion", "kind", "resources", "images"}
SUPPORTED_IMAGE = {"name", "newName", "newTag", "digest"}


def split_image(image):
    """name, tag, digest of an image reference."""
    name, digest = (image.split("@", 1) + [None])[:2]
    tag = None
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    return name, tag, digest


def set_images(node, images):
    """Applies `images` to every container image under `node`, in place."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers", "ephemeralContainers") and isinstance(
                value, list
            ):
                for container in value:
                    if isinstance(container, dict) and "image" in container:
                        container["image"] = new_image(container["image"], images)
            set_images(value, images)
    elif isinstance(node, list):
        for item in node:
            set_images(item, images)


def new_image(image, images):
    name, tag, digest = split_image(image)
    for rule in images:
        if rule["name"] != name:
            continue
        name = rule.get("newName", name)
        if "digest" in rule:
            tag, digest = None, rule["digest"]
        elif "newTag" in rule:
            tag, digest = str(rule["newTag"]), None
        break
    return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def render(directory):
    directory = Path(directory)
    (kustomization,) = load_all(directory / "kustomization.yaml")
    unsupported = set(kustomization) - SUPPORTED_KUSTOMIZATION
    if unsupported:
        fail(f"render supports only {sorted(SUPPORTED_KUSTOMIZATION)}, not {sorted(unsupported)}")
    if kustomization.get("kind") != "Kustomization":
        fail("kustomization.yaml is not a Kustomization")
    images = kustomization.get("images", [])
    for rule in images:
        if set(rule) - SUPPORTED_IMAGE or "name" not in rule:
            fail(f"render cannot apply the image rule {rule}")
    documents = []
    for resource in kustomization.get("resources", []):
        path = directory / resource
        if not path.is_file():
            fail(f"render takes files as resources, not {resource}")
        documents.extend(load_all(path))
    for document in documents:
        set_images(document, images)
    return documents


def identity(document):
    metadata = document.get("metadata", {})
    return (
        document.get("apiVersion"),
        document.get("kind"),
        metadata.get("namespace"),
        metadata.get("name"),
    )


def same(first, second):
    a = {identity(d): d for d in load_all(first)}
    b = {identity(d): d for d in load_all(second)}
    if a.keys() != b.keys():
        fail(f"different objects: {sorted(map(str, a.keys() ^ b.keys()))}")
    for key in a:
        if a[key] != b[key]:
            fail(f"{key} differs between {first} and {second}")
    print(f"the two renderings hold the same {len(a)} objects")


# --- Docker build context ------------------------------------------------------


def dockerignore_patterns():
    patterns = []
    for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("!"):
            fail(".dockerignore exceptions (!) are not checked here; keep the file simple")
        pattern = line.strip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**", i):
                regex += ".*"
                i += 2
            elif pattern[i] == "*":
                regex += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                regex += "[^/]"
                i += 1
            else:
                regex += re.escape(pattern[i])
                i += 1
        patterns.append(re.compile(regex + r"\Z"))
    return patterns


def ignored(path, patterns):
    """Docker drops a path when a pattern matches it or a parent folder."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(p.match(prefix) for p in patterns for prefix in prefixes)


def context():
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    manifest = (ROOT / "Cargo.toml").read_text(encoding="utf-8")
    # What `cargo build --locked` reads: the manifest and lock file, the
    # build script's inputs, the sources and every declared target's file.
    needed_prefixes = ["src/", "proto/", "migrations/"]
    needed = {"Cargo.toml", "Cargo.lock", "build.rs"}
    needed |= set(re.findall(r'^path = "([^"]+)"', manifest, re.M))
    needed |= {f"benches/{n}.rs" for n in re.findall(r'^\[\[bench\]\]\nname = "([^"]+)"', manifest, re.M)}
    patterns = dockerignore_patterns()
    missing = sorted(
        f
        for f in files
        if (f in needed or any(f.startswith(p) for p in needed_prefixes)) and ignored(f, patterns)
    )
    missing += sorted(f for f in needed if f not in files)
    if missing:
        fail(f"the Docker build context lacks what cargo needs: {missing}")
    kept = sum(1 for f in files if not ignored(f, patterns))
    print(f"docker build context: {kept} of {len(files)} tracked files, everything cargo needs")


# --- compose -------------------------------------------------------------------


def compose(path):
    (spec,) = load_all(path)
    services = spec.get("services", {})
    one_shot = {
        name
        for name, service in services.items()
        for other in services.values()
        if other.get("depends_on", {}).get(name, {}).get("condition")
        == "service_completed_successfully"
    }
    for name, service in services.items():
        depends = service.get("depends_on", {})
        if not isinstance(depends, dict):
            fail(f"{name}: depends_on must name a condition for each service")
        for target, how in depends.items():
            if target not in services:
                fail(f"{name} depends on {target}, which is not a service")
            condition = how.get("condition")
            if condition == "service_healthy" and "healthcheck" not in services[target]:
                fail(f"{name} waits for {target} to be healthy, which has no healthcheck")
        if name in one_shot:
            if service.get("restart", "no") != "no":
                fail(f"{name} runs once: restart must be \"no\"")
        elif "healthcheck" not in service:
            fail(f"{name} has no healthcheck")
        for port in service.get("ports", []):
            if not str(port).startswith("127.0.0.1:"):
                fail(f"{name} publishes {port} beyond the host's loopback")
    print(f"compose: {len(services)} services; health checks, dependencies and ports agree")


# --- Prometheus rules -----------------------------------------------------------

DURATION = re.compile(r"\A([0-9]+(ms|s|m|h|d|w|y))+\Z")
RULE_KEYS = {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}


def metric_names():
    names = set(COUNTERS) | set(GAUGES) | {"up"}
    for h in HISTOGRAMS:
        names |= {h + "_bucket", h + "_sum", h + "_count"}
    return names


def alerts(path):
    import promql_parser

    (rules,) = load_all(path)
    if set(rules) != {"groups"} or not isinstance(rules["groups"], list):
        fail("a rule file is a mapping with one key, groups: a list")
    runbook = (ROOT / "RUNBOOK.md").read_text(encoding="utf-8")
    known = metric_names()
    groups, names = set(), set()
    for group in rules["groups"]:
        if set(group) - {"name", "interval", "limit", "rules"} or not group.get("rules"):
            fail(f"group {group.get('name')}: name and rules only (and interval, limit)")
        if group["name"] in groups:
            fail(f"group {group['name']} twice")
        groups.add(group["name"])
        for rule in group["rules"]:
            name = rule.get("alert")
            if not name or "expr" not in rule or set(rule) - RULE_KEYS:
                fail(f"rule {rule}: an alert needs alert and expr, and only {sorted(RULE_KEYS)}")
            if name in names:
                fail(f"alert {name} twice")
            names.add(name)
            for key in ("for", "keep_firing_for"):
                if key in rule and not DURATION.match(str(rule[key])):
                    fail(f"{name}: {key} {rule[key]!r} is not a duration")
            if rule.get("labels", {}).get("severity") not in ("critical", "warning", "info"):
                fail(f"{name}: labels.severity must be critical, warning or info")
            annotations = rule.get("annotations", {})
            for key in ("summary", "description", "runbook_url"):
                if not annotations.get(key):
                    fail(f"{name}: annotation {key} missing")
            try:
                expr = promql_parser.parse(rule["expr"])
            except ValueError as e:
                fail(f"{name}: expr does not parse: {e}")
            used = []

            def visit(node):
                if isinstance(node, promql_parser.VectorSelector):
                    used.append(node.name)

            promql_parser.walk(expr, visit)
            unknown = sorted(set(used) - known)
            if unknown:
                fail(f"{name}: unknown metrics {unknown}")
            anchor = annotations["runbook_url"].split("#", 1)[-1]
            if anchor != name.lower() or f"### {name}\n" not in runbook:
                fail(f"{name}: RUNBOOK.md needs a section '### {name}' (and runbook_url #{name.lower()})")
    for metric in METRICS:
        if f"`{metric}" not in runbook:
            fail(f"RUNBOOK.md does not describe the metric {metric}")
    print(f"alerts: {len(names)} rules in {len(groups)} group(s) parse, use known metrics and are in RUNBOOK.md")


# --- settings ------------------------------------------------------------------


def settings():
    deployed = set()
    for path in sorted((ROOT / "deploy").rglob("*")):
        if path.is_file():
            deployed |= set(re.findall(r"\bLEADQUAL_[A-Z_]+[A-Z]", path.read_text(encoding="utf-8")))
    runbook = (ROOT / "RUNBOOK.md").read_text(encoding="utf-8")
    undocumented = sorted(s for s in deployed if f"`{s}`" not in runbook)
    if undocumented:
        fail(f"settings used in deploy/ but not in RUNBOOK.md: {undocumented}")
    read = set()
    for path in (ROOT / "src").rglob("*.rs"):
        read |= set(re.findall(r'env = "(LEADQUAL_[A-Z_]+)"', path.read_text(encoding="utf-8")))
    unread = sorted(deployed - read)
    print(f"settings: {len(deployed)} used in deploy/, all documented in RUNBOOK.md")
    if unread:
        print(f"settings: note: not read by this build's source yet: {', '.join(unread)}")


def main(argv):
    match argv:
        case ["render", directory]:
            yaml.safe_dump_all(render(directory), sys.stdout, sort_keys=False)
        case ["same", first, second]:
            same(first, second)
        case ["context"]:
            context()
        case ["compose", path]:
            compose(path)
        case ["alerts", path]:
            alerts(path)
        case ["settings"]:
            settings()
        case _:
            fail(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
