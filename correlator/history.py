"""Signal history: each tick's headline fields appended to ``signal_points``.

One row per (kind, subject, field) in :data:`HISTORY_FIELDS` with a finite value;
unknowns are not stored (a gap in history, not a zero). Per-input exposure rows use the
subject ``"<service>::<dataset>"``. Re-evaluating an instant replaces its rows (the
table's identity includes ``as_of``). Only headline fields are kept because history
grows with subjects x ticks (10k datasets every 5 s is ~50k rows per tick already);
the full rows of any instant can be recomputed with ``POST /api/v1/evaluate``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from correlator.snapshot import Snapshot
from signals.contract import KINDS, numeric_fields
from storage.client import Storage

SUBJECT_SEPARATOR = "::"

HISTORY_FIELDS: dict[str, frozenset[str]] = {
    "freshness": frozenset({"freshness", "effective_freshness", "age"}),
    "exposure": frozenset({"exposure_ratio", "weighted_exposure", "stale_requests", "requests"}),
    "queues": frozenset(
        {
            "depth",
            "oldest_age",
            "growth",
            "dequeue_rate",
            "time_to_breach",
            "dispatch_delay",
            "duration_p95",
            "failure_rate",
        }
    ),
    "latency": frozenset(
        {"requests", "rps", "p50_ms", "p95_ms", "p99_ms", "error_rate", "latency_slack"}
    ),
    "hosts": frozenset({"contention", "cpu", "memory", "io"}),
    "lineage": frozenset(
        {"criticality", "recompute_cost", "schema_drift", "validation_confidence"}
    ),
}
"""The fields of each kind kept in history (per-input exposure keeps all of its own)."""


def history_columns(snap: Snapshot) -> dict[str, list[Any]]:
    """Column-oriented rows of ``signal_points`` for ``snap``."""
    kinds: list[str] = []
    subjects: list[str] = []
    fields: list[str] = []
    values: list[float] = []
    for kind in KINDS:
        keep = HISTORY_FIELDS[kind]
        for row in snap.rows(kind):
            for name, value in numeric_fields(row):
                if name not in keep:
                    continue
                kinds.append(kind)
                subjects.append(row.subject)
                fields.append(name)
                values.append(value)
            for part in getattr(row, "per_input", ()):
                subject = f"{row.subject}{SUBJECT_SEPARATOR}{part.dataset}"
                for name, value in numeric_fields(part):
                    kinds.append(kind)
                    subjects.append(subject)
                    fields.append(name)
                    values.append(value)
    at = datetime.fromtimestamp(snap.as_of, UTC)
    return {
        "as_of": [at] * len(kinds),
        "kind": kinds,
        "subject": subjects,
        "field": fields,
        "value": values,
    }


def write_history(storage: Storage, snap: Snapshot) -> int:
    """Append ``snap`` to ``signal_points``; return the number of rows written."""
    columns = history_columns(snap)
    n = len(columns["kind"])
    if n:
        storage.client.insert(
            "signal_points",
            list(columns.values()),
            column_names=list(columns),
            column_oriented=True,
        )
    return n
