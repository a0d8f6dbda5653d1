"""A plain webhook receiver for teams without Alertmanager: posts Alertmanager's own
webhook payload (``version: "4"``), one post per ``alertname`` in a batch, so a receiver
written for Alertmanager's ``webhook_config`` works unchanged."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from loadsense.correlator.alerts.notify.contract import DeliveryError, Notification, rfc3339


def _common(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    first = dict(maps[0]) if maps else {}
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in maps[1:])}


def webhook_payload(
    batch: Sequence[Notification], receiver: str, external_url: str, group: Mapping[str, str]
) -> dict[str, Any]:
    firing = any(not n.resolved for n in batch)
    group_labels = dict(group)
    return {
        "version": "4",
        "groupKey": "{}:" + json.dumps(group_labels, sort_keys=True, separators=(",", ":")),
        "truncatedAlerts": 0,
        "status": "firing" if firing else "resolved",
        "receiver": receiver,
        "groupLabels": group_labels,
        "commonLabels": _common([n.labels for n in batch]),
        "commonAnnotations": _common([n.annotations for n in batch]),
        "externalURL": external_url,
        "alerts": [
            {
                "status": "resolved" if n.resolved else "firing",
                "labels": dict(n.labels),
                "annotations": dict(n.annotations),
                "startsAt": rfc3339(n.starts_at),
                "endsAt": rfc3339(n.ends_at if n.resolved else None),
                "generatorURL": n.generator_url,
                "fingerprint": n.fingerprint,
            }
            for n in batch
        ],
    }


class WebhookNotifier:
    def __init__(self, url: str, external_url: str, timeout_s: float = 10.0) -> None:
        self.url = url
        self.external_url = external_url
        self._client = httpx.Client(timeout=timeout_s)

    @property
    def name(self) -> str:
        return self.url

    def send(self, batch: Sequence[Notification]) -> None:
        groups: dict[str, list[Notification]] = {}
        for n in batch:
            groups.setdefault(n.labels.get("alertname", ""), []).append(n)
        for alertname, members in sorted(groups.items()):
            body = webhook_payload(
                members, "loadsense", self.external_url, {"alertname": alertname}
            )
            r = self._client.post(self.url, json=body)
            if r.status_code >= 300:
                raise DeliveryError(f"{self.url}: HTTP {r.status_code}")

    def close(self) -> None:
        self._client.close()
