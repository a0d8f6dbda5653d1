"""Exactly-once for retried export requests: a request whose body was already committed
is acknowledged again without being stored again.

Why: OTLP exporters (the SDKs, the Collector's retry sender) resend the very same
request when an acknowledgement is lost (a timeout, a dropped connection after the
commit). Rows that are replaced by identity in storage survive that, but the
``span_steps`` rollup counts spans as they are inserted, so a retried request would
count twice in the served-request signals.

A request is identified by its content, not its bytes: the receiver's
``Decoded.content_key``, a digest of the decoded message's deterministic serialization
(collectors/otlp/payload.py), is the same for an export sent once as OTLP/JSON and once
as protobuf. :func:`request_key` (route, media type and decompressed body) serves a
receiver that has none. Keying on bytes first and content second would cost a second
digest on every request to save a decode on the rare retry, so there is one key.

Keys of committed requests are kept for ``window_s`` (bounded by ``max_entries``,
oldest first) with the outcome they were answered with, which should be small (the
answer, never the rows: remembered outcomes live for the whole window). A request
that arrives while one with its key is still being written waits for it: it is
acknowledged with the first one's outcome when that commits, and written itself when
that fails. Failed writes are not remembered. The memory is per process: a retry that
arrives after a restart is stored again (docs/telemetry.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

R = TypeVar("R")

DEFAULT_WINDOW_S = 900.0
"""How long a committed request is remembered: longer than the exporters' retry budget
(the Collector's ``retry_on_failure.max_elapsed_time`` defaults to 300 s)."""

DEFAULT_MAX_ENTRIES = 200_000
"""At ~100 bytes an entry, a bound of ~20 MB whatever the request rate."""


def request_key(route: str, media: str, body: bytes) -> bytes:
    """The identity of an export request (16-byte BLAKE2b digest)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(route.encode())
    h.update(b"\0")
    h.update(media.encode())
    h.update(b"\0")
    h.update(body)
    return h.digest()


class RetryDedup(Generic[R]):
    """Remembers committed requests by key and the outcome each was answered with.

    Used from one event loop (the outcome of a commit is shared with concurrent
    identical requests through a future on that loop).
    """

    def __init__(
        self,
        window_s: float = DEFAULT_WINDOW_S,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._window_s = window_s
        self._max_entries = max_entries
        self._clock = clock
        self._done: OrderedDict[bytes, tuple[float, R]] = OrderedDict()
        self._pending: dict[bytes, asyncio.Future[R]] = {}
        self.duplicates = 0

    def __len__(self) -> int:
        return len(self._done)

    def _expire(self, now: float) -> None:
        done = self._done
        while done and (len(done) > self._max_entries or next(iter(done.values()))[0] <= now):
            done.popitem(last=False)

    async def once(self, key: bytes, commit: Callable[[], Awaitable[R]]) -> tuple[R, bool]:
        """``(outcome, duplicate)``: run ``commit`` unless ``key`` was committed within the
        window (then its remembered outcome and True). Exceptions from ``commit``
        propagate and leave nothing remembered."""
        while True:
            self._expire(self._clock())
            seen = self._done.get(key)
            if seen is not None:
                self.duplicates += 1
                return seen[1], True
            pending = self._pending.get(key)
            if pending is None:
                break
            try:
                outcome = await asyncio.shield(pending)
            except Exception as exc:  # the first attempt failed: write this one
                logger.debug("retried request's first attempt failed (%s); writing it", exc)
                continue
            self.duplicates += 1
            return outcome, True
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            outcome = await commit()
        except BaseException as exc:
            future.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
            future.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        finally:
            del self._pending[key]
        self._done[key] = (self._clock() + self._window_s, outcome)
        future.set_result(outcome)
        return outcome, False
