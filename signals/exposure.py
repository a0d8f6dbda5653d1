"""Stale-prediction exposure per model service over the window W (docs/signals.md)."""

from __future__ import annotations

from dataclasses import dataclass

from signals.contract import Params
from storage.client import Storage

KIND = "exposure"


@dataclass(frozen=True)
class InputExposure:
    """One input dataset's share of a service's exposure (to blame one table)."""

    dataset: str
    stale_requests: int
    exposure_ratio: float | None
    weighted_exposure: float


@dataclass(frozen=True)
class ExposureRow:
    subject: str  # service.name
    window_s: float
    theta: float
    requests: int
    inputs: tuple[str, ...]
    exposure_ratio: float | None  # None: no declared inputs (unknown), never 0
    weighted_exposure: float | None
    stale_requests: int | None
    per_input: tuple[InputExposure, ...] = ()


def compute(storage: Storage, as_of_ns: int, params: Params) -> tuple[ExposureRow, ...]:
    return ()
