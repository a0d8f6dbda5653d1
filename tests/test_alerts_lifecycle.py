"""The alert lifecycle on the external clock: spans through the real OTLP receiver,
``POST /api/v1/tick?as_of=T`` steps time, and the state shows in the HTTP API, in
``/metrics`` (``ALERTS``) and in the stored history, across a restart too.

World: one service, 10 requests of 1 s at T0+10..T0+55 s. With the default SLO of
250 ms, p99 = 1000 ms and ``latency_slack = (250 - 1000) / 250 = -3`` from T0+55 until
the window W = 900 s no longer holds the last request: at T0+955 (window
``(T0+55, T0+955]``) the series is gone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadsense.api.client import LoadsenseClient
from loadsense.settings import Settings
from loadsense.storage.client import Storage
from tests.support.service import Service, running_service
from tests.support.signals_feed import NS, T0, Feed, unique

MS = 1_000_000

RULES = """
groups:
  - name: lifecycle
    rules:
      - alert: SlackNegative
        expr: loadsense_latency_slack{{service="{svc}"}} < 0
        for: 2m
        labels: {{severity: page}}
        annotations:
          summary: "{{{{ $labels.service }}}} slack {{{{ $value | humanizePercentage }}}}"
      - alert: SlackNegativeKept
        expr: loadsense_latency_slack{{service="{svc}"}} < 0
        keep_firing_for: 5m
      - alert: SlackNegativeLong
        expr: loadsense_latency_slack{{service="{svc}"}} < 0
        for: 10m
"""


def make_world(service: Service, directory: Path) -> dict[str, str]:
    svc = unique("alerting")
    Feed(service.url).spans(svc, [T0 + (10 + 5 * k) * NS for k in range(10)], [1000 * MS] * 10)
    rules = directory / "rules.yaml"
    rules.write_text(RULES.format(svc=svc))
    return {"svc": svc, "rules": str(rules)}


@pytest.fixture()
def world(tmp_path: Path, service: Service) -> dict[str, str]:
    return make_world(service, tmp_path)


def _settings(world: dict[str, str]) -> Settings:
    return Settings(clock="external", alerts={"rule_files": [world["rules"]]})


@pytest.fixture()
def external(storage: Storage, world: dict[str, str]) -> Iterator[Service]:
    with running_service(storage, _settings(world)) as svc:
        yield svc


def tick(svc: Service, seconds: int) -> None:
    r = httpx.post(f"{svc.url}/api/v1/tick", params={"as_of": str(T0 // NS + seconds)}, timeout=60)
    assert r.status_code == 200, r.text


def states(svc: Service) -> dict[str, str]:
    """alertname -> state of this world's active alerts."""
    body = httpx.get(f"{svc.url}/api/v1/alerts").json()
    assert body["status"] == "success"
    return {a["labels"]["alertname"]: a["state"] for a in body["data"]["alerts"]}


def rule_states(svc: Service) -> dict[str, str]:
    body = httpx.get(f"{svc.url}/api/v1/rules").json()
    return {r["name"]: r["state"] for g in body["data"]["groups"] for r in g["rules"]}


