"""Well-known metric names to ``queue_samples`` and ``host_samples`` rows.

The table in docs/telemetry.md ("Semantic mapping") is the contract; this module
implements it. Derived rows are written in the same request (and the same all-or-nothing
write) as the raw points they come from. Only accepted number points (gauge or sum) are
mapped; a point whose metric is well known but which lacks what the mapping needs (a
queue name, a host name, a known ``resource``/``stall``) is still stored raw and named in
a ``partial_success`` warning.

Aggregations across points happen within one request: CPU and memory utilisation per
``(host, time)`` over CPUs and states, Kafka lag per ``(group, topic, time)`` over
partitions. A producer that splits one scrape across requests gets one row per request
for the same identity, and the last one written wins.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loadsense.collectors.otlp.report import Rejections
from loadsense.storage.schema.telemetry import HOST_SAMPLES, QUEUE_SAMPLES
from loadsense.storage.writer import RowBatch

HOST_TABLE = HOST_SAMPLES.name
QUEUE_TABLE = QUEUE_SAMPLES.name

DELTA, CUMULATIVE = 1, 2

Sample = tuple[dict[str, str], int, int, float]
"""One accepted number point: attributes, start_time_unix_nano, time_unix_nano, value."""

_DERIVED_ROW_BYTES = 200  # Python memory per derived row, for the writer's byte budget

_SECONDS_PER_UNIT = {"s": 1.0, "": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "min": 60.0}
_IDLE_STATES = frozenset({"idle", "wait"})
_PRESSURE_RESOURCES = frozenset({"cpu", "memory", "io"})
_PRESSURE_STALLS = frozenset({"some", "full"})


@dataclass(frozen=True)
class MetricContext:
    """What the mapping needs to know about the metric the samples belong to."""

    name: str
    unit: str
    kind: str  # gauge | sum
    temporality: int  # 0 unspecified, 1 delta, 2 cumulative
    monotonic: bool
    service: str
    host: str
    resource: Mapping[str, str]


_HOST_COLUMNS = HOST_SAMPLES.insert_columns
_QUEUE_COLUMNS = QUEUE_SAMPLES.insert_columns
"""The row tuples :class:`Derived` builds follow these orders (storage/schema/telemetry.py)."""


class Derived:
    """The host and queue rows derived from one request (row tuples, in column order)."""

    def __init__(self) -> None:
        self.host_rows: list[tuple[Any, ...]] = []
        self.queue_rows: list[tuple[Any, ...]] = []

    def host(
        self,
        ctx: MetricContext,
        time: int,
        resource: str,
        value: float,
        *,
        stall: str = "",
        device: str = "",
        start: int = 0,
    ) -> None:
        self.host_rows.append(
            (ctx.host, time, resource, stall, ctx.name, device, value, start, ctx.temporality)
        )

    def queue(
        self, ctx: MetricContext, queue: str, field: str, time: int, value: float, start: int = 0
    ) -> None:
        self.queue_rows.append(
            (queue, field, ctx.name, time, start, value, ctx.service, ctx.host, ctx.temporality)
        )

    def batches(self) -> tuple[RowBatch, ...]:
        out = []
        for table, names, rows in (
            (HOST_TABLE, _HOST_COLUMNS, self.host_rows),
            (QUEUE_TABLE, _QUEUE_COLUMNS, self.queue_rows),
        ):
            if rows:
                columns: dict[str, Sequence[Any]] = dict(
                    zip(names, zip(*rows, strict=True), strict=True)
                )
                out.append(RowBatch.of(table, columns, len(rows) * _DERIVED_ROW_BYTES))
        return tuple(out)


Mapper = Callable[[MetricContext, Sequence[Sample], Derived, Rejections], None]


def _lookup(attrs: Mapping[str, str], ctx: MetricContext, key: str) -> str:
    """A point attribute, else the same key among the resource attributes."""
    return attrs.get(key) or ctx.resource.get(key, "")


def _unmapped(rejections: Rejections, ctx: MetricContext, why: str) -> None:
    rejections.warn(f"{ctx.name} points stored but not mapped: {why}")


def _queue_field(field: str, *, counter: bool = False) -> Mapper:
    def mapper(
        ctx: MetricContext, samples: Sequence[Sample], out: Derived, rejections: Rejections
    ) -> None:
        if counter and (ctx.kind != "sum" or not ctx.monotonic):
            _unmapped(rejections, ctx, "expected a monotonic sum")
            return
        scale = 1.0
        if field == "oldest_age":
            if ctx.unit not in _SECONDS_PER_UNIT:
                _unmapped(rejections, ctx, f"unit {ctx.unit!r} is not a time unit")
                return
            scale = _SECONDS_PER_UNIT[ctx.unit]
        fallback = ctx.resource.get("queue.name", "")
        append = out.queue_rows.append
        source, service, host, temporality = ctx.name, ctx.service, ctx.host, ctx.temporality
        for attrs, start, time, value in samples:
            queue = attrs.get("queue.name") or fallback
            if not queue:
                _unmapped(rejections, ctx, "no queue.name attribute")
                continue
            append((queue, field, source, time, start, value * scale, service, host, temporality))

    return mapper


def _kafka_lag(
    ctx: MetricContext, samples: Sequence[Sample], out: Derived, rejections: Rejections
) -> None:
    totals: dict[tuple[str, str, int], float] = {}
    for attrs, _, time, value in samples:
        group, topic = _lookup(attrs, ctx, "group"), _lookup(attrs, ctx, "topic")
        if not group or not topic:
            _unmapped(rejections, ctx, "no group or topic attribute")
            continue
        key = (group, topic, time)
        totals[key] = totals.get(key, 0.0) + value
    for (group, topic, time), lag in totals.items():
        out.queue(ctx, f"{group}/{topic}", "depth", time, lag)


def _rabbitmq_ready(
    ctx: MetricContext, samples: Sequence[Sample], out: Derived, rejections: Rejections
) -> None:
    for attrs, _, time, value in samples:
        if attrs.get("state") != "ready":
            continue
        queue = _lookup(attrs, ctx, "rabbitmq.queue.name")
        if not queue:
            _unmapped(rejections, ctx, "no rabbitmq.queue.name attribute")
            continue
        out.queue(ctx, queue, "depth", time, value)


def _needs_host(mapper: Mapper) -> Mapper:
    def guarded(
        ctx: MetricContext, samples: Sequence[Sample], out: Derived, rejections: Rejections
    ) -> None:
        if not ctx.host:
            _unmapped(rejections, ctx, "no host.name resource attribute")
            return
        mapper(ctx, samples, out, rejections)

    return guarded


def _by_time(samples: Sequence[Sample]) -> dict[int, list[Sample]]:
    groups: dict[int, list[Sample]] = {}
    for sample in samples:
        groups.setdefault(sample[2], []).append(sample)
    return groups


def cpu_busy(samples: Sequence[Sample]) -> float:
    """Busy share of the host's CPUs from one time's ``system.cpu.utilization`` points.

    With ``state`` attributes (hostmetrics, the agent): ``1 - (idle + wait) / cpus``,
    ``cpus`` being the number of distinct ``cpu`` attributes (1 when absent); when no
    idle or wait state is reported, the non-idle shares summed over ``cpus``. Without
    ``state``: the mean of the values. Clamped to [0, 1].
    """
    with_state = [s for s in samples if "state" in s[0]]
    if not with_state:
        busy = sum(s[3] for s in samples) / len(samples)
    else:
        cpus = len({s[0].get("cpu", "") for s in with_state}) or 1
        idle = [s[3] for s in with_state if s[0]["state"] in _IDLE_STATES]
        busy = 1.0 - sum(idle) / cpus if idle else sum(s[3] for s in with_state) / cpus
    return min(1.0, max(0.0, busy))


def memory_used(samples: Sequence[Sample]) -> float:
    """Used share of memory from one time's ``system.memory.utilization`` points.

    With ``state`` attributes: the sum of the ``used`` shares; without: the mean value.
    """
    with_state = [s for s in samples if "state" in s[0]]
    if not with_state:
        return sum(s[3] for s in samples) / len(samples)
    return sum(s[3] for s in with_state if s[0]["state"] == "used")


def _per_time(resource: str, reduce: Callable[[Sequence[Sample]], float]) -> Mapper:
    def mapper(
        ctx: MetricContext, samples: Sequence[Sample], out: Derived, rejections: Rejections
    ) -> None:
        for time, group in _by_time(samples).items():
            out.host(ctx, time, resource, reduce(group))

    return mapper


def _per_device(
    ctx: MetricContext, samples: Sequence[Sample], out: Derived, rejections: Rejections
) -> None:
    for attrs, start, time, value in samples:
        out.host(ctx, time, "disk", value, device=attrs.get("device", ""), start=start)


def _load(
    ctx: MetricContext, samples: Sequence[Sample], out: Derived, rejections: Rejections
) -> None:
    for _, _, time, value in samples:
        out.host(ctx, time, "load", value)


def _pressure(
    ctx: MetricContext, samples: Sequence[Sample], out: Derived, rejections: Rejections
) -> None:
    if ctx.kind != "gauge":
        _unmapped(rejections, ctx, "expected a gauge of avg10")
        return
    scale = 0.01 if ctx.unit == "%" else 1.0
    for attrs, _, time, value in samples:
        resource, stall = attrs.get("resource", ""), attrs.get("stall", "")
        if resource not in _PRESSURE_RESOURCES or stall not in _PRESSURE_STALLS:
            _unmapped(rejections, ctx, "resource must be cpu|memory|io and stall some|full")
            continue
        out.host(ctx, time, resource, value * scale, stall=stall)


MAPPERS: dict[str, Mapper] = {
    "loadsense.queue.depth": _queue_field("depth"),
    "loadsense.queue.oldest_age": _queue_field("oldest_age"),
    "loadsense.queue.enqueued": _queue_field("enqueued", counter=True),
    "loadsense.queue.dequeued": _queue_field("dequeued", counter=True),
    "kafka.consumer_group.lag": _kafka_lag,
    "rabbitmq.message.current": _rabbitmq_ready,
    "system.cpu.utilization": _needs_host(_per_time("cpu", cpu_busy)),
    "system.memory.utilization": _needs_host(_per_time("memory", memory_used)),
    "system.cpu.load_average.1m": _needs_host(_load),
    "system.disk.pending_operations": _needs_host(_per_device),
    "system.disk.io_time": _needs_host(_per_device),
    "loadsense.host.pressure": _needs_host(_pressure),
}
"""Metric name to the mapping that derives rows from its accepted number points."""
