"""The agent's lifecycle: instruments, the SDK pipeline, signals and shutdown.

The pipeline is the stock OpenTelemetry SDK — observable instruments read by a
``PeriodicExportingMetricReader`` every ``interval_s`` and exported by the SDK's
``OTLPMetricExporter`` (HTTP, protobuf) — with :class:`BacklogExporter` in between, so
the agent is an ordinary OTLP client that any OTLP/HTTP endpoint can receive, and a
down service costs it neither its life nor unbounded memory.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from dataclasses import dataclass, field
from types import FrameType
from urllib.parse import urlsplit, urlunsplit

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

import loadsense
from loadsense.agent.backlog import BacklogExporter
from loadsense.agent.host import HostSampler
from loadsense.errors import ConfigError
from loadsense.settings import default_of

logger = logging.getLogger(__name__)

SERVICE_NAME = "loadsense-agent"
METRICS_PATH = "/v1/metrics"
DEFAULT_MAX_BACKOFF_S = 60.0


def metrics_url(endpoint: str) -> str:
    """``http://host:4318`` -> ``http://host:4318/v1/metrics``; a full metrics URL is kept."""
    parts = urlsplit(endpoint)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ConfigError(
            f"agent endpoint must be an http(s) URL, got {endpoint!r}", field="endpoint"
        )
    path = parts.path.rstrip("/")
    if not path.endswith(METRICS_PATH):
        path += METRICS_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


@dataclass(frozen=True)
class AgentConfig:
    endpoint: str
    interval_s: float = default_of("agent_interval_s")
    token: str | None = None
    host_name: str = field(default_factory=socket.gethostname)
    max_backlog: int = default_of("agent_max_backlog")
    max_backoff_s: float = DEFAULT_MAX_BACKOFF_S

    def __post_init__(self) -> None:
        if not self.interval_s > 0:
            raise ConfigError("agent interval must be > 0 seconds", field="interval")
        if self.max_backlog < 1:
            raise ConfigError("agent backlog must hold at least 1 sample", field="max_backlog")
        if not self.host_name:
            raise ConfigError("agent host name must not be empty", field="host_name")
        metrics_url(self.endpoint)

    @property
    def request_timeout_s(self) -> float:
        """One export (with the SDK's own retries) may take at most this long."""
        return min(10.0, max(1.0, self.interval_s))


class Agent:
    """Samples the host every ``interval_s`` and exports over OTLP/HTTP until stopped."""

    def __init__(self, config: AgentConfig, sampler: HostSampler | None = None) -> None:
        self.config = config
        headers = {"Authorization": f"Bearer {config.token}"} if config.token else None
        self.exporter = BacklogExporter(
            OTLPMetricExporter(
                endpoint=metrics_url(config.endpoint),
                headers=headers,
                timeout=config.request_timeout_s,
            ),
            max_batches=config.max_backlog,
            min_backoff_s=config.interval_s,
            max_backoff_s=config.max_backoff_s,
        )
        reader = PeriodicExportingMetricReader(
            self.exporter,
            export_interval_millis=config.interval_s * 1000.0,
            export_timeout_millis=config.request_timeout_s * 1000.0,
        )
        resource = Resource.create(
            {
                "service.name": SERVICE_NAME,
                "service.version": loadsense.__version__,
                "host.name": config.host_name,
            }
        )
        self._provider = MeterProvider(resource=resource, metric_readers=[reader])
        _register(self._provider, sampler or HostSampler())

    def shutdown(self) -> None:
        """Collect once more, try to send it (and any backlog) once, and stop."""
        self._provider.shutdown(timeout_millis=self.config.request_timeout_s * 1000.0 + 5000.0)
        logger.info(
            "agent stopped: %d collections sent, %d kept unsent, %d dropped",
            self.exporter.sent,
            self.exporter.backlog,
            self.exporter.dropped,
        )


def _register(provider: MeterProvider, s: HostSampler) -> None:
    meter = provider.get_meter("loadsense.agent", loadsense.__version__)
    meter.create_observable_gauge(
        "system.cpu.utilization", [s.cpu_utilization], unit="1", description="CPU time share"
    )
    meter.create_observable_gauge(
        "system.cpu.load_average.1m", [s.load_average], unit="{thread}", description="Load avg"
    )
    meter.create_observable_gauge(
        "system.memory.utilization", [s.memory_utilization], unit="1", description="Memory share"
    )
    meter.create_observable_counter(
        "system.disk.io_time", [s.disk_io_time], unit="s", description="Time disk was busy"
    )
    meter.create_observable_up_down_counter(
        "system.disk.pending_operations",
        [s.disk_pending_operations],
        unit="{operation}",
        description="I/Os in flight",
    )
    meter.create_observable_gauge(
        "loadsense.host.pressure",
        [s.pressure],
        unit="1",
        description="PSI avg10: share of the last 10 s tasks were stalled on the resource",
    )
    meter.create_observable_counter(
        "loadsense.host.pressure.stall_time",
        [s.pressure_stall_time],
        unit="s",
        description="PSI total: cumulative time tasks were stalled on the resource",
    )


def run_agent(config: AgentConfig, stop: threading.Event | None = None) -> int:
    """Run until SIGTERM/SIGINT (or ``stop`` is set); return the process exit code."""
    stop = stop or threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        logger.info("received %s; shutting down", signal.Signals(signum).name)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
    agent = Agent(config)
    logger.info(
        "agent sampling %s every %gs -> %s",
        config.host_name,
        config.interval_s,
        metrics_url(config.endpoint),
    )
    while not stop.wait(1.0):
        pass
    agent.shutdown()
    return 0
