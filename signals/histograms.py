"""Served requests from request-duration histograms, for services that export metrics but
no traces (docs/signals.md#latency).

A service takes this path over W only when it has no SERVER span in W. Its points of
``http.server.request.duration`` or ``gen_ai.server.request.duration`` (histograms, unit
``s``, ``flags = 0``) are turned into per-export-interval increments, one per point:

- delta: the point's bucket counts;
- cumulative: the bucket counts minus those of the series' previous point (``series_id``,
  by time); after a reset (``start_time`` changed, the bounds changed, or any count
  dropped) the point's own counts. A series' first point is counted from zero only when
  its ``start_time`` lies inside the scan (its run began there); otherwise it is only a
  baseline. The scan reaches one W further back than W, so the first interval ending in
  W is counted.

The increments of points whose time lies in ``(as_of - W, as_of]`` are summed per
service (requests, errors: ``http.response.status_code >= 500`` or a non-empty
``error.type``; counted from the points' ``count``, so a histogram without buckets
still counts) and per exposure step (each interval's requests are served at its
point's time). Percentiles come from the summed buckets of the bounds layout carrying
most of the service's requests (one layout is the norm: one instrumentation per
service): rank ``q * n``, linear interpolation inside the bucket holding it, the first
bucket starting at 0, and the ``+Inf`` bucket answering its lower edge (the last finite
bound), as Prometheus' ``histogram_quantile`` does.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from loadsense.signals.sql import AS_OF, render, since
from loadsense.storage.client import Storage

METRICS = ("http.server.request.duration", "gen_ai.server.request.duration")
"""The request-duration histograms (OpenTelemetry semantic conventions; seconds)."""

QUANTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True)
class HistogramTraffic:
    """One service's requests over W as its histograms tell them."""

    requests: int
    errors: int
    quantiles_ms: tuple[float | None, ...]  # p50, p95, p99; None: no finite bound
    per_step: tuple[tuple[int, int], ...]  # (exposure step, requests), sparse


def _quantile(q: int) -> str:
    """Interpolated quantile ``{q<i>}`` of ``counts`` over ``bounds`` (seconds)."""
    rank = f"({{q{q}:Float64}} * arraySum(counts))"
    i = f"arrayFirstIndex(c -> c >= {rank}, arrayCumSum(counts))"
    lower = f"if({i} = 1, least(0., bounds[1]), bounds[{i} - 1])"
    below = f"if({i} = 1, 0, arrayCumSum(counts)[{i} - 1])"
    inside = f"{lower} + (bounds[{i}] - {lower}) * ({rank} - {below}) / counts[{i}]"
    return (
        f"if(length(bounds) = 0 OR arraySum(counts) = 0, NULL, "
        f"if({i} > length(bounds), bounds[length(bounds)], {inside}))"
    )


