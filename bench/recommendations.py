"""Recommendations read benchmark: ``python -m loadsense.bench.recommendations``.

Target (issue 5): ``GET /api/v1/recommendations`` p99 <= 5 ms at 500 requests/s from a
separate process while the service ingests at about half its measured capacity.

Each run starts a real ``loadsense serve`` (embedded chDB, wall clock, 5 s ticks) on a
temporary data directory and a ``loadsense replica`` following it, seeds ~200 ETL jobs
through the OpenLineage batch endpoint and waits until the correlator has published
their recommendations and the replica holds them. Then, each phase from separate
processes, with GETs sent to the primary and to the replica in turn:

1. ``reads alone``: GETs at 500/s, open loop (each request has a scheduled send time;
   latency is measured from that time, so a stalled server cannot hide queueing);
2. ``capacity``: OTLP spans as fast as the primary acknowledges them (bench/client.py);
3. ``reads + ingest``: GETs at 500/s while another process sends spans to the primary
   paced at half the capacity just measured.

The GET client is one thread driving keep-alive connections with ``selectors`` (no
thread switches of its own to add jitter); how late it sent against the schedule is
reported as ``send_lag_p99_ms``.

The report is the median over ``--runs`` (markdown on stdout, JSON under
``bench/results/``); the numbers go to docs/performance.md ``## Recommendations``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import http.client
import multiprocessing
import os
import random
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from loadsense.bench import payloads
from loadsense.bench.client import PROTOBUF, progress
from loadsense.bench.harness import (
    ServerSampler,
    free_port,
    loadsense_command,
    stop_process,
    wait_ready,
)
from loadsense.bench.ingest import RESULTS_DIR, percentile, start_server
from loadsense.bench.report import write_results

SPANS_PER_REQUEST = 1000

R = TypeVar("R")


def seed_jobs(url: str, seed: int) -> int:
    """~200 ETL jobs (START + COMPLETE runs) through ``POST /api/v1/lineage/batch``."""
    rng = random.Random(seed)
    now = time.time_ns()
    events = 0
    with httpx.Client(base_url=url, timeout=60) as http:
        for _ in range(20):
            body = payloads.lineage_batch_body(rng, 100, now)
            r = http.post(
                "/api/v1/lineage/batch",
                content=body.data,
                headers={"Content-Type": "application/json"},
            )
            r.raise_for_status()
            events += body.items
    return events


def wait_for_recommendations(url: str, minimum: int, timeout: float = 120.0) -> int:
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        doc = httpx.get(f"{url}/api/v1/recommendations", timeout=10).json()
        count = len(doc["recommendations"])
        if count >= minimum:
            return count
        time.sleep(0.5)
    raise TimeoutError(f"only {count} recommendations after {timeout:.0f}s")


class _Conn:
    """One keep-alive connection and the response it is reading."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.scheduled = self.sent = 0.0

    def response(self) -> tuple[int, int] | None:
        """(status, body bytes) once the whole response is buffered, else None."""
        head_end = self.buf.find(b"\r\n\r\n")
        if head_end < 0:
            return None
        head = bytes(self.buf[:head_end]).decode("latin-1").split("\r\n")
        length = 0
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if len(self.buf) < head_end + 4 + length:
            return None
        del self.buf[: head_end + 4 + length]
        return int(head[0].split()[1]), length


