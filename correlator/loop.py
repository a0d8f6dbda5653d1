"""The correlator: every tick, evaluate all signals as of its clock, keep the snapshot,
append history, then run the plug-in steps (dispatch).

Clock: on the wall clock a daemon thread ticks every ``tick_interval_s``, and early when
:meth:`Correlator.nudge` says new lineage landed (after resting ``min_gap_s`` since the
previous tick ended, so a steady stream of events cannot keep it busy); with the
external clock nothing ticks by itself and :meth:`Correlator.tick` is called with an
explicit instant (``POST /api/v1/tick?as_of=T``), so replays and simulations run the
very same code at simulated times. Ticks are serialised.

Failure isolation: a failing tick is logged, counted in
``loadsense_correlator_tick_failures`` and retried at the next tick; the previous
snapshot stays in place; the loop never dies. A failing :class:`TickStep` is logged
and does not affect the snapshot or the other steps.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from loadsense.correlator.history import write_history
from loadsense.correlator.snapshot import EMPTY, Snapshot
from loadsense.correlator.steps import EvaluationGate, StepRunner
from loadsense.selfmetrics import SelfMetrics
from loadsense.settings import default_of
from loadsense.signals import summaries
from loadsense.signals.config import SignalsConfig
from loadsense.signals.contract import NS_PER_S
from loadsense.signals.evaluate import evaluate_all
from loadsense.signals.run_inputs import RunInputsMemo
from loadsense.storage.client import Storage, release_memory

logger = logging.getLogger(__name__)


class TickStep(Protocol):
    """Something the correlator runs once per tick, after the snapshot is built.

    ``on_tick`` runs with the new snapshot (its ``as_of`` is the tick's clock: use it,
    never the wall clock): inline on the external clock, on the steps thread on the wall
    clock (``correlator/steps.py``: the newest snapshot only, if ticks outpace the
    steps). Steps run one at a time, in registration order. An exception is logged and
    isolated: the snapshot is already published and the other steps still run.
    """

    def on_tick(self, snapshot: Snapshot) -> None: ...


class Clock(Protocol):
    def now_ns(self) -> int: ...


class WallClock:
    def now_ns(self) -> int:
        return time.time_ns()


HistoryWriter = Callable[[Snapshot], object]


class Correlator:
    """Holds the latest snapshot and runs ticks (see the module docstring)."""

    def __init__(
        self,
        storage: Storage,
        config: SignalsConfig,
        metrics: SelfMetrics,
        *,
        interval_s: float = default_of("tick_interval_s"),
        min_gap_s: float = default_of("tick_min_gap_s"),
        external_clock: bool = False,
        clock: Clock | None = None,
        history: HistoryWriter | None = None,
        settle: Callable[[], object] | None = None,
    ) -> None:
        """``settle``: called before each evaluation, returns once every row acknowledged
        so far is readable (the lineage journal's derived rows)."""
        self._storage = storage
        self._settle = settle or (lambda: None)
        self.config = config
        self._metrics = metrics
        self.interval_s = interval_s
        self.min_gap_s = min_gap_s
        self._wake = threading.Event()
        self.external_clock = external_clock
        self._clock = clock or WallClock()
        self._history: HistoryWriter = history or (lambda snap: write_history(storage, snap))
        self._snapshot: Snapshot = EMPTY
        self._steps: list[TickStep] = []
        self._tick_lock = threading.Lock()
        self._run_inputs = RunInputsMemo()  # kept across ticks: signals/run_inputs.py
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._runner: StepRunner | None = None
        # steps and history pause while an evaluation runs (correlator/steps.py)
        self._gate = EvaluationGate()
        follow = getattr(self._history, "follow", None)
        if callable(follow):
            follow(self._gate)
        self.ticks = 0
        self.failures = 0

    @property
    def snapshot(self) -> Snapshot:
        """The latest complete snapshot (``EMPTY`` before the first tick)."""
        return self._snapshot

    def add_step(self, step: TickStep) -> None:
        """Run ``step.on_tick(snapshot)`` after every tick, in registration order."""
        self._steps.append(step)

    def evaluate(self, as_of_ns: int) -> Snapshot:
        """Every signal at ``as_of_ns``, without storing or publishing it."""
        self._settle()
        return self._evaluate(as_of_ns)

    def _evaluate(self, as_of_ns: int) -> Snapshot:
        started = time.perf_counter()
        ev = evaluate_all(self._storage, as_of_ns, self.config, memo=self._run_inputs)
        return Snapshot(
            as_of=as_of_ns / NS_PER_S,
            graph=ev.graph,
            tick_seconds=time.perf_counter() - started,
            **{kind: rows for kind, rows in ev.rows.items()},
        )

    def warm(self, as_of_ns: int | None = None) -> float:
        """Evaluate once ahead of the first tick, publishing nothing (start-up, like the
        first dataset summary): it reads the inputs of the runs behind every dataset's
        latest update into the memo and loads the engine's indexes and marks of the
        parts the signals read, so the first tick costs what every later one does.
        Then hands the memory start-up freed back to the OS. Returns the seconds it
        took. A failure is logged: the first tick then does it."""
        at = self._clock.now_ns() if as_of_ns is None else as_of_ns
        started = time.perf_counter()
        try:
            evaluate_all(self._storage, at, self.config, memo=self._run_inputs)
        except Exception:
            logger.exception("start-up evaluation failed; the first tick reads everything")
        release_memory(self._storage)  # what start-up read and freed (the first summary)
        return time.perf_counter() - started

    def tick(self, as_of_ns: int | None = None) -> Snapshot:
        """Run one tick at ``as_of_ns`` (default: the clock) and return its snapshot.

        Raises what evaluation raised (after counting the failure); the caller decides
        whether to go on (the loop does).
        """
        with self._tick_lock:
            at = self._clock.now_ns() if as_of_ns is None else as_of_ns
            started = time.perf_counter()
            self._settle()
            self._summarise(at)
            try:
                with self._gate.evaluating():
                    snap = self._evaluate(at)  # settled above, before the summary
                self._snapshot = snap  # one reference swap: readers see old or new
                self._history(snap)
            except Exception:
                self.failures += 1
                self._metrics.tick_failures.inc()
                raise
            finally:
                self._metrics.tick_seconds.observe(time.perf_counter() - started)
            self.ticks += 1
            if self._runner is not None and threading.current_thread() is self._thread:
                self._runner.submit(snap)  # wall clock: steps on their own thread
            else:
                self._run_steps(snap)
            return snap

    def _summarise(self, at: int) -> None:
        """Advance the dataset summary to this instant (a few thousand rows once per
        step); on failure the signals read every stored update instead, same rows."""
        try:
            summaries.advance(self._storage, at)
        except Exception:
            logger.exception("dataset summary not advanced; signals read every update")

    def _run_steps(self, snap: Snapshot) -> None:
        for step in list(self._steps):
            try:
                step.on_tick(snap)
            except Exception:
                logger.exception("tick step %s failed; continuing", type(step).__name__)

    def nudge(self) -> None:
        """Ask for an early tick: data that changes signals at once was committed. Cheap
        and thread-safe; a no-op on the external clock. A nudge during a tick is kept,
        so the data it announced is seen by the next tick."""
        self._wake.set()

    def _run(self) -> None:
        due = time.monotonic()
        while not self._stop.is_set():
            started = time.monotonic()
            self._wake.clear()  # nudges from now on ask for the tick after this one
            try:
                self.tick()
            except Exception:
                logger.exception("correlator tick failed; retrying next tick")
            ended = time.monotonic()
            # an early tick is due when it starts; a late one counts its lateness
            self._metrics.tick_lag_seconds.set(ended - min(due, started))
            due = started + self.interval_s
            self._wait(due, ended + self.min_gap_s)

    def _wait(self, scheduled: float, earliest: float) -> None:
        """Until ``scheduled``, or when nudged, until ``earliest`` (or stop)."""
        while not self._stop.is_set():
            remaining = scheduled - time.monotonic()
            if remaining <= 0:
                return
            if self._wake.wait(remaining):
                self._stop.wait(max(0.0, min(scheduled, earliest) - time.monotonic()))
                return

    def start(self) -> None:
        """Start the timer thread (wall clock only; the external clock has none)."""
        if self.external_clock or self._thread is not None:
            return
        self._runner = StepRunner(self._run_steps, self._metrics.steps_skipped.inc, self._gate)
        self._thread = threading.Thread(target=self._run, name="correlator", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._runner is not None:
            self._runner.stop(timeout)
            self._runner = None
        close = getattr(self._history, "close", None)
        if callable(close):
            close(timeout)
