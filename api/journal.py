"""Acknowledge an OpenLineage request once its events are committed, not every row
derived from them.

Why: a lone event's rows go to up to six tables, and their inserts (with the state and
cumulative views on them) cost several times the ``lineage_events`` insert alone, so a
producer sending events one after another (``dbt-ol`` at the end of a run) waited for
all of them. Every derived row is a function of its event's stored text alone
(normalise.py), so once ``lineage_events`` holds the event, the derived rows can always
be rebuilt: the journal acknowledges then, queues the derived rows behind it (they
linger ``derived_delay_ms`` so that many requests share one insert per table), retries
what fails, and on start re-derives the events whose derived rows may not have been
committed before a crash. Readers that must see everything acknowledged (a tick, an
evaluation) call :meth:`LineageJournal.settle` first.

The watermark: every event received at or before it has its derived rows committed. It
is the earliest receive time still in flight (or the latest one done), persisted about
once a second in ``journal_watermarks``; recovery re-derives the events received after
it, less :data:`RECOVERY_MARGIN_NS` for wall-clock steps. Re-deriving is idempotent:
derived tables replace by identity and the state views aggregate by min and max, which
is also what makes a producer's retried request safe.

Only on embedded chDB: one process owns the data directory, so the watermark has one
writer. On a ClickHouse server, whose ingest replicas come and go, and with
``lineage_ack: all``, a request is acknowledged once every table committed
(docs/lineage.md#acknowledgement).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from loadsense.collectors.openlineage.normalise import LineageRows
from loadsense.collectors.openlineage.receiver import LineageReceiver
from loadsense.collectors.openlineage.validate import check
from loadsense.errors import InvalidInput, LoadsenseError, WriteFailed
from loadsense.selfmetrics import SelfMetrics
from loadsense.storage.client import Storage
from loadsense.storage.schema.lineage import DERIVED_TABLES, JOURNAL_WATERMARKS, LINEAGE_EVENTS
from loadsense.storage.writer import RowBatch, Writer

logger = logging.getLogger(__name__)

STREAM = "lineage"
RECOVERY_MARGIN_NS = 5 * 1_000_000_000
"""Recovery re-derives this much before the watermark too: receive times come from the
wall clock, which may step back. A clean shutdown stores its watermark this far ahead,
so the next start re-derives nothing."""
PERSIST_EVERY_S = 1.0
RETRY_MIN_S = 0.5
RETRY_MAX_S = 30.0
RECOVERY_CHUNK = 5_000
"""Events re-derived per insert on start."""


@dataclass
class _Request:
    received_ns: int
    owed: int = 0  # derived batches queued, not yet committed
    acked: bool = False


@dataclass(order=True)
class _Retry:
    due: float
    seq: int
    token: int = field(compare=False)
    batch: RowBatch = field(compare=False)
    attempt: int = field(compare=False)


class LineageJournal:
    """Writes OpenLineage requests: acknowledged on the event rows' commit (embedded,
    ``lineage_ack: event``), else on every row's."""

    def __init__(
        self,
        storage: Storage,
        writer: Writer,
        receiver: LineageReceiver,
        metrics: SelfMetrics,
        *,
        early_ack: bool,
        delay_s: float,
    ) -> None:
        self.early_ack = early_ack and storage.embedded
        self._storage = storage
        self._writer = writer
        self._receiver = receiver
        self._metrics = metrics
        self._cond = threading.Condition()
        self._requests: dict[int, _Request] = {}
        self._tokens = itertools.count(1)
        self._latest_done = 0
        self._persisted = 0
        self._retries: list[_Retry] = []
        self._retry_seq = itertools.count()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self.early_ack:
            writer.linger(DERIVED_TABLES, delay_s)
            writer.linger((JOURNAL_WATERMARKS.name,), 0.0)

    # -- the request path -------------------------------------------------------------

    def begin(self, received_ns: int) -> int:
        """Register a request received at ``received_ns`` (before it is decoded, so the
        watermark cannot pass it); every token must be given to :meth:`write` or
        :meth:`abandon`."""
        with self._cond:
            token = next(self._tokens)
            self._requests[token] = _Request(received_ns)
            return token

    def abandon(self, token: int) -> None:
        """The request was refused or failed before its acknowledgement: nothing is owed."""
        with self._cond:
            request = self._requests.get(token)
            if request is not None and not request.acked:
                del self._requests[token]
                self._cond.notify_all()

    async def write(self, token: int, batches: Sequence[RowBatch]) -> None:
        """Return once the request may be acknowledged; raise (and owe nothing) if it may
        not. The caller abandons the token when this raises."""
        events = [b for b in batches if b.table == LINEAGE_EVENTS.name and b.rows]
        derived = [b for b in batches if b.table != LINEAGE_EVENTS.name and b.rows]
        if not self.early_ack or not events:
            await self._writer.write(batches)
            self._finish(token)
            return
        await self._writer.write(events)
        with self._cond:
            request = self._requests[token]
            request.acked = True
            request.owed = len(derived)
        if not derived:
            self._finish(token)
            return
        self._queue(token, derived, attempt=0)

    def _queue(self, token: int, batches: Sequence[RowBatch], attempt: int) -> None:
        try:
            futures = self._writer.submit(batches, owed=True)
        except LoadsenseError as exc:  # shutting down: recovery re-derives them
            logger.warning("derived lineage rows not queued (%s); kept for recovery", exc)
            return
        for batch, future in zip(batches, futures, strict=True):
            future.add_done_callback(
                lambda f, b=batch: self._derived_done(token, b, attempt, f)  # type: ignore[misc]
            )

    def _derived_done(
        self, token: int, batch: RowBatch, attempt: int, future: Future[None]
    ) -> None:
        exc = future.exception()
        if exc is not None:
            delay = min(RETRY_MAX_S, RETRY_MIN_S * 2**attempt)
            logger.error(
                "derived lineage rows for %s failed (%s); retrying in %.1fs",
                batch.table,
                exc,
                delay,
            )
            with self._cond:
                retry = _Retry(
                    time.monotonic() + delay, next(self._retry_seq), token, batch, attempt + 1
                )
                heapq.heappush(self._retries, retry)
                self._cond.notify_all()
            return
        with self._cond:
            request = self._requests.get(token)
            if request is None:
                return
            request.owed -= 1
            if request.owed > 0:
                return
        self._finish(token)

    def _finish(self, token: int) -> None:
        with self._cond:
            request = self._requests.pop(token, None)
            if request is not None:
                self._latest_done = max(self._latest_done, request.received_ns)
            self._cond.notify_all()

    # -- readers ----------------------------------------------------------------------

    @property
    def owed(self) -> int:
        """Acknowledged requests whose derived rows are not all committed yet."""
        with self._cond:
            return sum(1 for r in self._requests.values() if r.acked)

    def settle(self, timeout: float = 10.0) -> bool:
        """Wait until the derived rows of every request acknowledged so far are committed
        (inserting them now); False if ``timeout`` passed first."""
        if not self.early_ack:
            return True
        deadline = time.monotonic() + timeout
        with self._cond:
            waiting = {t for t, r in self._requests.items() if r.acked}
        if not waiting:
            return True
        self._writer.hurry(DERIVED_TABLES)
        with self._cond:
            while waiting & self._requests.keys():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    logger.warning("derived lineage rows not settled within %.1fs", timeout)
                    return False
                self._cond.wait(remaining)
        return True

    async def settle_async(self, timeout: float = 10.0) -> bool:
        if not self.early_ack or self.owed == 0:  # the common case needs no thread
            return True
        return await asyncio.to_thread(self.settle, timeout)

    # -- the watermark, retries and recovery --------------------------------------------

    def watermark(self) -> int:
        """Every event received at or before this has its derived rows committed."""
        with self._cond:
            if self._requests:
                return min(r.received_ns for r in self._requests.values()) - 1
            return max(self._latest_done, self._persisted)

    def start(self) -> None:
        """Re-derive what a crash may have left owed, then keep the watermark and the
        retries going on a thread of their own."""
        if not self.early_ack:
            return
        self.recover()
        self._thread = threading.Thread(target=self._run, name="lineage-journal", daemon=True)
        self._thread.start()

    def close(self, timeout: float) -> None:
        """Settle what is owed (as far as ``timeout`` allows) and persist the watermark."""
        if self._thread is None:
            return
        self.settle(timeout)
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout)
        self._thread = None
        if self.owed == 0 and not self._retries:  # clean: the next start owes nothing
            self._write_watermark(time.time_ns() + RECOVERY_MARGIN_NS)
        else:
            self._persist()

    def _run(self) -> None:
        next_persist = time.monotonic() + PERSIST_EVERY_S
        while not self._stop.is_set():
            try:
                for retry in self._due_retries(next_persist):
                    self._queue(retry.token, [retry.batch], retry.attempt)
                if time.monotonic() >= next_persist:
                    next_persist = time.monotonic() + PERSIST_EVERY_S
                    self._persist()
            except Exception:  # the loop must survive anything; the next round retries
                logger.exception("lineage journal round failed; continuing")
                self._stop.wait(PERSIST_EVERY_S)

    def _due_retries(self, until: float) -> list[_Retry]:
        """Wait until a retry is due or ``until``; the retries due."""
        with self._cond:
            while not self._stop.is_set():
                now = time.monotonic()
                due: list[_Retry] = []
                while self._retries and self._retries[0].due <= now:
                    due.append(heapq.heappop(self._retries))
                if due:
                    return due
                wake = min(until, self._retries[0].due) if self._retries else until
                if wake <= now:
                    return []
                self._cond.wait(wake - now)
            return []

    def _persist(self) -> None:
        mark = self.watermark()
        if mark <= self._persisted:
            return
        self._write_watermark(mark)
        self._persisted = mark

    def _write_watermark(self, mark: int) -> None:
        batch = RowBatch.of(
            JOURNAL_WATERMARKS.name,
            {"stream": [STREAM], "watermark_ns": [mark], "version": [time.time_ns()]},
            64,
        )
        self._commit([batch], "the lineage journal's watermark rows", timeout=30)

    def _stored_watermark(self) -> int | None:
        rows = self._storage.client.query(
            f"SELECT max(watermark_ns) AS w, count() AS n FROM {JOURNAL_WATERMARKS.name} FINAL "
            "WHERE stream = {s:String}",
            parameters={"s": STREAM},
        ).result_rows
        return int(rows[0][0]) if rows and int(rows[0][1]) else None

    def recover(self) -> int:
        """Re-derive the events received after the stored watermark (less the margin);
        return how many. The first start with the journal has nothing to re-derive."""
        stored = self._stored_watermark()
        now = time.time_ns()
        if stored is None:
            self._write_watermark(now)
            self._persisted = now
            return 0
        since = stored - RECOVERY_MARGIN_NS
        result = self._storage.client.query(
            f"SELECT raw, toUnixTimestamp64Nano(received_at) FROM {LINEAGE_EVENTS.name} "
            "WHERE received_at > fromUnixTimestamp64Nano({since:Int64}) ORDER BY received_at",
            parameters={"since": since},
        )
        events = [(str(raw), int(at)) for raw, at in result.result_rows]
        if events:
            logger.info(
                "re-deriving the rows of %d lineage events received since the last "
                "watermark (%d events per insert)",
                len(events),
                RECOVERY_CHUNK,
            )
        for start in range(0, len(events), RECOVERY_CHUNK):
            self._rederive(events[start : start + RECOVERY_CHUNK])
            if len(events) > RECOVERY_CHUNK:
                logger.info(
                    "re-derived %d of %d", min(len(events), start + RECOVERY_CHUNK), len(events)
                )
        self._write_watermark(now)
        self._persisted = now
        return len(events)

    def _rederive(self, events: Sequence[tuple[str, int]]) -> None:
        rows = LineageRows()
        r = self._receiver
        for raw, received_ns in events:
            try:
                checked = check(json.loads(raw), raw, received_ns, r.max_skew_ns, r.max_age_ns)
            except (InvalidInput, ValueError) as exc:  # stored, so it was valid then
                logger.warning("stored lineage event no longer checks (%s); skipped", exc)
                continue
            rows.add(checked, received_ns)
        derived = [b for b in rows.batches() if b.table != LINEAGE_EVENTS.name]
        self._commit(derived, "re-derived lineage rows", timeout=300)

    def _commit(self, batches: Sequence[RowBatch], what: str, timeout: float) -> None:
        """Insert ``batches`` (never refused for room) and wait for their commit."""
        for future in self._writer.submit(batches, owed=True):
            failure = future.exception(timeout=timeout)
            if failure is not None:
                raise WriteFailed(f"{what} were not stored") from failure
