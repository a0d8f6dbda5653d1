"""Delivery to a real Alertmanager (Debian's ``prometheus-alertmanager``, started on an
ephemeral port with a config the test writes) and to a plain webhook receiver.

World (wall clock, signals window W = 30 s): 5 requests of 1 s at now-60..now-56 s;
``latency_slack = (250 - 1000) / 250 = -3``. A tick at now-40 s holds them in its
window (firing at once, the rule has no ``for``); a tick at now-1 s does not
(resolved, ``endsAt`` = now-1 s, in the past, so Alertmanager resolves it at once).
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from loadsense.settings import Settings
from loadsense.storage.client import Storage
from tests.support.prometheus import alertmanager, start_alertmanager
from tests.support.service import Service, free_port, poll_until, running_service
from tests.support.signals_feed import NS, Feed, unique
from tests.support.webhook import WebhookReceiver, webhook_receiver

pytestmark = pytest.mark.e2e  # a real Alertmanager process

RULE = """
groups:
  - name: delivery
    rules:
      - alert: DeliverySlackNegative
        expr: loadsense_latency_slack{{service="{svc}"}} < 0
        labels: {{severity: page}}
        annotations:
          summary: "{{{{ $labels.service }}}} is {{{{ $value | humanizePercentage }}}} over"
"""


@pytest.fixture()
def world(service: Service, tmp_path: Path) -> dict[str, Any]:
    svc = unique("deliver")
    now = time.time_ns()
    Feed(service.url).spans(svc, [now - (60 - k) * NS for k in range(5)], [NS] * 5)
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULE.format(svc=svc))
    return {"svc": svc, "now": now / NS, "rules": str(rules)}


def serve(storage: Storage, world: dict[str, Any], **alerts: Any) -> Any:
    settings = Settings(
        clock="external",
        signals={"window_s": 30},
        alerts={"rule_files": [world["rules"]], **alerts},
    )
    return running_service(storage, settings)


def tick(svc: Service, at: float) -> None:
    r = httpx.post(f"{svc.url}/api/v1/tick", params={"as_of": f"{at:.3f}"}, timeout=60)
    assert r.status_code == 200, r.text


def am_alerts(url: str, svc: str) -> list[dict[str, Any]]:
    body = httpx.get(f"{url}/api/v2/alerts").json()
    return [a for a in body if a["labels"].get("service") == svc]


V4_KEYS = {
    "version",
    "groupKey",
    "truncatedAlerts",
    "status",
    "receiver",
    "groupLabels",
    "commonLabels",
    "commonAnnotations",
    "externalURL",
    "alerts",
}
V4_ALERT_KEYS = {
    "status",
    "labels",
    "annotations",
    "startsAt",
    "endsAt",
    "generatorURL",
    "fingerprint",
}


def hook_alerts(
    hook: WebhookReceiver, svc: str, status: str
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [
        (body, a)
        for body in hook.received()
        for a in body["alerts"]
        if a["labels"].get("service") == svc and a["status"] == status
    ]


def test_alertmanager_receives_firing_then_resolved(
    storage: Storage, world: dict[str, Any], tmp_path: Path
) -> None:
    with (
        webhook_receiver() as hook,
        alertmanager(tmp_path / "am", hook.url) as am,
        serve(storage, world, alertmanagers=[{"url": am.url}]) as ls,
    ):
        tick(ls, world["now"] - 40)
        (alert,) = poll_until(lambda: am_alerts(am.url, world["svc"]), timeout=20)
        assert alert["labels"] == {
            "alertname": "DeliverySlackNegative",
            "service": world["svc"],
            "severity": "page",
        }
        assert alert["annotations"] == {"summary": f"{world['svc']} is -300% over"}
        assert alert["status"]["state"] == "active"
        assert alert["generatorURL"].startswith("http://127.0.0.1:")
        assert "rule_name" in alert["generatorURL"]
        # startsAt is when it fired: the tick's instant, to the millisecond
        started = datetime.fromisoformat(alert["startsAt"].replace("Z", "+00:00"))
        assert started.timestamp() == pytest.approx(world["now"] - 40, abs=0.0011)
        ((body, sent),) = poll_until(lambda: hook_alerts(hook, world["svc"], "firing"), timeout=20)
        # what Alertmanager itself posts is the payload our webhook sender copies
        assert (set(body), set(sent)) == (V4_KEYS, V4_ALERT_KEYS)

        tick(ls, world["now"] - 1)
        poll_until(lambda: am_alerts(am.url, world["svc"]) == [], timeout=20)
        ((body, _resolved),) = poll_until(
            lambda: hook_alerts(hook, world["svc"], "resolved"), timeout=20
        )
        assert body["version"] == "4" and body["status"] == "resolved"


def test_an_alertmanager_down_at_first_gets_the_alert_once_it_starts(
    storage: Storage, world: dict[str, Any], tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with webhook_receiver() as hook, serve(storage, world, alertmanagers=[{"url": url}]) as ls:
        started = time.monotonic()
        tick(ls, world["now"] - 40)  # returns at once: delivery runs on its own thread
        assert time.monotonic() - started < 5

        def failures() -> float:
            text = httpx.get(f"{ls.url}/metrics").text
            line = next(
                line
                for line in text.splitlines()
                if line.startswith("loadsense_alerts_notification_failures_total{")
            )
            return float(line.rsplit(" ", 1)[1])

        poll_until(lambda: failures() >= 1, timeout=20)
        am = start_alertmanager(tmp_path / "am", hook.url, port)
        try:
            (alert,) = poll_until(lambda: am_alerts(am.url, world["svc"]), timeout=30)
            assert alert["labels"]["alertname"] == "DeliverySlackNegative"
        finally:
            am.stop()


def test_webhook_receiver_gets_the_v4_payload(storage: Storage, world: dict[str, Any]) -> None:
    with webhook_receiver() as hook, serve(storage, world, webhooks=[{"url": hook.url}]) as ls:
        tick(ls, world["now"] - 40)
        ((body, alert),) = poll_until(lambda: hook_alerts(hook, world["svc"], "firing"), 20)
        labels = {"alertname": "DeliverySlackNegative", "service": world["svc"], "severity": "page"}
        assert set(body) == V4_KEYS
        assert (body["version"], body["status"]) == ("4", "firing")
        assert body["groupLabels"] == {"alertname": "DeliverySlackNegative"}
        assert body["commonLabels"] == labels
        assert body["commonAnnotations"] == {"summary": f"{world['svc']} is -300% over"}
        assert body["externalURL"] == "http://127.0.0.1:4318"
        assert set(alert) == V4_ALERT_KEYS
        assert alert["labels"] == labels
        assert alert["endsAt"] == "0001-01-01T00:00:00Z"
        tick(ls, world["now"] - 1)
        ((body, alert),) = poll_until(lambda: hook_alerts(hook, world["svc"], "resolved"), 20)
        assert body["status"] == "resolved"
        assert alert["endsAt"] != "0001-01-01T00:00:00Z"
