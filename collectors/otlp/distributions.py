"""Histogram, exponential histogram and summary points: checks and stored shape.

Each function returns the point's ``(count, sum, min, max, bucket_counts,
explicit_bounds, quantiles, quantile_values)`` for ``metric_points`` or raises
:class:`~loadsense.collectors.otlp.anyvalue.ItemRejected` naming the problem (docs/telemetry.md,
"What is rejected, per item").
"""

from __future__ import annotations

import math
import operator
from itertools import islice
from typing import Any

from loadsense.collectors.otlp.anyvalue import ItemRejected
from loadsense.collectors.otlp.exphistogram import to_explicit
from loadsense.collectors.otlp.limits import MAX_BUCKETS

Shape = tuple[int, float, float, float, Any, Any, Any, Any]

NAN = math.nan
EMPTY: tuple[Any, ...] = ()
NO_VALUE: Shape = (0, 0.0, 0.0, 0.0, EMPTY, EMPTY, EMPTY, EMPTY)
"""The stored shape of a point flagged "no recorded value"."""


def _finite(*numbers: float) -> bool:
    return all(x - x == 0.0 for x in numbers)


def _sum_min_max(point: Any) -> tuple[float, float, float]:
    """The optional ``sum``, ``min`` and ``max``: NaN when absent, rejected when not finite."""
    has = point.HasField
    total = point.sum if has("sum") else NAN
    low = point.min if has("min") else NAN
    high = point.max if has("max") else NAN
    for number in (total, low, high):
        if number - number != 0.0 and number == number:  # infinite (NaN: absent or sent)
            raise ItemRejected("non-finite sum, min or max")
    if (
        (total != total and has("sum"))
        or (low != low and has("min"))
        or (high != high and has("max"))
    ):
        raise ItemRejected("non-finite sum, min or max")
    return total, low, high


def _check_bounds(bounds: list[float]) -> None:
    total = sum(bounds)  # a finite sum means every bound is finite
    if total - total != 0.0 and not all(map(math.isfinite, bounds)):
        raise ItemRejected("explicit_bounds must be finite and strictly increasing")
    if not all(map(operator.lt, bounds, islice(bounds, 1, None))):
        raise ItemRejected("explicit_bounds must be finite and strictly increasing")


def histogram(point: Any, checked: list[list[float]]) -> Shape:
    """``checked`` holds the last bounds that passed (points of a metric share them)."""
    counts = list(point.bucket_counts)
    bounds = list(point.explicit_bounds)
    if len(counts) > MAX_BUCKETS:
        raise ItemRejected(f"more than {MAX_BUCKETS} histogram buckets")
    if (counts or bounds) and len(counts) != len(bounds) + 1:
        raise ItemRejected("bucket_counts must have one more entry than explicit_bounds")
    if bounds != checked[0]:
        _check_bounds(bounds)
        checked[0] = bounds
    if counts and sum(counts) != point.count:
        raise ItemRejected("count differs from the sum of bucket_counts")
    total, low, high = _sum_min_max(point)
    return point.count, total, low, high, counts, bounds, EMPTY, EMPTY


def exponential(point: Any) -> Shape:
    positive, negative = point.positive, point.negative
    if len(positive.bucket_counts) > MAX_BUCKETS or len(negative.bucket_counts) > MAX_BUCKETS:
        raise ItemRejected(f"more than {MAX_BUCKETS} exponential buckets per sign")
    if not -10 <= point.scale <= 20:
        raise ItemRejected(f"exponential histogram scale {point.scale} outside [-10, 20]")
    threshold = point.zero_threshold
    if not (_finite(threshold) and threshold >= 0):
        raise ItemRejected("zero_threshold must be finite and >= 0")
    observed = point.zero_count + sum(positive.bucket_counts) + sum(negative.bucket_counts)
    if observed != point.count:
        raise ItemRejected("count differs from zero_count plus the bucket counts")
    bounds, counts = to_explicit(
        point.scale,
        point.zero_count,
        threshold,
        positive.offset,
        list(positive.bucket_counts),
        negative.offset,
        list(negative.bucket_counts),
    )
    total, low, high = _sum_min_max(point)
    return point.count, total, low, high, counts, bounds, EMPTY, EMPTY


def summary(point: Any) -> Shape:
    quantiles: list[float] = []
    values: list[float] = []
    if len(point.quantile_values) > MAX_BUCKETS:
        raise ItemRejected(f"more than {MAX_BUCKETS} summary quantiles")
    for q in point.quantile_values:
        if not 0.0 <= q.quantile <= 1.0:
            raise ItemRejected("summary quantile outside [0, 1]")
        if not _finite(q.value):
            raise ItemRejected("non-finite summary quantile value")
        quantiles.append(q.quantile)
        values.append(q.value)
    if not _finite(point.sum):
        raise ItemRejected("non-finite summary sum")
    return point.count, point.sum, NAN, NAN, EMPTY, EMPTY, quantiles, values
