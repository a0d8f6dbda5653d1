"""Tick steps off the correlator's thread, on the wall clock.

Why: the steps (dispatch) take as long as an evaluation at 10k workloads, and
nothing about a fresh snapshot needs them to finish first: the signals are published
when the evaluation ends. Running them on their own thread lets the next (early) tick
start at once, and on two cores one's Python overlaps the other's queries.

Each step sees every snapshot's clock in order, but not necessarily every snapshot: when
a new snapshot arrives before the steps finished the previous one, only the newest waits
(skipped ones are counted in ``loadsense_correlator_steps_skipped``), as a longer tick
interval would. On the external clock steps stay inline, so ``POST /api/v1/tick``
answers after them.

Evaluations come first: a long step calls :func:`yield_to_evaluation` between units of
work, which on the steps thread waits while the correlator evaluates (two Python threads
sharing the GIL would otherwise both run at half speed, and the freshly nudged
evaluation is what a user waits for).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from loadsense.correlator.snapshot import Snapshot

logger = logging.getLogger(__name__)

RunSteps = Callable[[Snapshot], None]

_local = threading.local()

YIELD_TIMEOUT_S = 10.0
"""The longest one pause lasts (an evaluation normally ends well before)."""


class EvaluationGate:
    """Open while the correlator is not evaluating; background work of the correlator
    (tick steps, history) pauses at :func:`yield_to_evaluation` while it is closed."""

    def __init__(self) -> None:
        self._open = threading.Event()
        self._open.set()

    @contextmanager
    def evaluating(self) -> Iterator[None]:
        """Close the gate for the block."""
        self._open.clear()
        try:
            yield
        finally:
            self._open.set()

    def follow(self) -> None:
        """Make :func:`yield_to_evaluation` on the calling thread wait at this gate."""
        _local.gate = self

    def wait(self, timeout: float) -> None:
        self._open.wait(timeout)


def yield_to_evaluation() -> None:
    """Call between units of work in long background work: on a thread following an
    :class:`EvaluationGate`, wait while its correlator evaluates; elsewhere (inline
    steps, other threads) return at once."""
    gate: EvaluationGate | None = getattr(_local, "gate", None)
    if gate is not None:
        gate.wait(YIELD_TIMEOUT_S)


class StepRunner:
    """A thread running ``run_steps`` on the newest submitted snapshot."""

    def __init__(
        self,
        run_steps: RunSteps,
        on_skip: Callable[[], None] = lambda: None,
        gate: EvaluationGate | None = None,
    ) -> None:
        self._run_steps = run_steps
        self._on_skip = on_skip
        self._cond = threading.Condition()
        self._pending: Snapshot | None = None
        self._busy = False
        self._stopping = False
        self._gate = gate or EvaluationGate()
        self._thread = threading.Thread(target=self._loop, name="correlator-steps", daemon=True)
        self._thread.start()

    def submit(self, snap: Snapshot) -> None:
        with self._cond:
            if self._pending is not None:
                self._on_skip()
            self._pending = snap
            self._cond.notify()

    def idle(self) -> bool:
        """Nothing pending or running (tests and shutdown)."""
        with self._cond:
            return self._pending is None and not self._busy

    def _loop(self) -> None:
        self._gate.follow()
        while True:
            with self._cond:
                while self._pending is None and not self._stopping:
                    self._cond.wait()
                if self._pending is None:  # stopping with nothing left
                    return
                snap, self._pending, self._busy = self._pending, None, True
            try:
                self._run_steps(snap)
            except Exception:  # run_steps isolates steps; this is a last resort
                logger.exception("tick steps failed; continuing")
            finally:
                with self._cond:
                    self._busy = False

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what is pending, then end the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout)
