"""Telemetry source ``otel-clickhouse``: every signal row is the same whether the telemetry
arrived through Loadsense's own OTLP receiver or was stored by the OpenTelemetry
Collector's ClickHouse exporter.

One body of telemetry, produced with the real OTel SDK (spans through its tracer, metrics
as its data model), is encoded to OTLP once. The native database receives it over HTTP
through ``/v1/traces`` and ``/v1/metrics``; the exporter's tables (its published schema,
tests/fixtures/clickhouse_exporter/) receive the rows the exporter would write for it
(tests/support/exporter_rows.py: the Collector binary cannot run here). A third database
is Loadsense's schema for ``otel-clickhouse``: views and the span rollup over the
exporter's tables, created by the same migrations ``loadsense schema`` renders.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from loadsense.api.app import prepare_storage
from loadsense.settings import Settings
from loadsense.signals.config import parse_signals_config
from loadsense.signals.contract import KINDS
from loadsense.signals.evaluate import evaluate_all
from loadsense.storage.client import Storage, open_storage
from loadsense.storage.migrations import exporter_of, render_all, target_for
from tests.support import exporter_rows
from tests.support.otlp import NS, metrics_data, now_ns, number_metric, post, unique
from tests.support.service import running_service

FIXTURE = Path(__file__).parent / "fixtures" / "clickhouse_exporter" / "tables.sql"
MS = 1_000_000


@dataclass(frozen=True)
class Sources:
    native: Storage
    otel: Storage
    exporter_db: str


@pytest.fixture(scope="module")
def sources(storage: Storage) -> Iterator[Sources]:
    suffix = uuid.uuid4().hex[:8]
    dsn = f"chdb://{storage.location}"
    native = open_storage(dsn, f"native_{suffix}")
    prepare_storage(native, Settings())
    exporter_db = f"otel_{suffix}"
    otel = open_storage(dsn, f"fromotel_{suffix}")
    otel.client.command(f"CREATE DATABASE IF NOT EXISTS {exporter_db}")
    for statement in FIXTURE.read_text().split(";"):
        if statement.strip():
            otel.client.command(statement.replace("{db}", exporter_db))
    prepare_storage(otel, Settings(telemetry_source="otel-clickhouse", otel_database=exporter_db))
    yield Sources(native, otel, exporter_db)


def _spans(base: int, api: str, host: str) -> list[object]:
    """SERVER spans every 700 ms over 84 s (some errors), and CLIENT spans, via the SDK."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": api, "host.name": host}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests.otel_clickhouse", "1.0")
    for i in range(120):
        start = base + i * 700 * MS
        span = tracer.start_span("POST /predict", kind=SpanKind.SERVER, start_time=start)
        span.set_attribute("http.response.status_code", 500 if i % 9 == 0 else 200)
        if i % 9 == 0:
            span.set_status(Status(StatusCode.ERROR, "boom"))
        span.end(end_time=start + (5 + (i * 37) % 90) * MS)
        if i % 4 == 0:
            client = tracer.start_span("GET features", kind=SpanKind.CLIENT, start_time=start)
            client.end(end_time=start + 2 * MS)
    provider.shutdown()
    return list(memory.get_finished_spans())


def _histograms(base: int, scorer: str, host: str) -> MetricsData:
    """``http.server.request.duration`` of a service without spans: cumulative points."""
    bounds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5]
    points = []
    counts = [0] * (len(bounds) + 1)
    for k in range(1, 9):
        for j, extra in enumerate((3, 5, 8, 4, 2, 1, 0, 1)):
            counts[j] += extra * k
        points.append(
            HistogramDataPoint(
                attributes={"http.response.status_code": 500 if k == 4 else 200},
                start_time_unix_nano=base,
                time_unix_nano=base + k * 10 * NS,
                count=sum(counts),
                sum=0.01 * sum(counts),
                bucket_counts=list(counts),
                explicit_bounds=bounds,
                min=0.001,
                max=0.9,
            )
        )
    metric = Metric(
        name="http.server.request.duration",
        description=None,
        unit="s",
        data=Histogram(
            data_points=points, aggregation_temporality=AggregationTemporality.CUMULATIVE
        ),
    )
    return metrics_data({"service.name": scorer, "host.name": host}, [metric])


def _host_and_queue(base: int, worker: str, host: str, queue: str) -> MetricsData:
    """hostmetrics-shaped CPU/memory/disk series, PSI, and a queue's depth and counters."""
    times = [base + s * NS for s in range(30, 90, 10)]
    cpu = [
        ({"cpu": f"cpu{c}", "state": state}, t, share)
        for i, t in enumerate(times)
        for c in range(2)
        for state, share in (("idle", 0.25 + 0.05 * i + 0.1 * c), ("user", 0.5 - 0.05 * i))
    ]
    memory = [({"state": s}, t, v) for t in times for s, v in (("used", 0.625), ("free", 0.375))]
    io_time = [
        ({"device": d}, t, 1.5 * i + (d == "sdb"))
        for i, t in enumerate(times)
        for d in ("sda", "sdb")
    ]
    pressure = [({"resource": "io", "stall": "some"}, t, 12.5) for t in times]
    depth = [({"queue.name": queue}, t, 40.0 + 3 * i) for i, t in enumerate(times)]
    dequeued = [({"queue.name": queue}, t, 100.0 + 7.5 * i) for i, t in enumerate(times)]
    metrics = [
        number_metric("system.cpu.utilization", cpu, unit="1"),
        number_metric("system.memory.utilization", memory, unit="1"),
        number_metric("system.disk.io_time", io_time, unit="s", kind="sum", start_ns=base),
        number_metric("system.cpu.load_average.1m", [({}, t, 1.25) for t in times]),
        number_metric("loadsense.host.pressure", pressure, unit="%"),
        number_metric("loadsense.queue.depth", depth),
        number_metric("loadsense.queue.dequeued", dequeued, kind="sum", start_ns=base),
    ]
    return metrics_data({"service.name": worker, "host.name": host}, metrics)