def test_inactive_pending_firing_resolved_with_keep_firing_for(
    external: Service, world: dict[str, str]
) -> None:
    tick(external, 5)  # no request yet: no series
    assert states(external) == {}
    assert rule_states(external) == {
        "SlackNegative": "inactive",
        "SlackNegativeKept": "inactive",
        "SlackNegativeLong": "inactive",
    }
    tick(external, 60)  # slack -3: for 2m starts; no `for`: firing at once
    assert states(external) == {
        "SlackNegative": "pending",
        "SlackNegativeKept": "firing",
        "SlackNegativeLong": "pending",
    }
    tick(external, 179)  # 119 s < 120 s
    assert states(external)["SlackNegative"] == "pending"
    tick(external, 180)  # 120 s >= 120 s
    assert states(external)["SlackNegative"] == "firing"
    alert = next(
        a
        for a in httpx.get(f"{external.url}/api/v1/alerts").json()["data"]["alerts"]
        if a["labels"]["alertname"] == "SlackNegative"
    )
    assert alert["labels"] == {
        "alertname": "SlackNegative",
        "service": world["svc"],
        "severity": "page",
    }
    assert alert["annotations"] == {"summary": f"{world['svc']} slack -300%"}
    assert alert["value"] == "-3"
    assert alert["activeAt"] == _iso(60)
    metrics = httpx.get(f"{external.url}/metrics").text
    alerts = {
        (s.labels["alertname"], s.labels["alertstate"])
        for f in text_string_to_metric_families(metrics)
        if f.name == "ALERTS"
        for s in f.samples
        if s.labels.get("service") == world["svc"]
    }
    assert alerts == {
        ("SlackNegative", "firing"),
        ("SlackNegativeKept", "firing"),
        ("SlackNegativeLong", "pending"),
    }
    for_state = {
        s.labels["alertname"]: s.value
        for f in text_string_to_metric_families(metrics)
        if f.name == "ALERTS_FOR_STATE"
        for s in f.samples
        if s.labels.get("service") == world["svc"]
    }
    assert for_state["SlackNegativeLong"] == T0 / NS + 60
    tick(external, 955)  # the last request left the window: resolved, pending dropped
    assert states(external) == {"SlackNegativeKept": "firing"}  # kept since 955
    tick(external, 1254)  # 299 s < 300 s
    assert states(external) == {"SlackNegativeKept": "firing"}
    tick(external, 1255)
    assert states(external) == {}
    assert rule_states(external)["SlackNegativeKept"] == "inactive"

    with LoadsenseClient(external.url) as client:
        history = client.alert_history(
            start=str(T0 // NS), end=str(T0 // NS + 2000), alertname="SlackNegative"
        )
    mine = [t for t in history["transitions"] if t["labels"].get("service") == world["svc"]]
    assert [(t["at"], t["from_state"], t["to_state"]) for t in mine] == [
        (_iso(955), "firing", "resolved"),
        (_iso(180), "pending", "firing"),
        (_iso(60), "inactive", "pending"),
    ]
    assert mine[0]["value"] == -3.0


def _iso(seconds: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(T0 / NS + seconds, UTC).isoformat().replace("+00:00", "Z")


def test_restart_in_the_middle_of_for_keeps_its_progress(
    storage: Storage, world: dict[str, str], tmp_path: Path
) -> None:
    # Ticks go forward from a fresh start: 60 s (pending), 120 s, then a restart.
    with running_service(storage, _settings(world)) as first:
        tick(first, 60)
        tick(first, 120)
        assert states(first)["SlackNegativeLong"] == "pending"
    with running_service(storage, _settings(world)) as second:
        tick(second, 400)  # restored: active since 60 s, not 400 s
        body = httpx.get(f"{second.url}/api/v1/alerts").json()["data"]["alerts"]
        long = next(a for a in body if a["labels"]["alertname"] == "SlackNegativeLong")
        assert (long["state"], long["activeAt"]) == ("pending", _iso(60))
        tick(second, 660)  # 660 - 60 = 600 s >= for 10m; a fresh start would wait until 1000
        assert states(second)["SlackNegativeLong"] == "firing"


def test_rules_filter_by_rule_name_as_generator_urls_link(external: Service) -> None:
    tick(external, 5)
    url = f"{external.url}/api/v1/rules"
    body = httpx.get(url, params=[("rule_name[]", "SlackNegativeKept")]).json()
    assert [[r["name"] for r in g["rules"]] for g in body["data"]["groups"]] == [
        ["SlackNegativeKept"]
    ]
    both = httpx.get(
        url, params=[("rule_name[]", "SlackNegative"), ("rule_name[]", "SlackNegativeLong")]
    ).json()
    assert [r["name"] for g in both["data"]["groups"] for r in g["rules"]] == [
        "SlackNegative",
        "SlackNegativeLong",
    ]
    # A name no rule has: no groups at all; a name no rule can have: 400.
    assert httpx.get(url, params={"rule_name[]": "Nope"}).json()["data"]["groups"] == []
    bad = httpx.get(url, params={"rule_name[]": "1 bad"})
    assert bad.status_code == 400 and "rule_name[]" in bad.text
