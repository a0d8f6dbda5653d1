"""Alertmanager's API v2, as Prometheus uses it: ``POST /api/v2/alerts`` with a JSON list
of ``{labels, annotations, startsAt, endsAt, generatorURL}``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from loadsense.correlator.alerts.notify.contract import DeliveryError, Notification, rfc3339


def alertmanager_body(batch: Sequence[Notification]) -> list[dict[str, Any]]:
    return [
        {
            "labels": dict(n.labels),
            "annotations": dict(n.annotations),
            "startsAt": rfc3339(n.starts_at),
            "endsAt": rfc3339(n.ends_at),
            "generatorURL": n.generator_url,
        }
        for n in batch
    ]


class AlertmanagerNotifier:
    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.Client(timeout=timeout_s)

    @property
    def name(self) -> str:
        return self.url

    def send(self, batch: Sequence[Notification]) -> None:
        r = self._client.post(f"{self.url}/api/v2/alerts", json=alertmanager_body(batch))
        if r.status_code >= 300:
            raise DeliveryError(f"{self.url}: HTTP {r.status_code}: {r.text[:200]}")

    def close(self) -> None:
        self._client.close()
