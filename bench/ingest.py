"""Ingest benchmark: ``python -m loadsense.bench.ingest`` (or ``make bench``).

Each run starts a real ``loadsense serve`` on a temporary data directory (embedded
chDB) and a free port, drives it from a separate client process (bench/client.py:
OTLP protobuf spans, then metric points, then OpenLineage events, every request
waiting for its acknowledgement, which the service gives only after commit), samples
the server's RSS and CPU with psutil, then stops it and measures the storage limit —
the same rows inserted straight into a fresh chDB by another process (bench/raw.py).
The report is the median over ``--runs``: a markdown table on stdout and the full
results as JSON under ``bench/results/``. Numbers go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from loadsense.bench.client import JSON, PROTOBUF, LoadConfig, Phase, client_main, progress
from loadsense.bench.harness import (
    ServerSampler,
    free_port,
    loadsense_command,
    stop_process,
    wait_for_quiet,
    wait_ready,
)
from loadsense.bench.raw import raw_main
from loadsense.bench.report import write_results
from loadsense.settings import CLOCKS, default_of

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_BATCH_ROWS: int = default_of("batch_max_rows")  # the writer's batch size


LONE_LATENCY_TARGET_MS = (20.0, 50.0)
"""p50 and p99 of a lone request's acknowledgement on an idle service."""


def default_phases(connections: int, single_connections: int) -> tuple[Phase, ...]:
    """The lone-request streams come first, while the service is idle (no merges of the
    bulk streams' parts yet), one connection sending one request at a time."""
    lone = LONE_LATENCY_TARGET_MS
    return (
        Phase("lone lineage event", "events", "/api/v1/lineage", JSON, 1, 1, None, lone),
        Phase("lone 100-span export", "spans", "/v1/traces", PROTOBUF, 1, 100, None, lone),
        Phase("spans", "spans", "/v1/traces", PROTOBUF, connections, 1000, 100_000),
        Phase("metric points", "points", "/v1/metrics", PROTOBUF, connections, 2000, 200_000),
        Phase("lineage (batch)", "events", "/api/v1/lineage/batch", JSON, connections, 100, 5_000),
        Phase("lineage (single)", "events", "/api/v1/lineage", JSON, single_connections, 1),
    )


