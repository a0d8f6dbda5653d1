"""Storage per million spans: ``python -m loadsense.bench.footprint``.

Sizing a ClickHouse disk needs bytes per span as stored, with the schema's codecs. This
decodes the ingest benchmark's spans (bench/payloads.py: distinct traces, SERVER and
CLIENT spans with the usual HTTP attributes) with the service's own OTLP receiver,
inserts the rows into a fresh embedded chDB holding the service's schema, merges every
table's parts (``OPTIMIZE ... FINAL``, where background merges end up), then reads
``system.parts`` (per table) and ``system.columns`` (per column, with its codec).
The report is a markdown table on stdout and JSON under ``bench/results/``; numbers go
to docs/operations.md.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loadsense.bench import payloads
from loadsense.bench.client import progress
from loadsense.bench.raw import _chunks
from loadsense.bench.report import write_results
from loadsense.collectors.otlp.receiver import TracesReceiver
from loadsense.settings import default_of
from loadsense.storage.writer import INSERT_SETTINGS, RowBatch

RESULTS_DIR = Path(__file__).resolve().parent / "results"
PROTOBUF = "application/x-protobuf"

_PARTS_SQL = """
SELECT table, sum(rows), sum(data_compressed_bytes), sum(data_uncompressed_bytes), count()
FROM system.parts
WHERE database = {db:String} AND active
GROUP BY table
ORDER BY sum(data_compressed_bytes) DESC
"""

# A projection's parts are stored inside its table's parts but counted apart.
_PROJECTIONS_SQL = """
SELECT concat(table, ' (projection ', name, ')'), sum(rows), sum(data_compressed_bytes),
       sum(data_uncompressed_bytes), count()
FROM system.projection_parts
WHERE database = {db:String} AND active
GROUP BY table, name
"""

_COLUMNS_SQL = """
SELECT table, name, type, compression_codec,
       data_compressed_bytes, data_uncompressed_bytes
FROM system.columns
WHERE database = {db:String} AND table = {table:String}
ORDER BY data_compressed_bytes DESC
"""


_COLUMN_KEYS = ("table", "name", "type", "codec", "compressed", "uncompressed")


def ingest(client: Any, spans: int, per_request: int, seed: int) -> int:
    """Decode and insert ``spans`` spans in writer-sized inserts; the count stored."""
    rng = random.Random(seed)
    receiver = TracesReceiver()
    batch_rows: int = default_of("batch_max_rows")
    pending: list[RowBatch] = []
    pending_rows = accepted = 0
    now = time.time_ns()

    def flush() -> None:
        for table, columns, data in _chunks(pending, batch_rows):
            client.insert(
                table, data, column_names=columns, column_oriented=True, settings=INSERT_SETTINGS
            )
        pending.clear()

    while accepted < spans:
        body = payloads.trace_body(rng, min(per_request, spans - accepted), now)
        decoded = receiver.decode(body.data, PROTOBUF, time.time_ns())
        accepted += decoded.accepted
        pending.extend(decoded.batches)
        pending_rows += sum(b.rows for b in decoded.batches)
        if pending_rows >= batch_rows:
            flush()
            pending_rows = 0
            progress(f"  {accepted:,} spans inserted")
    flush()
    return accepted


def measure(spans: int, per_request: int, seed: int) -> dict[str, Any]:
    from loadsense.api.app import prepare_storage
    from loadsense.settings import Settings
    from loadsense.storage.client import open_storage

    with tempfile.TemporaryDirectory(prefix="loadsense-bench-footprint-") as tmp:
        database = "loadsense"
        storage = open_storage(f"chdb://{tmp}/db", database)
        try:
            prepare_storage(storage, Settings())
            client = storage.client
            stored = ingest(client, spans, per_request, seed)
            listed = client.query(_PARTS_SQL, parameters={"db": database}).result_rows
            tables = [r[0] for r in listed]
            for table in tables:
                client.command(f"OPTIMIZE TABLE `{database}`.`{table}` FINAL")
            parts = client.query(_PARTS_SQL, parameters={"db": database}).result_rows
            projections = client.query(_PROJECTIONS_SQL, parameters={"db": database}).result_rows
            columns = {
                table: [
                    dict(zip(_COLUMN_KEYS, r, strict=True))
                    for r in client.query(
                        _COLUMNS_SQL, parameters={"db": database, "table": table}
                    ).result_rows
                ]
                for table, *_ in parts
            }
        finally:
            storage.close()
    return {
        "spans": stored,
        "tables": [
            {"table": t, "rows": r, "compressed": c, "uncompressed": u, "parts": p}
            for t, r, c, u, p in [*parts, *projections]
        ],
        "columns": columns,
    }


def _mib(n: float) -> str:
    return f"{n / 2**20:,.1f}"


def render(result: dict[str, Any]) -> str:
    spans = result["spans"]
    scale = 1_000_000 / spans
    lines = [
        f"Storage after {spans:,} spans (merged; per million spans):",
        "",
        "| table | rows | compressed MiB | uncompressed MiB | ratio | bytes/span |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    total_c = total_u = 0
    for t in result["tables"]:
        total_c += t["compressed"]
        total_u += t["uncompressed"]
        ratio = t["uncompressed"] / t["compressed"] if t["compressed"] else 0.0
        lines.append(
            f"| {t['table']} | {t['rows']:,} | {_mib(t['compressed'] * scale)} | "
            f"{_mib(t['uncompressed'] * scale)} | {ratio:.1f} | {t['compressed'] / spans:.1f} |"
        )
    lines.append(
        f"| **all** | | **{_mib(total_c * scale)}** | {_mib(total_u * scale)} | "
        f"{total_u / max(total_c, 1):.1f} | **{total_c / spans:.1f}** |"
    )
    lines += ["", "Largest columns of `spans`:", "", "| column | codec | bytes/span |"]
    lines.append("| --- | --- | ---: |")
    for col in result["columns"].get("spans", [])[:8]:
        codec = col["codec"] or "(default LZ4)"
        lines.append(f"| {col['name']} | {codec} | {col['compressed'] / spans:.1f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--spans", type=int, default=1_000_000, help="spans to store")
    p.add_argument("--spans-per-request", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, default=RESULTS_DIR, help="directory for JSON results")
    args = p.parse_args(argv)
    started = time.time()
    result = measure(args.spans, args.spans_per_request, args.seed)
    write_results("footprint", argv, args, started, render(result), **result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
