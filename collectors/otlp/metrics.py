"""``ExportMetricsServiceRequest`` to rows of ``metric_points`` plus derived samples.

One row per data point (docs/telemetry.md, "Metric points"). Metric- and
resource-level values are computed once per metric and repeated per accepted point;
columns a metric type does not use are filled per metric, not per point. Points of
well-known metrics are also handed to :mod:`loadsense.collectors.otlp.semantic`.

Stored forms: gauge and sum points keep ``value`` (``as_int`` as a float); histograms
keep ``count``, ``sum``, ``min``, ``max`` (NaN when not sent), ``bucket_counts`` and
``explicit_bounds``; exponential histograms are converted to the explicit form
(:mod:`loadsense.collectors.otlp.distributions`); summaries keep ``count``, ``sum``,
``quantiles`` and ``quantile_values``. A point flagged "no recorded value" is stored
with its flag and zero numbers; every other point with a non-finite number is rejected.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from itertools import repeat
from typing import Any

from loadsense.collectors.contract import Decoded
from loadsense.collectors.otlp.anyvalue import ItemRejected, attributes
from loadsense.collectors.otlp.distributions import NO_VALUE, Shape, exponential, histogram, summary
from loadsense.collectors.otlp.limits import (
    MAX_NAME_LENGTH,
    TimeWindow,
    queued_bytes,
)
from loadsense.collectors.otlp.payload import parse_metrics, point_count, report_legacy
from loadsense.collectors.otlp.report import Rejections
from loadsense.collectors.otlp.resources import HOST_NAME, SERVICE_NAME, Resources, resource_id
from loadsense.collectors.otlp.semantic import MAPPERS, Derived, MetricContext, Sample
from loadsense.storage.schema.telemetry import METRIC_POINTS
from loadsense.storage.writer import RowBatch

POINTS_TABLE = METRIC_POINTS.name

NO_RECORDED_VALUE = 1  # DataPointFlags.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK

_TYPES = {"gauge": 1, "sum": 2, "histogram": 3, "exponential_histogram": 4, "summary": 5}
_CUMULATIVE = 2
_NAN = math.nan
_EMPTY: tuple[Any, ...] = ()


@dataclass(frozen=True)
class _Columns:
    """The ``metric_points`` columns of one request, in table order."""

    metric_name: list[str] = field(default_factory=list)
    metric_type: list[int] = field(default_factory=list)
    unit: list[str] = field(default_factory=list)
    temporality: list[int] = field(default_factory=list)
    is_monotonic: list[int] = field(default_factory=list)
    service_name: list[str] = field(default_factory=list)
    host_name: list[str] = field(default_factory=list)
    attributes: list[dict[str, str]] = field(default_factory=list)
    resource_id: list[int] = field(default_factory=list)
    start_time: list[int] = field(default_factory=list)
    time: list[int] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    count: list[int] = field(default_factory=list)
    sum: list[float] = field(default_factory=list)
    min: list[float] = field(default_factory=list)
    max: list[float] = field(default_factory=list)
    bucket_counts: list[Sequence[int]] = field(default_factory=list)
    explicit_bounds: list[Sequence[float]] = field(default_factory=list)
    quantiles: list[Sequence[float]] = field(default_factory=list)
    quantile_values: list[Sequence[float]] = field(default_factory=list)
    flags: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Sequence[Any]]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def decode_metrics(
    body: bytes, media_type: str, received_at_ns: int, retention_days: float = 0
) -> Decoded:
    """Rows of ``metric_points`` (and derived samples) for one request body. Points older
    than ``retention_days`` before receipt are rejected (0: no bound)."""
    parsed = parse_metrics(body, media_type)
    request = parsed.request
    window = TimeWindow.around(received_at_ns, retention_days)
    rejections = Rejections()
    report_legacy(parsed, rejections, "scopeMetrics")
    cols = _Columns()
    derived = Derived()
    resources = Resources(received_at_ns)
    for resource_metrics in request.resource_metrics:
        scopes = resource_metrics.scope_metrics
        try:
            resource = attributes(resource_metrics.resource.attributes)
        except ItemRejected as exc:
            points = sum(point_count(m) for s in scopes for m in s.metrics)
            rejections.reject(f"resource has {exc.reason}", points)
            continue
        rid = resource_id(resource)
        before = len(cols.time)
        for scoped in scopes:
            for metric in scoped.metrics:
                _metric(metric, resource, rid, window, cols, derived, rejections)
        if len(cols.time) > before:
            resources.add(rid, resource)
    batches: list[RowBatch] = []
    if cols.time:
        nbytes = queued_bytes(len(cols.time), len(body))
        batches.append(RowBatch.of(POINTS_TABLE, cols.as_dict(), nbytes))
        batches.append(resources.batch())
    batches.extend(derived.batches())
    return Decoded(
        batches=tuple(batches),
        accepted=len(cols.time),
        rejected=rejections.count,
        rejection_reason=rejections.message("data points"),
        content_key=parsed.content_key,
    )


def _metric(
    metric: Any,
    resource: dict[str, str],
    rid: int,
    window: TimeWindow,
    cols: _Columns,
    derived: Derived,
    rejections: Rejections,
) -> None:
    name = metric.name
    service = resource.get(SERVICE_NAME, "")
    host = resource.get(HOST_NAME, "")
    kind = metric.WhichOneof("data")
    if kind is None:
        rejections.warn(f"metric {name[:200]!r} carries no data (or a type unknown here)")
        return
    data = getattr(metric, kind)
    points = data.data_points
    unit = metric.unit
    if not name or len(name) > MAX_NAME_LENGTH or len(unit) > MAX_NAME_LENGTH:
        rejections.reject(
            f"metric name empty or name/unit longer than {MAX_NAME_LENGTH}", len(points)
        )
        return
    monotonic = False
    if kind == "gauge":
        temporality = 0
    elif kind == "summary":
        temporality = _CUMULATIVE
    else:
        temporality = data.aggregation_temporality
        monotonic = kind == "sum" and data.is_monotonic
        if temporality not in (1, 2):
            rejections.reject(f"{kind} with unspecified aggregation_temporality", len(points))
            return
    before = len(cols.time)
    mapper = MAPPERS.get(name) if kind in ("gauge", "sum") else None
    if kind in ("gauge", "sum"):
        samples: list[Sample] | None = [] if mapper else None
        _numbers(points, window, cols, rejections, samples)
        accepted = len(cols.time) - before
        cols.count.extend(repeat(0, accepted))
        cols.sum.extend(repeat(0.0, accepted))
        cols.min.extend(repeat(0.0, accepted))
        cols.max.extend(repeat(0.0, accepted))
        cols.bucket_counts.extend(repeat(_EMPTY, accepted))
        cols.explicit_bounds.extend(repeat(_EMPTY, accepted))
        cols.quantiles.extend(repeat(_EMPTY, accepted))
        cols.quantile_values.extend(repeat(_EMPTY, accepted))
        if mapper and samples:
            ctx = MetricContext(name, unit, kind, temporality, monotonic, service, host, resource)
            mapper(ctx, samples, derived, rejections)
    else:
        _distributions(kind, points, window, cols, rejections)
        accepted = len(cols.time) - before
        cols.value.extend(repeat(0.0, accepted))
    if accepted:
        cols.metric_name.extend(repeat(name, accepted))
        cols.metric_type.extend(repeat(_TYPES[kind], accepted))
        cols.unit.extend(repeat(unit, accepted))
        cols.temporality.extend(repeat(temporality, accepted))
        cols.is_monotonic.extend(repeat(int(monotonic), accepted))
        cols.service_name.extend(repeat(service, accepted))
        cols.host_name.extend(repeat(host, accepted))
        cols.resource_id.extend(repeat(rid, accepted))


def _numbers(
    points: Any,
    window: TimeWindow,
    cols: _Columns,
    rejections: Rejections,
    samples: list[Sample] | None,
) -> None:
    """Gauge and sum points (hot path)."""
    append_attributes = cols.attributes.append
    append_start = cols.start_time.append
    append_time = cols.time.append
    append_value = cols.value.append
    append_flags = cols.flags.append
    floor, horizon = window.floor, window.horizon
    for point in points:
        time = point.time_unix_nano
        start = point.start_time_unix_nano
        flags = point.flags
        which = point.WhichOneof("value")
        if which == "as_double":
            value = point.as_double
        elif which == "as_int":
            value = float(point.as_int)
        else:
            value = _NAN
        if not floor < time <= horizon or start > time or value - value != 0.0:
            problem = _time_problem(time, start, window)
            if problem is None and flags & NO_RECORDED_VALUE:
                value = 0.0
            else:
                rejections.reject(problem or _value_problem(which, value))
                continue
        try:
            attrs = attributes(point.attributes)
        except ItemRejected as exc:
            rejections.reject(exc.reason)
            continue
        append_attributes(attrs)
        append_start(start)
        append_time(time)
        append_value(value)
        append_flags(flags)
        if samples is not None and not flags & NO_RECORDED_VALUE:
            samples.append((attrs, start, time, value))


def _time_problem(time: int, start: int, window: TimeWindow) -> str | None:
    if time == 0:
        return "time_unix_nano missing"
    problem = window.problem(time)
    if problem:
        return problem
    if start > time:
        return "start_time_unix_nano after time_unix_nano"
    return None


def _value_problem(which: str | None, value: float) -> str:
    if which is None:
        return "number point without a value"
    return f"non-finite value {value!r}"


def _distributions(
    kind: str, points: Any, window: TimeWindow, cols: _Columns, rejections: Rejections
) -> None:
    """Histogram, exponential histogram and summary points (colder path)."""
    checked: list[list[float]] = [[]]
    for point in points:
        time = point.time_unix_nano
        start = point.start_time_unix_nano
        flags = point.flags
        problem = _time_problem(time, start, window)
        if problem is not None:
            rejections.reject(problem)
            continue
        try:
            if flags & NO_RECORDED_VALUE:
                shape: Shape = NO_VALUE
            elif kind == "histogram":
                shape = histogram(point, checked)
            elif kind == "exponential_histogram":
                shape = exponential(point)
            else:
                shape = summary(point)
            attrs = attributes(point.attributes)
        except ItemRejected as exc:
            rejections.reject(exc.reason)
            continue
        count, total, low, high, counts, bounds, quantiles, values = shape
        cols.attributes.append(attrs)
        cols.start_time.append(start)
        cols.time.append(time)
        cols.flags.append(flags)
        cols.count.append(count)
        cols.sum.append(total)
        cols.min.append(low)
        cols.max.append(high)
        cols.bucket_counts.append(counts)
        cols.explicit_bounds.append(bounds)
        cols.quantiles.append(quantiles)
        cols.quantile_values.append(values)
