"""Checked OpenLineage events to rows of the lineage tables (storage/schema/lineage.py).

One pass per event, appending row tuples that are transposed into columns once per
request: this is the ingest hot path, so no models and no per-row dicts. What goes
where is tabulated in docs/lineage.md. Every row is a function of its event alone
(never of what arrived before), which is what makes arrival order irrelevant; the
updates a COMPLETE owes to outputs declared in its run's other events are derived in
the engine (storage/schema/cumulative.py).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from functools import lru_cache
from typing import Any

from loadsense.collectors.openlineage import facets
from loadsense.collectors.openlineage.validate import Checked
from loadsense.storage.schema.lineage import (
    DATASET_SCHEMAS,
    DATASET_UPDATES,
    LINEAGE_EDGES,
    LINEAGE_EVENTS,
    QUALITY_ASSERTIONS,
    RUN_EVENTS,
)
from loadsense.storage.writer import RowBatch

EVENT_COLUMNS = LINEAGE_EVENTS.insert_columns
RUN_COLUMNS = RUN_EVENTS.insert_columns
UPDATE_COLUMNS = DATASET_UPDATES.insert_columns
EDGE_COLUMNS = LINEAGE_EDGES.insert_columns
SCHEMA_COLUMNS = DATASET_SCHEMAS.insert_columns
ASSERTION_COLUMNS = QUALITY_ASSERTIONS.insert_columns
"""Each row tuple below is built in its table's column order (storage/schema/lineage.py)."""

STREAMING = "STREAMING"
"""``jobType.processingType`` of a run that never completes: each RUNNING event that
lists an output is an update of it (docs/lineage.md#streaming-runs)."""

_ROW_OVERHEAD = 256  # rough bytes per derived row, for the writer's queue bound


