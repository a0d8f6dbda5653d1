"""What one OTLP request, span or data point may carry (docs/telemetry.md, "Limits").

Items beyond a per-item limit are rejected and reported in ``partial_success``; a
request beyond :data:`MAX_ITEMS_PER_REQUEST` is refused whole (413), since decoding it
would hold hundreds of megabytes of Python objects at once.
"""

from __future__ import annotations

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

ROW_MEMORY_FACTOR = 4
"""Python memory per byte of request body while rows wait in the write queue (measured
about 3-4x for typical spans); sizes the writer's byte budget."""

FUTURE_REASON = f"timestamp more than {MAX_FUTURE_SKEW_NS // 10**9}s after receipt"
"""How an item rejected for lying in the future is reported."""
