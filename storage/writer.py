"""Group commit: many requests' rows become one insert per table, and each request is
acknowledged only once every row it carried is committed.

Receivers call :meth:`Writer.write` with column-oriented :class:`RowBatch` es (one per
table). The writer reserves room in a bounded queue (rows and bytes, shared by all
tables) or raises :class:`Backpressure` (503 + ``Retry-After``). Each table has a
flusher thread running leader/follower group commit: when no insert into the table is
in flight, pending rows are inserted at once (a lone request waits for one insert, not a
batching window); whatever arrives during an insert joins the next one, up to
``batch_max_rows``, so a busy service still writes large blocks. On embedded chDB the
writer inserts through ``insert_connections`` connections of its own, never the shared
client the correlator queries through, so an insert does not wait behind a query; a
flusher takes a free connection in the order it asked and its rows only once it has
one, so with fewer connections than busy tables, rows that arrive meanwhile join the
next insert (with 1 the tables take turns). A ClickHouse server shares the one client.
Tables whose views read each other's rows (``coupled``, by default
:data:`~loadsense.storage.schema.cumulative.COUPLED_INSERTS`) take turns: their inserts
never overlap, so each view sees the other table's committed rows.
``batch_max_delay_ms`` (0 by default) adds a linger for deployments that prefer fewer,
larger parts; :meth:`Writer.linger` gives chosen tables a linger of their own (rows
derived after the acknowledgement, api/journal.py), which :meth:`Writer.hurry` cuts
short. If an insert fails, every request in it gets :class:`WriteFailed` (5xx) and
nothing is acknowledged; a multi-request batch that fails is retried request by
request, so one bad request cannot fail its neighbours. Retried deliveries are
deduplicated by the tables' ReplacingMergeTree identity keys.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from loadsense.errors import Backpressure, LoadsenseError, WriteFailed
from loadsense.selfmetrics import SelfMetrics
from loadsense.settings import default_of
from loadsense.storage import native_block
from loadsense.storage.client import Storage, open_connection
from loadsense.storage.schema.cumulative import COUPLED_INSERTS
from loadsense.storage.schema.model import identifier

logger = logging.getLogger(__name__)

INSERT_SETTINGS = {"optimize_on_insert": 0, "throw_on_max_partitions_per_insert_block": 0}
"""Skip the ReplacingMergeTree merge of each inserted block: it halves insert CPU, and
duplicates are removed by background merges and ``FINAL`` reads anyway (docs/storage.md).
A batch touching more than ``max_partitions_per_insert_block`` days (a replay of history
with a long retention) is stored with a warning in the engine's log, not refused."""


@dataclass(frozen=True)
class RowBatch:
    """Rows for one table, column-oriented: ``data[i]`` holds column ``columns[i]``."""

    table: str
    columns: tuple[str, ...]
    data: tuple[Sequence[Any], ...]
    rows: int
    nbytes: int

    @classmethod
    def of(cls, table: str, columns: dict[str, Sequence[Any]], nbytes: int) -> RowBatch:
        names = tuple(columns)
        data = tuple(columns[n] for n in names)
        rows = len(data[0]) if data else 0
        if any(len(col) != rows for col in data):
            raise ValueError(f"columns of {table} differ in length")
        return cls(table, names, data, rows, nbytes)


@dataclass(frozen=True)
class WriterLimits:
    """The writer's bounds; the defaults are the declared settings' (loadsense/settings.py)."""

    batch_max_rows: int = default_of("batch_max_rows")
    batch_max_delay_s: float = default_of("batch_max_delay_ms") / 1000
    queue_max_rows: int = default_of("queue_max_rows")
    queue_max_bytes: int = default_of("queue_max_bytes")
    retry_after_s: float = default_of("retry_after_s")
    insert_connections: int = default_of("insert_connections")


