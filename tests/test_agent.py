"""The host agent: PSI and CPU parsing, the bounded backlog, and the real agent process
exporting over OTLP/HTTP to a real service (and surviving one that is down)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    InMemoryMetricReader,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    ResourceMetrics,
)
from opentelemetry.sdk.resources import Resource

from loadsense.agent.backlog import BacklogExporter, merge_collections
from loadsense.agent.host import cpu_utilization, parse_pending_operations
from loadsense.agent.pressure import Pressure, parse_pressure, read_pressure
from loadsense.agent.run import AgentConfig, metrics_url
from loadsense.api.app import create_app
from loadsense.bench.harness import free_port
from loadsense.errors import ConfigError
from loadsense.settings import Settings
from loadsense.storage.client import Storage
from tests.conftest import query
from tests.support.service import poll_until, running_service

# ---------------------------------------------------------------- PSI parsing

CPU_PSI = """some avg10=2.22 avg60=0.48 avg300=0.20 total=2664175
full avg10=0.00 avg60=0.00 avg300=0.00 total=0
"""


def test_parse_pressure_reads_some_and_full() -> None:
    assert parse_pressure("cpu", CPU_PSI) == (
        Pressure("cpu", "some", 2.22, 2_664_175),
        Pressure("cpu", "full", 0.0, 0),
    )


def test_parse_pressure_old_kernel_cpu_has_only_some() -> None:
    # Kernels before 5.13 print no "full" line for cpu.
    text = "some avg10=12.50 avg60=3.00 avg300=1.00 total=987654321\n"
    assert parse_pressure("cpu", text) == (Pressure("cpu", "some", 12.5, 987_654_321),)


def test_parse_pressure_skips_malformed_lines_and_keeps_good_ones() -> None:
    text = (
        "some avg10=abc avg60=0 avg300=0 total=1\n"  # avg10 not a number
        "full avg60=0.00 total=5\n"  # avg10 missing
        "partial avg10=1.0 total=1\n"  # unknown stall kind
        "some avg10=150.0 total=1\n"  # out of range: a percentage
        "\n"
        "full avg10=7.25 avg60=1.0 avg300=0.5 total=42 extra=9\n"  # extra fields are fine
    )
    assert parse_pressure("io", text) == (Pressure("io", "full", 7.25, 42),)


def test_read_pressure_skips_missing_resources_quietly(tmp_path: Any) -> None:
    (tmp_path / "memory").write_text("some avg10=1.00 avg60=0 avg300=0 total=10\n")
    assert read_pressure(tmp_path) == (Pressure("memory", "some", 1.0, 10),)
    assert read_pressure(tmp_path / "absent") == ()


# ---------------------------------------------------------------- CPU and disk


def test_cpu_utilization_is_each_state_share_of_the_interval() -> None:
    before = [{"user": 100.0, "system": 50.0, "idle": 800.0, "iowait": 10.0, "guest": 5.0}]
    after = [{"user": 103.0, "system": 51.0, "idle": 805.0, "iowait": 11.0, "guest": 9.0}]
    shares = {s.state: s.utilization for s in cpu_utilization(before, after)}
    # deltas: user 3, system 1, idle 5, wait 1 -> total 10 (guest is already inside user)
    assert shares == pytest.approx({"user": 0.3, "system": 0.1, "idle": 0.5, "wait": 0.1})


def test_cpu_utilization_skips_a_cpu_whose_counters_did_not_move() -> None:
    same = {"user": 1.0, "idle": 1.0}
    moved = {"user": 2.0, "idle": 4.0}
    shares = cpu_utilization([same, same], [same, moved])
    # cpu0 did not advance; cpu1: user 1, idle 3 of 4
    assert [(s.cpu, s.state, s.utilization) for s in shares] == [
        (1, "user", 0.25),
        (1, "idle", 0.75),
    ]


def test_parse_pending_operations_reads_in_flight_ios_and_skips_loop_devices() -> None:
    text = (
        "   7       0 loop0 10 0 20 0 0 0 0 0 3 4 5 0 0 0 0\n"
        "   8       0 sda 1000 5 9000 300 200 7 4000 100 2 450 600 0 0 0 0\n"
        "   8       1 sda1 900 5 8000 250 150 7 3000 90 0 400 500 0 0 0 0\n"
    )
    assert parse_pending_operations(text) == {"sda": 2, "sda1": 0}


# ---------------------------------------------------------------- configuration


def test_metrics_url_appends_the_otlp_path_once() -> None:
    assert metrics_url("http://h:4318") == "http://h:4318/v1/metrics"
    assert metrics_url("http://h:4318/") == "http://h:4318/v1/metrics"
    assert metrics_url("https://h/prefix/v1/metrics") == "https://h/prefix/v1/metrics"
    with pytest.raises(ConfigError, match="http\\(s\\) URL"):
        metrics_url("h:4318")


def test_agent_config_rejects_nonsense() -> None:
    with pytest.raises(ConfigError, match="interval must be > 0"):
        AgentConfig(endpoint="http://h:1", interval_s=0)
    with pytest.raises(ConfigError, match="at least 1 sample"):
        AgentConfig(endpoint="http://h:1", max_backlog=0)


# ---------------------------------------------------------------- bounded backlog


class _SwitchableExporter(MetricExporter):
    """A real exporter whose endpoint is up or down; records what it delivered."""

    def __init__(self) -> None:
        super().__init__()
        self.up = False
        self.attempts = 0
        self.delivered: list[int] = []

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        self.attempts += 1
        if not self.up:
            return MetricExportResult.FAILURE
        self.delivered.extend(
            int(rm.resource.attributes["n"]) for rm in metrics_data.resource_metrics
        )
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


def _collection(n: int) -> MetricsData:
    return MetricsData(
        resource_metrics=[
            ResourceMetrics(resource=Resource({"n": n}), scope_metrics=[], schema_url="")
        ]
    )


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_backlog_is_bounded_backs_off_and_delivers_oldest_first_on_recovery() -> None:
    inner, clock = _SwitchableExporter(), _Clock()
    exporter = BacklogExporter(
        inner, max_batches=4, min_backoff_s=1.0, max_backoff_s=4.0, clock=clock
    )
    # Ten collections one second apart while the endpoint is down.
    for n in range(10):
        assert exporter.export(_collection(n)) is MetricExportResult.FAILURE
        assert exporter.backlog <= 4
        clock.now += 1.0
    # Attempts at t=0 (fail, wait 1), t=1 (fail, wait 2), t=3 (fail, wait 4), t=7 (fail,
    # wait 4, capped) -> 4 attempts; the next would be at t=11.
    assert inner.attempts == 4
    assert exporter.backlog == 4
    assert exporter.dropped == 10 - 4
    inner.up = True
    clock.now = 11.0
    assert exporter.export(_collection(10)) is MetricExportResult.SUCCESS
    # The current collection takes a place too: 6 is dropped, 7..10 go out in order.
    assert inner.delivered == [7, 8, 9, 10]
    assert exporter.dropped == 7
    assert exporter.backlog == 0
    assert exporter.sent == 4


def _collections_of_points(count: int, points: int) -> list[MetricsData]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    provider.get_meter("test").create_observable_gauge(
        "g", [lambda _: [Observation(1.0, {"i": i}) for i in range(points)]]
    )
    collections = [reader.get_metrics_data() for _ in range(count)]
    provider.shutdown()
    return collections


def test_backlog_is_bounded_by_data_points_too_but_keeps_the_newest() -> None:
    inner = _SwitchableExporter()
    exporter = BacklogExporter(
        inner, max_batches=100, min_backoff_s=0.0, max_backoff_s=0.0, max_points=5
    )
    for data in _collections_of_points(4, points=2):
        exporter.export(data)
        assert exporter.backlog_points <= 5
    # 2 points each: a third collection would make 6 > 5, so two are kept, two dropped
    assert (exporter.backlog, exporter.backlog_points, exporter.dropped) == (2, 4, 2)
    (big,) = _collections_of_points(1, points=7)
    exporter.export(big)  # larger than the whole budget: kept alone, the rest dropped
    assert (exporter.backlog, exporter.backlog_points, exporter.dropped) == (1, 7, 4)


def test_backlog_survives_an_exporter_that_raises() -> None:
    class Exploding(_SwitchableExporter):
        def export(
            self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
        ) -> MetricExportResult:
            raise RuntimeError("exporter bug")

    exporter = BacklogExporter(Exploding(), max_batches=2, min_backoff_s=0.0, max_backoff_s=0.0)
    assert exporter.export(_collection(1)) is MetricExportResult.FAILURE
    assert exporter.backlog == 1


def test_merged_backlog_keeps_every_sample_through_the_otlp_encoder() -> None:
    # The SDK encoder keeps one metric per (resource, scope, name): collections must be
    # joined point by point, or only the newest sample would be sent.
    reader = InMemoryMetricReader()
    provider = MeterProvider(resource=Resource({"host.name": "h"}), metric_readers=[reader])
    ticks = iter(range(1, 100))

    def observe(options: Any) -> list[Observation]:
        tick = float(next(ticks))  # one tick per collection
        return [Observation(tick, {"state": s}) for s in ("a", "b")]

    provider.get_meter("test").create_observable_gauge("g", [observe])
    collections = [reader.get_metrics_data() for _ in range(3)]
    request = encode_metrics(merge_collections(collections))
    points = [
        (p.attributes[0].value.string_value, p.as_double)
        for rm in request.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        for p in m.gauge.data_points
    ]
    # 3 collections x 2 states; each callback call draws the next tick: 1, 2, 3
    assert sorted(points) == [
        ("a", 1.0),
        ("a", 2.0),
        ("a", 3.0),
        ("b", 1.0),
        ("b", 2.0),
        ("b", 3.0),
    ]
    provider.shutdown()


# ---------------------------------------------------------------- the agent process


def agent_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "loadsense.api.cli", "agent", *args]


@pytest.mark.slow
def test_agent_with_service_down_keeps_running_and_stops_cleanly_on_sigterm() -> None:
    port = free_port()  # nothing listens here
    proc = subprocess.Popen(
        agent_command("--endpoint", f"http://127.0.0.1:{port}", "--interval", "0.2"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        failures = 0
        for line in proc.stdout:  # waits on the agent's own log, no sleeping
            if "metrics export failed" in line:
                failures += 1
                if failures == 3:
                    break
        assert proc.poll() is None, "agent exited while the service was down"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert "received SIGTERM; shutting down" in out
    assert "agent stopped: 0 collections sent" in out
    assert "Traceback" not in out


# ---------------------------------------------------------------- against a real service

AGENT_METRICS = {
    "system.cpu.utilization": ("gauge", "1"),
    "system.cpu.load_average.1m": ("gauge", "{thread}"),
    "system.memory.utilization": ("gauge", "1"),
    "system.disk.io_time": ("sum", "s"),
    "system.disk.pending_operations": ("sum", "{operation}"),
}
PRESSURE_METRICS = {
    "loadsense.host.pressure": ("gauge", "1"),
    "loadsense.host.pressure.stall_time": ("sum", "s"),
}


class _AgentProcess:
    """``loadsense agent`` as a subprocess whose log is read by a thread (no full pipes)."""

    def __init__(self, endpoint: str, host: str, interval: str = "0.3") -> None:
        self.proc = subprocess.Popen(
            agent_command("--endpoint", endpoint, "--interval", interval, "--host-name", host),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def count(self, text: str) -> int:
        return sum(text in line for line in list(self.lines))

    def stop(self) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=10)
        return code, "".join(self.lines)


def _points(storage: Storage, host: str) -> list[tuple[Any, ...]]:
    return query(
        storage,
        "SELECT metric_name, toString(metric_type), unit, toString(temporality), is_monotonic,"
        " service_name FROM metric_points WHERE host_name = {host:String}",
        host=host,
    )


@pytest.mark.slow
def test_agent_samples_arrive_in_the_service(storage: Storage) -> None:
    host = f"agent-{uuid.uuid4().hex[:10]}"
    expected = dict(AGENT_METRICS)
    if read_pressure():  # this kernel offers PSI, so the agent must send it
        expected.update(PRESSURE_METRICS)
    with running_service(storage, Settings()) as svc:
        agent = _AgentProcess(svc.url, host)
        try:
            # A metric's first CPU sample needs a previous one; wait for every name.
            poll_until(lambda: {r[0] for r in _points(storage, host)} >= set(expected), 60)
        finally:
            code, log = agent.stop()
    assert code == 0, log
    rows = _points(storage, host)
    shapes = {r[0]: (r[1], r[2]) for r in rows}
    assert {name: shapes[name] for name in expected} == expected
    assert {r[5] for r in rows} == {"loadsense-agent"}
    io_time = {(r[3], r[4]) for r in rows if r[0] == "system.disk.io_time"}
    assert io_time == {("cumulative", 1)}
    cpu = query(
        storage,
        "SELECT min(value), max(value), uniqExact(attributes['state']) FROM metric_points"
        " WHERE host_name = {host:String} AND metric_name = 'system.cpu.utilization'",
        host=host,
    )[0]
    assert 0.0 <= cpu[0] <= cpu[1] <= 1.0
    assert cpu[2] >= 4  # user, system, idle, wait at least
    derived = query(
        storage,
        "SELECT resource, stall, source, min(value), max(value) FROM host_samples"
        " WHERE host_name = {host:String} GROUP BY resource, stall, source",
        host=host,
    )
    by_source = {(r[0], r[1], r[2]): (r[3], r[4]) for r in derived}
    for key in (
        ("cpu", "", "system.cpu.utilization"),
        ("memory", "", "system.memory.utilization"),
        *((p.resource, p.stall, "loadsense.host.pressure") for p in read_pressure()),
    ):
        low, high = by_source[key]
        assert 0.0 <= low <= high <= 1.0, key
    assert ("load", "", "system.cpu.load_average.1m") in by_source
    if read_pressure():
        attrs = query(
            storage,
            "SELECT DISTINCT attributes['resource'], attributes['stall'] FROM metric_points"
            " WHERE host_name = {host:String} AND metric_name = 'loadsense.host.pressure'",
            host=host,
        )
        offered = {(p.resource, p.stall) for p in read_pressure()}
        assert set(attrs) == offered


@contextmanager
def _service_on_port(storage: Storage, port: int) -> Iterator[str]:
    """Like ``running_service`` but on a chosen port: the agent knew it before it existed."""
    app = create_app(Settings(), storage)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        poll_until(lambda: server.started or not thread.is_alive(), 30)
        assert server.started, "service did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)


@pytest.mark.slow
def test_agent_started_before_the_service_delivers_its_backlog_once_it_is_up(
    storage: Storage,
) -> None:
    host = f"agent-{uuid.uuid4().hex[:10]}"
    port = free_port()
    agent = _AgentProcess(f"http://127.0.0.1:{port}", host)
    try:
        poll_until(lambda: agent.count("metrics export failed") >= 2, 60)
        assert agent.proc.poll() is None, "agent exited while the service was down"
        with _service_on_port(storage, port):
            up_at_ns = time.time_ns()
            poll_until(lambda: agent.count("metrics export recovered") >= 1, 60)
            # Samples taken while the service was down were kept and arrive now.
            before = query(
                storage,
                "SELECT count() FROM metric_points WHERE host_name = {host:String}"
                " AND metric_name = 'system.memory.utilization'"
                " AND toUnixTimestamp64Nano(time) < {up:Int64}",
                host=host,
                up=up_at_ns,
            )[0][0]
            assert before >= 2 * 4  # >= 2 failed collections x 4 memory states
    finally:
        code, log = agent.stop()
    assert code == 0, log
    assert "Traceback" not in log
