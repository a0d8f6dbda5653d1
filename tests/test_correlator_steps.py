"""Wall-clock tick machinery: steps on their own thread (newest snapshot wins, failures
isolated, stop drains what is pending) and history written on change between keyframes."""

from __future__ import annotations

import threading
from typing import Any

from correlator.history import ChangeFilter
from correlator.snapshot import EMPTY, Snapshot
from correlator.steps import StepRunner
from tests.support.service import poll_until


def _snap(at: float) -> Snapshot:
    return Snapshot(as_of=at, graph=EMPTY.graph, tick_seconds=0.0)


def test_steps_run_on_the_newest_snapshot_and_count_the_skipped() -> None:
    release = threading.Event()
    seen: list[float] = []
    skipped: list[int] = []

    def run(snap: Snapshot) -> None:
        seen.append(snap.as_of)
        if snap.as_of == 1.0:
            release.wait(10)  # hold the first while three more arrive

    runner = StepRunner(run, lambda: skipped.append(1))
    runner.submit(_snap(1.0))
    poll_until(lambda: seen == [1.0])
    for at in (2.0, 3.0, 4.0):
        runner.submit(_snap(at))
    release.set()
    poll_until(runner.idle)
    assert seen == [1.0, 4.0]  # 2 and 3 were superseded while 1 ran
    assert len(skipped) == 2
    runner.stop()


def test_a_failing_run_does_not_stop_the_thread_and_stop_drains() -> None:
    seen: list[float] = []

    def run(snap: Snapshot) -> None:
        seen.append(snap.as_of)
        if snap.as_of == 1.0:
            raise RuntimeError("dispatch failed")

    runner = StepRunner(run)
    runner.submit(_snap(1.0))
    poll_until(lambda: seen == [1.0])
    runner.submit(_snap(2.0))
    runner.stop()  # returns once 2.0 has run
    assert seen == [1.0, 2.0]


def test_history_between_keyframes_holds_only_changed_values() -> None:
    changes = ChangeFilter(keyframe_s=60)

    def cols(*values: float) -> dict[str, list[Any]]:
        n = len(values)
        return {
            "as_of": ["t"] * n,
            "kind": ["freshness"] * n,
            "subject": [f"d{i}" for i in range(n)],
            "field": ["freshness"] * n,
            "value": list(values),
        }

    assert changes(0.0, cols(1.0, 1.0, 0.5))["value"] == [1.0, 1.0, 0.5]  # first: keyframe
    kept = changes(5.0, cols(1.0, 0.9, 0.5))
    assert kept["subject"] == ["d1"] and kept["value"] == [0.9]  # only d1 changed
    assert changes(10.0, cols(1.0, 0.9, 0.5))["value"] == []  # nothing changed
    assert changes(60.0, cols(1.0, 0.9, 0.5))["value"] == [1.0, 0.9, 0.5]  # 60 s: keyframe
    assert changes(30.0, cols(1.0, 0.9, 0.5))["value"] == [1.0, 0.9, 0.5]  # clock went back
    assert changes(35.0, cols(1.0, 0.9, 0.25, 7.0))["subject"] == ["d2", "d3"]  # d3 is new