class _Budget:
    """Rows and bytes queued but not yet committed, bounded."""

    def __init__(self, limits: WriterLimits, metrics: SelfMetrics) -> None:
        self._limits = limits
        self._metrics = metrics
        self._lock = threading.Lock()
        self.rows = 0
        self.nbytes = 0

    def try_acquire(self, rows: int, nbytes: int) -> bool:
        with self._lock:
            # An empty queue admits one oversized request rather than refusing it forever.
            empty = self.rows == 0
            if not empty and (
                self.rows + rows > self._limits.queue_max_rows
                or self.nbytes + nbytes > self._limits.queue_max_bytes
            ):
                return False
            self.rows += rows
            self.nbytes += nbytes
            self._publish()
            return True

    def force(self, rows: int, nbytes: int) -> None:
        with self._lock:
            self.rows += rows
            self.nbytes += nbytes
            self._publish()

    def release(self, rows: int, nbytes: int) -> None:
        with self._lock:
            self.rows -= rows
            self.nbytes -= nbytes
            self._publish()

    def _publish(self) -> None:
        self._metrics.queue_rows.set(self.rows)
        self._metrics.queue_bytes.set(self.nbytes)


class _Pending:
    """One request's batch for one table, and the future its request waits on."""

    __slots__ = ("batch", "future")

    def __init__(self, batch: RowBatch) -> None:
        self.batch = batch
        self.future: Future[None] = Future()


class _Connections:
    """The clients inserts go through. Embedded: the writer's own, lent to the tables'
    flushers one each, in the order they asked (a plain queue is not fair). A server runs
    concurrent inserts on its one shared client, so that is lent to all at once."""

    def __init__(self, storage: Storage, size: int) -> None:
        self._shared = None if storage.embedded else storage.client
        self._owned = [open_connection(storage) for _ in range(size)] if storage.embedded else []
        self._free = list(self._owned)
        self._queue: deque[object] = deque()
        self._cond = threading.Condition()

    @contextmanager
    def __call__(self) -> Iterator[Any]:
        if self._shared is not None:
            yield self._shared
            return
        ticket = object()
        with self._cond:
            self._queue.append(ticket)
            while self._queue[0] is not ticket or not self._free:
                self._cond.wait()
            self._queue.popleft()
            client = self._free.pop()
            self._cond.notify_all()  # the next in line may take another free client
        try:
            yield client
        finally:
            with self._cond:
                self._free.append(client)
                self._cond.notify_all()

    def close(self) -> None:
        for client in self._owned:
            try:
                client.close()
            except Exception:  # closing is best effort on shutdown
                logger.debug("closing an insert connection failed", exc_info=True)