def paced_gets(
    url: str,
    rate: float,
    duration: float,
    warmup: float,
    connections: int,
    path: str = "/api/v1/recommendations",
) -> dict[str, Any]:
    """GET ``path`` at ``rate``/s, open loop, over ``connections`` keep-alive connections.

    Request ``i`` is due at ``start + i / rate``; it goes out on an idle connection as
    soon as it is due (or, when all are busy, as soon as one frees up: that wait counts).
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    sel = selectors.DefaultSelector()
    # Round robin (oldest idle first): a connection left idle for the server's keep-alive
    # timeout would be closed under the next request.
    idle = collections.deque(_Conn(host, port) for _ in range(connections))
    start = time.monotonic() + 0.2
    total = int((warmup + duration) * rate)
    count_from = start + warmup
    from_scheduled: list[float] = []
    from_send: list[float] = []
    send_lag: list[float] = []
    errors: dict[str, int] = {}
    sizes: list[int] = []
    sent = busy = 0
    while sent < total or busy:
        now = time.monotonic()
        while sent < total and idle and start + sent / rate <= now:
            conn = idle.popleft()
            conn.scheduled = start + sent / rate
            conn.sent = time.monotonic()
            try:
                conn.sock.sendall(request)
            except OSError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                idle.append(_Conn(host, port))
                sent += 1
                continue
            sel.register(conn.sock, selectors.EVENT_READ, conn)
            sent += 1
            busy += 1
        wait = start + sent / rate - time.monotonic() if sent < total and idle else 1.0
        for key, _ in sel.select(max(0.0, wait)):
            conn = key.data
            chunk = conn.sock.recv(1 << 18)
            if not chunk:  # closed by the server: count it, replace the connection
                sel.unregister(conn.sock)
                conn.sock.close()
                errors["closed"] = errors.get("closed", 0) + 1
                idle.append(_Conn(host, port))
                busy -= 1
                continue
            conn.buf += chunk
            answer = conn.response()
            if answer is None:
                continue
            done = time.monotonic()
            sel.unregister(conn.sock)
            idle.append(conn)
            busy -= 1
            if conn.scheduled < count_from:
                continue
            status, size = answer
            if status != 200:
                errors[str(status)] = errors.get(str(status), 0) + 1
                continue
            from_scheduled.append((done - conn.scheduled) * 1000.0)
            from_send.append((done - conn.sent) * 1000.0)
            send_lag.append((conn.sent - conn.scheduled) * 1000.0)
            sizes.append(size)
    for conn in idle:
        conn.sock.close()
    return {
        "requests": len(from_scheduled),
        "rate": len(from_scheduled) / duration,
        "p50_ms": percentile(from_scheduled, 0.50),
        "p99_ms": percentile(from_scheduled, 0.99),
        "p99_send_ms": percentile(from_send, 0.99),
        "send_lag_p99_ms": percentile(send_lag, 0.99),
        "max_ms": max(from_scheduled, default=0.0),
        "body_bytes": statistics.median(sizes) if sizes else 0,
        "errors": errors,
    }


def span_ingest(
    url: str,
    spans_per_s: float | None,
    duration: float,
    warmup: float,
    seed: int,
    connections: int = 8,
) -> dict[str, Any]:
    """OTLP span requests, each distinct: paced to ``spans_per_s``, or (None) each
    connection sending its next request as soon as the previous one is acknowledged.
    The rate counts acknowledged spans of requests that complete after ``warmup``."""
    rng = random.Random(seed)
    now = time.time_ns()
    bodies = [payloads.trace_body(rng, SPANS_PER_REQUEST, now) for _ in range(32)]
    per_request = bodies[0].items
    rate = (spans_per_s or 0.0) / per_request
    parts = urlsplit(url)
    start = time.monotonic()
    stop = start + warmup + duration
    count_from = start + warmup
    acked = [0]
    lock = threading.Lock()

    def worker(k: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
        headers = {"Content-Type": PROTOBUF}
        i = k
        while True:
            due = start + i / rate if rate else time.monotonic()
            if due >= stop:
                break
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            body = bodies[i % len(bodies)]
            data = payloads.distinct(body.data, seed << 32 | i)
            i += connections
            try:
                conn.request("POST", "/v1/traces", body=data, headers=headers)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                continue
            if response.status == 200 and time.monotonic() >= count_from:
                with lock:
                    acked[0] += body.items
        conn.close()

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - count_from
    return {"spans": acked[0], "rate": acked[0] / elapsed if elapsed > 0 else 0.0}


def _on_cpus(cpus: set[int] | None, fn: Callable[..., R], *args: Any) -> R:
    """Run ``fn`` in this (pool) process restricted to ``cpus`` (None: wherever)."""
    os.sched_setaffinity(0, cpus if cpus is not None else range(os.cpu_count() or 1))
    return fn(*args)


def _pin(pid: int, cpus: set[int] | None) -> None:
    """Every thread of ``pid`` (and the threads they start later) onto ``cpus``."""
    if cpus is None:
        return
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            os.sched_setaffinity(int(task.name), cpus)


def start_replica(upstream: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    """``loadsense replica`` following ``upstream`` on ``port`` (1 s upstream long polls)."""
    env = {**os.environ, "LOADSENSE_LOG_LEVEL": "WARNING", "LOADSENSE_REPLICA_WAIT_S": "1"}
    cmd = loadsense_command("replica", "--upstream", upstream)
    cmd += ["--port", str(port)]
    return subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)


def wait_replica(url: str, primary: str, timeout: float = 60.0) -> None:
    """Until the replica serves the primary's full list (same ETag)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            theirs = httpx.get(f"{primary}/api/v1/recommendations", timeout=10)
            ours = httpx.get(f"{url}/api/v1/recommendations", timeout=10)
            if ours.status_code == 200 and ours.headers["etag"] == theirs.headers["etag"]:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"replica at {url} did not catch up within {timeout:.0f}s")


