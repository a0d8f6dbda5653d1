"""Correlator benchmark: ``python -m loadsense.bench.correlate [--scale 0.1]``.

Loads a synthetic world into a fresh embedded chDB with large column-oriented inserts
(lineage) and in-engine ``INSERT ... SELECT`` (telemetry), straight into storage:

- 10k datasets in 7 layers (lineage depth up to 6), one producing job per non-source
  dataset with 1-2 inputs, runs every 5-30 minutes over the last 2 hours
  (``--history-hours``, ``--history-days``), generated in the engine;
- 500 model services, each declaring 3 inputs by a JobEvent, on 200 hosts;
- 10M SERVER spans in the last hour; 1k queues sampled every 10 s over W; host samples.

One process loads the world and exits; another opens it as ``serve`` does after a
restart (schema check, first dataset summary, the start-up evaluation) and is the
service whose RSS is reported, so the bulk load's memory is not counted. Then it times
full correlator ticks as ``serve`` runs them (evaluate every signal, swap
the snapshot, hand history to the group-commit writer, which inserts it concurrently),
what evaluating the default alert rule pack adds after each tick (``alerts_median_s``,
transitions stored; ``alerts_active`` pending or firing at the end) and, with the
service running on the wall clock, the delay from an OpenLineage event's
acknowledgement to its effect in ``GET /api/v1/signals/freshness``.
Every number is the median of ``--runs`` runs (the e2e delay reports p50/p99 over all
samples). ``--scale`` multiplies every count. Results go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from loadsense.api.app import create_app, prepare_storage
from loadsense.bench.harness import ServerSampler, serve_in_thread
from loadsense.correlator.alerts.evaluator import AlertEvaluator
from loadsense.correlator.alerts.rules import load_files
from loadsense.correlator.history import HistorySubmitter
from loadsense.correlator.loop import Correlator
from loadsense.runtime import tune_gc
from loadsense.selfmetrics import SelfMetrics
from loadsense.settings import Settings, default_of
from loadsense.signals import summaries
from loadsense.signals.config import SignalsConfig
from loadsense.signals.evaluate import evaluate_all
from loadsense.signals.run_inputs import RunInputsMemo
from loadsense.storage.client import Storage, open_storage
from loadsense.storage.writer import Writer, WriterLimits

NS = 1_000_000_000
RESULTS_DIR = Path(__file__).resolve().parent / "results"
RULE_PACK = Path(__file__).resolve().parent.parent / "docs" / "rules" / "loadsense.rules.yaml"
LAYERS = 7  # depth 0..6


@dataclass(frozen=True)
class Scale:
    datasets: int
    services: int
    spans: int
    queues: int
    hosts: int
    history_s: int = 7200  # lineage: runs over this long before now

    @classmethod
    def of(cls, factor: float, history_hours: float = 2.0) -> Scale:
        return cls(
            datasets=max(LAYERS * 2, int(10_000 * factor)),
            services=max(2, int(500 * factor)),
            spans=int(10_000_000 * factor),
            queues=max(1, int(1_000 * factor)),
            hosts=max(1, int(200 * factor)),
            history_s=max(1800, round(history_hours * 3600)),
        )


def _insert(storage: Storage, table: str, columns: dict[str, list[Any]]) -> None:
    storage.client.insert(
        table, list(columns.values()), column_names=list(columns), column_oriented=True
    )


_PLAN_TABLE = "bench_lineage_plan"

_RUNS = """
SELECT d, job, output, inputs, k,
       first_ns + toInt64(k) * interval_ns AS t,
       t + toInt64(30 + cityHash64(d, k, {seed:UInt64}, 1) % 90) * 1000000000 AS end_ns,
       if(cityHash64(d, k, {seed:UInt64}, 2) % 50 = 0, 'FAIL', 'COMPLETE') AS state,
       t - toInt64(cityHash64(d, k, {seed:UInt64}, 3) % 60) * 1000000000 AS nominal_ns,
       lower(hex(reinterpretAsFixedString(cityHash64(d, k, {seed:UInt64}, 4))))
           || lower(hex(reinterpretAsFixedString(cityHash64(d, k, {seed:UInt64}, 5)))) AS h,
       concat(substring(h, 1, 8), '-', substring(h, 9, 4), '-4', substring(h, 14, 3), '-8',
              substring(h, 18, 3), '-', substring(h, 21, 12)) AS run_id
