"""Signal history: each tick's headline fields appended to ``signal_points``, and read back.

One row per (kind, subject, field) in :data:`HISTORY_FIELDS` with a finite value;
unknowns are not stored (a gap in history, not a zero). Per-input exposure rows use the
subject ``"<service>::<dataset>"``. Re-evaluating an instant replaces its rows (the
table's identity includes ``as_of``). Only headline fields are kept because history
grows with subjects x ticks (10k datasets every 5 s is ~50k rows per tick already);
the full rows of any instant can be recomputed with ``POST /api/v1/evaluate``.
:func:`read_history` is the read side (``GET /api/v1/signals/{kind}/history``).
"""

from __future__ import annotations

import logging
import math
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from loadsense.correlator.snapshot import Snapshot
from loadsense.correlator.steps import EvaluationGate, yield_to_evaluation
from loadsense.errors import Backpressure
from loadsense.signals.contract import KINDS, numeric_fields
from loadsense.storage.client import Storage
from loadsense.storage.writer import RowBatch, Writer

logger = logging.getLogger(__name__)

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


def _value(value: Any) -> float | None:
    """A storable number: finite ints and floats, booleans as 0/1; else None (a gap)."""
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is int:
        return float(value)
    if kind is bool:
        return 1.0 if value else 0.0
    if isinstance(value, int | float) and math.isfinite(value):  # subclasses
        return float(value)
    return None


Segment = tuple[str, str, list[str], list[float]]
"""``(kind, field, subjects, values)``: one field of one kind across subjects."""


def history_segments(snap: Snapshot) -> list[Segment]:
    """The values ``signal_points`` keeps for ``snap``, one segment per kind and field
    (hot: ~160k values a tick at 10k datasets, so fields are read column by column)."""
    segments: list[Segment] = []
    for kind in KINDS:
        rows = snap.rows(kind)
        if not rows:
            continue
        for name in sorted(HISTORY_FIELDS[kind]):
            subjects: list[str] = []
            values: list[float] = []
            for row in rows:
                value = _value(getattr(row, name, None))
                if value is not None:
                    subjects.append(row.subject)
                    values.append(value)
            if subjects:
                segments.append((kind, name, subjects, values))
        parts: dict[str, tuple[list[str], list[float]]] = {}
        for row in rows:
            for part in getattr(row, "per_input", ()):
                subject = f"{row.subject}{SUBJECT_SEPARATOR}{part.dataset}"
                for name, number in numeric_fields(part):
                    subjects, values = parts.setdefault(name, ([], []))
                    subjects.append(subject)
                    values.append(number)
        segments.extend((kind, name, subj, vals) for name, (subj, vals) in parts.items())
    return segments


def _columns(as_of: float, segments: list[Segment]) -> dict[str, list[Any]]:
    kinds: list[str] = []
    subjects: list[str] = []
    fields: list[str] = []
    values: list[float] = []
    for kind, name, subj, vals in segments:
        n = len(subj)
        kinds.extend([kind] * n)
        fields.extend([name] * n)
        subjects.extend(subj)
        values.extend(vals)
    at = datetime.fromtimestamp(as_of, UTC)
    return {
        "as_of": [at] * len(kinds),
        "kind": kinds,
        "subject": subjects,
        "field": fields,
        "value": values,
    }


def history_columns(snap: Snapshot) -> dict[str, list[Any]]:
    """Column-oriented rows of ``signal_points`` for ``snap``."""
    return _columns(snap.as_of, history_segments(snap))


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


KEYFRAME_S = 60.0
"""On the wall clock every value is stored at least this often (a keyframe); between
keyframes only values that changed since the previous tick."""


class ChangeFilter:
    """Drops history values equal to the one kept for the same (kind, field, subject) at
    the previous tick, except at keyframes.

    Why: most values hold still from one 5 s tick to the next (an on-schedule dataset's
    freshness is 1.0, a job's recompute cost changes when a run ends), and writing ~100k
    rows per tick at 10k datasets costs the next tick CPU. A keyframe every
    :data:`KEYFRAME_S` (and whenever the clock goes backwards) bounds how far back a
    reader must look for a series' current value. A value whose write failed is
    rewritten at the next keyframe at the latest.
    """

    def __init__(self, keyframe_s: float = KEYFRAME_S) -> None:
        self._keyframe_s = keyframe_s
        self._last: dict[tuple[str, str], dict[str, float]] = {}
        self._keyframe_at: float | None = None
        self._previous: float | None = None

    def __call__(self, as_of: float, segments: list[Segment]) -> list[Segment]:
        keyframe = (
            self._keyframe_at is None
            or self._previous is None
            or as_of < self._previous
            or as_of >= self._keyframe_at + self._keyframe_s
        )
        self._previous = as_of
        if keyframe:
            self._keyframe_at = as_of
            self._last = {
                (kind, name): dict(zip(subj, vals, strict=True))
                for kind, name, subj, vals in segments
            }
            return segments
        changed: list[Segment] = []
        for kind, name, subj, vals in segments:
            last = self._last.setdefault((kind, name), {})
            previous = last.get
            keep_s: list[str] = []
            keep_v: list[float] = []
            for subject, value in zip(subj, vals, strict=True):
                if previous(subject) != value:
                    last[subject] = value
                    keep_s.append(subject)
                    keep_v.append(value)
            if keep_s:
                changed.append((kind, name, keep_s, keep_v))
        return changed


