"""Recommendations read benchmark: ``python -m bench.recommendations``.

Target (issue 5): ``GET /api/v1/recommendations`` p99 <= 5 ms at 500 requests/s from a
separate process while the service ingests at about half its measured capacity.

Each run starts a real ``loadsense serve`` (embedded chDB, wall clock, 5 s ticks) on a
temporary data directory, seeds ~200 ETL jobs through the OpenLineage batch endpoint
and waits until the correlator has published their recommendations. Then, each phase
from separate processes:

1. ``reads alone``: GETs at 500/s, open loop (each request has a scheduled send time;
   latency is measured from that time, so a stalled server cannot hide queueing);
2. ``capacity``: OTLP spans as fast as the service acknowledges them (bench/client.py);
3. ``reads + ingest``: GETs at 500/s while another process sends spans paced at half
   the capacity just measured.

The report is the median over ``--runs`` (markdown on stdout, JSON under
``bench/results/``); the numbers go to docs/performance.md ``## Recommendations``.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench import payloads
from bench.client import PROTOBUF, LoadConfig, Phase, client_main, progress
from bench.ingest import RESULTS_DIR, ServerSampler, free_port, percentile, start_server, wait_ready
from bench.report import write_results

SPANS_PER_REQUEST = 1000


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


def paced_gets(
    url: str,
    rate: float,
    duration: float,
    warmup: float,
    connections: int,
    path: str = "/api/v1/recommendations",
) -> dict[str, Any]:
    """GET ``path`` at ``rate``/s, open loop, over ``connections`` threads."""
    parts = urlsplit(url)
    start = time.monotonic() + 0.2
    total = int((warmup + duration) * rate)
    count_from = start + warmup
    lock = threading.Lock()
    from_scheduled: list[float] = []
    from_send: list[float] = []
    errors: dict[str, int] = {}
    sizes: list[int] = []

    def worker(k: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        for i in range(k, total, connections):
            scheduled = start + i / rate
            delay = scheduled - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sent = time.monotonic()
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                body = response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                with lock:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                continue
            done = time.monotonic()
            if scheduled < count_from:
                continue
            with lock:
                if status != 200:
                    errors[str(status)] = errors.get(str(status), 0) + 1
                    continue
                from_scheduled.append((done - scheduled) * 1000.0)
                from_send.append((done - sent) * 1000.0)
                sizes.append(len(body))
        conn.close()

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "requests": len(from_scheduled),
        "rate": len(from_scheduled) / duration,
        "p50_ms": percentile(from_scheduled, 0.50),
        "p99_ms": percentile(from_scheduled, 0.99),
        "p99_send_ms": percentile(from_send, 0.99),
        "max_ms": max(from_scheduled, default=0.0),
        "body_bytes": statistics.median(sizes) if sizes else 0,
        "errors": errors,
    }


def paced_ingest(url: str, spans_per_s: float, duration: float, seed: int) -> dict[str, Any]:
    """OTLP span requests paced to ``spans_per_s`` for ``duration`` seconds (4 connections)."""
    rng = random.Random(seed)
    now = time.time_ns()
    bodies = [payloads.trace_body(rng, SPANS_PER_REQUEST, now) for _ in range(32)]
    per_request = bodies[0].items
    rate = spans_per_s / per_request
    parts = urlsplit(url)
    start = time.monotonic()
    total = int(duration * rate)
    acked = [0]
    lock = threading.Lock()
    connections = 4

    def worker(k: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
        headers = {"Content-Type": PROTOBUF}
        for i in range(k, total, connections):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            body = bodies[i % len(bodies)]
            try:
                conn.request("POST", "/v1/traces", body=body.data, headers=headers)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                continue
            if response.status == 200:
                with lock:
                    acked[0] += body.items

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    return {"spans": acked[0], "rate": acked[0] / elapsed if elapsed else 0.0}


def one_run(run: int, args: argparse.Namespace, pool: ProcessPoolExecutor) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="loadsense-bench-rec-") as tmp:
        data_dir = Path(tmp) / "data"
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        progress(f"run {run}: starting loadsense serve on {url}")
        proc = start_server(data_dir, port)
        try:
            wait_ready(url, proc)
            sampler = ServerSampler(proc.pid)
            sampler.start()
            events = seed_jobs(url, args.seed + run)
            recs = wait_for_recommendations(url, 150)
            progress(f"run {run}: {events} lineage events seeded, {recs} recommendations")
            gets = (url, args.rate, args.duration, args.warmup, args.connections)
            t0 = time.time()
            alone = pool.submit(paced_gets, *gets).result()
            alone["server_cores"] = sampler.window(t0, time.time())[1]
            progress(f"run {run}: reads alone p99 {alone['p99_ms']:.2f} ms")
            spans = Phase("spans", "spans", "/v1/traces", PROTOBUF, 8, SPANS_PER_REQUEST)
            cap = pool.submit(
                client_main, LoadConfig(url, (spans,), args.duration, args.warmup, 32, args.seed)
            ).result()[0]
            capacity = cap["items"] / cap["seconds"]
            progress(f"run {run}: ingest capacity {capacity:,.0f} spans/s")
            half = capacity / 2
            t0 = time.time()
            ingest: Future[dict[str, Any]] = pool.submit(
                paced_ingest, url, half, args.warmup + args.duration + 1.0, args.seed
            )
            mixed = pool.submit(paced_gets, *gets).result()
            ingested = ingest.result()
            mixed["server_cores"] = sampler.window(t0, time.time())[1]
            progress(
                f"run {run}: reads + {ingested['rate']:,.0f} spans/s: p99 {mixed['p99_ms']:.2f} ms"
            )
            sampler.stop()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except Exception:
                proc.kill()
                proc.wait()
    return {
        "run": run,
        "loadavg_1m_after": os.getloadavg()[0],
        "recommendations": recs,
        "capacity_spans_per_s": capacity,
        "ingest_spans_per_s": ingested["rate"],
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


def markdown(runs: list[dict[str, Any]], rate: float) -> str:
    n = len(runs)
    lines = [
        f"| phase (median of {n}) | GET/s | p50 ms | p99 ms | p99 from send ms | max ms "
        "| server CPU (cores) | ingest spans/s | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for phase, label in (("alone", "reads alone"), ("mixed", "reads + ingest at half capacity")):
        errors = sum(sum(r[phase]["errors"].values()) for r in runs)
        ingest = "-" if phase == "alone" else f"{_median(runs, 'ingest_spans_per_s'):,.0f}"
        p99 = _median(runs, phase, "p99_ms")
        met = " (met)" if p99 <= 5.0 else " (MISSED)"
        lines.append(
            f"| {label} | {_median(runs, phase, 'rate'):,.0f} (target {rate:,.0f}) "
            f"| {_median(runs, phase, 'p50_ms'):.2f} | {p99:.2f}{met} "
            f"| {_median(runs, phase, 'p99_send_ms'):.2f} | {_median(runs, phase, 'max_ms'):.1f} "
            f"| {_median(runs, phase, 'server_cores'):.2f} | {ingest} | {errors} |"
        )
    loads = ", ".join(f"{r['loadavg_1m_after']:.1f}" for r in runs)
    lines.append("")
    lines.append(
        f"Ingest capacity (spans/s, median): {_median(runs, 'capacity_spans_per_s'):,.0f}; "
        f"recommendations served: {_median(runs, 'recommendations'):.0f} "
        f"({_median(runs, 'mixed', 'body_bytes'):,.0f} bytes per response); 1-minute load "
        f"average after each run: {loads}."
    )
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.recommendations", description=__doc__.split("\n")[0]
    )
    p.add_argument("--runs", type=int, default=3, help="runs; the report is their median")
    p.add_argument("--rate", type=float, default=500.0, help="GET requests per second")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per phase")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each")
    p.add_argument("--connections", type=int, default=8, help="GET connections")
    p.add_argument("--seed", type=int, default=7)
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
    table = markdown(runs, args.rate)
    write_results("recommendations", argv, args, started, table, runs=runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
