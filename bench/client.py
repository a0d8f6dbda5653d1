"""The load generator: runs in its own process, sends pre-built bodies over several
keep-alive connections and waits for each acknowledgement before sending the next.

The service acknowledges a request only after its rows are committed, so the rate of
acknowledged items is the sustained ingest rate. Requests that complete during the
warm-up are sent but not counted.
"""

from __future__ import annotations

import http.client
import json
import random
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from loadsense.bench import payloads
from loadsense.bench.payloads import Body

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


@dataclass(frozen=True)
class Phase:
    """One measured stream: which path, what bodies, how many connections."""

    name: str
    unit: str  # spans | points | events
    path: str
    content_type: str
    connections: int
    items_per_request: int
    target_per_s: float | None = None
    target_latency_ms: tuple[float, float] | None = None  # p50, p99


@dataclass(frozen=True)
class LoadConfig:
    url: str
    phases: tuple[Phase, ...]
    duration_s: float
    warmup_s: float
    bodies_per_phase: int
    seed: int


@dataclass
class PhaseResult:
    name: str
    unit: str
    items: int = 0
    requests: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    first_error: str = ""
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    started_at: float = 0.0  # wall clock, for matching the server's RSS samples
    ended_at: float = 0.0

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else 0.0


def build_bodies(phase: Phase, count: int, seed: int) -> list[Body]:
    """``count`` distinct bodies for ``phase`` (same seed, same bodies: the raw run reuses it)."""
    rng = random.Random(f"{seed}:{phase.name}")
    now = time.time_ns()
    n = phase.items_per_request
    if phase.unit == "spans":
        return [payloads.trace_body(rng, n, now) for _ in range(count)]
    if phase.unit == "points":
        return [payloads.metrics_body(rng, n, now) for _ in range(count)]
    if phase.path.endswith("/batch"):
        return [payloads.lineage_batch_body(rng, n, now) for _ in range(count)]
    return payloads.lineage_single_bodies(rng, count, now)


def _ack_items(status: int, body: Body, response: bytes, unit: str) -> int:
    """Items the service committed for one response: what it carried, less what the
    service reported refusing (OTLP ``partial_success``, the lineage batch summary)."""
    if not 200 <= status < 300:
        return 0
    if unit == "spans":
        traces = ExportTraceServiceResponse.FromString(response)
        return body.items - int(traces.partial_success.rejected_spans)
    if unit == "points":
        metrics = ExportMetricsServiceResponse.FromString(response)
        return body.items - int(metrics.partial_success.rejected_data_points)
    if response.strip():  # the batch endpoint's summary; a single event answers 201 empty
        summary = json.loads(response).get("summary", {})
        return int(summary.get("successful", body.items))
    return body.items


class _Worker(threading.Thread):
    def __init__(
        self,
        cfg: LoadConfig,
        phase: Phase,
        bodies: list[Body],
        offset: int,
        window: tuple[float, float],
        result: PhaseResult,
        lock: threading.Lock,
    ) -> None:
        super().__init__(daemon=True)
        self._cfg, self._phase, self._bodies = cfg, phase, bodies
        self._offset, self._window, self._result, self._lock = offset, window, result, lock
        self.acked = 0  # all acknowledged items, warm-up included (progress display)

    def run(self) -> None:
        parts = urlsplit(self._cfg.url)
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
        headers = {"Content-Type": self._phase.content_type}
        i = self._offset
        count_from, stop_at = self._window
        while time.monotonic() < stop_at:
            body = self._bodies[i % len(self._bodies)]
            data = body.data
            if self._phase.content_type == PROTOBUF:  # OTLP: every request distinct
                data = payloads.distinct(data, (self._offset << 32) + i)
            i += 1
            sent = time.monotonic()
            try:
                conn.request("POST", self._phase.path, body=data, headers=headers)
                response = conn.getresponse()
                data = response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                self._error(type(exc).__name__, str(exc))
                time.sleep(0.1)
                continue
            done = time.monotonic()
            items = _ack_items(status, body, data, self._phase.unit)
            self.acked += items
            if not items:
                self._error(str(status), data[:300].decode(errors="replace"))
                if status == 503:
                    time.sleep(float(response.getheader("Retry-After") or 1))
                continue
            if sent >= count_from and done <= stop_at:
                with self._lock:
                    self._result.items += items
                    self._result.requests += 1
                    self._result.latencies_ms.append((done - sent) * 1000.0)
        conn.close()

    def _error(self, kind: str, detail: str) -> None:
        with self._lock:
            self._result.errors[kind] = self._result.errors.get(kind, 0) + 1
            if not self._result.first_error:
                self._result.first_error = f"{kind}: {detail}"


def run_phase(cfg: LoadConfig, phase: Phase, bodies: list[Body]) -> PhaseResult:
    result = PhaseResult(phase.name, phase.unit)
    lock = threading.Lock()
    start = time.monotonic()
    window = (start + cfg.warmup_s, start + cfg.warmup_s + cfg.duration_s)
    result.started_at = time.time()
    workers = [
        _Worker(cfg, phase, bodies, k * 7919, window, result, lock)
        for k in range(phase.connections)
    ]
    for w in workers:
        w.start()
    shown = start
    while alive := [w for w in workers if w.is_alive()]:
        alive[0].join(timeout=2.0)
        if time.monotonic() - shown >= 2.0:
            shown = time.monotonic()
            acked = sum(w.acked for w in workers)
            progress(f"  {phase.name}: {shown - start:4.1f}s, {acked:,} {phase.unit} acknowledged")
    result.ended_at = time.time()
    # Only requests sent and acknowledged inside the window count, so the window is the
    # denominator (requests straddling its edges are left out of both).
    result.seconds = cfg.duration_s
    return result


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def client_main(cfg: LoadConfig) -> list[dict[str, Any]]:
    """Entry point of the client process: every phase in order, as plain dicts."""
    results = []
    for phase in cfg.phases:
        progress(f"  {phase.name}: building {cfg.bodies_per_phase} request bodies")
        bodies = build_bodies(phase, cfg.bodies_per_phase, cfg.seed)
        result = run_phase(cfg, phase, bodies)
        progress(
            f"  {phase.name}: {result.rate:,.0f} {phase.unit}/s over {result.seconds:.0f}s "
            f"({result.requests} requests, errors {result.errors or 'none'})"
        )
        results.append(asdict(result))
    return results