FROM bench_lineage_plan
ARRAY JOIN range(
    toUInt64(intDiv(greatest(0, {lo:Int64} - first_ns) + interval_ns - 1, interval_ns)) AS k_lo,
    greatest(k_lo, toUInt64(intDiv(
        greatest(0, least(until_ns, {hi:Int64}) - first_ns) + interval_ns - 1, interval_ns)))
) AS k
"""
"""Every run starting in ``[lo, hi)`` (ns): one per dataset every ``interval`` from
``first``, until 2 minutes before now; 2 % fail."""

_LINEAGE_INSERTS = (
    """INSERT INTO run_events (run_id, event_type, event_time, job_namespace, job_name,
                            nominal_start_time, outputs)
SELECT run_id, e.1, fromUnixTimestamp64Nano(e.2, 'UTC'), 'bench', job,
       fromUnixTimestamp64Nano(nominal_ns, 'UTC'),
       -- a COMPLETE lists its output, as the receiver records it
       if(e.1 = 'COMPLETE', [('bench', output)], [])
FROM (@runs@) ARRAY JOIN [('START', t), (state, end_ns)] AS e""",
    """INSERT INTO dataset_updates (dataset_namespace, dataset_name, event_time, run_id,
                                 job_namespace, job_name)
SELECT 'bench', output, fromUnixTimestamp64Nano(end_ns, 'UTC'), run_id, 'bench', job
FROM (@runs@) WHERE state = 'COMPLETE'""",
    """INSERT INTO lineage_edges (job_namespace, job_name, dataset_namespace, dataset_name,
                               direction, run_id, source, event_time)
SELECT 'bench', job, 'bench', e.1, e.2, run_id, 'run', fromUnixTimestamp64Nano(end_ns, 'UTC')
FROM (@runs@)
ARRAY JOIN arrayPushBack(arrayMap(i -> (i, 'input'), inputs), (output, 'output')) AS e""",
)


def load_lineage(storage: Storage, scale: Scale, now_ns: int, rng: random.Random) -> None:
    """Datasets in layers, a producing job per dataset, its runs, static inputs.

    The plan (one row per dataset: its job, inputs, interval and first run) is made
    here; the runs, their events, updates and edges are generated in the engine
    (``INSERT ... SELECT``), so 30 days of history load in minutes."""
    per_layer = scale.datasets // LAYERS
    layers = [list(range(k * per_layer, (k + 1) * per_layer)) for k in range(LAYERS)]
    plan: dict[str, list[Any]] = {
        k: [] for k in ("d", "job", "output", "inputs", "interval_ns", "first_ns", "until_ns")
    }
    for depth in range(LAYERS):
        for d in layers[depth]:
            inputs = []
            if depth:
                inputs.append(rng.choice(layers[depth - 1]))
                if rng.random() < 0.3:
                    inputs.append(rng.choice(layers[rng.randrange(depth)]))
            interval = rng.choice((300, 600, 900, 1800)) * NS
            plan["d"].append(d)
            plan["job"].append(f"build_{d}")
            plan["output"].append(f"ds_{d}")
            plan["inputs"].append([f"ds_{i}" for i in inputs])
            plan["interval_ns"].append(interval)
            plan["first_ns"].append(now_ns - scale.history_s * NS + rng.randrange(interval))
            plan["until_ns"].append(now_ns - 120 * NS)
    storage.client.command(
        f"CREATE TABLE {_PLAN_TABLE} (d UInt32, job String, output String, "
        "inputs Array(String), interval_ns Int64, first_ns Int64, until_ns Int64) "
        "ENGINE = Memory"
    )
    _insert(storage, _PLAN_TABLE, plan)
    seed = rng.getrandbits(32)
    # one UTC day of runs per statement (1.4M at full scale): the tables are partitioned
    # by day, and a statement spanning 30 days would write 31 parts per table
    day = 86_400 * NS
    first = min(plan["first_ns"]) // day * day
    days = range(first, now_ns - 120 * NS, day)
    for n, lo in enumerate(days, 1):
        for sql in _LINEAGE_INSERTS:
            storage.client.command(
                sql.replace("@runs@", _RUNS),
                parameters={"seed": seed, "lo": lo, "hi": lo + day},
            )
        if len(days) > 1:
            print(f"  lineage: day {n}/{len(days)} loaded", file=sys.stderr, flush=True)
    storage.client.command(f"DROP TABLE {_PLAN_TABLE}")
    edges: dict[str, list[Any]] = {
        k: [] for k in ("job_name", "dataset_name", "direction", "run_id", "source", "event_time")
    }
    deep = [d for layer in layers[3:] for d in layer]
    for s in range(scale.services):
        for d in rng.sample(deep, 3):
            edges["job_name"].append(f"svc-{s}")
            edges["dataset_name"].append(f"ds_{d}")
            edges["direction"].append("input")
            edges["run_id"].append("")
            edges["source"].append("job")
            edges["event_time"].append(now_ns - scale.history_s * NS)
    edges["job_namespace"] = ["bench"] * len(edges["run_id"])
    edges["dataset_namespace"] = ["bench"] * len(edges["run_id"])
    _insert(storage, "lineage_edges", edges)


_SPANS_SQL = """
INSERT INTO spans (service_name, host_name, kind, span_name, start_time, duration_ns,
                   trace_id, span_id, status_code)
