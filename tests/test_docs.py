"""The documentation's code is code: every block parses, and the Airflow hook runs.

Python blocks must compile, YAML and JSON blocks must load; the configuration example
must be a valid config file. The Airflow cluster-policy hook of
``docs/integrations/airflow.md`` is executed as written against a live service on the
external clock, with a stand-in for Airflow's ``TaskInstance`` (Airflow itself is not
installed here: the hook reads ``dag_id`` and ``task_id`` and sets ``priority_weight``
and ``pool``, which is all a stand-in has to carry). The release loop needs Airflow's
database, so it is only compiled.
"""

from __future__ import annotations

import ast
import json
import re
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from loadsense.correlator.dispatch.config import parse_dispatch_config
from loadsense.correlator.dispatch.policy import default_policy_text, parse_policy
from loadsense.settings import SETTINGS, Settings, read_config_file
from loadsense.signals.config import parse_signals_config
from loadsense.storage.client import Storage
from tests.support.service import Service, running_service
from tests.support.signals_feed import NS, Feed, unique

ROOT = Path(__file__).parents[1]
DOCS = sorted([ROOT / "README.md", ROOT / "client" / "README.md", *ROOT.glob("docs/**/*.md")])
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)


def blocks(language: str) -> list[tuple[str, str]]:
    """``(where, code)`` of every fenced block in ``language`` across the docs."""
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            if match.group(1) == language:
                line = text.count("\n", 0, match.start()) + 1
                found.append((f"{doc.relative_to(ROOT)}:{line}", match.group(2)))
    return found


def test_the_docs_have_code_blocks_to_check() -> None:
    counts = {lang: len(blocks(lang)) for lang in ("python", "yaml", "json")}
    # at least the Airflow hook and release loop, the config example, one JSON event
    assert counts["python"] >= 3 and counts["yaml"] >= 3 and counts["json"] >= 1, counts


@pytest.mark.parametrize(("where", "code"), blocks("python"), ids=lambda v: str(v)[:40])
def test_python_blocks_compile(where: str, code: str) -> None:
    ast.parse(code, filename=where)


@pytest.mark.parametrize(("where", "code"), blocks("yaml"), ids=lambda v: str(v)[:40])
def test_yaml_blocks_load(where: str, code: str) -> None:
    assert list(yaml.safe_load_all(code)), where


@pytest.mark.parametrize(("where", "code"), blocks("json"), ids=lambda v: str(v)[:40])
def test_json_blocks_load(where: str, code: str) -> None:
    json.loads(code)


def test_the_configuration_example_is_a_valid_config_file(tmp_path: Path) -> None:
    (example,) = [c for w, c in blocks("yaml") if w.startswith("docs/configuration.md")]
    path = tmp_path / "loadsense.yaml"
    path.write_text(example)
    assert read_config_file(path) == {
        "port": 4318,
        "retention_days": 14,
        "ingest_tokens": ("producer-token",),
        "read_tokens": ("scheduler-token",),
    }


def _airflow_block(marker: str) -> str:
    (code,) = [c for w, c in blocks("python") if "airflow.md" in w and marker in c]
    return code


@dataclass
class StandInTaskInstance:
    """What the hook touches of ``airflow.models.TaskInstance``."""

    dag_id: str
    task_id: str
    priority_weight: int = 1
    pool: str = "default_pool"


