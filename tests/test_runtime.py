"""Interpreter tuning of the serve process."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from loadsense.runtime import GC_THRESHOLDS, tune_gc


@pytest.fixture
def restored_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_tune_gc_raises_thresholds_and_freezes_what_exists(restored_gc: None) -> None:
    survivor = [object() for _ in range(10)]  # alive before tuning: frozen, never scanned
    tune_gc()
    assert gc.get_threshold() == GC_THRESHOLDS
    assert GC_THRESHOLDS[0] > 700  # CPython's default young threshold
    assert gc.get_freeze_count() >= len(survivor)
    # cycles made afterwards are still collected
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1
