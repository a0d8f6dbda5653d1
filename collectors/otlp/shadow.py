"""Wire-compatible "shadow" OTLP messages that hand attributes over as raw bytes.

Why: with the generated OTLP classes every attribute is a ``KeyValue`` message whose
``AnyValue`` must be inspected from Python, about a microsecond per attribute, which
dominates span decoding. A ``repeated bytes`` field has the same wire encoding as
``repeated KeyValue`` (each element length-delimited), so the shadow schema below
parses the same bytes but returns every ``attributes`` field as the list of serialized
``KeyValue`` s, built in C. :mod:`loadsense.collectors.otlp.anyvalue` turns those into text,
memoising the (mostly repeated) key-value encodings.

The shadow files are copies of the installed opentelemetry-proto descriptors, renamed
into the ``loadsense.shadow`` package of a private descriptor pool; only fields named
``attributes`` of type ``KeyValue`` change. Everything else (ids, timestamps, proto3
``optional`` presence, enums) is exactly the upstream schema.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

_PREFIX = "loadsense/shadow/"
_PACKAGE_PREFIX = "loadsense.shadow."
_KEY_VALUE = ".opentelemetry.proto.common.v1.KeyValue"

_F = descriptor_pb2.FieldDescriptorProto


def _rename_type(type_name: str) -> str:
    if type_name.startswith(".opentelemetry.proto."):
        return "." + _PACKAGE_PREFIX + type_name[1:]
    return type_name


def _shadow_message(message: descriptor_pb2.DescriptorProto) -> None:
    """Rewrite ``message`` in place: attributes become ``repeated bytes``."""
    for field in message.field:
        if field.type_name == _KEY_VALUE and field.name == "attributes":
            field.type = _F.TYPE_BYTES
            field.ClearField("type_name")
        elif field.HasField("type_name"):
            field.type_name = _rename_type(field.type_name)
    for nested in message.nested_type:
        _shadow_message(nested)


def _add_file(pool: descriptor_pool.DescriptorPool, source: Any, done: set[str]) -> None:
    if source.name in done:
        return
    for dependency in source.dependencies:
        _add_file(pool, dependency, done)
    proto = descriptor_pb2.FileDescriptorProto()
    source.CopyToProto(proto)
    proto.name = _PREFIX + proto.name
    proto.package = _PACKAGE_PREFIX + proto.package
    deps = [_PREFIX + d for d in proto.dependency]
    del proto.dependency[:]
    proto.dependency.extend(deps)
    del proto.service[:]
    for message in proto.message_type:
        _shadow_message(message)
    pool.Add(proto)
    done.add(source.name)


def _build() -> dict[str, Any]:
    pool = descriptor_pool.DescriptorPool()
    done: set[str] = set()
    _add_file(pool, trace_service_pb2.DESCRIPTOR, done)
    _add_file(pool, metrics_service_pb2.DESCRIPTOR, done)

    def cls(name: str) -> Any:
        return message_factory.GetMessageClass(
            pool.FindMessageTypeByName(_PACKAGE_PREFIX + "opentelemetry.proto." + name)
        )

    return {
        "traces": cls("collector.trace.v1.ExportTraceServiceRequest"),
        "metrics": cls("collector.metrics.v1.ExportMetricsServiceRequest"),
        "span": cls("trace.v1.Span"),
    }


_CLASSES = _build()

TraceRequest: Any = _CLASSES["traces"]
"""Shadow ``ExportTraceServiceRequest``: same wire format, attributes as raw maps."""

MetricsRequest: Any = _CLASSES["metrics"]
"""Shadow ``ExportMetricsServiceRequest``: same wire format, attributes as raw maps."""

Span: Any = _CLASSES["span"]
"""The shadow ``Span`` class (its unbound methods are hoisted out of hot loops)."""