def start_server(
    data_dir: Path, port: int, clock: str = default_of("clock")
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LOADSENSE_LOG_LEVEL": "WARNING"}
    cmd = loadsense_command("serve", "--data-dir", str(data_dir))
    cmd += ["--port", str(port), "--clock", clock]
    log = (data_dir.parent / "server.log").open("wb")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the service drains its queue), then SIGKILL if it takes over a minute."""
    if proc.poll() is not None:
        return
    started = time.monotonic()
    if not stop_process(proc, timeout=60):
        progress("server did not stop within 60s of SIGTERM; killed it")
    progress(f"  server stopped in {time.monotonic() - started:.1f}s")


def committed_rows(url: str) -> dict[str, float]:
    """``loadsense_rows_accepted`` per table from the server's /metrics (a cross-check)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    rows: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("loadsense_rows_accepted_total{"):
            labels, _, value = line.partition("} ")
            table = labels.split('table="', 1)[1].split('"', 1)[0]
            rows[table] = float(value)
    return rows


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def one_run(
    run: int, cfg: LoadConfig, args: argparse.Namespace, pool: ProcessPoolExecutor
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="loadsense-ingest-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        load = [round(os.getloadavg()[0], 2)]  # other work on the machine skews results
        progress(f"run {run}: starting loadsense serve on {url} (load average {load[0]})")
        proc = start_server(data_dir, port, args.clock)
        sampler: ServerSampler | None = None
        try:
            try:
                wait_ready(url, proc, timeout=120.0)
            except (RuntimeError, TimeoutError):
                log = (Path(tmp) / "server.log").read_text(errors="replace")
                progress("server log (last lines):\n" + "\n".join(log.splitlines()[-15:]))
                raise
            progress(f"  server pid {proc.pid}")
            sampler = ServerSampler(proc.pid)
            sampler.start()
            client_cfg = LoadConfig(
                url, cfg.phases, cfg.duration_s, cfg.warmup_s, cfg.bodies_per_phase, cfg.seed
            )
            phases = pool.submit(client_main, client_cfg).result()
            sampler.stop()
            load.append(round(os.getloadavg()[0], 2))
            rows = committed_rows(url)
        finally:
            stop_server(proc)
            if sampler is not None:
                sampler.stop()
    for p in phases:
        p["rss_peak_mib"], p["server_cores"] = sampler.window(p["started_at"], p["ended_at"])
        lat = p.pop("latencies_ms")
        p["p50_ms"], p["p99_ms"] = percentile(lat, 0.50), percentile(lat, 0.99)
        p["rate"] = p["items"] / p["seconds"] if p["seconds"] else 0.0
    progress(f"run {run}: storage limit (same rows straight into a fresh chDB)")
    raw = pool.submit(raw_main, cfg, args.batch_rows).result()
    for p, r in zip(phases, raw, strict=True):
        p["raw_rate"] = r["items_per_s"]
        p["decode_rate"] = r["decode_items_per_s"]
        p["rows_per_item"] = r["rows_per_item"]
        p["ratio"] = p["rate"] / r["items_per_s"] if r["items_per_s"] else 0.0
    return {"run": run, "phases": phases, "committed_rows": rows, "load_avg_1m": load}


MEDIAN_FIELDS = (
    "rate",
    "p50_ms",
    "p99_ms",
    "rss_peak_mib",
    "server_cores",
    "raw_rate",
    "decode_rate",
    "ratio",
)


def medians(runs: list[dict[str, Any]], phases: Sequence[Phase]) -> list[dict[str, Any]]:
    out = []
    for i, phase in enumerate(phases):
        per_run = [r["phases"][i] for r in runs]
        row: dict[str, Any] = {
            "name": phase.name,
            "unit": phase.unit,
            "target": phase.target_per_s,
            "target_latency_ms": phase.target_latency_ms,
        }
        for f in MEDIAN_FIELDS:
            row[f] = statistics.median(p[f] for p in per_run)
        row["errors"] = sum(sum(p["errors"].values()) for p in per_run)
        out.append(row)
    return out


def markdown(rows: list[dict[str, Any]], runs: int) -> str:
    lines = [
        f"| stream (median of {runs}) | acked/s | target | p50 ms | p99 ms | server CPU (cores) "
        "| server peak RSS MiB | raw chDB insert/s | service/raw | decode alone/s | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        target = f"{r['target']:,.0f}" if r["target"] else "-"
        met = "" if not r["target"] else _verdict(r["rate"] >= r["target"])
        p50, p99 = f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}"
        if r["target_latency_ms"]:
            p50_target, p99_target = r["target_latency_ms"]
            target = f"p50 <= {p50_target:.0f} ms, p99 <= {p99_target:.0f} ms"
            p50 += _verdict(r["p50_ms"] <= p50_target)
            p99 += _verdict(r["p99_ms"] <= p99_target)
        lines.append(
            f"| {r['name']} ({r['unit']}) | {r['rate']:,.0f}{met} | {target} | {p50} "
            f"| {p99} | {r['server_cores']:.2f} | {r['rss_peak_mib']:.0f} "
            f"| {r['raw_rate']:,.0f} | {r['ratio']:.2f} | {r['decode_rate']:,.0f} | {r['errors']} |"
        )
    return "\n".join(lines) + "\n"


def _verdict(met: bool) -> str:
    return " (met)" if met else " (MISSED)"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m loadsense.bench.ingest", description=__doc__.split("\n")[0]
    )
    p.add_argument("--runs", type=int, default=3, help="runs; the report is their median")
    p.add_argument("--duration", type=float, default=8.0, help="measured seconds per stream")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each")
    p.add_argument(
        "--connections",
        type=int,
        default=32,
        help="concurrent connections: each waits for its ack (after its rows' insert), "
        "so the offered load must cover that latency to find capacity",
    )
    p.add_argument(
        "--single-connections", type=int, default=32, help="connections for single lineage events"
    )
    p.add_argument("--bodies", type=int, default=64, help="distinct request bodies per stream")
    p.add_argument(
        "--only",
        default="",
        help="comma-separated streams to run: spans,points,events (bulk streams by unit), "
        "lone (the lone-request streams)",
    )
    p.add_argument(
        "--clock",
        choices=CLOCKS,
        default=default_of("clock"),
        help="server correlator clock: wall (ticks every 5 s, as deployed) or external "
        "(no ticks: ingest alone)",
    )
    p.add_argument(
        "--quiet-load",
        type=float,
        default=1.5,
        help="before each run, wait (up to --quiet-wait s) for the 1-minute load average "
        "to fall below this; 0 does not wait",
    )
    p.add_argument("--quiet-wait", type=float, default=180.0, help="seconds; see --quiet-load")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--batch-rows", type=int, default=DEFAULT_BATCH_ROWS, help="raw insert size")
    p.add_argument("--out", type=Path, default=RESULTS_DIR, help="directory for JSON results")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    phases = default_phases(args.connections, args.single_connections)
    if args.only:
        wanted = set(args.only.split(","))
        phases = tuple(p for p in phases if ("lone" if p.target_latency_ms else p.unit) in wanted)
    cfg = LoadConfig("", phases, args.duration, args.warmup, args.bodies, args.seed)
    started = time.time()
    runs = []
    ctx = multiprocessing.get_context("spawn")
    for run in range(1, args.runs + 1):
        if args.quiet_load > 0:
            wait_for_quiet(args.quiet_load, args.quiet_wait, progress)
        # A fresh worker per run: the raw measurement opens chDB, once per process.
        with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
            runs.append(one_run(run, cfg, args, pool))
    rows = medians(runs, phases)
    table = markdown(rows, args.runs)
    write_results("ingest", argv, args, started, table, median=rows, runs=runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
