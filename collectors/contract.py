"""The receiver contract: wire bytes in, validated row batches out.

A receiver's ``decode`` must either raise :class:`loadsense.errors.InvalidInput`
(nothing of the request is stored) or return every row it will store, already
normalised, as :class:`loadsense.storage.writer.RowBatch` es. Items it deliberately refuses
(a NaN where none is allowed, an unsupported type) are counted in ``rejected`` with a
reason the protocol can report (OTLP ``partial_success``), never dropped silently.
Decoding is pure: no I/O, no clock other than ``received_at``.

A receiver gets bytes, never a request: the HTTP edge (``api/routes``) reads the body
within the size limit, decompresses it with ``collectors/body.py`` and passes it with the
media type of its ``Content-Type``. So nothing in ``collectors/`` depends on a web
framework, and a receiver runs the same behind a test, a benchmark or another transport.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from loadsense.storage.writer import RowBatch


@dataclass(frozen=True)
class Decoded:
    """``lenient``: (reason, count) of items accepted only under a documented leniency
    (counted in ``/metrics``). ``content_key``: a digest of what the request carries,
    equal for every encoding of the same content (b"" when the receiver has none)."""

    batches: tuple[RowBatch, ...]
    accepted: int
    rejected: int = 0
    rejection_reason: str = ""
    lenient: tuple[tuple[str, int], ...] = ()
    content_key: bytes = b""


class Receiver(Protocol):
    """Turns one request body of a given media type into rows."""

    media_types: frozenset[str]

    def decode(self, body: bytes, media_type: str, received_at_ns: int) -> Decoded: ...
