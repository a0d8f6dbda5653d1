"""Wall-clock tick machinery: steps on their own thread (newest snapshot wins, failures
isolated, stop drains what is pending) and history written on change between keyframes."""

from __future__ import annotations

import threading
import time

from loadsense.correlator.history import ChangeFilter, HistorySubmitter, Segment
from loadsense.correlator.snapshot import EMPTY, Snapshot
from loadsense.correlator.steps import EvaluationGate, StepRunner, yield_to_evaluation
from loadsense.selfmetrics import SelfMetrics
from loadsense.signals.freshness import FreshnessRow
from loadsense.storage.client import Storage
from loadsense.storage.writer import Writer, WriterLimits
from tests.conftest import query
from tests.support.service import poll_until
from tests.support.signals_feed import NS, T0, unique


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

    def seg(*values: float) -> list[Segment]:
        return [("freshness", "freshness", [f"d{i}" for i in range(len(values))], list(values))]

    def kept(at: float, *values: float) -> list[tuple[str, float]]:
        out = changes(at, seg(*values))
        return [(s, v) for _, _, subj, vals in out for s, v in zip(subj, vals, strict=True)]

    assert kept(0.0, 1.0, 1.0, 0.5) == [("d0", 1.0), ("d1", 1.0), ("d2", 0.5)]  # keyframe
    assert kept(5.0, 1.0, 0.9, 0.5) == [("d1", 0.9)]  # only d1 changed
    assert kept(10.0, 1.0, 0.9, 0.5) == []  # nothing changed
    assert len(kept(60.0, 1.0, 0.9, 0.5)) == 3  # 60 s after the first: a keyframe
    assert len(kept(30.0, 1.0, 0.9, 0.5)) == 3  # the clock went back: a keyframe
    assert kept(35.0, 1.0, 0.9, 0.25, 7.0) == [("d2", 0.25), ("d3", 7.0)]  # d3 is new


def test_steps_yield_while_the_correlator_evaluates() -> None:
    done: list[float] = []

    def run(snap: Snapshot) -> None:
        yield_to_evaluation()  # as dispatch does between batches of workloads
        done.append(snap.as_of)

    gate = EvaluationGate()
    runner = StepRunner(run, gate=gate)
    with gate.evaluating():
        runner.submit(_snap(1.0))
        time.sleep(0.3)  # the step is waiting (absence needs a wait)
        assert done == []
    poll_until(lambda: done == [1.0])
    yield_to_evaluation()  # not a steps thread: returns at once
    runner.stop()


def test_wall_clock_history_is_written_off_the_tick_and_drained_on_close(
    storage: Storage,
) -> None:
    subject = f"{unique('hist')}/table"
    row = FreshnessRow(
        subject, 1.0, 3, 60.0, False, 30.0, 60.0, 60.0, 1.0, 181.0, 1.0, 0, None, None
    )
    writer = Writer(storage, WriterLimits(), SelfMetrics())
    history = HistorySubmitter(writer, wait=False)
    try:
        for at in (T0 / NS, T0 / NS + 5):  # the second tick changes nothing: not written
            snap = Snapshot(as_of=at, graph=EMPTY.graph, tick_seconds=0.0, freshness=(row,))
            assert history(snap) == 0  # queued, not written on the tick's thread
        history.close()  # writes what is queued
    finally:
        writer.close()
    rows = query(
        storage,
        "SELECT field, value FROM signal_points WHERE subject = {s:String} ORDER BY field",
        s=subject,
    )
    # age 30, effective freshness 1, freshness 1: once each (the keyframe)
    assert rows == [("age", 30.0), ("effective_freshness", 1.0), ("freshness", 1.0)]
