"""The OpenLineage receiver: request bodies of one event or a batch, to row batches.

``decode`` implements the receiver contract (collectors/contract.py) for
``POST /api/v1/lineage``: one event, valid as a whole or refused with
:class:`InvalidInput`. ``decode_batch`` serves ``POST /api/v1/lineage/batch``: a JSON
array whose bad events are reported by index while the good ones are stored, as the
OpenLineage batch API describes. A body that is not JSON at all is refused whole,
since no event boundary can be trusted in it.

The JSON is parsed once. For a batch, each element is decoded in place with
``raw_decode`` so the raw text stored for an event is exactly what the producer sent.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from loadsense.collectors.contract import Decoded
from loadsense.collectors.openlineage.normalise import LineageRows
from loadsense.collectors.openlineage.validate import DEFAULT_MAX_FUTURE_SKEW_S, check
from loadsense.collectors.reasons import value_reason
from loadsense.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType

MAX_BATCH_EVENTS = 10_000
"""Events accepted in one batch request; larger batches get 413 and should be split."""

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class FailedEvent:
    """One refused element of a batch: its position, why, and whether a retry can help."""

    index: int
    reason: str
    retriable: bool = False


@dataclass(frozen=True)
class BatchDecoded:
    decoded: Decoded
    received: int
    failed: tuple[FailedEvent, ...]


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"body is not valid UTF-8 (byte {exc.start})") from None


def _json_error(exc: ValueError | RecursionError) -> InvalidInput:
    if isinstance(exc, json.JSONDecodeError):
        return InvalidInput(f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    if isinstance(exc, RecursionError):
        return InvalidInput("invalid JSON: nested too deeply")
    return InvalidInput(f"invalid JSON: {value_reason(exc)}")


def _expect(text: str, idx: int, what: str) -> InvalidInput:
    found = repr(text[idx]) if idx < len(text) else "end of body"
    return InvalidInput(f"invalid JSON at character {idx}: expected {what}, found {found}")


def _skip_ws(text: str, idx: int) -> int:
    m = _WS.match(text, idx)
    return m.end() if m else idx


def split_array(text: str, limit: int) -> list[tuple[Any, str]]:
    """The elements of the JSON array ``text`` with their exact source text.

    Refuses anything but one array (400) and more than ``limit`` elements (413).
    """
    idx = _skip_ws(text, 0)
    if not text.startswith("[", idx):
        raise InvalidInput("a batch must be a JSON array of events")
    idx = _skip_ws(text, idx + 1)
    items: list[tuple[Any, str]] = []
    if text.startswith("]", idx):
        idx += 1
    else:
        while True:
            try:
                obj, end = _DECODER.raw_decode(text, idx)
            except (ValueError, RecursionError) as exc:
                raise _json_error(exc) from None
            items.append((obj, text[idx:end]))
            if len(items) > limit:
                raise PayloadTooLarge(
                    f"a batch holds at most {limit} events; split it into smaller batches"
                )
            idx = _skip_ws(text, end)
            if text.startswith(",", idx):
                idx = _skip_ws(text, idx + 1)
            elif text.startswith("]", idx):
                idx += 1
                break
            else:
                raise _expect(text, idx, "',' or ']'")
    idx = _skip_ws(text, idx)
    if idx != len(text):
        raise _expect(text, idx, "end of body")
    return items


def _lenient(rows: LineageRows) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(rows.lenient.items()))


class LineageReceiver:
    """Decodes OpenLineage request bodies; pure apart from the clock it is given."""

    media_types = frozenset({"application/json", ""})

    def __init__(
        self,
        max_future_skew_s: float = DEFAULT_MAX_FUTURE_SKEW_S,
        retention_days: float = 0,
        max_batch_events: int = MAX_BATCH_EVENTS,
    ) -> None:
        """``retention_days`` (0: unbounded) refuses events the table TTL would drop."""
        self.max_skew_ns = int(max_future_skew_s * 1e9)
        self.max_age_ns = int(retention_days * 86400e9)
        self.max_batch_events = max_batch_events

    def _check_media_type(self, media_type: str) -> None:
        if media_type not in self.media_types and not media_type.endswith("+json"):
            raise UnsupportedMediaType(
                f"unsupported Content-Type {media_type!r}: send application/json"
            )

    def decode(self, body: bytes, media_type: str, received_at_ns: int) -> Decoded:
        """One event (``POST /api/v1/lineage``): all of it, or InvalidInput."""
        self._check_media_type(media_type)
        text = _text(body)
        try:
            event = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise _json_error(exc) from None
        if isinstance(event, list):
            raise InvalidInput("expected one event object; send arrays to /api/v1/lineage/batch")
        rows = LineageRows()
        checked = check(event, text.strip(), received_at_ns, self.max_skew_ns, self.max_age_ns)
        rows.add(checked, received_at_ns)
        return Decoded(batches=rows.batches(), accepted=1, lenient=_lenient(rows))

    def decode_batch(self, body: bytes, media_type: str, received_at_ns: int) -> BatchDecoded:
        """A JSON array (``POST /api/v1/lineage/batch``): good events in, bad ones listed."""
        self._check_media_type(media_type)
        items = split_array(_text(body), self.max_batch_events)
        rows = LineageRows()
        failed: list[FailedEvent] = []
        for index, (event, raw) in enumerate(items):
            try:
                checked = check(event, raw, received_at_ns, self.max_skew_ns, self.max_age_ns)
            except InvalidInput as exc:  # its message names the field
                failed.append(FailedEvent(index, exc.message))
                continue
            rows.add(checked, received_at_ns)
        accepted = len(items) - len(failed)
        decoded = Decoded(
            batches=rows.batches(),
            accepted=accepted,
            rejected=len(failed),
            rejection_reason=failed[0].reason if failed else "",
            lenient=_lenient(rows),
        )
        return BatchDecoded(decoded=decoded, received=len(items), failed=tuple(failed))
