"""Telemetry tables: OTLP spans and metric points, plus the host and queue samples the
OTLP receiver derives from well-known metric names (docs/telemetry.md).

Identity-equal rows (an exporter's retry resends the same spans/points) share a sorting
key and are replaced by ``ReplacingMergeTree``; signal queries read with ``FINAL``.
"""

from __future__ import annotations

from loadsense.storage.schema.model import (
    ATTRS,
    LC,
    TS,
    Backfill,
    Column,
    MaterializedView,
    Table,
    TableChange,
)

TEMPORALITY = "Enum8('unspecified' = 0, 'delta' = 1, 'cumulative' = 2)"
"""OTLP ``AggregationTemporality``; gauges (and rows derived from them) are unspecified."""

_SERIES = "cityHash64(metric_name, resource_id, mapSort(attributes))"
"""A metric series' identity, independent of the order attributes arrived in."""

RESOURCES = Table(
    name="resources",
    columns=(
        Column("resource_id", "UInt64"),  # hash of the sorted resource attributes
        Column("service_name", LC),
        Column("host_name", LC),
        Column("attributes", ATTRS, "ZSTD"),
        Column("seen_at", TS),  # the latest receipt that carried it (replacing version)
    ),
    order_by=("resource_id",),
    version="seen_at",
    ttl_column="seen_at",
    shard_key="resource_id",
)
"""OTLP resources, once per distinct attribute set: spans and points carry only
``resource_id`` (plus the ``service_name`` / ``host_name`` most queries need), which
keeps a repeated attribute map out of every row."""

SPANS = Table(
    name="spans",
    columns=(
        Column("service_name", LC),
        Column("host_name", LC),
        Column(
            "kind",
            "Enum8('UNSPECIFIED' = 0, 'INTERNAL' = 1, 'SERVER' = 2, "
            "'CLIENT' = 3, 'PRODUCER' = 4, 'CONSUMER' = 5)",
        ),
        Column("span_name", LC),
        Column("start_time", TS, "Delta, ZSTD"),
        Column("duration_ns", "UInt64", "T64, ZSTD"),
        Column("trace_id", "FixedString(16)"),
        Column("span_id", "FixedString(8)"),
        Column("parent_span_id", "String"),
        Column("status_code", "UInt8"),  # 0 unset, 1 ok, 2 error
        Column("status_message", "String"),
        Column("model_name", LC),
        Column("model_version", LC),
        Column("scope_name", LC),
        Column("scope_version", LC),
        Column("attributes", ATTRS, "ZSTD"),
        Column("resource_id", "UInt64"),
        Column("event_times", f"Array({TS})", "ZSTD"),
        Column("event_names", f"Array({LC})"),
        Column("event_attributes", f"Array({ATTRS})", "ZSTD"),
    ),
    order_by=("service_name", "kind", "start_time", "trace_id", "span_id"),
    partition_by="toDate(start_time)",
    ttl_column="start_time",
    shard_key="cityHash64(trace_id)",
)

METRIC_POINTS = Table(
    name="metric_points",
    columns=(
        Column("metric_name", LC),
        Column(
            "metric_type",
            "Enum8('gauge' = 1, 'sum' = 2, 'histogram' = 3, "
            "'exponential_histogram' = 4, 'summary' = 5)",
        ),
        Column("unit", LC),
        Column("temporality", TEMPORALITY),
        Column("is_monotonic", "UInt8"),
        Column("service_name", LC),
        Column("host_name", LC),
        Column("attributes", ATTRS, "ZSTD"),
        Column("resource_id", "UInt64"),
        Column("start_time", TS, "Delta, ZSTD"),
        Column("time", TS, "Delta, ZSTD"),
        Column("value", "Float64", "Gorilla, ZSTD"),
        Column("count", "UInt64"),
        Column("sum", "Float64"),
        Column("min", "Float64"),
        Column("max", "Float64"),
        Column("bucket_counts", "Array(UInt64)"),
        Column("explicit_bounds", "Array(Float64)"),
        Column("quantiles", "Array(Float64)"),
        Column("quantile_values", "Array(Float64)"),
        Column("flags", "UInt32"),
        Column(
            "series_id",
            "UInt64",
            materialized=_SERIES,
        ),
    ),
    order_by=("metric_name", "series_id", "time"),
    partition_by="toDate(time)",
    ttl_column="time",
    shard_key=_SERIES,
)