TARGETS = ("primary", "replica")


def one_run(run: int, args: argparse.Namespace, pool: ProcessPoolExecutor) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="loadsense-bench-rec-") as tmp:
        data_dir = Path(tmp) / "data"
        port, replica_port = free_port(), free_port()
        url = f"http://127.0.0.1:{port}"
        urls = {"primary": url, "replica": f"http://127.0.0.1:{replica_port}"}
        progress(f"run {run}: starting loadsense serve on {url} and a replica")
        proc = start_server(data_dir, port)
        replica = start_replica(url, replica_port, Path(tmp) / "replica.log")
        # --isolate: the primary and its ingest load on CPU 0, the replica and the GET
        # client on CPU 1 (as if the replica ran on a node of its own).
        primary_cpus, replica_cpus = ({0}, {1}) if args.isolate else (None, None)
        _pin(proc.pid, primary_cpus)
        _pin(replica.pid, replica_cpus)
        try:
            wait_ready(url, proc, timeout=120.0)
            _pin(proc.pid, primary_cpus)
            _pin(replica.pid, replica_cpus)
            samplers = {"primary": ServerSampler(proc.pid), "replica": ServerSampler(replica.pid)}
            for sampler in samplers.values():
                sampler.start()
            events = seed_jobs(url, args.seed + run)
            recs = wait_for_recommendations(url, 150)
            wait_replica(urls["replica"], url)
            progress(f"run {run}: {events} lineage events seeded, {recs} recommendations")
            alone: dict[str, dict[str, Any]] = {}
            for target in TARGETS:
                t0 = time.time()
                gets = (urls[target], args.rate, args.duration, args.warmup, args.connections)
                alone[target] = pool.submit(_on_cpus, replica_cpus, paced_gets, *gets).result()
                alone[target]["server_cores"] = samplers[target].window(t0, time.time())[1]
                progress(f"run {run}: {target} reads alone p99 {alone[target]['p99_ms']:.2f} ms")
            cap = pool.submit(
                _on_cpus,
                primary_cpus,
                span_ingest,
                url,
                None,
                args.duration,
                args.warmup,
                args.seed,
            ).result()
            capacity = cap["rate"]
            progress(f"run {run}: ingest capacity {capacity:,.0f} spans/s")
            mixed: dict[str, dict[str, Any]] = {}
            for target in TARGETS:
                t0 = time.time()
                gets = (urls[target], args.rate, args.duration, args.warmup, args.connections)
                ingest: Future[dict[str, Any]] = pool.submit(
                    _on_cpus,
                    primary_cpus,
                    span_ingest,
                    url,
                    capacity / 2,
                    args.duration + 1.0,
                    args.warmup,
                    args.seed + 1 + TARGETS.index(target),
                )
                mixed[target] = pool.submit(_on_cpus, replica_cpus, paced_gets, *gets).result()
                ingested = ingest.result()
                mixed[target]["server_cores"] = samplers[target].window(t0, time.time())[1]
                mixed[target]["primary_cores"] = samplers["primary"].window(t0, time.time())[1]
                mixed[target]["ingest_spans_per_s"] = ingested["rate"]
                progress(
                    f"run {run}: {target} reads + {ingested['rate']:,.0f} spans/s: "
                    f"p99 {mixed[target]['p99_ms']:.2f} ms"
                )
            for sampler in samplers.values():
                sampler.stop()
        finally:
            stop_process(replica)
            stop_process(proc)
    return {
        "run": run,
        "loadavg_1m_after": os.getloadavg()[0],
        "recommendations": recs,
        "capacity_spans_per_s": capacity,
        "alone": alone,
        "mixed": mixed,
    }


