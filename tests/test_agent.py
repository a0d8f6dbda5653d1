"""The host agent: PSI and CPU parsing, the bounded backlog, and the real agent process
exporting over OTLP/HTTP to a real service (and surviving one that is down)."""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
    ResourceMetrics,
)
from opentelemetry.sdk.resources import Resource

from collectors.agent.backlog import BacklogExporter
from collectors.agent.host import cpu_utilization, parse_pending_operations
from collectors.agent.pressure import Pressure, parse_pressure, read_pressure
from collectors.agent.run import AgentConfig, metrics_url
from loadsense.errors import ConfigError
from tests.support.service import free_port

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


def test_backlog_survives_an_exporter_that_raises() -> None:
    class Exploding(_SwitchableExporter):
        def export(
            self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
        ) -> MetricExportResult:
            raise RuntimeError("exporter bug")

    exporter = BacklogExporter(Exploding(), max_batches=2, min_backoff_s=0.0, max_backoff_s=0.0)
    assert exporter.export(_collection(1)) is MetricExportResult.FAILURE
    assert exporter.backlog == 1


# ---------------------------------------------------------------- the agent process


def agent_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "api.cli", "agent", *args]


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
