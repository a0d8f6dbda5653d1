"""Telemetry source ``otel-clickhouse``: Loadsense's telemetry relations as views over the
OpenTelemetry Collector ClickHouse exporter's tables (docs/scale-out.md).

The signal queries read ``spans``, ``span_steps``, ``metric_points``, ``host_samples`` and
``queue_samples`` by name. With this source those names are not tables Loadsense writes
but views over the exporter's ``otel_traces`` and ``otel_metrics_*`` tables (the schema
of ``exporter/clickhouseexporter/internal/sql_templates/``), with the same columns and
meanings, so no signal query changes. ``span_steps`` stays a table, fed by a
materialized view on ``otel_traces`` (the rollup the native source maintains on
``spans``). ``host_samples`` and ``queue_samples`` apply, in SQL, the semantic mapping
the OTLP receiver applies in Python (collectors/otlp/semantic.py, docs/telemetry.md):
per ``(host, time)`` or ``(queue, time)`` over the points stored, where the receiver
works per request; the two agree when a scrape arrives in one request.

Exporter values are mapped as the exporter writes them: ``SpanKind`` ``SPAN_KIND_SERVER``
and ``StatusCode`` ``STATUS_CODE_ERROR`` (the ``sql_templates`` releases; later releases
write ``Server`` and ``Error``, read alike), ``AggregationTemporality`` 1 (delta) or 2
(cumulative), ``host.name`` and ``queue.name`` among the resource attributes.
"""

from __future__ import annotations

from loadsense.storage.schema.model import (
    Backfill,
    Drop,
    ExporterTables,
    MaterializedView,
    Repartition,
    SchemaObject,
    TableChange,
    Target,
    View,
)
from loadsense.storage.schema.telemetry import (
    HOST_SAMPLES,
    METRIC_POINTS,
    QUANTILES,
    QUEUE_SAMPLES,
    SPAN_STEP_S,
    SPAN_STEPS,
    SPANS,
    SPANS_BY_TIME,
    TEMPORALITY,
)

_UTC = "toDateTime64({col}, 9, 'UTC')"
_HOST = "ResourceAttributes['host.name']"
_KIND = f"CAST(upper(replaceOne(SpanKind, 'SPAN_KIND_', '')) AS {SPANS.columns[2].type})"
_ERROR = "StatusCode IN ('STATUS_CODE_ERROR', 'Error')"
_STATUS = f"multiIf({_ERROR}, 2, StatusCode IN ('STATUS_CODE_OK', 'Ok'), 1, 0)"
_TEMPORALITY = f"CAST(toInt8(AggregationTemporality) AS {TEMPORALITY})"


def _spans_select(tables: ExporterTables) -> str:
    return f"""SELECT ServiceName AS service_name, {_HOST} AS host_name, {_KIND} AS kind,
       SpanName AS span_name, {_UTC.format(col="Timestamp")} AS start_time,
       Duration AS duration_ns, TraceId AS trace_id, SpanId AS span_id,
       ParentSpanId AS parent_span_id, toUInt8({_STATUS}) AS status_code,
       StatusMessage AS status_message, ScopeName AS scope_name,
       ScopeVersion AS scope_version, SpanAttributes AS attributes
FROM {tables.traces_table}"""


def _rollup_select(tables: ExporterTables, source: str) -> str:
    """The ``span_steps`` rollup of the exporter's spans (the native one's formula)."""
    start = _UTC.format(col="Timestamp")
    durations = QUANTILES.replace("(", "StateIf(", 1)
    return f"""SELECT
       toStartOfInterval({start}, INTERVAL {SPAN_STEP_S} SECOND) AS step,
       {_KIND} AS kind, ServiceName AS service_name, {_HOST} AS host_name,
       count() AS spans, countIf({_ERROR}) AS errors,
       min({start}) AS first_start, max({start}) AS last_start,
       {durations}(Duration / 1e6, SpanKind IN ('SPAN_KIND_SERVER', 'Server')) AS durations
FROM {source}
GROUP BY step, kind, service_name, host_name"""


def _points(tables: ExporterTables, kind: str, columns: str) -> str:
    return f"""SELECT MetricName AS metric_name, '{kind}' AS metric_type, MetricUnit AS unit,
       ServiceName AS service_name, {_HOST} AS host_name, Attributes AS attributes,
       cityHash64(MetricName, cityHash64(mapSort(ResourceAttributes)), mapSort(Attributes))
           AS series_id,
       {_UTC.format(col="StartTimeUnix")} AS start_time,
       {_UTC.format(col="TimeUnix")} AS time, Flags AS flags, {columns}
FROM {tables.metrics_table(kind)}"""