def test_every_signal_row_is_the_same_from_both_sources(sources: Sources) -> None:
    base = now_ns() - 120 * NS
    api, scorer, worker = unique("api"), unique("scorer"), unique("worker")
    host, queue = unique("node"), unique("jobs")
    traces = encode_spans(_spans(base, api, host))
    requests = [encode_metrics(_histograms(base, scorer, host))]
    requests.append(encode_metrics(_host_and_queue(base, worker, host, queue)))

    with running_service(sources.native, Settings()) as native:
        assert post(native.url, "/v1/traces", traces.SerializeToString()).status_code == 200
        for request in requests:
            assert post(native.url, "/v1/metrics", request.SerializeToString()).status_code == 200

    db = sources.exporter_db
    rows = exporter_rows.trace_rows(traces)
    exporter_rows.insert(sources.otel, db, "otel_traces", exporter_rows.TRACE_COLUMNS, rows)
    columns = {
        "gauge": exporter_rows.GAUGE_COLUMNS,
        "sum": exporter_rows.SUM_COLUMNS,
        "histogram": exporter_rows.HISTOGRAM_COLUMNS,
    }
    for request in requests:
        for kind, kind_rows in exporter_rows.metric_rows(request).items():
            exporter_rows.insert(sources.otel, db, f"otel_metrics_{kind}", columns[kind], kind_rows)

    config = parse_signals_config({})
    for as_of in (base + 90 * NS, base + 90 * NS + 3 * NS + 250 * MS):
        want = evaluate_all(sources.native, as_of, config).rows
        got = evaluate_all(sources.otel, as_of, config).rows
        for kind in KINDS:
            assert got[kind] == want[kind], kind
        latency = {r.subject: r for r in want["latency"]}
        assert latency[api].source == "spans" and latency[api].requests > 100
        assert latency[scorer].source == "histogram" and latency[scorer].requests > 0
        (host_row,) = [r for r in want["hosts"] if r.subject == host]
        assert host_row.cpu is not None and host_row.memory is not None
        assert host_row.io is not None and set(host_row.services) == {api, scorer, worker}
        (queue_row,) = [r for r in want["queues"] if r.subject == queue]
        assert queue_row.depth == 40.0 + 3 * 5 and queue_row.dequeue_rate == 7.5 / 10


def test_loadsense_refuses_otlp_when_the_collector_stores_telemetry(sources: Sources) -> None:
    settings = Settings(telemetry_source="otel-clickhouse", otel_database=sources.exporter_db)
    with running_service(sources.otel, settings) as svc:
        response = httpx.post(f"{svc.url}/v1/traces", content=b"", timeout=10)
    assert response.status_code == 404
    assert "send OTLP to the Collector" in response.json()["message"]


def test_both_spellings_of_kind_and_status_read_alike(sources: Sources) -> None:
    """Releases with ``sql_templates/`` write ``SPAN_KIND_SERVER`` / ``STATUS_CODE_ERROR``;
    later ones write ``Server`` / ``Error``."""
    service = unique("spelling")
    at = now_ns()
    rows = [
        (at, "ab" * 16, "cd" * 8, "", "", "op", kind, service, {}, "", "", {}, 1_000_000, code, "")
        for kind, code in (("SPAN_KIND_SERVER", "STATUS_CODE_ERROR"), ("Server", "Error"))
    ]
    db = sources.exporter_db
    exporter_rows.insert(sources.otel, db, "otel_traces", exporter_rows.TRACE_COLUMNS, rows)
    read = sources.otel.client.query(
        "SELECT toString(kind), status_code FROM spans WHERE service_name = {s:String}",
        parameters={"s": service},
    ).result_rows
    assert read == [("SERVER", 2), ("SERVER", 2)]
    steps = sources.otel.client.query(
        "SELECT sum(spans), sum(errors) FROM span_steps WHERE service_name = {s:String}",
        parameters={"s": service},
    ).result_rows
    assert steps == [(2, 2)]


def test_loadsense_schema_renders_views_over_the_exporter_tables() -> None:
    """``loadsense schema`` with the source set: views and the rollup's materialized view
    over the configured exporter tables, nothing that alters them, no native OTLP tables."""
    settings = Settings(telemetry_source="otel-clickhouse", otel_database="tel")
    target = target_for("ls", 30, None, exporter_of(settings))
    statements = render_all(target)
    text = "\n".join(statements)
    assert "CREATE VIEW IF NOT EXISTS `ls`.`spans` AS" in text
    assert "FROM `tel`.`otel_traces`" in text
    assert "FROM `tel`.`otel_metrics_histogram`" in text
    assert (
        "CREATE MATERIALIZED VIEW IF NOT EXISTS `ls`.`span_steps_mv` TO `ls`.`span_steps`" in text
    )
    assert "CREATE TABLE IF NOT EXISTS `ls`.`spans`" not in text
    assert not [s for s in statements if s.startswith("ALTER TABLE") and "`tel`" in s]
    native = "\n".join(render_all(target_for("ls", 30, None)))
    assert "CREATE TABLE IF NOT EXISTS `ls`.`spans`" in native and "otel_traces" not in native
