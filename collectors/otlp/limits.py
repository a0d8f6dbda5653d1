"""What one OTLP request, span or data point may carry (docs/telemetry.md, "Limits").

Items beyond a per-item limit are rejected and reported in ``partial_success``; a
request beyond :data:`MAX_ITEMS_PER_REQUEST` is refused whole (413), since decoding it
would hold hundreds of megabytes of Python objects at once.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_ITEMS_PER_REQUEST = 100_000
"""Most spans (or data points) one request may carry; more is answered 413."""

MAX_FUTURE_SKEW_NS = 3600 * 10**9
"""How far past the time of receipt a timestamp may lie before the item is rejected."""

MAX_NAME_LENGTH = 4096
"""Longest span name, metric name, unit, or scope name, in characters."""

MAX_STATUS_MESSAGE_LENGTH = 64 * 1024
"""Longest span status message, in characters."""

MAX_BUCKETS = 4096
"""Most histogram buckets (explicit, or exponential per sign) in one data point."""


def queued_bytes(rows: int, body_bytes: int) -> int:
    """Python memory the decoded rows of one request hold while they wait in the write
    queue (sizes the writer's byte budget). Measured with tracemalloc: about 650 bytes per
    span or point with a few attributes, about 3x the body for attribute-heavy spans."""
    return max(rows * 650, body_bytes * 3)


FUTURE_REASON = f"timestamp more than {MAX_FUTURE_SKEW_NS // 10**9}s after receipt"
"""How an item rejected for lying in the future is reported."""


@dataclass(frozen=True)
class TimeWindow:
    """The timestamps an item may carry: after ``floor``, at most ``horizon``.

    ``horizon`` is the time of receipt plus :data:`MAX_FUTURE_SKEW_NS`; ``floor`` is the
    time of receipt minus the retention (0 without one): an older row would be deleted
    by the table TTL on arrival, so it is rejected instead of silently expiring.
    """

    floor: int
    horizon: int
    retention_days: float = 0

    @classmethod
    def around(cls, received_at_ns: int, retention_days: float = 0) -> TimeWindow:
        floor = max(0, received_at_ns - int(retention_days * 86_400 * 10**9))
        horizon = received_at_ns + MAX_FUTURE_SKEW_NS
        return cls(floor if retention_days > 0 else 0, horizon, retention_days)

    def problem(self, time: int) -> str | None:
        """Why ``time`` is outside the window, or None."""
        if time > self.horizon:
            return FUTURE_REASON
        if time <= self.floor:
            return (
                f"timestamp older than the retention window ({self.retention_days:g} days):"
                " it would expire on arrival"
            )
        return None
