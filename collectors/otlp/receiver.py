"""The OTLP receivers as :class:`collectors.contract.Receiver` s (what routes and the
benchmark call)."""

from __future__ import annotations

from collectors.contract import Decoded
from collectors.otlp.http import MEDIA_TYPES
from collectors.otlp.metrics import decode_metrics
from collectors.otlp.traces import decode_traces


class TracesReceiver:
    """``ExportTraceServiceRequest`` bodies (protobuf or JSON) to ``spans`` rows."""

    media_types = MEDIA_TYPES

    def decode(self, body: bytes, media_type: str, received_at_ns: int) -> Decoded:
        return decode_traces(body, media_type, received_at_ns)


class MetricsReceiver:
    """``ExportMetricsServiceRequest`` bodies to ``metric_points`` and derived samples."""

    media_types = MEDIA_TYPES

    def decode(self, body: bytes, media_type: str, received_at_ns: int) -> Decoded:
        return decode_metrics(body, media_type, received_at_ns)
