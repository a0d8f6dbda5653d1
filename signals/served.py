"""Served requests per service over W: one pass shared by the latency and exposure
signals (memoised in ``Params.cache`` for one evaluation). Services without SERVER
spans in W are read from their request-duration histograms instead
(``signals/histograms.py``; ``source = "histogram"``).

The spans come from the ``span_steps`` rollup (10 s steps, maintained on insert:
docs/storage.md#span-steps) for the steps that lie wholly inside ``(as_of - W, as_of]``,
and from the spans table (its time-ordered projection) for the partial steps at both
ends, so the result is exactly that of reading every span in the window while the
tick reads ~100 rows per service. Percentile states merge exactly. When the exposure
resolution is not a multiple of the step (or W is shorter than two steps) every span in
W is read instead.

An exporter's retry of a whole request is not stored twice (``collectors/retry_dedup.py``);
a span stored twice otherwise counts twice here.

Besides the per-service totals and percentiles, the requests are counted per step of
``exposure_resolution_s``: step ``k`` starts at ``first_step_ns + k * res`` where
``first_step_ns`` is the start of the step holding ``as_of - W``, so step counts line
up with the exposure signal's freshness curves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from loadsense.signals.contract import NS_PER_S, Params
from loadsense.signals.histograms import histogram_traffic
from loadsense.signals.sql import AS_OF, render, since
from loadsense.storage.client import Storage
from loadsense.storage.schema.telemetry import QUANTILES, SPAN_STEP_S

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


_RAW = """
SELECT service_name, toUInt32(intDiv(toUnixTimestamp64Nano(start_time) - {first_ns:Int64},
                                     {res_ns:Int64})) AS k,
       count() AS n, countIf(status_code = 2) AS e,
       @state@(duration_ns / 1e6) AS q
FROM spans
WHERE kind = 'SERVER' AND @range@
GROUP BY service_name, k
"""

_ROLLED = """
SELECT service_name,
       toUInt32(intDiv(toUnixTimestamp64Nano(toDateTime64(step, 9, 'UTC')) - {first_ns:Int64},
                       {res_ns:Int64})) AS k,
       sum(spans) AS n, sum(errors) AS e, @merge_state@(durations) AS q
FROM span_steps
WHERE kind = 'SERVER' AND step >= fromUnixTimestamp64Nano({lo_ns:Int64}, 'UTC')
  AND step < fromUnixTimestamp64Nano({hi_ns:Int64}, 'UTC')
GROUP BY service_name, k
"""

_TOTALS = """
SELECT service_name, sum(n), sum(e), @merge@(q), groupArray((k, n))
FROM (@parts@)
GROUP BY service_name
"""

_WINDOW = "start_time > @since@ AND start_time <= @as_of@"
_EDGES = (
    "((start_time > @since@ AND start_time < fromUnixTimestamp64Nano({lo_ns:Int64}, 'UTC'))"
    " OR (start_time >= fromUnixTimestamp64Nano({hi_ns:Int64}, 'UTC') AND start_time <= @as_of@))"
)


def _functions(suffix: str) -> str:
    return QUANTILES.replace("(", f"{suffix}(", 1)


def spans_sql(as_of_ns: int, window_s: float, res_ns: int) -> tuple[str, dict[str, int]]:
    """The served-requests statement for a window and its extra parameters: rolled-up
    whole steps plus raw partial ones when the grid allows, else raw spans only."""
    step_ns = SPAN_STEP_S * NS_PER_S
    start = as_of_ns - round(window_s * NS_PER_S)
    lo = (start // step_ns + 1) * step_ns  # the first step wholly after as_of - W
    hi = ((as_of_ns + 1) // step_ns) * step_ns  # the end of the last step ending by as_of
    raw = render(_RAW, state=_functions("State"))
    if res_ns % step_ns or hi <= lo:
        parts = render(raw, range=_WINDOW)
        extra: dict[str, int] = {}
    else:
        rolled = render(_ROLLED, merge_state=_functions("MergeState"))
        parts = f"{rolled} UNION ALL {render(raw, range=_EDGES)}"
        extra = {"lo_ns": lo, "hi_ns": hi}
    sql = render(_TOTALS, parts=parts, merge=_functions("Merge"))
    return render(sql, since=since("w"), as_of=AS_OF), extra


def _dense(counts: Iterable[tuple[int, int]], steps: int) -> tuple[int, ...]:
    """``(step, count)`` pairs (a step may repeat) as counts for steps ``0..steps-1``."""
    dense = [0] * steps
    for k, n in counts:
        if 0 <= k < steps:
            dense[k] += n
    return tuple(dense)


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
    sql, extra = spans_sql(as_of_ns, params.config.window_s, grid.res_ns)
    result = storage.client.query(
        sql,
        parameters={
            "as_of": as_of_ns,
            "w": params.config.window_s,
            "first_ns": grid.first_ns,
            "res_ns": grid.res_ns,
            **extra,
        },
    )
    out: dict[str, Served] = {}
    for service, n, errors, (p50, p95, p99), ks in result.result_rows:
        out[str(service)] = Served(
            int(n), int(errors), float(p50), float(p95), float(p99), _dense(ks, grid.count)
        )
    window_s = params.config.window_s
    for service, h in histogram_traffic(
        storage, as_of_ns, window_s, grid.first_ns, grid.res_ns, exclude=out
    ).items():
        p50, p95, p99 = h.quantiles_ms
        dense = _dense(h.per_step, grid.count)
        out[service] = Served(h.requests, h.errors, p50, p95, p99, dense, "histogram")
    params.cache[_CACHE_KEY] = out
    return out
