"""Exponential histogram buckets as explicit bounds (docs/telemetry.md, "Exponential
histograms").

Why convert: one bucket layout in ``metric_points`` lets every latency quantile query
(``http.server.request.duration`` and friends) work whichever histogram the producer
chose. The conversion loses nothing but float rounding of the bounds:

- positive bucket ``i`` holds values in ``(base**i, base**(i+1)]`` with
  ``base = 2 ** (2 ** -scale)``: its explicit upper bound is ``base**(i+1)``;
- negative bucket ``i`` holds values in ``[-base**(i+1), -base**i)``: upper bound
  ``-base**i``, preceded by an empty bucket ending at ``-base**(top)`` so that the
  open-ended first explicit bucket holds nothing;
- the zero bucket (``|v| <= zero_threshold``) ends at ``zero_threshold``;
- the last explicit bucket, ``(last bound, +inf)``, is empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from loadsense.collectors.otlp.anyvalue import ItemRejected


def _bound(index: int, scale: int) -> float:
    try:
        return float(2.0 ** (index * 2.0**-scale))
    except OverflowError:
        raise ItemRejected("exponential histogram bucket bounds beyond the float range") from None


def to_explicit(
    scale: int,
    zero_count: int,
    zero_threshold: float,
    positive_offset: int,
    positive_counts: Sequence[int],
    negative_offset: int,
    negative_counts: Sequence[int],
) -> tuple[list[float], list[int]]:
    """``(explicit_bounds, bucket_counts)`` equivalent to the exponential buckets."""
    bounds: list[float] = []
    counts: list[int] = []
    if negative_counts:
        top = negative_offset + len(negative_counts)
        bounds.append(-_bound(top, scale))
        counts.append(0)
        for k in range(len(negative_counts) - 1, -1, -1):
            bounds.append(-_bound(negative_offset + k, scale))
            counts.append(negative_counts[k])
    bounds.append(float(zero_threshold))
    counts.append(zero_count)
    for k, count in enumerate(positive_counts):
        bounds.append(_bound(positive_offset + k + 1, scale))
        counts.append(count)
    counts.append(0)
    if any(b >= a for b, a in pairwise(bounds)):
        raise ItemRejected("exponential histogram buckets do not map to increasing bounds")
    return bounds, counts
