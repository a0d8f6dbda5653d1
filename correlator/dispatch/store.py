"""The published recommendations: swapped whole each tick, waited on by long polls.

Readers (API threads and the event loop) see one view at a time; the writer (the
correlator thread, or a read replica's follower task) replaces it. ``seq`` increases
whenever a decision or the regime changes, and every long-poll waiter is woken
(thread-safely, on its own event loop); a waiter then compares its filtered ETag and
waits again if its view did not change.

:class:`ViewSource` is what the recommendation routes read (api/routes/recommendations.py);
:class:`RecommendationStore` (the primary's) and a replica's ``ViewStore`` both satisfy it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Generic, Protocol, TypeVar

from loadsense.correlator.dispatch.engine import Evaluation
from loadsense.correlator.dispatch.recommendation import Recommendation
from loadsense.correlator.dispatch.regime import CALM, Pressures, RegimeState
from loadsense.correlator.dispatch.render import RenderedView


class View(Protocol):
    """One published state: its change counter and its rendered JSON."""

    @property
    def seq(self) -> int: ...

    @property
    def rendered(self) -> RenderedView: ...


class ViewSource(Protocol):
    """The current view, and a way to wait until it is superseded."""

    @property
    def current(self) -> View: ...

    async def wait_for_change(self, seq: int, timeout: float) -> bool: ...


@dataclass(frozen=True)
class Published:
    seq: int
    as_of: float | None  # None before the first evaluation
    regime: RegimeState
    policy_version: str
    default_concurrency: int
    recommendations: tuple[Recommendation, ...] = ()
    by_workload: Mapping[str, Recommendation] = field(default_factory=lambda: MappingProxyType({}))
    view: RenderedView | None = None  # rendered on publish (the correlator's thread)

    @property
    def rendered(self) -> RenderedView:
        if self.view is not None:
            return self.view
        return RenderedView(
            self.as_of,
            self.regime.regime,
            self.policy_version,
            self.recommendations,
            self.default_concurrency,
        )


def _empty(policy_version: str, default_concurrency: int) -> Published:
    return Published(
        seq=0,
        as_of=None,
        regime=RegimeState(CALM, 0.0, Pressures(0.0, 0.0)),
        policy_version=policy_version,
        default_concurrency=default_concurrency,
    )


V = TypeVar("V", bound=View)


class ViewStore(Generic[V]):
    """The current view of type ``V``; :meth:`swap` replaces it and wakes long polls."""

    def __init__(self, initial: V) -> None:
        self._current = initial
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    @property
    def current(self) -> V:
        return self._current

    @property
    def waiting(self) -> int:
        """Long polls currently waiting for a change."""
        return len(self._waiters)

    def swap(self, view: V) -> None:
        """Make ``view`` current; wake the waiters when its ``seq`` differs (a change)."""
        with self._lock:
            changed = view.seq != self._current.seq
            self._current = view
            waiters, self._waiters = (self._waiters, []) if changed else ([], self._waiters)
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):  # the waiter's loop has closed
                loop.call_soon_threadsafe(_wake, future)

    async def wait_for_change(self, seq: int, timeout: float) -> bool:
        """Wait until ``seq`` is superseded (True) or ``timeout`` seconds pass (False)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        entry = (loop, future)
        with self._lock:
            if self._current.seq != seq:
                return True
            self._waiters.append(entry)
        try:
            await asyncio.wait_for(future, timeout)
            return True
        except TimeoutError:
            return False
        finally:
            with self._lock:
                if entry in self._waiters:
                    self._waiters.remove(entry)


class RecommendationStore(ViewStore[Published]):
    def __init__(self, policy_version: str = "", default_concurrency: int = 4) -> None:
        super().__init__(_empty(policy_version, default_concurrency))

    def publish(self, evaluation: Evaluation, default_concurrency: int) -> Published:
        prev = self._current
        changed = bool(evaluation.changes) or (
            prev.regime.regime != evaluation.regime.regime
            or len(prev.recommendations) != len(evaluation.recommendations)
        )
        published = Published(
            seq=prev.seq + 1 if changed else prev.seq,
            as_of=evaluation.as_of,
            regime=evaluation.regime,
            policy_version=evaluation.policy_version,
            default_concurrency=default_concurrency,
            recommendations=evaluation.recommendations,
            by_workload=MappingProxyType({r.workload: r for r in evaluation.recommendations}),
            view=RenderedView(
                evaluation.as_of,
                evaluation.regime.regime,
                evaluation.policy_version,
                evaluation.recommendations,
                default_concurrency,
            ),
        )
        self.swap(published)
        return published


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
