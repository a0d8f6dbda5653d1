"""Queue aging per queue, and dispatch delay / run durations per ETL job (docs/signals.md)."""

from __future__ import annotations

from dataclasses import dataclass

from signals.contract import Params
from storage.client import Storage

KIND = "queues"


@dataclass(frozen=True)
class QueueRow:
    """``type`` is ``queue`` (from queue samples) or ``job`` (an ETL job's run queue)."""

    subject: str
    type: str
    depth: float | None = None
    oldest_age: float | None = None  # seconds
    oldest_age_estimated: bool = False  # True: Little's law depth / dequeue rate
    dequeue_rate: float | None = None  # items/s
    growth: float | None = None  # items/s, least-squares slope of depth over W
    depth_limit: float | None = None
    age_limit_s: float | None = None
    time_to_breach: float | None = None  # seconds; 0 when already breached
    dispatch_delay: float | None = None  # seconds, latest run: START - nominalStartTime
    runs: int | None = None
    duration_p50: float | None = None  # seconds, completed runs in the run window
    duration_p95: float | None = None
    duration_p99: float | None = None


def compute(storage: Storage, as_of_ns: int, params: Params) -> tuple[QueueRow, ...]:
    return ()
