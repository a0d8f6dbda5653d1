"""Write-path A/B: ``python -m loadsense.bench.ingest_ab``.

In one process, on a fresh embedded chDB, with the service's own receivers and writer
(no HTTP), each comparison alternates its two sides three times and reports medians:

- ``codec``: the writer encoding inserts with the compiled Native codec vs
  clickhouse-connect's Python encoder; CPU microseconds of the whole process (engine
  threads included) per span, point and lineage event (batches of 100);
- ``linger``: single lineage events from 32 threads, each waiting for its commit, with
  no linger (leader/follower) vs a 100 ms batching window; events/s and p50;
- ``connections``: the writer inserting through 1 vs 5 connections of its own
  (``insert_connections``), and through the shared, gated client the correlator queries
  through (``shared``: how the embedded writer inserted before it had its own): a lone
  lineage event (one at a time) p50/p99 on an idle engine and while a thread runs
  correlator-like queries back to back on the shared client, and single events from 32
  threads.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from typing import Any

from loadsense.bench import payloads
from loadsense.bench.client import JSON, PROTOBUF, Phase, build_bodies, progress
from loadsense.bench.raw import decoder_for
from loadsense.selfmetrics import SelfMetrics
from loadsense.storage import native_block
from loadsense.storage.writer import Writer, WriterLimits

CODEC_PHASES = (
    Phase("spans", "spans", "/v1/traces", PROTOBUF, 1, 1000),
    Phase("metric points", "points", "/v1/metrics", PROTOBUF, 1, 2000),
    Phase("lineage (batch)", "events", "/api/v1/lineage/batch", JSON, 1, 100),
)
SINGLE = Phase("lineage (single)", "events", "/api/v1/lineage", JSON, 32, 1)


def _distinct(phase: Phase, data: bytes, n: int) -> bytes:
    """OTLP bodies made distinct, as the load client sends them (lineage is already)."""
    return payloads.distinct(data, n) if phase.content_type == PROTOBUF else data


def codec(storage: Any, bodies_per_side: int) -> None:
    codec_module = native_block._CODEC
    writer = Writer(storage, WriterLimits(), SelfMetrics())
    try:
        for phase in CODEC_PHASES:
            bodies = build_bodies(phase, bodies_per_side, 1)
            decode = decoder_for(phase)
            cpu: dict[str, list[float]] = {"python": [], "native": []}
            for rep in range(3):
                for side in cpu:
                    native_block._CODEC = codec_module if side == "native" else None
                    decoded = [
                        decode(_distinct(phase, b.data, rep * 1000 + i), phase.content_type, now)
                        for i, b in enumerate(bodies)
                        for now in (time.time_ns(),)
                    ]
                    items = sum(d.accepted for d in decoded)
                    started = time.process_time()
                    writer.write_sync([b for d in decoded for b in d.batches], timeout=300)
                    cpu[side].append((time.process_time() - started) / items * 1e6)
            native_block._CODEC = codec_module
            print(
                f"| codec | {phase.name} | CPU us/{phase.unit[:-1]}: Python encoder "
                f"{statistics.median(cpu['python']):.1f}, compiled "
                f"{statistics.median(cpu['native']):.1f} |"
            )
    finally:
        native_block._CODEC = codec_module
        writer.close()


SHARED = 0
"""The ``connections`` side that inserts through the shared, gated client."""


def _writer(storage: Any, connections: int, linger_s: float = 0.0) -> Writer:
    limits = WriterLimits(batch_max_delay_s=linger_s, insert_connections=max(1, connections))
    if connections == SHARED:  # as the writer sees a server: the one client, shared
        storage = dataclasses.replace(storage, embedded=False)
    return Writer(storage, limits, SelfMetrics())


def _label(connections: int) -> str:
    return "shared" if connections == SHARED else str(connections)


def _single_events(
    storage: Any, linger_s: float, seconds: float, connections: int = 5
) -> tuple[float, float]:
    bodies = build_bodies(SINGLE, 400, 1)
    decode = decoder_for(SINGLE)
    writer = _writer(storage, connections, linger_s)
    latencies: list[float] = []
    end = time.monotonic() + seconds

    def send(k: int) -> None:
        i = k
        while time.monotonic() < end:
            decoded = decode(bodies[i % len(bodies)].data, JSON, time.time_ns())
            started = time.perf_counter()
            writer.write_sync(decoded.batches, timeout=60)
            latencies.append(time.perf_counter() - started)
            i += SINGLE.connections

    threads = [threading.Thread(target=send, args=(k,)) for k in range(SINGLE.connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    return len(latencies) / seconds, statistics.median(latencies) * 1000


def linger(storage: Any, seconds: float) -> None:
    runs: dict[float, list[tuple[float, float]]] = {0.0: [], 0.1: []}
    for _ in range(3):
        for linger_s in runs:
            runs[linger_s].append(_single_events(storage, linger_s, seconds))
    for linger_s, results in runs.items():
        rate = statistics.median(r[0] for r in results)
        p50 = statistics.median(r[1] for r in results)
        print(
            f"| linger {linger_s * 1000:.0f} ms | lineage (single), 32 threads "
            f"| {rate:,.0f} events/s, p50 {p50:.0f} ms |"
        )


CORRELATOR_LIKE = (
    "SELECT job, count(), uniqExact(run) FROM (SELECT number % 977 AS job, "
    "sipHash64(number) % 100003 AS run FROM numbers(8000000)) GROUP BY job "
    "ORDER BY job LIMIT 5"
)
"""A grouped aggregate of a few hundred ms on this machine, like one correlator query."""


def _lone_events(storage: Any, connections: int, events: int) -> list[float]:
    """Latencies (ms) of ``events`` single lineage events sent one after another."""
    bodies = build_bodies(SINGLE, events, 1)
    decode = decoder_for(SINGLE)
    writer = _writer(storage, connections)
    latencies = []
    try:
        for body in bodies[:events]:
            decoded = decode(body.data, JSON, time.time_ns())
            started = time.perf_counter()
            writer.write_sync(decoded.batches, timeout=60)
            latencies.append((time.perf_counter() - started) * 1000)
    finally:
        writer.close()
    return latencies


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _query_loop(storage: Any, stop: threading.Event) -> None:
    """Queries back to back, with a 2 ms gap: the engine gate does not order queries among
    themselves, so without one this thread would re-take the gate before any other reader
    (the ``shared`` writer's ``DESCRIBE``) got it."""
    while not stop.wait(0.002):
        storage.client.query(CORRELATOR_LIKE)


def connections(storage: Any, events: int, seconds: float) -> None:
    sides = (SHARED, 1, 5)
    for loaded in (False, True):
        p50: dict[int, list[float]] = {n: [] for n in sides}
        p99: dict[int, list[float]] = {n: [] for n in sides}
        stop = threading.Event()

        querier = threading.Thread(target=_query_loop, args=(storage, stop), daemon=True)
        if loaded:
            querier.start()
        try:
            for _ in range(3):
                for n in sides:
                    lat = _lone_events(storage, n, events)
                    p50[n].append(statistics.median(lat))
                    p99[n].append(_p(lat, 99))
        finally:
            stop.set()
            if loaded:
                querier.join()
        where = "while queries run" if loaded else "idle"
        print(
            f"| connections | lone lineage event, {where} | "
            + "; ".join(
                f"{_label(n)}: p50 {statistics.median(p50[n]):.1f} ms, p99 "
                f"{statistics.median(p99[n]):.1f} ms"
                for n in sides
            )
            + " |"
        )
    runs: dict[int, list[tuple[float, float]]] = {n: [] for n in sides}
    for _ in range(3):
        for n in sides:
            runs[n].append(_single_events(storage, 0.0, seconds, n))
    print(
        "| connections | lineage (single), 32 threads | "
        + "; ".join(
            f"{_label(n)}: {statistics.median(r[0] for r in runs[n]):,.0f} events/s, p50 "
            f"{statistics.median(r[1] for r in runs[n]):.0f} ms"
            for n in sides
        )
        + " |"
    )


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m loadsense.bench.ingest_ab")
    p.add_argument("--only", choices=("codec", "linger", "connections"), default=None)
    p.add_argument("--events", type=int, default=200, help="lone events per connections side")
    p.add_argument("--bodies", type=int, default=10, help="request bodies per codec side")
    p.add_argument("--seconds", type=float, default=8.0, help="length of each linger side")
    args = p.parse_args(argv)
    from loadsense.api.app import prepare_storage
    from loadsense.settings import Settings
    from loadsense.storage.client import open_storage

    with tempfile.TemporaryDirectory(prefix="loadsense-bench-ab-") as tmp:
        storage = open_storage(f"chdb://{tmp}/db", "loadsense")
        prepare_storage(storage, Settings())
        progress("write-path A/B on a fresh embedded chDB (medians of 3 alternations)")
        if args.only in (None, "codec"):
            codec(storage, args.bodies)
        if args.only in (None, "linger"):
            linger(storage, args.seconds)
        if args.only in (None, "connections"):
            connections(storage, args.events, args.seconds)
        storage.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