class _TableFlusher:
    """The background loop that inserts one table's pending batches. It never dies."""

    def __init__(
        self,
        table: str,
        limits: WriterLimits,
        budget: _Budget,
        m: SelfMetrics,
        connections: _Connections,
        linger_s: float | None = None,
        gate: threading.Lock | None = None,
    ) -> None:
        self._connections = connections
        self._gate = gate
        self._table = table
        self._limits = limits
        self._linger_s = limits.batch_max_delay_s if linger_s is None else linger_s
        self._hurry = False
        self._budget = budget
        self._metrics = m
        self._cond = threading.Condition()
        self._pending: list[_Pending] = []
        self._pending_rows = 0
        self._oldest = 0.0
        self._stopping = False
        self._draining = False
        self._type_names: dict[str, str] = {}
        self._thread = threading.Thread(target=self._run, name=f"flush-{table}", daemon=True)
        self._thread.start()

    def enqueue(self, item: _Pending) -> None:
        with self._cond:
            if not self._pending:
                self._oldest = time.monotonic()
            self._pending.append(item)
            self._pending_rows += item.batch.rows
            if self._pending_rows >= self._limits.batch_max_rows or len(self._pending) == 1:
                self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()

    def hurry(self) -> None:
        """Insert what is pending now, without waiting out the linger."""
        with self._cond:
            self._hurry = True
            self._cond.notify()

    def drain(self) -> None:
        """From now on insert pending rows at once instead of waiting to fill a batch."""
        with self._cond:
            self._draining = True
            self._cond.notify()

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _wait_for_rows(self) -> bool:
        """Block until rows are pending (and any linger is over); False once stopped empty."""
        with self._cond:
            while not self._pending:
                if self._stopping:
                    return False
                self._cond.wait()
            deadline = self._oldest + self._linger_s
            while self._pending_rows < self._limits.batch_max_rows and not (
                self._stopping or self._draining or self._hurry
            ):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return True

    def _take(self) -> list[_Pending]:
        """Everything pending, up to one insert's worth of rows."""
        with self._cond:
            taken: list[_Pending] = []
            rows = 0
            while self._pending and (not taken or rows < self._limits.batch_max_rows):
                item = self._pending.pop(0)
                taken.append(item)
                rows += item.batch.rows
            self._pending_rows -= rows
            self._oldest = time.monotonic()
            self._hurry = False
            return taken

    def _run(self) -> None:
        while True:
            try:
                if not self._wait_for_rows():
                    return
                # Rows are taken only once a connection is free, so what arrived while
                # every connection was busy with other tables joins this insert. A gate
                # is taken before the connection, so no flusher holds a connection
                # while it waits for a coupled table's insert to end.
                with self._gate or nullcontext(), self._connections() as client:
                    self._flush(client, self._take())
            except Exception:  # the loop must survive anything; items were already settled
                logger.exception("flusher for %s failed; continuing", self._table)

    def _flush(self, client: Any, items: list[_Pending]) -> None:
        groups: dict[tuple[str, ...], list[_Pending]] = {}
        for item in items:
            groups.setdefault(item.batch.columns, []).append(item)
        for columns, group in groups.items():
            try:
                self._insert(client, columns, group)
            except Exception as exc:
                if len(group) == 1:
                    self._settle(group, exc)
                    continue
                logger.warning("batch insert into %s failed; retrying per request", self._table)
                for item in group:
                    try:
                        self._insert(client, columns, [item])
                    except Exception as single_exc:
                        self._settle([item], single_exc)

    def _insert(self, client: Any, columns: tuple[str, ...], group: list[_Pending]) -> None:
        rows = sum(i.batch.rows for i in group)
        if len(group) == 1:
            data: Sequence[Sequence[Any]] = group[0].batch.data
        else:
            data = [
                list(itertools.chain.from_iterable(i.batch.data[c] for i in group))
                for c in range(len(columns))
            ]
        started = time.perf_counter()
        try:
            types = self._column_types(client, columns)
            block = native_block.encode(columns, types, data, rows)
            if block is not None:
                client.raw_insert(
                    self._table, list(columns), block, settings=INSERT_SETTINGS, fmt="Native"
                )
            else:
                client.insert(
                    self._table,
                    data,
                    column_names=list(columns),
                    column_type_names=types,
                    column_oriented=True,
                    settings=INSERT_SETTINGS,
                )
        except Exception:
            self._type_names.clear()  # a changed table is described afresh on the retry
            raise
        self._metrics.flush_seconds.labels(self._table).observe(time.perf_counter() - started)
        self._metrics.batch_rows.labels(self._table).observe(rows)
        self._metrics.rows_accepted.labels(self._table).inc(rows)
        self._settle(group, None)

    def _column_types(self, client: Any, columns: tuple[str, ...]) -> list[str]:
        """The columns' ClickHouse types, described once per table rather than on every
        insert (the client would otherwise run ``DESCRIBE TABLE`` before each one)."""
        if any(c not in self._type_names for c in columns):
            described = client.query(f"DESCRIBE TABLE {identifier(self._table)}")
            self._type_names = {str(row[0]): str(row[1]) for row in described.result_rows}
        return [self._type_names[c] for c in columns]

    def _settle(self, group: list[_Pending], exc: BaseException | None) -> None:
        if exc is not None:
            logger.error("insert into %s failed: %s", self._table, exc)
            self._metrics.flush_failures.labels(self._table).inc()
        for item in group:
            self._budget.release(item.batch.rows, item.batch.nbytes)
            if exc is None:
                item.future.set_result(None)
            else:
                self._metrics.rows_rejected.labels(self._table, "insert_failed").inc(
                    item.batch.rows
                )
                item.future.set_exception(exc)


