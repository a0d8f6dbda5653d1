"""Dataset freshness and effective freshness through lineage (docs/signals.md)."""

from __future__ import annotations

from dataclasses import dataclass

from signals.contract import Params
from storage.client import Storage

KIND = "freshness"


@dataclass(frozen=True)
class FreshnessRow:
    subject: str  # dataset namespace/name
    last_update: float | None  # epoch seconds
    updates: int
    expected_interval: float | None  # seconds
    interval_declared: bool
    age: float | None  # seconds
    grace: float | None
    half_life: float | None
    freshness: float | None  # 2^(-max(0, age - grace) / H); None when unknown
    deadline: float | None  # epoch seconds: last_update + grace + H
    effective_freshness: float | None
    depth: int  # lineage depth behind effective_freshness
    producer: str | None  # job of the latest update
    last_run_id: str | None


def compute(storage: Storage, as_of_ns: int, params: Params) -> tuple[FreshnessRow, ...]:
    return ()
