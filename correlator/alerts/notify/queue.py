"""One bounded queue and sender thread per receiver: evaluation never waits on delivery.

:meth:`SendQueue.put` only appends (dropping the oldest notifications past
``capacity``, counted in ``dropped``) and returns; the thread takes up to
``batch_size`` at a time and calls the :class:`Notifier`, retrying a failed batch with
doubling backoff (0.5 s, 1 s, 2 s ... at most 30 s) up to ``max_attempts`` posts, then
drops it (counted). A receiver that is down at first gets what was queued once it
answers, within ``max_attempts``. The loop catches everything at its boundary and
carries on.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence

from loadsense.correlator.alerts.notify.contract import Notification, Notifier

logger = logging.getLogger(__name__)


class SendQueue:
    def __init__(
        self,
        notifier: Notifier,
        capacity: int = 10_000,
        max_attempts: int = 5,
        batch_size: int = 64,
        backoff_s: float = 0.5,
    ) -> None:
        self.notifier = notifier
        self.capacity = capacity
        self.max_attempts = max_attempts
        self.batch_size = batch_size
        self.backoff_s = backoff_s
        self.sent = 0
        self.failed_posts = 0
        self.dropped = 0
        self._items: deque[Notification] = deque()
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(
            target=self._run, name=f"alerts-send {notifier.name}", daemon=True
        )
        self._thread.start()

    @property
    def name(self) -> str:
        return self.notifier.name

    @property
    def pending(self) -> int:
        return len(self._items)

    def put(self, batch: Sequence[Notification]) -> None:
        """Queue ``batch`` (never blocks)."""
        if not batch:
            return
        with self._cond:
            self._items.extend(batch)
            overflow = len(self._items) - self.capacity
            for _ in range(max(0, overflow)):
                self._items.popleft()
            if overflow > 0:
                self.dropped += overflow
                logger.warning("%s: queue full, dropped %d notifications", self.name, overflow)
            self._cond.notify()

    def _take(self) -> list[Notification] | None:
        with self._cond:
            while not self._items and not self._stop:
                self._cond.wait()
            if self._stop:
                return None
            n = min(self.batch_size, len(self._items))
            return [self._items.popleft() for _ in range(n)]

    def _deliver(self, batch: list[Notification]) -> None:
        delay = self.backoff_s
        for attempt in range(1, self.max_attempts + 1):
            try:
                self.notifier.send(batch)
                self.sent += len(batch)
                return
            except Exception as exc:
                self.failed_posts += 1
                logger.warning(
                    "%s: delivery failed (attempt %d of %d): %s",
                    self.name,
                    attempt,
                    self.max_attempts,
                    exc,
                )
            with self._cond:
                if self._stop or attempt == self.max_attempts:
                    break
                self._cond.wait_for(lambda: self._stop, timeout=delay)
            delay = min(delay * 2, 30.0)
        self.dropped += len(batch)
        logger.error("%s: dropped %d notifications", self.name, len(batch))

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            try:
                self._deliver(batch)
            except Exception:
                logger.exception("%s: sender loop error; continuing", self.name)

    def close(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout)
        self.notifier.close()
