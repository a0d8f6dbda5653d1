"""Serving latency per service over the window W (docs/signals.md#latency).

From SERVER spans in ``(as_of - W, as_of]`` per ``service.name``, deduplicated by span
identity (``trace_id``, ``span_id``: an exporter's retry is counted once; the pass is
shared with exposure, ``signals/served.py``): ``p50/p95/p99`` (ms,
``quantilesExactInclusive``: linear interpolation between order statistics at rank
``(n - 1) * q``), ``error_rate`` (status ERROR share), ``rps = requests / W`` and
``latency_slack = (SLO - p99) / SLO`` (SLO per service, default 250 ms; negative when
the SLO is broken). A service seen in the last ``run_window_s`` but without traffic in
W reports 0 requests and unknown percentiles, error rate and slack.
"""

from __future__ import annotations

from dataclasses import dataclass

from signals.contract import Params
from signals.served import served
from signals.sql import AS_OF, render, since
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


_KNOWN_SQL = """
SELECT DISTINCT service_name FROM spans
WHERE kind = 'SERVER' AND start_time > @lookback@ AND start_time <= @as_of@
"""


def compute(storage: Storage, as_of_ns: int, params: Params) -> tuple[LatencyRow, ...]:
    """Latency rows for every service with SERVER spans (formula: module docstring)."""
    cfg = params.config
    base = {"as_of": as_of_ns, "w": cfg.window_s, "lookback": cfg.run_window_s}
    known = storage.client.query(
        render(_KNOWN_SQL, lookback=since("lookback"), as_of=AS_OF), parameters=base
    ).result_rows
    by_service = served(storage, as_of_ns, params)
    services = sorted({str(r[0]) for r in known} | set(by_service))
    rows = []
    for service in services:
        slo = float(cfg.lookup("services", "slo_ms", service, cfg.slo_ms))
        stat = by_service.get(service)
        if stat is None:
            idle = LatencyRow(service, cfg.window_s, 0, 0.0, None, None, None, None, slo, None)
            rows.append(idle)
            continue
        rows.append(
            LatencyRow(
                subject=service,
                window_s=cfg.window_s,
                requests=stat.requests,
                rps=stat.requests / cfg.window_s,
                p50_ms=stat.p50_ms,
                p95_ms=stat.p95_ms,
                p99_ms=stat.p99_ms,
                error_rate=stat.errors / stat.requests,
                slo_ms=slo,
                latency_slack=(slo - stat.p99_ms) / slo,
            )
        )
    return tuple(rows)
