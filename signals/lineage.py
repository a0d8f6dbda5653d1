"""Lineage-derived signals per dataset (docs/signals.md)."""

from __future__ import annotations

from dataclasses import dataclass

from signals.contract import Params
from storage.client import Storage

KIND = "lineage"


@dataclass(frozen=True)
class LineageRow:
    subject: str  # dataset namespace/name
    depth: int  # longest path from a source dataset
    producers: tuple[str, ...]
    downstream_services: tuple[str, ...]
    criticality: float  # sum of downstream services' requests per second
    recompute_cost: float | None  # seconds, median duration of producing runs
    failure_rate: float | None  # producing runs FAIL/ABORT share in the run window
    runs: int
    schema_drift: int  # fields added + removed + retyped in W
    validation_confidence: float | None  # passing share of the latest assertions


def compute(storage: Storage, as_of_ns: int, params: Params) -> tuple[LineageRow, ...]:
    return ()