@pytest.fixture(scope="module")
def external(storage: Storage, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    # The session's database holds every test's workloads; lift the change budget so
    # other tests' workloads changing at the same tick cannot hold these back.
    policy = tmp_path_factory.mktemp("policy") / "policy.yaml"
    policy.write_text(
        default_policy_text().replace("max_change_share: 0.25", "max_change_share: 1.0")
    )
    settings = Settings(clock="external", dispatch={"policy_file": str(policy)})
    with running_service(storage, settings) as svc:
        yield svc


@pytest.mark.e2e
def test_the_airflow_hook_as_documented(external: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    namespace = unique("airflow")
    now = int(time.time()) * NS
    feed = Feed(external.url)
    raw = f"{namespace}/raw.orders"
    # orders.refresh reads a dataset whose schema just changed (retyped column): defer;
    # orders.report read nothing unusual: admit.
    feed.run(f"{namespace}/orders.refresh", now - 400 * NS, now - 340 * NS, inputs=[raw])
    feed.run(f"{namespace}/orders.report", now - 400 * NS, now - 340 * NS)
    feed.schema(raw, now - 300 * NS, {"id": "int"})
    feed.schema(raw, now - 200 * NS, {"id": "string"})
    tick = httpx.post(f"{external.url}/api/v1/tick", params={"as_of": str(now // NS)})
    assert tick.status_code == 200, tick.text

    monkeypatch.setenv("LOADSENSE_URL", external.url)
    monkeypatch.setenv("OPENLINEAGE_NAMESPACE", namespace)
    monkeypatch.delenv("LOADSENSE_READ_TOKEN", raising=False)
    hook = types.ModuleType("airflow_local_settings")
    exec(
        compile(_airflow_block("task_instance_mutation_hook"), "airflow.md", "exec"), hook.__dict__
    )
    try:
        served = {
            task: httpx.get(f"{external.url}/api/v1/recommendations/{namespace}/orders.{task}")
            .raise_for_status()
            .json()
            for task in ("refresh", "report")
        }
        assert (served["refresh"]["action"], served["report"]["action"]) == ("defer", "admit")

        refresh = StandInTaskInstance("orders", "refresh")
        hook.task_instance_mutation_hook(refresh)
        assert (refresh.priority_weight, refresh.pool) == (
            1 + served["refresh"]["priority"],
            "loadsense_held",
        )

        report = StandInTaskInstance("orders", "report")
        hook.task_instance_mutation_hook(report)
        assert (report.priority_weight, report.pool) == (
            1 + served["report"]["priority"],
            "default_pool",
        )

        # A task Loadsense never heard of is left as Airflow made it (fail open on 404).
        unknown = StandInTaskInstance("orders", "never_ran", priority_weight=7)
        hook.task_instance_mutation_hook(unknown)
        assert (unknown.priority_weight, unknown.pool) == (7, "default_pool")
    finally:
        hook._client.close()

    # With the service gone the hook fails open too, within its 0.5 s budget.
    offline = types.ModuleType("airflow_local_settings_offline")
    monkeypatch.setenv("LOADSENSE_URL", "http://127.0.0.1:9")
    exec(
        compile(_airflow_block("task_instance_mutation_hook"), "airflow.md", "exec"),
        offline.__dict__,
    )
    try:
        alone = StandInTaskInstance("orders", "refresh", priority_weight=3)
        offline.task_instance_mutation_hook(alone)
        assert (alone.priority_weight, alone.pool) == (3, "default_pool")
    finally:
        offline._client.close()


def test_the_release_loop_uses_the_hooks_names() -> None:
    hook = ast.parse(_airflow_block("task_instance_mutation_hook"))
    defined = {
        t.id
        for node in hook.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    } | {n.name for n in hook.body if isinstance(n, ast.FunctionDef)}
    release = ast.parse(_airflow_block("def release("))
    (imported,) = [
        n
        for n in release.body
        if isinstance(n, ast.ImportFrom) and n.module == "airflow_local_settings"
    ]
    assert {a.name for a in imported.names} <= defined


@pytest.mark.e2e
def test_signals_doc_describes_every_field_the_api_returns(external: Service) -> None:
    now = int(time.time()) * NS
    feed = Feed(external.url)
    ns = unique("docs")
    for k in range(3):  # three updates: an inferred interval
        start = now - (3000 - k * 900) * NS
        feed.run(f"{ns}/build", start, start + 50 * NS, inputs=[f"{ns}/raw"], outputs=[f"{ns}/f"])
    feed.job_event(f"{ns}/ranker", [f"{ns}/f"], now - 3500 * NS)
    host = unique("host")
    feed.spans(unique("ranker"), [now - k * NS for k in range(1, 11)], [50_000_000] * 10, host=host)
    feed.queue_samples(unique("orders"), "depth", [(now - 20 * NS, 5.0), (now - 10 * NS, 7.0)])
    feed.host_sample(host, "cpu", "some", now - 5 * NS, 0.2)
    tick = httpx.post(f"{external.url}/api/v1/tick", params={"as_of": str(now // NS)})
    assert tick.status_code == 200, tick.text

    doc = (ROOT / "docs" / "signals.md").read_text()
    preamble, *sections = re.split(r"^## ", doc, flags=re.M)
    by_title = {s.split("\n", 1)[0].strip().lower(): s for s in sections}
    for kind in ("freshness", "exposure", "queues", "latency", "hosts", "lineage"):
        answer = httpx.get(f"{external.url}/api/v1/signals/{kind}").json()
        assert {f"`{k}`" for k in answer} - {"`rows`"} <= set(re.findall(r"`\w+`", preamble))
        assert answer["rows"], kind
        fields = {k for row in answer["rows"] for k in row}
        fields |= {
            k
            for row in answer["rows"]
            for v in row.values()
            if isinstance(v, list)
            for item in v
            if isinstance(item, dict)
            for k in item
        }
        text = preamble + by_title[kind]
        undocumented = sorted(f for f in fields if f"`{f}`" not in text)
        assert undocumented == [], f"docs/signals.md, {kind}: {undocumented}"


def test_config_file_examples_pass_their_sections_validators(tmp_path: Path) -> None:
    """Every YAML block made of setting keys is a valid config file, down to its
    ``signals`` and ``dispatch`` sections."""
    checked = []
    for where, code in blocks("yaml"):
        loaded = list(yaml.safe_load_all(code))
        if len(loaded) != 1 or not isinstance(loaded[0], dict):
            continue
        if not set(loaded[0]) <= {s.key for s in SETTINGS}:
            continue
        path = tmp_path / "example.yaml"
        path.write_text(code)
        values = read_config_file(path)
        parse_signals_config(values.get("signals", {}), where)
        parse_dispatch_config(values.get("dispatch", {}))
        checked.append(where.split(":")[0])
    assert {"docs/configuration.md", "docs/dispatch.md", "docs/signals.md"} <= set(checked)


def test_the_policy_example_is_a_valid_policy() -> None:
    (example,) = [c for w, c in blocks("yaml") if c.startswith("version: my-policy")]
    policy = parse_policy(example, "docs/dispatch.md")
    assert [r.name for r in policy.rules] == ["etl-yields-to-serving", "wait-for-calm"]
