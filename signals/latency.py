"""Serving latency per service over the window W (docs/signals.md)."""

from __future__ import annotations

from dataclasses import dataclass

from signals.contract import Params
from storage.client import Storage

KIND = "latency"


@dataclass(frozen=True)
class LatencyRow:
    subject: str  # service.name
    window_s: float
    requests: int
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    error_rate: float | None
    slo_ms: float
    latency_slack: float | None  # (SLO - p99) / SLO


def compute(storage: Storage, as_of_ns: int, params: Params) -> tuple[LatencyRow, ...]:
    return ()