_NUMBER = "CAST(0 AS UInt64) AS count, 0. AS sum, 0. AS min, 0. AS max, " + (
    "CAST([] AS Array(UInt64)) AS bucket_counts, CAST([] AS Array(Float64)) AS explicit_bounds"
)


def _metric_points_select(tables: ExporterTables) -> str:
    gauge_temporality = _TEMPORALITY.replace("toInt8(AggregationTemporality)", "0")
    return "\nUNION ALL\n".join(
        (
            _points(
                tables,
                "gauge",
                f"Value AS value, {gauge_temporality} AS temporality, "
                f"toUInt8(0) AS is_monotonic, {_NUMBER}",
            ),
            _points(
                tables,
                "sum",
                f"Value AS value, {_TEMPORALITY} AS temporality, "
                f"toUInt8(IsMonotonic) AS is_monotonic, {_NUMBER}",
            ),
            _points(
                tables,
                "histogram",
                f"0. AS value, {_TEMPORALITY} AS temporality, toUInt8(0) AS is_monotonic, "
                "Count AS count, Sum AS sum, Min AS min, Max AS max, "
                "BucketCounts AS bucket_counts, ExplicitBounds AS explicit_bounds",
            ),
        )
    )


def _number_points(tables: ExporterTables) -> str:
    """Gauge and sum points with their resource attributes (``ra``), the semantic
    mapping's input."""
    parts = []
    for kind, extra in (
        ("gauge", f"{_TEMPORALITY.replace('toInt8(AggregationTemporality)', '0')}, false"),
        ("sum", f"{_TEMPORALITY}, IsMonotonic"),
    ):
        temporality, monotonic = extra.rsplit(", ", 1)
        parts.append(
            f"SELECT MetricName AS metric_name, '{kind}' AS metric_type, MetricUnit AS unit, "
            f"{temporality} AS temporality, toBool({monotonic}) AS is_monotonic, "
            f"ServiceName AS service_name, {_HOST} AS host_name, Attributes AS attributes, "
            f"ResourceAttributes AS ra, toUnixTimestamp64Nano(StartTimeUnix) AS start_ns, "
            f"{_UTC.format(col='TimeUnix')} AS time, Value AS value "
            f"FROM {tables.metrics_table(kind)}"
        )
    return "(" + " UNION ALL ".join(parts) + ")"


def _attr(key: str) -> str:
    """A point attribute, else the same key among the resource attributes."""
    return f"if(attributes['{key}'] != '', attributes['{key}'], ra['{key}'])"


_SECONDS = (
    "multiIf(unit IN ('s', ''), 1., unit = 'ms', 1e-3, unit = 'us', 1e-6, unit = 'ns', 1e-9, 60.)"
)
_STATE = "mapContains(attributes, 'state')"
_IDLE = f"{_STATE} AND attributes['state'] IN ('idle', 'wait')"
_ZERO = "toDateTime64(0, 9, 'UTC')"


def _host_samples_select(tables: ExporterTables) -> str:
    points = _number_points(tables)
    cpu_busy = (
        f"if(countIf({_STATE}) = 0, avg(value), if(countIf({_IDLE}) > 0, "
        f"1 - sumIf(value, {_IDLE}) / uniqExactIf(attributes['cpu'], {_STATE}), "
        f"sumIf(value, {_STATE}) / uniqExactIf(attributes['cpu'], {_STATE})))"
    )
    memory_used = (
        f"if(countIf({_STATE}) = 0, avg(value), "
        f"sumIf(value, {_STATE} AND attributes['state'] = 'used'))"
    )
    tail = "any(temporality) AS temporality"
    return f"""SELECT host_name, time, 'cpu' AS resource, '' AS stall, metric_name AS source,
       '' AS device, greatest(0., least(1., {cpu_busy})) AS value,
       {_ZERO} AS start_time, {tail}
FROM {points}
WHERE metric_name = 'system.cpu.utilization' AND host_name != ''
GROUP BY host_name, time, metric_name
UNION ALL
SELECT host_name, time, 'memory', '', metric_name, '', {memory_used}, {_ZERO}, {tail}
FROM {points}
WHERE metric_name = 'system.memory.utilization' AND host_name != ''
GROUP BY host_name, time, metric_name
UNION ALL
SELECT host_name, time, 'load', '', metric_name, '', value, {_ZERO}, temporality
FROM {points}
WHERE metric_name = 'system.cpu.load_average.1m' AND host_name != ''
UNION ALL
SELECT host_name, time, 'disk', '', metric_name, attributes['device'], value,
       fromUnixTimestamp64Nano(start_ns, 'UTC'), temporality
FROM {points}
WHERE metric_name IN ('system.disk.pending_operations', 'system.disk.io_time')
  AND host_name != ''
UNION ALL
SELECT host_name, time, attributes['resource'], attributes['stall'], metric_name, '',
       value * if(unit = '%', 0.01, 1.), {_ZERO}, temporality
FROM {points}
WHERE metric_name = 'loadsense.host.pressure' AND metric_type = 'gauge' AND host_name != ''
  AND attributes['resource'] IN ('cpu', 'memory', 'io')
  AND attributes['stall'] IN ('some', 'full')"""