class Writer:
    """Bounded, group-committing write path shared by every receiver."""

    def __init__(
        self,
        storage: Storage,
        limits: WriterLimits,
        metrics: SelfMetrics,
        coupled: Sequence[frozenset[str]] = COUPLED_INSERTS,
    ) -> None:
        self._storage = storage
        self._limits = limits
        self._metrics = metrics
        self._budget = _Budget(limits, metrics)
        self._flushers: dict[str, _TableFlusher] = {}
        self._lingers: dict[str, float] = {}
        self._connections = _Connections(storage, limits.insert_connections)
        # one gate per group of tables whose inserts must not overlap (schema views that
        # join another table would miss each other's rows)
        self._gates: dict[str, threading.Lock] = {}
        for group in coupled:
            gate = threading.Lock()
            self._gates.update(dict.fromkeys(group, gate))
        self._lock = threading.Lock()
        self._closed = False

    @property
    def queued_rows(self) -> int:
        return self._budget.rows

    def _flusher(self, table: str) -> _TableFlusher:
        with self._lock:
            flusher = self._flushers.get(table)
            if flusher is None:
                flusher = _TableFlusher(
                    table,
                    self._limits,
                    self._budget,
                    self._metrics,
                    self._connections,
                    self._lingers.get(table),
                    self._gates.get(table),
                )
                self._flushers[table] = flusher
            return flusher

    def linger(self, tables: Sequence[str], seconds: float) -> None:
        """Let ``tables``' pending rows wait up to ``seconds`` for more to join their insert
        (set before the first write to them)."""
        with self._lock:
            for table in tables:
                self._lingers[table] = seconds

    def hurry(self, tables: Sequence[str]) -> None:
        """Insert ``tables``' pending rows now, cutting their linger short."""
        with self._lock:
            flushers = [self._flushers[t] for t in tables if t in self._flushers]
        for f in flushers:
            f.hurry()

    def submit(self, batches: Sequence[RowBatch], *, owed: bool = False) -> list[Future[None]]:
        """Queue ``batches`` (all or none); return one future per non-empty batch.

        ``owed``: rows of a request already acknowledged, which must not be refused for
        room: they are queued even over the bounds (new requests are refused meanwhile)."""
        batches = [b for b in batches if b.rows]
        if self._closed:
            raise Backpressure("shutting down", retry_after=self._limits.retry_after_s)
        rows = sum(b.rows for b in batches)
        nbytes = sum(b.nbytes for b in batches)
        if not batches:
            return []
        if owed:
            self._budget.force(rows, nbytes)
        elif not self._budget.try_acquire(rows, nbytes):
            for b in batches:
                self._metrics.rows_rejected.labels(b.table, "queue_full").inc(b.rows)
            raise Backpressure(
                f"write queue full ({self._budget.rows} rows queued)",
                retry_after=self._limits.retry_after_s,
            )
        futures = []
        for b in batches:
            item = _Pending(b)
            self._flusher(b.table).enqueue(item)
            futures.append(item.future)
        return futures

    async def write(self, batches: Sequence[RowBatch]) -> None:
        """Return once every row of ``batches`` is committed; raise if any insert failed."""
        futures = self.submit(batches)
        if not futures:
            return
        results = await asyncio.gather(
            *(asyncio.wrap_future(f) for f in futures), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            first = failures[0]
            if isinstance(first, LoadsenseError):
                raise first
            raise WriteFailed("storage rejected the write; nothing was acknowledged, retry later")

    def write_sync(self, batches: Sequence[RowBatch], timeout: float | None = None) -> None:
        """Blocking :meth:`write` for threads outside the event loop (correlator, tests)."""
        for future in self.submit(batches):
            exc = future.exception(timeout)
            if exc is not None:
                raise WriteFailed("storage rejected the write") from exc

    def drain(self) -> None:
        """Shutdown has begun: commit queued rows now so waiting requests get their answer
        before the server stops waiting for them. New writes are still accepted."""
        with self._lock:
            flushers = list(self._flushers.values())
        for f in flushers:
            f.drain()

    def close(self, timeout: float = 30.0) -> bool:
        """Stop accepting, flush everything queued, and wait; True if all was flushed."""
        self._closed = True
        with self._lock:
            flushers = list(self._flushers.values())
        for f in flushers:
            f.stop()
        deadline = time.monotonic() + timeout
        ok = all(f.join(max(0.0, deadline - time.monotonic())) for f in flushers)
        if ok:
            self._connections.close()
        else:
            logger.error("write queue not drained within %.0fs: %d rows", timeout, self.queued_rows)
        return ok