def _median(runs: list[dict[str, Any]], *path: str) -> float:
    values = []
    for r in runs:
        v: Any = r
        for key in path:
            v = v[key]
        values.append(float(v))
    return statistics.median(values)


def markdown(runs: list[dict[str, Any]], rate: float, isolate: bool = False) -> str:
    n = len(runs)
    lines = [
        f"| GETs to | phase (median of {n}) | GET/s | p50 ms | p99 ms | p99 from send ms "
        "| max ms | serving process CPU (cores) | ingest spans/s | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    phases = (("alone", "reads alone"), ("mixed", "reads + ingest at half capacity"))
    for phase, label in phases:
        for target in TARGETS:
            errors = sum(sum(r[phase][target]["errors"].values()) for r in runs)
            ingest = (
                "-"
                if phase == "alone"
                else f"{_median(runs, phase, target, 'ingest_spans_per_s'):,.0f}"
            )
            p99 = _median(runs, phase, target, "p99_ms")
            met = " (met)" if p99 <= 5.0 else " (MISSED)"
            lines.append(
                f"| {target} | {label} | {_median(runs, phase, target, 'rate'):,.0f} "
                f"(target {rate:,.0f}) | {_median(runs, phase, target, 'p50_ms'):.2f} "
                f"| {p99:.2f}{met} | {_median(runs, phase, target, 'p99_send_ms'):.2f} "
                f"| {_median(runs, phase, target, 'max_ms'):.1f} "
                f"| {_median(runs, phase, target, 'server_cores'):.2f} | {ingest} | {errors} |"
            )
    loads = ", ".join(f"{r['loadavg_1m_after']:.1f}" for r in runs)
    lag = max(r[p][t]["send_lag_p99_ms"] for r in runs for p in ("alone", "mixed") for t in TARGETS)
    lines.append("")
    if isolate:
        lines.append("CPUs isolated: primary and ingest load on CPU 0, replica and GETs on CPU 1.")
        lines.append("")
    lines.append(
        f"Ingest capacity (spans/s, median): {_median(runs, 'capacity_spans_per_s'):,.0f}; "
        f"recommendations served: {_median(runs, 'recommendations'):.0f} "
        f"({_median(runs, 'mixed', 'primary', 'body_bytes'):,.0f} bytes per response); "
        f"primary CPU while the replica was read under ingest: "
        f"{_median(runs, 'mixed', 'replica', 'primary_cores'):.2f} cores; worst client send "
        f"lag p99: {lag:.2f} ms; 1-minute load average after each run: {loads}."
    )
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m loadsense.bench.recommendations", description=__doc__.split("\n")[0]
    )
    p.add_argument("--runs", type=int, default=3, help="runs; the report is their median")
    p.add_argument("--rate", type=float, default=500.0, help="GET requests per second")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per phase")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each")
    p.add_argument("--connections", type=int, default=8, help="GET connections")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--isolate",
        action="store_true",
        help="pin the primary and its ingest load to CPU 0, the replica and GETs to CPU 1",
    )
    p.add_argument("--out", type=Path, default=RESULTS_DIR, help="directory for JSON results")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.time()
    ctx = multiprocessing.get_context("spawn")
    runs = []
    for run in range(1, args.runs + 1):
        with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
            runs.append(one_run(run, args, pool))
    table = markdown(runs, args.rate, args.isolate)
    write_results("recommendations", argv, args, started, table, runs=runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