SELECT concat('svc-', toString(number % {services:UInt64})),
       concat('host-', toString((number % {services:UInt64}) % {hosts:UInt64})),
       'SERVER', 'predict',
       fromUnixTimestamp64Nano({start:Int64} + toInt64(cityHash64(number, 1) % {span:UInt64}),
                               'UTC'),
       2000000 + cityHash64(number, 2) % 60000000
           + if(cityHash64(number, 3) % 100 = 0, 400000000, 0),
       toFixedString(concat(reinterpretAsString(cityHash64(number, 4)),
                            reinterpretAsString(number)), 16),
       toFixedString(reinterpretAsString(number), 8),
       if(cityHash64(number, 5) % 200 = 0, 2, 1)
FROM numbers({offset:UInt64}, {n:UInt64})
"""

_QUEUES_SQL = """
INSERT INTO queue_samples (queue_name, field, source, time, start_time, value)
SELECT concat('queue-', toString(q)), f.1, 'loadsense.queue.depth',
       fromUnixTimestamp64Nano({start:Int64} + k * 10000000000, 'UTC'),
       fromUnixTimestamp64Nano({start:Int64}, 'UTC'), f.2
FROM (SELECT number % {queues:UInt64} AS q, intDiv(number, {queues:UInt64}) AS k
      FROM numbers({queues:UInt64} * 90))
ARRAY JOIN [('depth', toFloat64(100 + q % 50 + k * (q % 3))),
            ('dequeued', toFloat64(k * 20 + q)),
            ('oldest_age', toFloat64(5 + k))] AS f
WHERE f.1 != 'oldest_age' OR q % 2 = 0
"""

_HOSTS_SQL = """
INSERT INTO host_samples (host_name, time, resource, stall, source, value)
SELECT concat('host-', toString(h)),
       fromUnixTimestamp64Nano({start:Int64} + k * 10000000000, 'UTC'), f.1, f.2, 'bench',
       (cityHash64(h, k, f.1, f.2) % 1000) / 1000
FROM (SELECT number % {hosts:UInt64} AS h, intDiv(number, {hosts:UInt64}) AS k
      FROM numbers({hosts:UInt64} * 12))
ARRAY JOIN [('cpu', 'some'), ('memory', 'some'), ('cpu', ''), ('memory', ''), ('disk', '')] AS f
"""


def load(storage: Storage, scale: Scale, now_ns: int, seed: int) -> dict[str, float]:
    """Load the world; return seconds per part."""
    rng = random.Random(seed)
    took: dict[str, float] = {}
    started = time.perf_counter()
    load_lineage(storage, scale, now_ns, rng)
    took["lineage"] = time.perf_counter() - started
    started = time.perf_counter()
    # telemetry is the last hour before *now*: long lineage histories take many minutes
    # to load, and spans older than the window would leave latency and exposure idle
    now_ns = time.time_ns()
    chunk = 2_000_000
    for offset in range(0, scale.spans, chunk):
        storage.client.command(
            _SPANS_SQL,
            parameters={
                "services": scale.services,
                "hosts": scale.hosts,
                "start": now_ns - 3600 * NS,
                "span": 3600 * NS,
                "offset": offset,
                "n": min(chunk, scale.spans - offset),
            },
        )
    took["spans"] = time.perf_counter() - started
    started = time.perf_counter()
    storage.client.command(
        _QUEUES_SQL, parameters={"queues": scale.queues, "start": now_ns - 895 * NS}
    )
    storage.client.command(
        _HOSTS_SQL, parameters={"hosts": scale.hosts, "start": now_ns - 115 * NS}
    )
    took["queues+hosts"] = time.perf_counter() - started
    return took


def settle(storage: Storage, timeout_s: float = 300.0) -> float:
    """Wait until the engine has no merge or mutation running (the bulk load leaves many
    parts, materialized-view and projection parts to merge for a minute or two); a
    running service merges continuously but not a fresh hour of data at once. Returns
    the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        busy = storage.client.query(
            "SELECT (SELECT count() FROM system.merges) + "
            "(SELECT count() FROM system.mutations WHERE NOT is_done)"
        ).result_rows[0][0]
        if not busy:
            break
        time.sleep(1.0)
    return time.monotonic() - started