def hash64(text: str) -> int:
    """A stable 64-bit hash (the replacing version of derived rows; see storage docs)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


@lru_cache(maxsize=1024)
def schema_hash(fields: tuple[tuple[str, ...], tuple[str, ...]]) -> int:
    """The hash of (field names, field types); schemas repeat, hence the cache."""
    return hash64(json.dumps(fields))


def event_key(c: Checked) -> str:
    """The event identity ``lineage_events`` deduplicates on.

    RunEvent: ``runId|eventType|eventTime``. Job and dataset events: namespace, name and
    time, the namespace length-prefixed so that no two identities spell the same key.
    """
    if c.kind == "run":
        return f"{c.run_id}|{c.event_type}|{c.event_time}"
    if c.kind == "job":
        ns, name = c.job_namespace, c.job_name
    else:
        ns, name = c.dataset_namespace, c.dataset_name
    return f"{len(ns)}:{ns}|{name}|{c.event_time}"


def _own_outputs(c: Checked) -> list[tuple[str, str]]:
    """The identities of the outputs a COMPLETE lists itself: it writes their updates,
    the cumulative views only the rest (storage/schema/cumulative.py)."""
    return sorted({facets.identity(ds, ds.get("facets")) for ds in c.outputs})


class LineageRows:
    """Rows for every lineage table, accumulated over the events of one request."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.runs: list[tuple[Any, ...]] = []
        self.updates: list[tuple[Any, ...]] = []
        self.edges: list[tuple[Any, ...]] = []
        self.schemas: list[tuple[Any, ...]] = []
        self.assertions: list[tuple[Any, ...]] = []
        self.lenient: Counter[str] = Counter()
        self.nbytes = 0

    def add(self, c: Checked, received_ns: int) -> None:
        h = hash64(c.raw)
        if c.lenient:
            self.lenient.update(c.lenient)
        self.events.append(
            (
                c.event_time,
                received_ns,
                c.kind,
                c.event_type,
                event_key(c),
                c.run_id,
                c.job_namespace,
                c.job_name,
                c.dataset_namespace,
                c.dataset_name,
                c.producer,
                c.schema_url,
                c.raw,
                h,
            )
        )
        self.nbytes += len(c.raw) + _ROW_OVERHEAD
        if c.kind == "run":
            self._run(c, h)
        if c.kind == "dataset":
            ds = c.event["dataset"]
            ds_facets = ds.get("facets")
            ident = facets.identity(ds, ds_facets)
            self._schema(ident, ds_facets, c, h)
            self._assertions(ident, ds, c, h)
        else:
            self._datasets(c, h)

    def _run(self, c: Checked, h: int) -> None:
        run_facets = c.event["run"].get("facets")
        start, end = facets.nominal_time(run_facets)
        parent_run, parent_ns, parent_name = facets.parent(run_facets)
        processing, integration, job_type = facets.job_type(c.event["job"].get("facets"))
        self.runs.append(
            (
                c.run_id,
                c.event_type,
                c.event_time,
                c.job_namespace,
                c.job_name,
                start,
                end,
                parent_run,
                parent_ns,
                parent_name,
                processing,
                integration,
                job_type,
                facets.error_message(run_facets),
                c.producer,
                h,
                _own_outputs(c) if c.event_type == "COMPLETE" else [],
            )
        )

    def _datasets(self, c: Checked, h: int) -> None:
        source = "run" if c.kind == "run" else "job"
        seen_edges: set[tuple[str, str, str]] = set()
        seen_schemas: set[tuple[str, str]] = set()
        seen_updates: set[tuple[str, str]] = set()
        updates = c.event_type == "COMPLETE" or (
            c.event_type == "RUNNING"
            and facets.job_type(c.event["job"].get("facets"))[0].upper() == STREAMING
        )
        for direction, datasets in (("input", c.inputs), ("output", c.outputs)):
            for ds in datasets:
                ds_facets = ds.get("facets")
                ident = facets.identity(ds, ds_facets)
                ns, name = ident
                if (direction, ns, name) not in seen_edges:
                    seen_edges.add((direction, ns, name))
                    self.edges.append(
                        (
                            c.job_namespace,
                            c.job_name,
                            ns,
                            name,
                            direction,
                            c.run_id,
                            source,
                            c.event_time,
                        )
                    )
                if ds_facets and ident not in seen_schemas and self._schema(ident, ds_facets, c, h):
                    seen_schemas.add(ident)
                if ds_facets or "inputFacets" in ds or "outputFacets" in ds:
                    self._assertions(ident, ds, c, h)
                if direction == "output" and updates:
                    if ident in seen_updates:
                        continue
                    seen_updates.add(ident)
                    rows, size, files = facets.output_statistics(ds)
                    self.updates.append(
                        (
                            ns,
                            name,
                            c.event_time,
                            c.run_id,
                            c.job_namespace,
                            c.job_name,
                            rows,
                            size,
                            files,
                            facets.lifecycle_state(ds_facets),
                            h,
                        )
                    )

    def _schema(self, ident: tuple[str, str], ds_facets: Any, c: Checked, h: int) -> bool:
        fields = facets.schema_fields(ds_facets)
        if fields is None:
            return False
        names, types = fields
        digest = schema_hash((tuple(names), tuple(types)))
        self.schemas.append((ident[0], ident[1], c.event_time, c.run_id, digest, names, types, h))
        return True

    def _assertions(self, ident: tuple[str, str], ds: dict[str, Any], c: Checked, h: int) -> None:
        for assertion, column, success, severity in facets.assertions(ds):
            self.assertions.append(
                (
                    ident[0],
                    ident[1],
                    c.event_time,
                    c.run_id,
                    assertion,
                    column,
                    int(success),
                    severity,
                    h,
                )
            )

    def batches(self) -> tuple[RowBatch, ...]:
        """Column-oriented batches for the non-empty tables."""
        tables = (
            (LINEAGE_EVENTS.name, EVENT_COLUMNS, self.events),
            (RUN_EVENTS.name, RUN_COLUMNS, self.runs),
            (DATASET_UPDATES.name, UPDATE_COLUMNS, self.updates),
            (LINEAGE_EDGES.name, EDGE_COLUMNS, self.edges),
            (DATASET_SCHEMAS.name, SCHEMA_COLUMNS, self.schemas),
            (QUALITY_ASSERTIONS.name, ASSERTION_COLUMNS, self.assertions),
        )
        out: list[RowBatch] = []
        for table, columns, rows in tables:
            if not rows:
                continue
            data = list(zip(*rows, strict=True))
            share = self.nbytes if table == LINEAGE_EVENTS.name else len(rows) * _ROW_OVERHEAD
            out.append(RowBatch(table, columns, tuple(data), len(rows), share))
        return tuple(out)
