"""Signal history: each tick's numeric fields appended to ``signal_points``.

One row per (kind, subject, field) with a finite value; unknowns are not stored (a gap
in history, not a zero). Per-input exposure rows use the subject
``"<service>::<dataset>"``. Re-evaluating an instant replaces its rows (the table's
identity includes ``as_of``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from correlator.snapshot import Snapshot
from signals.contract import KINDS, numeric_fields
from storage.client import Storage

SUBJECT_SEPARATOR = "::"


def history_columns(snap: Snapshot) -> dict[str, list[Any]]:
    """Column-oriented rows of ``signal_points`` for ``snap``."""
    kinds: list[str] = []
    subjects: list[str] = []
    fields: list[str] = []
    values: list[float] = []
    for kind in KINDS:
        for row in snap.rows(kind):
            for name, value in numeric_fields(row):
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
