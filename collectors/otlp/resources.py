"""OTLP resources: their identity and the ``resources`` rows one request carries.

A resource is identified by its attribute set: ``resource_id`` is the first 8 bytes of
a BLAKE2b hash over the sorted ``(key, text)`` pairs, read as a little-endian UInt64,
so the same resource gets the same id in every request and every process.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from loadsense.storage.schema.telemetry import RESOURCES
from loadsense.storage.writer import RowBatch

RESOURCES_TABLE = RESOURCES.name
SERVICE_NAME = "service.name"
HOST_NAME = "host.name"

_ROW_BYTES = 1_000  # Python memory per resource row, for the writer's byte budget


def resource_id(attrs: Mapping[str, str]) -> int:
    canonical = json.dumps(sorted(attrs.items()), ensure_ascii=False).encode()
    return int.from_bytes(hashlib.blake2b(canonical, digest_size=8).digest(), "little")


class Resources:
    """The distinct resources of one request (one row each)."""

    def __init__(self, received_at_ns: int) -> None:
        self._received_at_ns = received_at_ns
        self._seen: dict[int, Mapping[str, str]] = {}

    def add(self, rid: int, attrs: Mapping[str, str]) -> None:
        """Record a resource at least one stored item refers to."""
        self._seen.setdefault(rid, attrs)

    def __len__(self) -> int:
        return len(self._seen)

    def batch(self) -> RowBatch:
        ids = list(self._seen)
        attrs = [self._seen[i] for i in ids]
        return RowBatch.of(
            RESOURCES_TABLE,
            {
                "resource_id": ids,
                "service_name": [a.get(SERVICE_NAME, "") for a in attrs],
                "host_name": [a.get(HOST_NAME, "") for a in attrs],
                "attributes": attrs,
                "seen_at": [self._received_at_ns] * len(ids),
            },
            len(ids) * _ROW_BYTES,
        )
