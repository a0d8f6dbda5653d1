"""Cost of publishing the correlator's state: ``python -m loadsense.bench.publish``.

Without the correlator role a replica serves what the correlator wrote to
``published_state`` (api/publish.py, api/published.py, docs/scale-out.md). Per tick the
correlator encodes its snapshot and inserts it; each replica reads the new rows and
decodes them once. This measures, for snapshots of 1,000 and 10,000 datasets (a freshness
and a lineage row each, plus a latency row per 20 datasets), in one process on embedded
chDB:

- ``encode``: the snapshot document (correlator's thread, per tick);
- ``insert``: writing the documents to ``published_state``;
- ``decode``: a replica turning the document into the snapshot it serves;
- ``refresh``: one replica read of the new publication, decode included.

Each figure is the median of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from loadsense.api.app import prepare_storage
from loadsense.api.publish import snapshot_document, snapshot_of
from loadsense.api.published import PublishedState
from loadsense.correlator.snapshot import Snapshot
from loadsense.settings import Settings
from loadsense.signals.freshness import FreshnessRow
from loadsense.signals.latency import LatencyRow
from loadsense.signals.lineage import LineageRow
from loadsense.storage.client import Storage, open_storage
from loadsense.storage.schema.published import PUBLISHED_STATE

SIZES = (1_000, 10_000)


def snapshot(datasets: int, as_of: float) -> Snapshot:
    names = [f"warehouse/table_{i:05d}" for i in range(datasets)]
    freshness = tuple(
        FreshnessRow(n, as_of - 300, 12, 3600.0, True, 300.0, 600.0, 1800.0, 1.0,
                     as_of + 2100, 0.97, 2, "etl/load", "run-1", ("raw/events",))
        for n in names
    )  # fmt: skip
    lineage = tuple(
        LineageRow(n, 2, ("etl/load",), ("ranker",), 12.5, 340.0, 0.02, 40, 0, 1.0) for n in names
    )
    latency = tuple(
        LatencyRow(f"svc-{i}", 60.0, 6000, 100.0, 12.0, 40.0, 80.0, 0.01, 250.0, 0.68)
        for i in range(datasets // 20)
    )
    return Snapshot(as_of=as_of, freshness=freshness, lineage=lineage, latency=latency)


def _median_ms(call: Callable[[], object], repeats: int) -> float:
    call()
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        timings.append((time.perf_counter() - start) * 1e3)
    return statistics.median(timings)


def measure(storage: Storage, datasets: int, repeats: int) -> dict[str, float]:
    snap = snapshot(datasets, time.time())
    body = snapshot_document(snap).decode()
    columns = list(PUBLISHED_STATE.insert_columns)
    as_of = datetime.fromtimestamp(snap.as_of, UTC)
    reader = PublishedState(storage)

    def insert() -> None:
        row = ("snapshot", time.time_ns(), as_of, body)
        storage.client.insert(PUBLISHED_STATE.name, [row], column_names=columns)

    def publish_and_refresh() -> None:
        insert()
        assert reader.refresh()

    insert_ms = _median_ms(insert, repeats)
    round_trip_ms = _median_ms(publish_and_refresh, repeats)
    return {
        "datasets": datasets,
        "bytes": len(body),
        "encode_ms": _median_ms(lambda: snapshot_document(snap), repeats),
        "decode_ms": _median_ms(lambda: snapshot_of(body.encode()), repeats),
        "insert_ms": insert_ms,
        "refresh_ms": round_trip_ms - insert_ms,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="loadsense-bench-publish-") as data_dir:
        storage = open_storage(f"chdb://{data_dir}/db", "loadsense")
        prepare_storage(storage, Settings())
        print(
            "| datasets | document bytes | encode (ms) | insert (ms) | decode (ms) | refresh (ms) |"
        )
        print("| ---: | ---: | ---: | ---: | ---: | ---: |")
        for datasets in SIZES:
            m = measure(storage, datasets, args.repeats)
            print(
                f"| {datasets:,} | {m['bytes']:,.0f} | {m['encode_ms']:.1f} "
                f"| {m['insert_ms']:.1f} | {m['decode_ms']:.1f} | {m['refresh_ms']:.1f} |"
            )
        storage.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
