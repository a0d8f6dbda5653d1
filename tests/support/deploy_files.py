"""What the deploy files are checked against: the real CLI parser, the declared settings,
the FastAPI app's routes, and a reader for kustomize directories.

No Docker engine, ``kustomize`` or ``kubectl`` can run here, so ``build_kustomization``
renders a kustomize directory the way ``kustomize build`` does for the features the
files under ``deploy/k8s/`` use (resources, ConfigMap/Secret generators, strategic-merge
patches, images, namespace, labels) and refuses any other feature, so a file that starts
using one fails here instead of being checked wrongly.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from loadsense.api.cli import build_parser
from loadsense.settings import LOADSENSE_CONFIG, SETTINGS, Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"

SETTING_ENVS = frozenset({s.env for s in SETTINGS if s.env} | {LOADSENSE_CONFIG})
"""Every environment variable the settings module reads."""

Doc = dict[str, Any]

DOCKERFILE = DEPLOY / "docker" / "Dockerfile"

# ------------------------------------------------------------------------- Dockerfile


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def exec_form(args: str) -> list[str]:
    parsed = json.loads(args)
    assert isinstance(parsed, list), args
    return [str(a) for a in parsed]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for word, args in final_stage():
        if word == "ENV":
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def image_command() -> list[str]:
    """ENTRYPOINT + CMD of the final stage."""
    stage = dict(final_stage())
    return exec_form(stage["ENTRYPOINT"]) + exec_form(stage["CMD"])


# ---------------------------------------------------------------------------- CLI, app


def parse_cli(argv: Sequence[str]) -> Any:
    """``argv`` (after ``loadsense``) parsed by the real parser; a bad flag fails the test
    with argparse's own message instead of exiting."""
    try:
        return build_parser().parse_args(list(argv))
    except SystemExit as exc:
        pytest.fail(f"`loadsense {' '.join(argv)}` is not a valid command line ({exc})")


def settings_from_env(env: Mapping[str, str], where: str) -> Settings:
    """The settings a container with environment ``env`` runs with, parsed by the real
    parsers (only ``LOADSENSE_*`` names; an undeclared one fails the test)."""
    ours = {k: v for k, v in env.items() if k.startswith("LOADSENSE_")}
    unknown = sorted(set(ours) - SETTING_ENVS)
    assert not unknown, f"{where}: not a Loadsense setting: {unknown}"
    return load_settings(env=ours)


def app_paths(settings: Settings) -> set[str]:
    """Paths the FastAPI app built for ``settings`` routes (no storage is opened): its
    OpenAPI document's, and the ones it keeps out of that document (``/``, ``/docs``)."""
    from loadsense.api.app import create_app

    app = create_app(settings)
    return set(app.openapi()["paths"]) | {getattr(r, "path", "") for r in app.routes} - {""}


def streamlit_health_path() -> str:
    from streamlit.web.server.starlette.starlette_routes import ROUTE_HEALTH

    return "/" + ROUTE_HEALTH.lstrip("/")


def url_parts(url: str) -> tuple[str, int, str]:
    """(host, port, path) of an http(s) or tcp URL, with the scheme's default port."""
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme, 0)
    return parts.hostname or "", parts.port or default, parts.path


def pinned(image: str) -> bool:
    """A digest, or a tag that is an exact version (x.y.z...; not ``latest``, not ``25.8``)."""
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    return (
        bool(name)
        and "/" not in tag
        and bool(re.fullmatch(r"v?\d+\.\d+\.\d+(\.\d+)*(-[\w.-]+)?", tag))
    )


# ----------------------------------------------------------------- the Collector config


def check_collector_config(
    config: Mapping[str, Any], clickhouse_host: str, settings: Settings, where: str
) -> None:
    """The Collector writes where Loadsense reads: the exporter points at the ClickHouse
    service and at the database and tables the otel-clickhouse source names, and the
    traces and metrics pipelines run otlp -> batch -> clickhouse."""
    exporter = config["exporters"]["clickhouse"]
    host, port, _ = url_parts(exporter["endpoint"])
    assert (host, port) == (clickhouse_host, 9000), f"{where}: exporter endpoint {host}:{port}"
    assert exporter["database"] == settings.otel_database, where
    assert exporter["traces_table_name"] == settings.otel_traces_table, where
    tables = {kind: t["name"] for kind, t in exporter["metrics_tables"].items()}
    base = settings.otel_metrics_table
    assert tables == {
        "gauge": f"{base}_gauge",
        "sum": f"{base}_sum",
        "summary": f"{base}_summary",
        "histogram": f"{base}_histogram",
        "exponential_histogram": f"{base}_exponential_histogram",
    }, where
    assert exporter["password"] == "${env:CLICKHOUSE_PASSWORD}", f"{where}: password literal"
    pipelines = config["service"]["pipelines"]
    for signal in ("traces", "metrics"):
        pipeline = pipelines[signal]
        assert "otlp" in pipeline["receivers"], f"{where}: {signal} without otlp"
        assert "batch" in pipeline["processors"], f"{where}: {signal} without batch"
        assert pipeline["exporters"] == ["clickhouse"], where
    for pipeline in pipelines.values():
        for section in ("receivers", "processors", "exporters"):
            for name in pipeline.get(section, []):
                assert name in config[section], f"{where}: {name} is not defined"
    for name in config["service"].get("extensions", []):
        assert name in config["extensions"], where


def collector_listen_ports(config: Mapping[str, Any]) -> set[int]:
    protocols = config["receivers"]["otlp"]["protocols"]
    return {int(p["endpoint"].rsplit(":", 1)[1]) for p in protocols.values()}


# -------------------------------------------------------------------------- kustomize