def _queue_samples_select(tables: ExporterTables) -> str:
    points = _number_points(tables)
    queue = "if(attributes['queue.name'] != '', attributes['queue.name'], ra['queue.name'])"
    fields = (
        "multiIf(metric_name = 'loadsense.queue.depth', 'depth', "
        "metric_name = 'loadsense.queue.oldest_age', 'oldest_age', "
        "metric_name = 'loadsense.queue.enqueued', 'enqueued', 'dequeued')"
    )
    counter = "metric_name IN ('loadsense.queue.enqueued', 'loadsense.queue.dequeued')"
    scale = f"if(metric_name = 'loadsense.queue.oldest_age', {_SECONDS}, 1.)"
    age_unit = "unit IN ('s', '', 'ms', 'us', 'ns', 'min')"
    rabbit = _attr("rabbitmq.queue.name")
    return f"""SELECT {queue} AS queue_name, {fields} AS field, metric_name AS source, time,
       fromUnixTimestamp64Nano(start_ns, 'UTC') AS start_time, value * {scale} AS value,
       service_name, host_name, temporality
FROM {points}
WHERE metric_name IN ('loadsense.queue.depth', 'loadsense.queue.oldest_age',
                      'loadsense.queue.enqueued', 'loadsense.queue.dequeued')
  AND queue_name != ''
  AND (NOT {counter} OR (metric_type = 'sum' AND is_monotonic))
  AND (metric_name != 'loadsense.queue.oldest_age' OR {age_unit})
UNION ALL
SELECT concat(g, '/', t), 'depth', metric_name, time, {_ZERO}, sum(value),
       service_name, host_name, any(temporality)
FROM (SELECT *, {_attr("group")} AS g, {_attr("topic")} AS t FROM {points}
      WHERE metric_name = 'kafka.consumer_group.lag')
WHERE g != '' AND t != ''
GROUP BY g, t, time, metric_name, service_name, host_name
UNION ALL
SELECT {rabbit}, 'depth', metric_name, time, {_ZERO}, value, service_name, host_name,
       temporality
FROM {points}
WHERE metric_name = 'rabbitmq.message.current' AND attributes['state'] = 'ready'
  AND {rabbit} != ''"""


def replacements(tables: ExporterTables) -> dict[str, SchemaObject | None]:
    """What each native telemetry object becomes with this source (``None``: nothing)."""
    rollup_mv = MaterializedView(
        name="span_steps_mv",
        source=tables.traces,
        target=SPAN_STEPS.name,
        select=_rollup_select(tables, tables.traces_table),
    )
    return {
        SPANS.name: View(SPANS.name, _spans_select(tables)),
        METRIC_POINTS.name: View(METRIC_POINTS.name, _metric_points_select(tables)),
        HOST_SAMPLES.name: View(HOST_SAMPLES.name, _host_samples_select(tables)),
        QUEUE_SAMPLES.name: View(QUEUE_SAMPLES.name, _queue_samples_select(tables)),
        "span_steps_mv": rollup_mv,
        f"change:{SPANS_BY_TIME.table}": None,  # the exporter's table is not ours to alter
        f"backfill:{SPAN_STEPS.name}": Backfill(
            SPAN_STEPS.name, _rollup_select(tables, tables.traces_table)
        ),
    }


def _key(obj: SchemaObject) -> str:
    if isinstance(obj, TableChange):
        return f"change:{obj.table}"
    if isinstance(obj, Backfill):
        return f"backfill:{obj.target}"
    if isinstance(obj, Drop):
        return f"drop:{obj.name}"
    if isinstance(obj, Repartition):
        return f"repartition:{obj.table.name}"
    return obj.name


def for_source(obj: SchemaObject, target: Target) -> SchemaObject | None:
    """``obj`` as the target's telemetry source needs it (unchanged for ``native``)."""
    if target.exporter is None:
        return obj
    return replacements(target.exporter).get(_key(obj), obj)
