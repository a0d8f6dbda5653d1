"""A small world for the dashboard tests, sent through the real receivers: lineage with
the ``openlineage-python`` client, spans with the OpenTelemetry SDK's OTLP exporter, host
and queue gauges with the SDK's metric exporter. Every name carries ``tag`` so tests
sharing the session's database find their own rows."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from tests.support.otlp import export_metrics, metrics_data, number_metric, span_exporter
from tests.support.signals_feed import NS, Feed

MS = 1_000_000


@dataclass(frozen=True)
class World:
    tag: str
    raw: str  # dataset the refresh job reads (two schema versions minutes ago: drift)
    features: str  # dataset it writes (one failing assertion), the ranker's input
    job: str
    scorer: str  # a job that ran a minute ago reading the raw table: held on its schema drift
    service: str  # a ranker on ``host`` whose p99 (300 ms) breaks its 250 ms SLO
    hostless: str  # a service that sends no host.name
    host: str
    queue: str
    now_ns: int


def spans(url: str, service: str, host: str, starts_ns: list[int], duration_ns: int) -> None:
    """SERVER spans through the SDK's exporter, with explicit start and end times."""
    attributes = {"service.name": service, **({"host.name": host} if host else {})}
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(SimpleSpanProcessor(span_exporter(url)))
    tracer = provider.get_tracer("tests.dashboard")
    for start in starts_ns:
        span = tracer.start_span("POST /predict", kind=SpanKind.SERVER, start_time=start)
        span.end(end_time=start + duration_ns)
    provider.shutdown()


def seed(url: str, tag: str, now_ns: int) -> World:
    """Hourly lineage that stopped three hours ago (the features are stale), telemetry in
    the minute before ``now_ns``."""
    world = World(
        tag=tag,
        raw=f"{tag}/raw_orders",
        features=f"{tag}/order_features",
        job=f"{tag}/refresh_features",
        scorer=f"{tag}/score_orders",
        service=f"{tag}-ranker",
        hostless=f"{tag}-hostless",
        host=f"{tag}-node-1",
        queue=f"{tag}-scoring-queue",
        now_ns=now_ns,
    )
    feed = Feed(url)
    base = now_ns - 3 * 3600 * NS
    io = {"inputs": [world.raw], "outputs": [world.features]}
    for hours in (2, 1, 0):
        start = base - hours * 3600 * NS
        feed.run(world.job, start, start + 60 * NS, **io)
    # The raw table's schema changed minutes ago: the job reading it is held (unsafe input).
    feed.schema(world.raw, now_ns - 600 * NS, {"order_id": "int"})
    feed.schema(world.raw, now_ns - 300 * NS, {"order_id": "string", "total": "double"})
    feed.run(
        world.scorer,
        now_ns - 120 * NS,
        now_ns - 60 * NS,
        inputs=[world.raw],
        outputs=[f"{tag}/scores"],
    )
    feed.assertions(world.features, base + 300 * NS, [True, False])
    feed.job_event(f"serving/{world.service}", [world.features], base)
    starts = [now_ns - k * NS for k in range(2, 42, 2)]  # 20 requests in the last 40 s
    spans(url, world.service, world.host, starts, 300 * MS)
    spans(url, world.hostless, "", starts[:5], 20 * MS)
    at = now_ns - 5 * NS
    gauges = [
        number_metric(
            "loadsense.host.pressure", [({"resource": "cpu", "stall": "some"}, at, 0.42)]
        ),
    ]
    export_metrics(url, metrics_data({"host.name": world.host, "service.name": "agent"}, gauges))
    queue = [
        number_metric(
            "loadsense.queue.depth",
            [
                ({"queue.name": world.queue}, now_ns - 30 * NS, 40.0),
                ({"queue.name": world.queue}, at, 75.0),
            ],
            unit="{item}",
        ),
        number_metric(
            "loadsense.queue.oldest_age", [({"queue.name": world.queue}, at, 95.0)], unit="s"
        ),
    ]
    export_metrics(url, metrics_data({"service.name": "queue-exporter"}, queue))
    return world


def tick(url: str, at_ns: int) -> None:
    r = httpx.post(f"{url}/api/v1/tick", params={"as_of": str(at_ns // NS)}, timeout=120)
    assert r.status_code == 200, r.text
