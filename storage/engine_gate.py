"""A chDB connection runs one statement at a time; this gate decides whose goes next.

The shared client is one connection used by every thread (the correlator, the API's
reads, migrations), and the client's own lock is not fair: the correlator, issuing query
after query, re-takes it the moment it lets go, so an insert made through the shared
client could sit behind a whole tick. :class:`EngineGate` admits one call at a time and
lets waiting inserts go first, but a waiting query is passed over at most
:data:`MAX_PASSES` times, so the correlator keeps ticking under a steady insert load.
Queries are not ordered among themselves. :class:`GatedClient` puts the gate in front of
a clickhouse-connect client. The ingest writer does not pass through it: on embedded
chDB it inserts through connections of its own (storage/writer.py), which the engine runs
beside this one; a ClickHouse server runs statements concurrently and is not gated.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

MAX_PASSES = 4
"""Inserts that may go ahead of a waiting query before it is admitted."""

_WRITES = frozenset({"insert", "insert_arrow", "insert_df", "raw_insert"})
_READS = frozenset({"query", "command", "query_arrow", "query_df", "query_np", "raw_query"})


class EngineGate:
    """One engine call at a time; inserts first, queries never starved."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy = False
        self._writes_waiting = 0
        self._reads_waiting = 0
        self._passes = 0  # inserts admitted while a query was waiting

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writes_waiting += 1
            try:
                while self._busy or (self._reads_waiting and self._passes >= MAX_PASSES):
                    self._cond.wait()
            finally:
                self._writes_waiting -= 1
            self._busy = True
            if self._reads_waiting:
                self._passes += 1
        try:
            yield
        finally:
            self._release()

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            self._reads_waiting += 1
            try:
                while self._busy or (self._writes_waiting and self._passes < MAX_PASSES):
                    self._cond.wait()
            finally:
                self._reads_waiting -= 1
            self._busy = True
            self._passes = 0
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        with self._cond:
            self._busy = False
            self._cond.notify_all()


class GatedClient:
    """A clickhouse-connect client whose engine calls pass through an :class:`EngineGate`
    (inserts as writes, queries and commands as reads); everything else is the client's."""

    def __init__(self, client: Any, gate: EngineGate | None = None) -> None:
        self._client = client
        self._gate = gate or EngineGate()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if name in _WRITES:
            return self._gated(attr, self._gate.write)
        if name in _READS:
            return self._gated(attr, self._gate.read)
        return attr

    @staticmethod
    def _gated(call: Callable[..., Any], turn: Callable[[], Any]) -> Callable[..., Any]:
        def gated(*args: Any, **kwargs: Any) -> Any:
            with turn():
                return call(*args, **kwargs)

        return gated
