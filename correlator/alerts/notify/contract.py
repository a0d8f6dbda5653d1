"""The notifier contract: what an alert sender must do (Alertmanager, plain webhook).

A :class:`Notifier` gets batches of :class:`Notification` (one alert each, already in
the shape Prometheus sends: firing alerts with ``ends_at`` = their validity, resolved
ones with ``ends_at`` = when they resolved) and delivers them with one or more HTTP
posts. ``send`` raises :class:`DeliveryError` (or any ``httpx.HTTPError``) when the
receiver did not take the batch; it never retries itself: ``queue.py`` owns queueing,
retries with backoff and the dropped-notification counters, on a thread of its own,
so a receiver that is down never blocks evaluation or stalls the tick.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from loadsense.errors import LoadsenseError


class DeliveryError(LoadsenseError):
    """A receiver refused or failed a batch (its status is in the message)."""

    code = "delivery"


@dataclass(frozen=True)
class Notification:
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: float
    ends_at: float | None
    generator_url: str
    fingerprint: str
    resolved: bool


def rfc3339(seconds: float | None) -> str:
    """Go's zero time for ``None``, as Alertmanager writes an unset ``endsAt``."""
    if seconds is None:
        return "0001-01-01T00:00:00Z"
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


class Notifier(Protocol):
    """Delivers notifications to one receiver."""

    @property
    def name(self) -> str:
        """The receiver's name in logs and metrics (its URL)."""
        ...

    def send(self, batch: Sequence[Notification]) -> None:
        """Deliver ``batch``; raise when the receiver did not accept it."""
        ...

    def close(self) -> None: ...