_SUPPORTED = {
    "apiVersion",
    "kind",
    "resources",
    "configMapGenerator",
    "secretGenerator",
    "generatorOptions",
    "patches",
    "images",
    "namespace",
    "labels",
}

CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}


def load_docs(path: Path) -> list[Doc]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def build_kustomization(directory: Path, env_fallback: str = "") -> list[Doc]:
    """The resources ``kustomize build directory`` renders (for the features above).

    ``env_fallback``: a suffix tried for a generator's ``envs`` file that does not exist
    (an overlay's ``tokens.env`` is the operator's and not in git; ``.example`` stands in).
    """
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    unsupported = set(spec) - _SUPPORTED
    assert not unsupported, f"{directory}: kustomize fields this check cannot render: {unsupported}"
    docs: list[Doc] = []
    for entry in spec.get("resources", []):
        path = directory / entry
        if path.is_dir():
            docs += build_kustomization(path, env_fallback)
        else:
            docs += load_docs(path)
    options = spec.get("generatorOptions", {})
    assert options.get("disableNameSuffixHash") or not (
        spec.get("configMapGenerator") or spec.get("secretGenerator")
    ), f"{directory}: hashed generator names are not rendered here"
    for kind, key in (("ConfigMap", "configMapGenerator"), ("Secret", "secretGenerator")):
        for generator in spec.get(key, []):
            docs = _generate(docs, directory, kind, generator, env_fallback)
    for patch in spec.get("patches", []):
        assert set(patch) == {"path"}, f"{directory}: only `patches: - path:` is rendered here"
        for doc in load_docs(directory / patch["path"]):
            _apply_patch(docs, doc, directory / patch["path"])
    for image in spec.get("images", []):
        _set_image(docs, image)
    if "namespace" in spec:
        for doc in docs:
            if doc["kind"] not in CLUSTER_SCOPED:
                doc.setdefault("metadata", {})["namespace"] = spec["namespace"]
    for label in spec.get("labels", []):
        assert not label.get("includeSelectors"), "selector labels are not rendered here"
        for doc in docs:
            doc.setdefault("metadata", {}).setdefault("labels", {}).update(label["pairs"])
    return docs


def _generate(
    docs: list[Doc], directory: Path, kind: str, generator: Mapping[str, Any], env_fallback: str
) -> list[Doc]:
    data: dict[str, str] = {}
    for item in generator.get("files", []):
        key, _, file = item.rpartition("=")
        data[key or Path(file).name] = (directory / file).read_text(encoding="utf-8")
    for env_file in generator.get("envs", []):
        path = directory / env_file
        if not path.exists() and env_fallback:
            path = directory / (env_file + env_fallback)
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                key, sep, value = line.partition("=")
                assert sep, f"{path}: not KEY=VALUE: {line!r}"
                data[key.strip()] = value
    for literal in generator.get("literals", []):
        key, _, value = literal.partition("=")
        data[key] = value
    name = generator["name"]
    doc: Doc = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}}
    if kind == "Secret":
        doc["type"] = "Opaque"
        doc["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    else:
        doc["data"] = data
    behavior = generator.get("behavior", "create")
    existing = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    if behavior == "create":
        assert not existing, f"{directory}: {kind}/{name} generated twice"
        return [*docs, doc]
    assert behavior == "replace" and existing, f"{directory}: {kind}/{name}: {behavior}"
    return [doc if d is existing[0] else d for d in docs]


def _merge(base: Any, patch: Any) -> Any:
    """Strategic merge as kustomize applies it to the fields used here: maps merge, lists
    of named maps (containers, env, ports, volumes) merge by name, other lists replace."""
    if isinstance(base, dict) and isinstance(patch, dict):
        assert not any(k.startswith("$") for k in patch), "patch directives are not rendered"
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = _merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(i, dict) and "name" in i for i in [*base, *patch])
    ):
        by_name = {i["name"]: i for i in base}
        out = [_merge(i, next((p for p in patch if p["name"] == i["name"]), {})) for i in base]
        return out + [copy.deepcopy(p) for p in patch if p["name"] not in by_name]
    return copy.deepcopy(patch)


def _apply_patch(docs: list[Doc], patch: Doc, where: Path) -> None:
    for i, doc in enumerate(docs):
        if doc["kind"] == patch["kind"] and doc["metadata"]["name"] == patch["metadata"]["name"]:
            docs[i] = _merge(doc, patch)
            return
    pytest.fail(f"{where}: patch target {patch['kind']}/{patch['metadata']['name']} not found")


def _set_image(docs: list[Doc], image: Mapping[str, str]) -> None:
    for container in all_containers(docs):
        name = re.split(r"[:@]", container["image"], maxsplit=1)[0]
        if name == image["name"]:
            container["image"] = f"{image.get('newName', name)}:{image['newTag']}"


# ---------------------------------------------------------------------- manifest walks

WORKLOADS = {"Deployment", "DaemonSet", "StatefulSet", "Job"}


def pod_spec(doc: Doc) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    return spec


def workloads(docs: Sequence[Doc]) -> Iterator[Doc]:
    return (d for d in docs if d["kind"] in WORKLOADS)


def all_containers(docs: Sequence[Doc]) -> Iterator[dict[str, Any]]:
    for doc in workloads(docs):
        spec = pod_spec(doc)
        yield from spec.get("initContainers", [])
        yield from spec["containers"]


def env_of(container: Mapping[str, Any]) -> dict[str, str]:
    """A container's environment, values taken from Secrets replaced by a placeholder and
    ``$(VAR)`` references expanded as the kubelet does."""
    env: dict[str, str] = {}
    for item in container.get("env", []):
        value = item.get("value")
        if value is None:
            value = "placeholder-from-" + next(iter(item["valueFrom"]))
        env[item["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), value)
    return env


def by_kind(docs: Sequence[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}