def time_ticks(storage: Storage, ticks: int, now_ns: int, compare: bool = False) -> dict[str, Any]:
    """Full ticks (evaluate, swap, history) and a per-family breakdown, medians; with
    ``compare`` also the breakdown reading every stored event instead of the state."""
    metrics = SelfMetrics()
    writer = Writer(storage, WriterLimits(), metrics)
    # As ``serve`` on the wall clock builds it: history goes through the group-commit
    # writer without holding up the tick.
    correlator = Correlator(
        storage, SignalsConfig(), metrics, history=HistorySubmitter(writer, wait=False)
    )
    # Alert evaluation as ``serve`` runs it after each tick: the default rule pack over
    # the snapshot, transitions stored; timed apart so the report shows what it adds.
    evaluator = AlertEvaluator(load_files([str(RULE_PACK)]), storage)
    durations = []
    alert_seconds = []
    snap = None
    warm_s = correlator.warm(now_ns)  # as ``serve`` does before its first tick
    rss_start = psutil.Process().memory_info().rss / 2**20  # ready to tick
    for k in range(ticks):
        started = time.perf_counter()
        snap = correlator.tick(now_ns + k * NS)
        durations.append(time.perf_counter() - started)
        started = time.perf_counter()
        evaluator.evaluate(snap)
        alert_seconds.append(time.perf_counter() - started)
    correlator.stop()  # writes the history still queued
    writer.close()
    parts: dict[str, list[float]] = {}
    scratch: dict[str, list[float]] = {}
    memo = RunInputsMemo()  # as the correlator keeps runs' inputs between ticks
    for k in range(ticks):
        # the state tables against every stored event, alternating (same rows)
        for from_scratch, into in ((False, parts), (True, scratch)):
            if from_scratch and not compare:
                continue
            ev = evaluate_all(
                storage,
                now_ns + k * NS,
                SignalsConfig(),
                from_scratch,
                None if from_scratch else memo,
            )
            for kind, seconds in ev.seconds.items():
                into.setdefault(kind, []).append(seconds)
            into.setdefault("total", []).append(sum(ev.seconds.values()))
    assert snap is not None
    return {
        "tick_median_s": statistics.median(durations),
        "tick_max_s": max(durations),
        "ticks": durations,
        "warm_s": warm_s,
        "rss_start_mib": rss_start,
        "rows": {
            k: len(snap.rows(k))
            for k in ("freshness", "exposure", "queues", "latency", "hosts", "lineage")
        },
        "parts_median_s": {k: statistics.median(v) for k, v in parts.items()},
        "from_scratch_median_s": {k: statistics.median(v) for k, v in scratch.items()},
        "alerts_median_s": statistics.median(alert_seconds),
        "alerts_active": len(evaluator.active()),
    }


@contextmanager
def serve(storage: Storage, settings: Settings) -> Iterator[str]:
    with serve_in_thread(create_app(settings, storage), "bench-service") as url:
        yield url


def _event(name: str, at: datetime) -> dict[str, Any]:
    return {
        "eventType": "COMPLETE",
        "eventTime": at.isoformat().replace("+00:00", "Z"),
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "bench", "name": f"e2e_{name}"},
        "inputs": [],
        "outputs": [{"namespace": "bench", "name": name}],
        "producer": "https://example.com/bench",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent",
    }


