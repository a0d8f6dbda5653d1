"""``/metrics`` follows Prometheus' naming conventions (``promtool check metrics`` is
clean on a live exposition holding every kind of series) and ``docs/metrics.md`` lists
exactly what is exported."""

from __future__ import annotations

import dataclasses
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadsense.correlator.signal_metrics import DERIVED_METRICS, SIGNAL_METRICS, metrics_markdown
from loadsense.settings import Settings
from loadsense.signals import exposure, freshness, hosts, latency, lineage, queues
from loadsense.storage.client import Storage
from tests.support.alert_world import AlertWorld, build_world
from tests.support.prometheus import PROMTOOL, require
from tests.support.service import Service, running_service
from tests.support.signals_feed import NS

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "docs" / "rules" / "loadsense.rules.yaml"


@pytest.fixture(scope="module")
def world(service: Service) -> AlertWorld:
    return build_world(service.url, (time.time_ns() // NS) * NS)


@pytest.fixture(scope="module")
def loaded(storage: Storage, world: AlertWorld) -> Iterator[Service]:
    settings = Settings(
        clock="external", signals=world.signals, alerts={"rule_files": [str(RULES)]}
    )
    with running_service(storage, settings) as svc:
        r = httpx.post(
            f"{svc.url}/api/v1/tick", params={"as_of": str(world.now_ns // NS)}, timeout=60
        )
        assert r.status_code == 200, r.text
        yield svc


def test_promtool_check_metrics_is_clean(loaded: Service, world: AlertWorld) -> None:
    text = httpx.get(f"{loaded.url}/metrics").text
    # the exposition holds every family: signals, per-input and host relations, alerts
    for name in (
        "loadsense_freshness_age_seconds",
        "loadsense_latency_p99_seconds",
        "loadsense_exposure_input_ratio",
        "loadsense_host_service_info",
        "loadsense_queue_oldest_age_seconds",
        "loadsense_recommended_concurrency",
        "ALERTS{",
        "ALERTS_FOR_STATE{",
        "loadsense_alerts_evaluations_total",
    ):
        assert name in text, name
    done = subprocess.run(
        [require(PROMTOOL), "check", "metrics"], input=text, capture_output=True, text=True
    )
    problems = done.stdout + done.stderr
    assert done.returncode == 0, problems
    assert problems == ""


def test_latency_quantiles_are_named_in_seconds(loaded: Service, world: AlertWorld) -> None:
    text = httpx.get(f"{loaded.url}/metrics").text
    # 20 requests of exactly 1 s: every percentile is 1000 ms = 1.0 s
    for q in ("p50", "p95", "p99"):
        assert f'loadsense_latency_{q}_seconds{{service="{world.service}"}} 1.0' in text
    assert f'loadsense_latency_slo_seconds{{service="{world.service}"}} 0.25' in text


def test_old_unit_less_names_are_gone(loaded: Service) -> None:
    text = httpx.get(f"{loaded.url}/metrics").text
    for old in ("_ms{", "_s{", "loadsense_freshness_age{", "loadsense_freshness_last_update{"):
        assert old not in text, old


def test_docs_list_every_exported_name(loaded: Service) -> None:
    doc = (ROOT / "docs" / "metrics.md").read_text()
    assert metrics_markdown() in doc, "regenerate the signal table of docs/metrics.md"
    for name in {m.name for m in SIGNAL_METRICS} | {d.name for d in DERIVED_METRICS}:
        assert f"`{name}`" in doc
    exported = {
        f.name + ("_total" if f.type == "counter" else "")
        for f in text_string_to_metric_families(httpx.get(f"{loaded.url}/metrics").text)
    }
    # prometheus_client adds a `<name>_created` series (when it started) to the service's
    # own counters and histograms; docs/metrics.md says so once
    missing = sorted(n for n in exported if f"`{n}`" not in doc and not n.endswith("_created"))
    assert missing == []


def test_every_numeric_signal_field_is_exported() -> None:
    exported = {(m.kind, m.field) for m in SIGNAL_METRICS}
    types = {
        "freshness": freshness.FreshnessRow,
        "exposure": exposure.ExposureRow,
        "queues": queues.QueueRow,
        "latency": latency.LatencyRow,
        "hosts": hosts.HostRow,
        "lineage": lineage.LineageRow,
    }
    for kind, row in types.items():
        for f in dataclasses.fields(row):
            numeric = f.type in ("float | None", "float", "int", "int | None", "bool")
            if numeric:
                assert (kind, f.name) in exported, f"{kind}.{f.name} has no metric"