HOST_SAMPLES = Table(
    name="host_samples",
    columns=(
        Column("host_name", LC),
        Column("time", TS, "Delta, ZSTD"),
        Column("resource", LC),  # cpu | memory | io (PSI, utilisation) | load | disk
        Column("stall", LC),  # some | full (PSI); '' otherwise
        Column("source", LC),  # metric name it came from
        Column("device", LC),  # disk device for system.disk.*; '' otherwise
        Column("value", "Float64", "Gorilla, ZSTD"),
        Column("start_time", TS, "Delta, ZSTD"),  # cumulative sums: the series start
        Column("temporality", TEMPORALITY),
    ),
    order_by=("host_name", "resource", "stall", "source", "device", "time"),
    partition_by="toDate(time)",
    ttl_column="time",
    shard_key="cityHash64(host_name)",
)

QUEUE_SAMPLES = Table(
    name="queue_samples",
    columns=(
        Column("queue_name", "String"),
        Column("field", LC),  # depth | oldest_age | enqueued | dequeued
        Column("source", LC),  # metric name it came from
        Column("time", TS, "Delta, ZSTD"),
        Column("start_time", TS, "Delta, ZSTD"),  # cumulative sums: the series start
        Column("value", "Float64", "Gorilla, ZSTD"),
        Column("service_name", LC),
        Column("host_name", LC),
        Column("temporality", TEMPORALITY),
    ),
    order_by=("queue_name", "field", "source", "service_name", "host_name", "time"),
    partition_by="toDate(time)",
    ttl_column="time",
    shard_key="cityHash64(queue_name)",
)

TABLES = (RESOURCES, SPANS, METRIC_POINTS, HOST_SAMPLES, QUEUE_SAMPLES)

SPAN_STEP_S = 10
"""Width of a :data:`SPAN_STEPS` step in seconds (steps start at multiples of it)."""

QUANTILES = "quantilesExactInclusive(0.5, 0.95, 0.99)"
"""The serving percentiles kept as mergeable (exact) states."""

SPAN_STEPS = Table(
    name="span_steps",
    columns=(
        Column("step", "DateTime('UTC')", "Delta, ZSTD"),
        Column("kind", SPANS.columns[2].type),
        Column("service_name", LC),
        Column("host_name", LC),
        Column("spans", "SimpleAggregateFunction(sum, UInt64)"),
        Column("errors", "SimpleAggregateFunction(sum, UInt64)"),
        Column("first_start", f"SimpleAggregateFunction(min, {TS})"),
        Column("last_start", f"SimpleAggregateFunction(max, {TS})"),
        # SERVER spans only: request durations in ms
        Column("durations", f"AggregateFunction({QUANTILES}, Float64)"),
    ),
    order_by=("step", "kind", "service_name", "host_name"),
    engine="AggregatingMergeTree",
    partition_by="toDate(step)",
    ttl_column="step",
    shard_key="cityHash64(service_name)",
)
"""Spans rolled up per 10 s step, kind, service and host, maintained on insert by
:data:`SPAN_STEPS_MV`: the correlator reads ~100 rows per service per window instead of
every span (docs/storage.md#span-steps). Rows of one key are summed at merges and by
every query (``GROUP BY``), so late spans simply add to their step."""

_SPAN_STEPS_SELECT = f"""SELECT
       toStartOfInterval(start_time, INTERVAL {SPAN_STEP_S} SECOND) AS step,
       kind, service_name, host_name,
       count() AS spans, countIf(status_code = 2) AS errors,
       min(start_time) AS first_start, max(start_time) AS last_start,
       {QUANTILES.replace("(", "StateIf(", 1)}(duration_ns / 1e6, kind = 'SERVER') AS durations
FROM {{source}}
GROUP BY step, kind, service_name, host_name"""

SPAN_STEPS_MV = MaterializedView(
    name="span_steps_mv", source="spans", target="span_steps", select=_SPAN_STEPS_SELECT
)

SPANS_BY_TIME = TableChange(
    table="spans",
    clauses=(
        # Dedup merges rebuild the projection instead of refusing to run.
        "MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild'",
        "ADD PROJECTION IF NOT EXISTS by_time (SELECT kind, start_time, service_name, "
        "host_name, duration_ns, status_code ORDER BY kind, start_time)",
    ),
)
"""The columns signals read, ordered by time: a window's first and last partial steps
(and a resolution that is not a multiple of the step) read only the window's granules
instead of every granule of the day (the table itself is ordered by service)."""

SPAN_STEPS_BACKFILL = Backfill(
    target="span_steps", select=_SPAN_STEPS_SELECT.format(source="{db}.`spans`")
)
"""Roll up the spans stored before the view existed (one-off, at migration 2)."""

SPAN_ROLLUP = (SPAN_STEPS, SPAN_STEPS_MV, SPANS_BY_TIME, SPAN_STEPS_BACKFILL)