def time_e2e(storage: Storage, interval_s: float, samples: int) -> list[float]:
    """Seconds from an event's acknowledgement to its row in GET /api/v1/signals."""
    delays = []
    settings = Settings(tick_interval_s=interval_s)
    with serve(storage, settings) as url, httpx.Client(base_url=url, timeout=60) as http:
        for k in range(samples):
            name = f"e2e_{uuid.uuid4().hex[:8]}_{k}"
            r = http.post("/api/v1/lineage", json=_event(name, datetime.now(UTC)))
            r.raise_for_status()
            acked = time.monotonic()
            while True:
                got = http.get("/api/v1/signals/freshness", params={"name": f"bench/{name}"})
                if got.json()["rows"]:
                    delays.append(time.monotonic() - acked)
                    break
                if time.monotonic() - acked > 120:
                    raise TimeoutError("event did not reach the signals within 120 s")
                time.sleep(0.02)
    return delays


def load_world(args: argparse.Namespace, seed: int, data_dir: str) -> dict[str, Any]:
    """Load and settle a world into ``data_dir``, in a process of its own: the bulk
    load's memory stays with it, and the service opens the stored world afresh, as
    ``serve`` does on day 30 of its retention."""
    hours = args.history_hours if args.history_days is None else args.history_days * 24
    scale = Scale.of(args.scale, hours)
    storage = open_storage(f"chdb://{data_dir}/db", "loadsense")
    prepare_storage(storage, Settings())
    loaded: dict[str, Any] = load(storage, scale, time.time_ns(), seed)
    loaded["settle"] = settle(storage)
    # the bulk load's rows count as late inserts until the margin has passed: the service
    # starting after it builds its first dataset summary clean, as after any restart
    time.sleep(summaries.MARGIN_S + 1)
    # ``prepare_storage`` built a summary of the empty world before the load; kept, every
    # dataset would read as dirty (late updates) until the next 5-minute boundary, so the
    # service builds its first one from every stored update instead
    summaries.forget(storage)
    return {"scale": scale.__dict__, "load_s": loaded}


def serve_world(args: argparse.Namespace, data_dir: str) -> dict[str, Any]:
    """Start on the stored world as ``serve`` does (schema check and the first dataset
    summary from every stored update, then the start-up evaluation in ``time_ticks``),
    tick and serve; this process is the service. The peak RSS covers the start-up too
    (``rss_start_peak_mib``: up to the first tick)."""
    sampler = ServerSampler(os.getpid())
    sampler.start()
    opened_at = time.time()
    started = time.perf_counter()
    storage = open_storage(f"chdb://{data_dir}/db", "loadsense")
    if args.world:
        # a world served before holds that serve's summary: dropped, so this serve builds
        # its first one from every stored update as the first serve did (not timed)
        dropping = time.perf_counter()
        summaries.forget(storage)
        started += time.perf_counter() - dropping
    prepare_storage(storage, Settings())
    prepared = time.perf_counter() - started
    tune_gc()  # as ``loadsense serve`` does once the app is built
    started_at = time.time()
    ticks = time_ticks(storage, args.ticks, time.time_ns(), args.compare)
    delays = time_e2e(storage, args.interval, args.samples) if args.samples else []
    sampler.stop()
    ticks["rss_peak_mib"] = sampler.window(started_at, time.time())[0]
    ticks["rss_start_peak_mib"] = sampler.window(opened_at, started_at + ticks["warm_s"])[0]
    return {"start_s": {"prepare": prepared}, **ticks, "e2e_s": delays}


