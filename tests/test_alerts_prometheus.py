"""The same world evaluated two ways: a real Prometheus (Debian's ``prometheus``)
scraping Loadsense's ``/metrics`` with the default rule pack fires the same alerts,
with the same labels and annotations, as Loadsense's built-in evaluator.

Prometheus evaluates on the wall clock, so this test runs on it: the world is stamped
around the present, and a test copy of the rule pack sets every ``for`` to 1 s and
the group interval to 1 s so both sides fire within seconds. Target labels (``job``,
``instance``) are dropped at scrape time so alert labels compare one to one.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loadsense.settings import Settings
from loadsense.storage.client import Storage
from tests.support.alert_world import AlertWorld, build_world
from tests.support.prometheus import prometheus
from tests.support.service import Service, poll_until, running_service

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
PACK = ROOT / "docs" / "rules" / "loadsense.rules.yaml"


def fast_copy(directory: Path) -> Path:
    text = PACK.read_text()
    text, n = re.subn(r"\bfor: \d+m\b", "for: 1s", text)
    assert n >= 5  # every rule with a `for` of minutes
    text = text.replace("rules:\n", "interval: 1s\n    rules:\n")
    path = directory / "fast.rules.yaml"
    path.write_text(text)
    return path


@pytest.fixture()
def world(service: Service) -> AlertWorld:
    return build_world(service.url, time.time_ns())


@pytest.fixture()
def loadsense(storage: Storage, world: AlertWorld, tmp_path: Path) -> Iterator[Service]:
    rules = fast_copy(tmp_path)
    settings = Settings(
        clock="external", signals=world.signals, alerts={"rule_files": [str(rules)]}
    )
    with running_service(storage, settings) as svc:
        svc.rules = rules  # type: ignore[attr-defined]
        yield svc


def tick(svc: Service) -> None:
    r = httpx.post(f"{svc.url}/api/v1/tick", params={"as_of": f"{time.time():.3f}"}, timeout=60)
    assert r.status_code == 200, r.text


Key = tuple[str, frozenset[tuple[str, str]]]


def firing(alerts: list[dict[str, object]]) -> dict[Key, dict[str, str]]:
    out: dict[Key, dict[str, str]] = {}
    for a in alerts:
        if a["state"] != "firing":
            continue
        labels: dict[str, str] = a["labels"]  # type: ignore[assignment]
        out[(labels["alertname"], frozenset(labels.items()))] = a["annotations"]  # type: ignore[assignment]
    return out


def test_prometheus_and_the_builtin_evaluator_fire_the_same_alerts(
    loadsense: Service, world: AlertWorld, tmp_path: Path
) -> None:
    tick(loadsense)
    target = loadsense.url.removeprefix("http://")
    with prometheus(tmp_path / "prom", target, loadsense.rules) as prom:  # type: ignore[attr-defined]

        def ours() -> dict[Key, dict[str, str]]:
            tick(loadsense)
            return firing(httpx.get(f"{loadsense.url}/api/v1/alerts").json()["data"]["alerts"])

        def theirs() -> dict[Key, dict[str, str]]:
            body = httpx.get(f"{prom.url}/api/v1/alerts").json()
            return firing(body["data"]["alerts"])

        def mine(alerts: dict[Key, dict[str, str]]) -> set[str]:
            ours_labels = {
                ("service", world.service),
                ("dataset", world.dataset),
                ("host", world.host),
                ("queue", world.queue),
            }
            return {name for name, labels in alerts if labels & ours_labels}

        # `for: 1s` rules fire at the first evaluation at least 1 s after they started
        expected = {
            "LoadsenseServingInputStale",
            "LoadsenseStalePredictionExposure",
            "LoadsenseLatencySlackNegative",
            "LoadsenseQueueOldestItemTooOld",
            "LoadsenseInputSchemaDrift",
            "LoadsenseInputQualityFailing",
            "LoadsenseHostContentionUnderServing",
        }
        poll_until(lambda: mine(ours()) == expected, timeout=30, interval=0.5)

        def same() -> tuple[dict[Key, dict[str, str]], dict[Key, dict[str, str]]] | None:
            a, b = ours(), theirs()
            return (a, b) if set(a) == set(b) else None

        # Prometheus scrapes and evaluates on its own schedule: wait until it caught up
        a, b = poll_until(same, timeout=60, interval=0.5)
        assert mine(b) == expected
        # the world's own alerts read the same from both, annotations included
        for key in a:
            if key[0] in expected and dict(key[1]).get("service", world.service) == world.service:
                assert a[key] == b[key], key
