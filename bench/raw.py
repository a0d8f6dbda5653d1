"""The storage limit: the same rows inserted straight into a fresh embedded chDB.

Runs in its own process (a process can hold one chDB data directory, and the parent
must stay free of chDB). The rows are the service's own: each phase's bodies are
decoded by the service's receivers (untimed, but the decode rate is reported as well,
since it is the other half of the service's cost), grouped per table into inserts of
the writer's batch size, encoded once as Native blocks (untimed) and handed to the
engine — its fastest input path: no HTTP, no queue, no Python serialisation, no
acknowledgement. The service rate over this rate says how much of the storage engine's
capacity the ingest path delivers.
"""

from __future__ import annotations

import itertools
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from loadsense.bench.client import JSON, LoadConfig, Phase, build_bodies, progress
from loadsense.collectors.contract import Decoded
from loadsense.collectors.openlineage.receiver import LineageReceiver
from loadsense.collectors.otlp.receiver import MetricsReceiver, TracesReceiver
from loadsense.storage import native_block
from loadsense.storage.writer import INSERT_SETTINGS, RowBatch

Decoder = Callable[[bytes, str, int], Decoded]

MAX_REPEAT = 64


@dataclass
class RawResult:
    name: str
    unit: str
    items_per_s: float
    decode_items_per_s: float
    rows_per_item: float
    batch_rows: int


def decoder_for(phase: Phase) -> Decoder:
    """The service's decode function for the phase's path."""
    if phase.unit == "spans":
        return TracesReceiver().decode
    if phase.unit == "points":
        return MetricsReceiver().decode
    lineage = LineageReceiver()
    if phase.path.endswith("/batch"):
        return lambda body, media, now: lineage.decode_batch(body, media, now).decoded
    return lineage.decode


def _chunks(batches: Sequence[RowBatch], size: int) -> list[tuple[str, list[str], list[Any]]]:
    """Per (table, columns): the batches' rows concatenated, cut into ``size``-row inserts."""
    groups: dict[tuple[str, tuple[str, ...]], list[RowBatch]] = {}
    for b in batches:
        groups.setdefault((b.table, b.columns), []).append(b)
    out: list[tuple[str, list[str], list[Any]]] = []
    for (table, columns), group in groups.items():
        joined = [
            list(itertools.chain.from_iterable(b.data[c] for b in group))
            for c in range(len(columns))
        ]
        rows = len(joined[0]) if joined else 0
        for lo in range(0, rows, size):
            out.append((table, list(columns), [col[lo : lo + size] for col in joined]))
    return out


def _native(
    client: Any, table: str, columns: list[str], data: list[Any]
) -> tuple[str, list[str], bytes]:
    """One insert's rows as the Native block the engine reads."""
    described = {str(r[0]): str(r[1]) for r in client.query(f"DESCRIBE TABLE {table}").result_rows}
    types = [described[c] for c in columns]
    block = native_block.encode(columns, types, data, len(data[0]) if data else 0)
    if block is None:
        raise RuntimeError(f"the compiled Native codec cannot encode {table}")
    return table, columns, block


def measure(client: Any, phase: Phase, cfg: LoadConfig, batch_rows: int) -> RawResult:
    bodies = build_bodies(phase, cfg.bodies_per_phase, cfg.seed)
    decode = decoder_for(phase)
    media = JSON if phase.content_type == JSON else phase.content_type
    decode(bodies[0].data, media, time.time_ns())  # first-call set-up is not the rate
    started = time.perf_counter()
    decoded = [decode(b.data, media, time.time_ns()) for b in bodies]
    decode_s = time.perf_counter() - started
    decoded_items = sum(d.accepted for d in decoded)
    # Repeat the rows until the main table fills one writer-sized insert, so the limit
    # is measured at full batches (the writer never inserts more per table).
    per_table: dict[str, int] = {}
    for d in decoded:
        for b in d.batches:
            per_table[b.table] = per_table.get(b.table, 0) + b.rows
    widest = max(per_table.values(), default=batch_rows) or batch_rows
    decoded = decoded * min(MAX_REPEAT, max(1, math.ceil(batch_rows / widest)))
    items = sum(d.accepted for d in decoded)
    batches = [b for d in decoded for b in d.batches]
    rows = sum(b.rows for b in batches)
    blocks = [
        _native(client, table, columns, data)
        for table, columns, data in _chunks(batches, batch_rows)
    ]
    passes = 0
    started = time.perf_counter()
    while passes == 0 or time.perf_counter() - started < cfg.duration_s / 2:
        for table, columns, block in blocks:
            client.raw_insert(table, columns, block, settings=INSERT_SETTINGS, fmt="Native")
        passes += 1
    insert_s = time.perf_counter() - started
    result = RawResult(
        name=phase.name,
        unit=phase.unit,
        items_per_s=passes * items / insert_s,
        decode_items_per_s=decoded_items / decode_s,
        rows_per_item=rows / items if items else 0.0,
        batch_rows=batch_rows,
    )
    progress(
        f"  raw chDB {phase.name}: {result.items_per_s:,.0f} {phase.unit}/s inserted "
        f"({passes} passes), decode alone {result.decode_items_per_s:,.0f} {phase.unit}/s"
    )
    return result


def raw_main(cfg: LoadConfig, batch_rows: int) -> list[dict[str, Any]]:
    """Entry point of the storage-limit process: a fresh chDB, every phase in order."""
    from loadsense.api.app import prepare_storage
    from loadsense.settings import Settings
    from loadsense.storage.client import open_storage

    with tempfile.TemporaryDirectory(prefix="loadsense-bench-raw-") as tmp:
        storage = open_storage(f"chdb://{tmp}/db", "loadsense")
        prepare_storage(storage, Settings())
        try:
            return [asdict(measure(storage.client, p, cfg, batch_rows)) for p in cfg.phases]
        finally:
            storage.close()