class HistorySubmitter:
    """Hands each tick's history to the group-commit writer.

    On the wall clock (``wait=False``) the tick does not wait for it: the snapshot is
    already published, so the rows are built, filtered to changed values between
    keyframes (:class:`ChangeFilter`) and handed to the writer on a history thread, in
    tick order (up to :data:`PENDING_SNAPSHOTS` behind; beyond that a snapshot's history
    is dropped with a warning, as when the write queue is full). A failed or refused
    write is logged (and counted by the writer's own metrics) while ticks carry on. On
    the external clock (``wait=True``) every value of every tick is written on the
    tick's thread and a tick is done only once its history is committed, so a replay
    that reads history after ``POST /api/v1/tick`` sees it; a failure fails that tick.
    """

    def __init__(self, writer: Writer, *, wait: bool = False) -> None:
        self._writer = writer
        self._wait = wait
        self._changes = None if wait else ChangeFilter()
        self._pending: queue.Queue[Snapshot | None] = queue.Queue(PENDING_SNAPSHOTS)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._gate: EvaluationGate | None = None

    def follow(self, gate: EvaluationGate) -> None:
        """Build history only while the correlator is not evaluating (the correlator
        calls this when it starts on the wall clock): evaluations come first."""
        self._gate = gate

    def __call__(self, snap: Snapshot) -> int:
        """Write (external clock) or queue (wall clock) ``snap``'s history; the rows
        written, or 0 when queued or dropped."""
        if self._wait:
            return self._write(snap)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="signal-history", daemon=True
                )
                self._thread.start()
        try:
            self._pending.put_nowait(snap)
        except queue.Full:
            logger.warning("signal history at %.3f dropped: history is behind", snap.as_of)
        return 0

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop the history thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._pending.put(None)
            thread.join(timeout)

    def _run(self) -> None:
        if self._gate is not None:
            self._gate.follow()
        while True:
            snap = self._pending.get()
            if snap is None:
                return
            try:
                self._write(snap)
            except Exception:  # the loop never dies; the next tick's history still goes
                logger.exception("building signal history at %.3f failed", snap.as_of)

    def _write(self, snap: Snapshot) -> int:
        yield_to_evaluation()
        segments = history_segments(snap)
        yield_to_evaluation()
        if self._changes is not None:
            segments = self._changes(snap.as_of, segments)
        columns = _columns(snap.as_of, segments)
        n = len(columns["kind"])
        if not n:
            return 0
        data: dict[str, Sequence[Any]] = dict(columns)
        batch = RowBatch.of("signal_points", data, n * _ROW_BYTES)
        if self._wait:
            self._writer.write_sync([batch])
            return n
        try:
            futures = self._writer.submit([batch])
        except Backpressure:
            logger.warning("signal history at %.3f dropped: write queue full", snap.as_of)
            return 0
        for future in futures:
            future.add_done_callback(_log_failure)
        return n


PENDING_SNAPSHOTS = 4
"""Snapshots whose history may wait for the history thread (~20 s of ticks)."""

_ROW_BYTES = 120
"""Approximate Python memory per history row, for the writer's byte budget."""


def _log_failure(future: Future[None]) -> None:
    exc = future.exception()
    if exc is not None:
        logger.error("writing signal history failed: %s", exc)


_READ_SQL = """
SELECT subject, field, groupArray((toUnixTimestamp64Milli(as_of) / 1e3, value)) AS points
FROM (
    SELECT as_of, subject, field, value FROM signal_points FINAL
    WHERE kind = {kind:String}
      AND as_of >= fromUnixTimestamp64Milli({start:Int64}, 'UTC')
      AND as_of <= fromUnixTimestamp64Milli({end:Int64}, 'UTC')
      AND match(subject, {pattern:String})
    ORDER BY subject, field, as_of
    LIMIT {limit:UInt32}
)
GROUP BY subject, field
ORDER BY subject, field
"""

READ_LIMIT = 100_000
"""Most points one :func:`read_history` answer carries (``truncated`` says when more
matched)."""


@dataclass(frozen=True)
class Series:
    """One (subject, field)'s stored points, oldest first, as (epoch seconds, value)."""

    subject: str
    field: str
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class HistoryPage:
    series: tuple[Series, ...]
    truncated: bool
    """More than :data:`READ_LIMIT` points matched; the first ones by subject, field and
    time are kept."""


def read_history(
    storage: Storage, kind: str, pattern: str, start_ns: int, end_ns: int
) -> HistoryPage:
    """Stored points of ``kind`` whose subject matches the regular expression ``pattern``,
    with ``start_ns <= as_of <= end_ns`` (millisecond precision, as stored); every value
    is a bound parameter."""
    result = storage.client.query(
        _READ_SQL,
        parameters={
            "kind": kind,
            "start": start_ns // 1_000_000,
            "end": end_ns // 1_000_000,
            "pattern": pattern,
            "limit": READ_LIMIT + 1,
        },
    )
    series = tuple(
        Series(str(s), str(f), tuple((float(t), float(v)) for t, v in points))
        for s, f, points in result.result_rows
    )
    count = sum(len(s.points) for s in series)
    return HistoryPage(series, truncated=count > READ_LIMIT)