def run_once(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """One run: the world loaded by one process, then served by another (chDB allows one
    process per data directory at a time)."""
    if args.world:
        data_dir = args.world
        kept = json.loads((Path(data_dir) / _WORLD_FILE).read_text())
        return {**kept, **_child(args, seed, "serve", data_dir)}
    data_dir = tempfile.mkdtemp(prefix="bench-correlate-", dir=args.tmp)
    try:
        loaded = _child(args, seed, "load", data_dir)
        (Path(data_dir) / _WORLD_FILE).write_text(json.dumps(loaded))
        served = _child(args, seed, "serve", data_dir)
    finally:
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    return {**loaded, **served}


_WORLD_FILE = "world.json"
"""In a kept data dir: the load phase's report, for ``--world``."""


def _child(args: argparse.Namespace, seed: int, phase: str, data_dir: str) -> dict[str, Any]:
    """Run one phase in a process of its own; its report (stderr passes through)."""
    child = [
        sys.executable,
        "-m",
        "loadsense.bench.correlate",
        *sys.argv[1:],
        "--child",
        str(seed),
        "--phase",
        phase,
        "--data",
        data_dir,
    ]
    out = subprocess.run(child, check=True, stdout=subprocess.PIPE, text=True).stdout
    print(f"  {phase}: done", file=sys.stderr)
    report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return report


def _pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least ``q`` of them at or below."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def summarise(runs: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    delays = [d for r in runs for d in r["e2e_s"]]
    kinds = runs[0]["parts_median_s"].keys()
    return {
        "command": "python -m loadsense.bench.correlate " + " ".join(sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "load_avg_1m_at_end": os.getloadavg()[0]},
        "scale": runs[0]["scale"],
        "runs": len(runs),
        "load_s_median": {
            k: statistics.median(r["load_s"][k] for r in runs) for k in runs[0]["load_s"]
        },
        "start_s_median": {
            k: statistics.median(r["start_s"][k] for r in runs) for k in runs[0]["start_s"]
        },
        "tick_median_s": statistics.median(r["tick_median_s"] for r in runs),
        "tick_max_s": max(r["tick_max_s"] for r in runs),
        "warm_s_median": statistics.median(r["warm_s"] for r in runs),
        "parts_median_s": {
            k: statistics.median(r["parts_median_s"][k] for r in runs) for k in kinds
        },
        "from_scratch_median_s": {
            k: statistics.median(r["from_scratch_median_s"][k] for r in runs)
            for k in runs[0]["from_scratch_median_s"]
        },
        "rows": runs[0]["rows"],
        "alerts_median_s": statistics.median(r["alerts_median_s"] for r in runs),
        "rss_start_mib_median": statistics.median(r["rss_start_mib"] for r in runs),
        "rss_peak_mib_max": max(r["rss_peak_mib"] for r in runs),
        "rss_start_peak_mib_max": max(r["rss_start_peak_mib"] for r in runs),
        "alerts_active": runs[0]["alerts_active"],
        "tick_interval_s": args.interval,
        "e2e_samples": len(delays),
        "e2e_p50_s": statistics.median(delays) if delays else None,
        "e2e_p99_s": _pct(delays, 0.99) if delays else None,
        "e2e_max_s": max(delays) if delays else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadsense.bench.correlate", description=__doc__
    )
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every count")
    parser.add_argument(
        "--history-hours", type=float, default=2.0, help="hours of lineage runs (default 2)"
    )
    parser.add_argument(
        "--history-days", type=float, default=None, help="days of lineage runs (over hours)"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs, each in its own process")
    parser.add_argument("--ticks", type=int, default=5, help="timed ticks per run")
    parser.add_argument("--samples", type=int, default=20, help="e2e samples per run (0: skip)")
    parser.add_argument(
        "--interval",
        type=float,
        default=default_of("tick_interval_s"),
        help="tick interval for e2e",
    )
    parser.add_argument(
        "--compare", action="store_true", help="also time the families from every stored event"
    )
    parser.add_argument("--tmp", default=None, help="parent of the temporary data dirs")
    parser.add_argument("--keep", action="store_true", help="keep the data dirs")
    parser.add_argument(
        "--world",
        default=None,
        help="serve a data dir kept by --keep instead of loading one (each run drops the "
        "dataset summary first, so it starts as the first serve did)",
    )
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--phase", choices=("load", "serve"), help=argparse.SUPPRESS)
    parser.add_argument("--data", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        if args.phase == "load":
            print(json.dumps(load_world(args, args.child, args.data)))
        else:
            print(json.dumps(serve_world(args, args.data)))
        return 0
    runs = []
    for k in range(args.runs):
        print(f"run {k + 1}/{args.runs}:", file=sys.stderr)
        runs.append(run_once(args, seed=k))
        print(f"run {k + 1}/{args.runs}: tick {runs[-1]['tick_median_s']:.2f}s", file=sys.stderr)
    summary = summarise(runs, args)
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS_DIR / f"correlate-{stamp}.json").write_text(
        json.dumps({"summary": summary, "runs": runs}, indent=2)
    )
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