_SQL = """
WITH
points AS (
    SELECT service_name, series_id, temporality,
           toUnixTimestamp64Nano(time) AS t, toUnixTimestamp64Nano(start_time) AS st,
           count, bucket_counts AS bc, explicit_bounds AS eb,
           toInt64OrZero(attributes['http.response.status_code']) >= 500
               OR attributes['error.type'] != '' AS err,
           lagInFrame(toUnixTimestamp64Nano(time)) OVER w AS p_t,
           lagInFrame(toUnixTimestamp64Nano(start_time)) OVER w AS p_st,
           lagInFrame(count) OVER w AS p_count,
           lagInFrame(bucket_counts) OVER w AS p_bc,
           lagInFrame(explicit_bounds) OVER w AS p_eb
    FROM metric_points FINAL
    WHERE metric_name IN {metrics:Array(String)} AND metric_type = 'histogram'
      AND unit = 's' AND flags = 0
      AND time > @scan@ AND time <= @as_of@
      AND service_name NOT IN {exclude:Array(String)}
    WINDOW w AS (PARTITION BY series_id ORDER BY time
                 ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
),
increments AS (
    SELECT service_name, err, eb,
           -- same length as bc whatever the previous point (a changed layout is a reset)
           if(length(p_bc) = length(bc), p_bc, bc) AS pb,
           toUInt32(intDiv(t - {first_ns:Int64}, {res_ns:Int64})) AS k,
           -- own: the point's values are the increment; none: a baseline only
           temporality = 'delta' OR (p_t != 0 AND (st != p_st OR eb != p_eb
               OR count < p_count OR arrayExists((a, b) -> a < b, bc, pb)))
               OR (p_t = 0 AND st > {scan_ns:Int64}) AS own,
           p_t = 0 AND NOT own AS none,
           multiIf(own, bc, none, arrayMap(x -> toUInt64(0), bc),
                   arrayMap((a, b) -> toUInt64(a - b), bc, pb)) AS inc,
           multiIf(own, count, none, toUInt64(0), toUInt64(count - p_count)) AS n
    FROM points
    WHERE t > {since_ns:Int64}
),
layouts AS (
    SELECT service_name, argMax(eb, total) AS bounds, argMax(summed, total) AS counts
    FROM (SELECT service_name, eb, sumForEach(inc) AS summed, sum(n) AS total
          FROM increments GROUP BY service_name, eb)
    GROUP BY service_name
),
steps AS (
    SELECT service_name, groupArray((k, c)) AS per_step
    FROM (SELECT service_name, k, sum(n) AS c FROM increments
          GROUP BY service_name, k HAVING c > 0)
    GROUP BY service_name
),
totals AS (
    SELECT service_name, sum(n) AS requests, sumIf(n, err) AS errors
    FROM increments GROUP BY service_name HAVING requests > 0
)
SELECT totals.service_name, totals.requests, totals.errors,
       @q0@ * 1000, @q1@ * 1000, @q2@ * 1000, steps.per_step
FROM totals
INNER JOIN layouts ON layouts.service_name = totals.service_name
INNER JOIN steps ON steps.service_name = totals.service_name
"""


_ANY_SQL = """
SELECT 1 FROM metric_points
WHERE metric_name IN {metrics:Array(String)} AND time > @scan@ AND time <= @as_of@
LIMIT 1
"""
"""Whether any request-duration point lies in the scan (the full query costs ~0.1 s of
planning and window functions even over no rows; most deployments trace instead)."""


def histogram_traffic(
    storage: Storage,
    as_of_ns: int,
    window_s: float,
    first_ns: int,
    res_ns: int,
    exclude: Collection[str],
) -> dict[str, HistogramTraffic]:
    """``service -> HistogramTraffic`` for services (not in ``exclude``) whose histograms
    show requests in ``(as_of - W, as_of]``; steps on the grid ``first_ns + k * res_ns``."""
    w_ns = round(window_s * 1e9)
    any_point = storage.client.query(
        render(_ANY_SQL, scan=since("scan_s"), as_of=AS_OF),
        parameters={"as_of": as_of_ns, "scan_s": 2 * window_s, "metrics": list(METRICS)},
    ).result_rows
    if not any_point:
        return {}
    sql = render(
        _SQL,
        scan=since("scan_s"),
        as_of=AS_OF,
        **{f"q{j}": _quantile(j) for j in range(len(QUANTILES))},
    )
    result = storage.client.query(
        sql,
        parameters={
            "as_of": as_of_ns,
            "scan_s": 2 * window_s,
            "scan_ns": as_of_ns - 2 * w_ns,
            "since_ns": as_of_ns - w_ns,
            "first_ns": first_ns,
            "res_ns": res_ns,
            "metrics": list(METRICS),
            "exclude": sorted(exclude),
            **{f"q{j}": q for j, q in enumerate(QUANTILES)},
        },
    )
    out: dict[str, HistogramTraffic] = {}
    for service, n, errors, p50, p95, p99, per_step in result.result_rows:
        quantiles = tuple(None if v is None else float(v) for v in (p50, p95, p99))
        steps = tuple((int(k), int(c)) for k, c in per_step)
        out[str(service)] = HistogramTraffic(int(n), int(errors), quantiles, steps)
    return out
