"""The OTLP receivers as :class:`loadsense.collectors.contract.Receiver` s (what routes and the
benchmark call)."""

from __future__ import annotations

from loadsense.collectors.contract import Decoded
from loadsense.collectors.otlp.http import MEDIA_TYPES
from loadsense.collectors.otlp.metrics import decode_metrics
from loadsense.collectors.otlp.traces import decode_traces


class TracesReceiver:
    """``ExportTraceServiceRequest`` bodies (protobuf or JSON) to ``spans`` rows.

    ``retention_days`` (0: unbounded) rejects spans the table TTL would drop on arrival.
    """

    media_types = MEDIA_TYPES

    def __init__(self, retention_days: float = 0) -> None:
        self.retention_days = retention_days

    def decode(self, body: bytes, media_type: str, received_at_ns: int) -> Decoded:
        return decode_traces(body, media_type, received_at_ns, self.retention_days)


class MetricsReceiver:
    """``ExportMetricsServiceRequest`` bodies to ``metric_points`` and derived samples.

    ``retention_days`` (0: unbounded) rejects points the table TTL would drop on arrival.
    """

    media_types = MEDIA_TYPES

    def __init__(self, retention_days: float = 0) -> None:
        self.retention_days = retention_days

    def decode(self, body: bytes, media_type: str, received_at_ns: int) -> Decoded:
        return decode_metrics(body, media_type, received_at_ns, self.retention_days)
