"""Serving latency per service over the window W (docs/signals.md#latency).

From SERVER spans in ``(as_of - W, as_of]`` per ``service.name``, deduplicated by span
identity (``trace_id``, ``span_id``: an exporter's retry is counted once; the pass is
shared with exposure, ``signals/served.py``): ``p50/p95/p99`` (ms,
``quantilesExactInclusive``: linear interpolation between order statistics at rank
``(n - 1) * q``), ``error_rate`` (status ERROR share), ``rps = requests / W`` and
``latency_slack = (SLO - p99) / SLO`` (SLO per service, default 250 ms; negative when
the SLO is broken), and ``rps_recent``, the rate over the short window R
(``rate_window_s``, default 60 s): the requests of the exposure steps that start in
``(as_of - R, as_of]``, over R. W says how much traffic a service carries; R says whether
it carries it *now*, which is what the regime's ML pressure must follow (a 15-minute
mean stays high for minutes after traffic stops). A service seen in the last
``run_window_s`` but without traffic in W reports 0 requests and unknown percentiles,
error rate and slack.

A service without SERVER spans in W is measured from its ``http.server.request.duration``
/ ``gen_ai.server.request.duration`` histograms instead (``signals/histograms.py``:
per-interval increments, percentiles interpolated inside the bucket holding rank
``q * n``); ``source`` says which path computed the row.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadsense.signals.contract import Params
from loadsense.signals.histograms import METRICS
from loadsense.signals.served import Steps, served, steps
from loadsense.signals.sql import AS_OF, render, seen_spans, since
from loadsense.storage.client import Storage

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
    source: str = "spans"  # spans: SERVER spans; histogram: request-duration histograms
    rps_recent: float = 0.0  # requests/s over the short window R (rate_window_s)


_KNOWN_SQL = """
SELECT DISTINCT service_name, 'spans' FROM (@spans@)
UNION ALL
SELECT DISTINCT service_name, 'histogram' FROM metric_points
WHERE metric_name IN {metrics:Array(String)} AND metric_type = 'histogram'
  AND unit = 's' AND time > @lookback@ AND time <= @as_of@
"""


def compute(storage: Storage, as_of_ns: int, params: Params) -> tuple[LatencyRow, ...]:
    """Latency rows for every service with SERVER spans (formula: module docstring)."""
    cfg = params.config
    base = {
        "as_of": as_of_ns,
        "lookback": cfg.run_window_s,
        "metrics": list(METRICS),
    }
    known: dict[str, str] = {}
    for name, source in storage.client.query(
        render(
            render(_KNOWN_SQL, spans=seen_spans("@lookback@", "@as_of@", "kind = 'SERVER'")),
            lookback=since("lookback"),
            as_of=AS_OF,
        ),
        parameters=base,
    ).result_rows:
        if known.get(str(name)) != "spans":  # spans seen win over histograms seen
            known[str(name)] = str(source)
    by_service = served(storage, as_of_ns, params)
    grid = steps(as_of_ns, params)
    services = sorted(set(known) | set(by_service))
    rows = []
    for service in services:
        slo = float(cfg.lookup("services", "slo_ms", service, cfg.slo_ms))
        stat = by_service.get(service)
        if stat is None:
            idle = LatencyRow(
                service, cfg.window_s, 0, 0.0, None, None, None, None, slo, None, known[service]
            )
            rows.append(idle)
            continue
        p99 = stat.p99_ms
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
                latency_slack=None if p99 is None else (slo - p99) / slo,
                source=stat.source,
                rps_recent=recent_rate(
                    stat.per_step, grid, as_of_ns, min(cfg.rate_window_s, cfg.window_s)
                ),
            )
        )
    return tuple(rows)


def recent_rate(
    per_step: tuple[int, ...], grid: Steps, as_of_ns: int, rate_window_s: float
) -> float:
    """Requests of the steps starting in ``(as_of - R, as_of]``, over R (R capped at W's
    grid). Exact for requests stamped at the end of their interval (histogram points) when
    ``as_of`` and R are multiples of the step; spans in the step holding ``as_of - R`` are
    left out, so spans under-count by at most one step (``exposure_resolution_s``)."""
    lo = as_of_ns - round(rate_window_s * 1e9)
    total = sum(
        n for k, n in enumerate(per_step) if lo < grid.first_ns + k * grid.res_ns <= as_of_ns
    )
    return total / rate_window_s
