"""Served requests per service over W: one deduplicated pass over SERVER spans shared by
the latency and exposure signals (memoised in ``Params.cache`` for one evaluation).
Services without SERVER spans in W are read from their request-duration histograms
instead (``signals/histograms.py``; ``source = "histogram"``).

Spans are deduplicated by identity (``cityHash64(trace_id, span_id)``: an exporter's
retry counts once). Besides the per-service totals and percentiles, the requests are
counted per step of ``exposure_resolution_s``: step ``k`` starts at
``first_step_ns + k * res`` where ``first_step_ns`` is the start of the step holding
``as_of - W``, so step counts line up with the exposure signal's freshness curves.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from signals.contract import Params
from signals.histograms import histogram_traffic
from signals.sql import AS_OF, render, since
from storage.client import Storage

_CACHE_KEY = "served"


@dataclass(frozen=True)
class Served:
    requests: int
    errors: int
    p50_ms: float | None  # None: a histogram without finite bounds
    p95_ms: float | None
    p99_ms: float | None
    per_step: tuple[int, ...]  # requests per exposure step, dense from step 0
    source: str = "spans"  # spans | histogram


@dataclass(frozen=True)
class Steps:
    """The exposure step grid of one evaluation."""

    first_ns: int
    res_ns: int
    count: int

    @classmethod
    def of(cls, as_of_ns: int, window_s: float, resolution_s: float) -> Steps:
        res = max(1, round(resolution_s * 1e9))
        first = (as_of_ns - round(window_s * 1e9)) // res
        return cls(first * res, res, as_of_ns // res - first + 1)


_SQL = """
SELECT service_name, count(), countIf(status_code = 2),
       quantilesExactInclusive(0.5, 0.95, 0.99)(duration_ns / 1e6), groupArray(k)
FROM (
    SELECT cityHash64(trace_id, span_id) AS id, any(service_name) AS service_name,
           toUInt32(intDiv(any(toUnixTimestamp64Nano(start_time)) - {first_ns:Int64},
                           {res_ns:Int64})) AS k,
           any(duration_ns) AS duration_ns, any(status_code) AS status_code
    FROM spans
    WHERE kind = 'SERVER' AND start_time > @since@ AND start_time <= @as_of@
    GROUP BY id
)
GROUP BY service_name
"""


def steps(as_of_ns: int, params: Params) -> Steps:
    cfg = params.config
    return Steps.of(as_of_ns, cfg.window_s, cfg.exposure_resolution_s)


def served(storage: Storage, as_of_ns: int, params: Params) -> dict[str, Served]:
    """``service -> Served`` for services with SERVER spans in ``(as_of - W, as_of]``,
    then for services whose request-duration histograms show requests there."""
    cached: dict[str, Served] | None = params.cache.get(_CACHE_KEY)
    if cached is not None:
        return cached
    grid = steps(as_of_ns, params)
    result = storage.client.query(
        render(_SQL, since=since("w"), as_of=AS_OF),
        parameters={
            "as_of": as_of_ns,
            "w": params.config.window_s,
            "first_ns": grid.first_ns,
            "res_ns": grid.res_ns,
        },
    )
    out: dict[str, Served] = {}
    for service, n, errors, (p50, p95, p99), ks in result.result_rows:
        counted = Counter(ks)
        dense = [counted.get(k, 0) for k in range(grid.count)]
        out[str(service)] = Served(
            int(n), int(errors), float(p50), float(p95), float(p99), tuple(dense)
        )
    window_s = params.config.window_s
    for service, h in histogram_traffic(
        storage, as_of_ns, window_s, grid.first_ns, grid.res_ns, exclude=out
    ).items():
        counted = Counter(dict(h.per_step))
        dense = [counted.get(k, 0) for k in range(grid.count)]
        p50, p95, p99 = h.quantiles_ms
        out[service] = Served(h.requests, h.errors, p50, p95, p99, tuple(dense), "histogram")
    params.cache[_CACHE_KEY] = out
    return out
