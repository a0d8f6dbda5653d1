"""Well-known metric names become queue and host samples in the same request
(docs/telemetry.md, "Semantic mapping"), exported with the SDK's OTLP/HTTP exporter."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.sdk.metrics.export import AggregationTemporality

from loadsense.storage.client import Storage
from tests.conftest import query
from tests.support.otlp import (
    NS,
    export_metrics,
    metrics_answer,
    metrics_data,
    now_ns,
    number_metric,
    post,
    unique,
)
from tests.support.service import Service


def _queue_rows(storage: Storage, service: str) -> list[tuple[object, ...]]:
    return query(
        storage,
        "SELECT queue_name, field, source, toUnixTimestamp64Nano(time),"
        " toUnixTimestamp64Nano(start_time), value, toString(temporality), host_name"
        " FROM queue_samples FINAL WHERE service_name = {s:String}"
        " ORDER BY queue_name, field, time",
        s=service,
    )


def _host_rows(storage: Storage, host: str) -> list[tuple[object, ...]]:
    return query(
        storage,
        "SELECT resource, stall, source, device, toUnixTimestamp64Nano(time), value,"
        " toUnixTimestamp64Nano(start_time), toString(temporality)"
        " FROM host_samples FINAL WHERE host_name = {h:String}"
        " ORDER BY source, resource, stall, device, time",
        h=host,
    )


def test_loadsense_queue_metrics_become_queue_samples(service: Service, storage: Storage) -> None:
    name, host, queue = unique("etl-worker"), unique("node"), unique("jobs")
    t0, start = now_ns(), now_ns() - 100 * NS
    q = {"queue.name": queue}
    data = metrics_data(
        {"service.name": name, "host.name": host},
        [
            number_metric("loadsense.queue.depth", [(q, t0, 12.0), (q, t0 + NS, 15.0)]),
            number_metric("loadsense.queue.oldest_age", [(q, t0, 2500.0)], unit="ms"),
            number_metric("loadsense.queue.enqueued", [(q, t0, 300.0)], kind="sum", start_ns=start),
            number_metric(
                "loadsense.queue.dequeued",
                [(q, t0, 40.0)],
                kind="sum",
                start_ns=t0 - NS,
                temporality=AggregationTemporality.DELTA,
            ),
        ],
    )
    export_metrics(service.url, data)
    depth, src = "loadsense.queue.depth", "loadsense.queue"
    assert _queue_rows(storage, name) == [
        (queue, "depth", depth, t0, 0, 12.0, "unspecified", host),
        (queue, "depth", depth, t0 + NS, 0, 15.0, "unspecified", host),
        (queue, "dequeued", f"{src}.dequeued", t0, t0 - NS, 40.0, "delta", host),
        (queue, "enqueued", f"{src}.enqueued", t0, start, 300.0, "cumulative", host),
        (queue, "oldest_age", f"{src}.oldest_age", t0, 0, 2.5, "unspecified", host),  # 2500 ms
    ]
    # The raw points are stored as well, in the same request.
    raw = query(
        storage,
        "SELECT count() FROM metric_points WHERE service_name = {s:String}",
        s=name,
    )
    assert raw == [(5,)]


def test_cumulative_rates_survive_a_counter_reset(service: Service, storage: Storage) -> None:
    """The documented rate: per series, sum the increases between consecutive samples,
    taking the new value itself when the start time changed or the value dropped."""
    name, queue = unique("consumer"), unique("orders")
    t0 = now_ns() - 60 * NS
    s0, s1 = t0 - 50 * NS, t0 + 15 * NS  # the process restarted at t0 + 15 s
    q = {"queue.name": queue}
    samples = [
        (q, t0, 100.0),
        (q, t0 + 10 * NS, 130.0),
        (q, t0 + 20 * NS, 5.0),
        (q, t0 + 30 * NS, 25.0),
    ]
    metric = number_metric(
        "loadsense.queue.dequeued", samples, kind="sum", start_ns=[s0, s0, s1, s1]
    )
    export_metrics(service.url, metrics_data({"service.name": name}, [metric]))
    rate = query(
        storage,
        """
        SELECT arraySum(arrayMap(i -> if(s[i].3 = s[i - 1].3 AND s[i].2 >= s[i - 1].2,
                                          s[i].2 - s[i - 1].2, s[i].2),
                                 range(2, length(s) + 1)))
               / ((s[length(s)].1 - s[1].1) / 1e9)
        FROM (
            SELECT arraySort(x -> x.1, groupArray((toUnixTimestamp64Nano(time), value,
                                                   toUnixTimestamp64Nano(start_time)))) AS s
            FROM queue_samples FINAL
            WHERE service_name = {s:String} AND field = 'dequeued'
            GROUP BY queue_name, source, service_name, host_name
        )
        """,
        s=name,
    )
    # Increases: 130 - 100 = 30; reset -> 5; 25 - 5 = 20. Total 55 over 30 s.
    assert rate == [(55 / 30,)]


def test_kafka_lag_and_rabbitmq_ready_messages_are_queue_depth(
    service: Service, storage: Storage
) -> None:
    name, group = unique("brokers"), unique("cg")
    t0 = now_ns()
    lag = [
        ({"group": group, "topic": "events", "partition": p}, t0, float(10 * p + 1))
        for p in range(3)
    ]
    lag.append(({"group": group, "topic": "audit", "partition": 0}, t0, 4.0))
    rabbit = [
        ({"state": "ready"}, t0, 17.0),
        ({"state": "unacknowledged"}, t0, 3.0),
    ]
    data = metrics_data(
        {"service.name": name, "rabbitmq.queue.name": "invoices"},
        [
            number_metric("kafka.consumer_group.lag", lag),
            number_metric("rabbitmq.message.current", rabbit, kind="sum", monotonic=False),
        ],
    )
    export_metrics(service.url, data)
    rows = [(r[0], r[1], r[2], r[5]) for r in _queue_rows(storage, name)]
    assert rows == [
        (f"{group}/audit", "depth", "kafka.consumer_group.lag", 4.0),
        (f"{group}/events", "depth", "kafka.consumer_group.lag", 33.0),  # 1 + 11 + 21
        ("invoices", "depth", "rabbitmq.message.current", 17.0),  # ready only
    ]


def test_host_metrics_become_host_samples(service: Service, storage: Storage) -> None:
    name, host = unique("agent"), unique("host")
    t0, boot = now_ns(), now_ns() - 3600 * NS
    cpu = [
        ({"cpu": f"cpu{c}", "state": state}, t0, share)
        for c, shares in enumerate([(0.5, 0.25, 0.125, 0.125), (0.25, 0.125, 0.5, 0.125)])
        for state, share in zip(("user", "system", "idle", "wait"), shares, strict=True)
    ]
    memory = [
        ({"state": s}, t0, v) for s, v in (("used", 0.75), ("free", 0.125), ("cached", 0.125))
    ]
    pressure = [
        ({"resource": "cpu", "stall": "some"}, t0, 0.25),
        ({"resource": "memory", "stall": "full"}, t0, 0.0625),
        ({"resource": "io", "stall": "some"}, t0, 0.5),
    ]
    data = metrics_data(
        {"service.name": name, "host.name": host},
        [
            number_metric("system.cpu.utilization", cpu, unit="1"),
            number_metric("system.memory.utilization", memory, unit="1"),
            number_metric("system.cpu.load_average.1m", [({}, t0, 3.5)]),
            number_metric(
                "system.disk.pending_operations",
                [({"device": "sda"}, t0, 4.0), ({"device": "sdb"}, t0, 0.0)],
                kind="sum",
                monotonic=False,
            ),
            number_metric(
                "system.disk.io_time", [({"device": "sda"}, t0, 812.5)], kind="sum", start_ns=boot
            ),
            number_metric("loadsense.host.pressure", pressure, unit="1"),
        ],
    )
    export_metrics(service.url, data)
    assert _host_rows(storage, host) == [
        ("cpu", "some", "loadsense.host.pressure", "", t0, 0.25, 0, "unspecified"),
        ("io", "some", "loadsense.host.pressure", "", t0, 0.5, 0, "unspecified"),
        ("memory", "full", "loadsense.host.pressure", "", t0, 0.0625, 0, "unspecified"),
        ("load", "", "system.cpu.load_average.1m", "", t0, 3.5, 0, "unspecified"),
        # busy = 1 - (idle + wait summed over CPUs) / CPUs = 1 - (0.25 + 0.625) / 2
        ("cpu", "", "system.cpu.utilization", "", t0, 0.5625, 0, "unspecified"),
        ("disk", "", "system.disk.io_time", "sda", t0, 812.5, boot, "cumulative"),
        ("disk", "", "system.disk.pending_operations", "sda", t0, 4.0, 0, "cumulative"),
        ("disk", "", "system.disk.pending_operations", "sdb", t0, 0.0, 0, "cumulative"),
        ("memory", "", "system.memory.utilization", "", t0, 0.75, 0, "unspecified"),  # used
    ]


def test_pressure_in_percent_is_stored_as_a_ratio(service: Service, storage: Storage) -> None:
    host = unique("psi-host")
    t0 = now_ns()
    metric = number_metric(
        "loadsense.host.pressure", [({"resource": "io", "stall": "full"}, t0, 12.5)], unit="%"
    )
    export_metrics(service.url, metrics_data({"host.name": host}, [metric]))
    assert [r[5] for r in _host_rows(storage, host)] == [0.125]


def test_well_known_points_missing_what_the_mapping_needs_are_stored_with_a_warning(
    service: Service, storage: Storage
) -> None:
    name = unique("incomplete")
    t0 = now_ns()
    data = metrics_data(
        {"service.name": name},  # no host.name
        [
            number_metric("loadsense.queue.depth", [({}, t0, 1.0)]),  # no queue.name
            number_metric("system.cpu.load_average.1m", [({}, t0, 1.0)]),
            number_metric("loadsense.queue.enqueued", [({"queue.name": "x"}, t0, 1.0)]),  # gauge
        ],
    )
    body = encode_metrics(data).SerializeToString()  # what the exporter sends
    response = post(service.url, "/v1/metrics", body)
    partial = metrics_answer(response).partial_success
    assert partial.rejected_data_points == 0
    assert partial.error_message == (
        "warning: 1 x loadsense.queue.depth points stored but not mapped: no queue.name"
        " attribute, 1 x system.cpu.load_average.1m points stored but not mapped: no"
        " host.name resource attribute, 1 x loadsense.queue.enqueued points stored but not"
        " mapped: expected a monotonic sum"
    )
    counts = query(
        storage,
        "SELECT (SELECT count() FROM metric_points WHERE service_name = {s:String}),"
        " (SELECT count() FROM queue_samples WHERE service_name = {s:String})",
        s=name,
    )
    assert counts == [(3, 0)]
