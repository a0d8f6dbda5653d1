"""Builders and queries shared by the OpenLineage tests (this module holds no tests).

Every builder takes a ``tag`` that the test makes unique (uuid), so tests that share the
session's one database never see each other's rows.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from loadsense.storage.client import Storage
from tests.conftest import query

TOKEN = "t"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
PRODUCER = "https://github.com/example/loadsense-tests"
# An hour ago, whole seconds: inside the retention window and clear of the future-skew
# limit, and exact, so tests can spell expected times as BASE_TIME + an offset.
BASE_TIME = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
BASE_NS = int(BASE_TIME.timestamp()) * 1_000_000_000

TABLES = (
    "lineage_events",
    "run_events",
    "dataset_updates",
    "lineage_edges",
    "dataset_schemas",
    "quality_assertions",
)


def iso(seconds: float = 0.0) -> str:
    """``BASE_TIME + seconds`` as RFC 3339 with milliseconds and ``Z``."""
    return (
        (BASE_TIME + timedelta(seconds=seconds))
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def ns(seconds: float = 0.0) -> int:
    return BASE_NS + round(seconds * 1e9)


def run_event(
    tag: str,
    event_type: str = "COMPLETE",
    seconds: float = 0.0,
    run_id: str | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A RunEvent of job ``tag`` reading ``tag.in`` and writing ``tag.out``."""
    event: dict[str, Any] = {
        "eventTime": iso(seconds),
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
        "eventType": event_type,
        "run": {"runId": run_id or str(uuid.uuid4()), "facets": {}},
        "job": {"namespace": "tests", "name": tag, "facets": {}},
        "inputs": [{"namespace": "pg://db", "name": f"{tag}.in", "facets": {}}],
        "outputs": [
            {
                "namespace": "pg://db",
                "name": f"{tag}.out",
                "facets": {"schema": {"fields": [{"name": "id", "type": "INT"}]}},
                "outputFacets": {"outputStatistics": {"rowCount": 10, "size": 100}},
            }
        ],
    }
    event.update(overrides)
    return event


def job_event(tag: str, inputs: list[str], seconds: float = 0.0) -> dict[str, Any]:
    return {
        "eventTime": iso(seconds),
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent",
        "job": {"namespace": "serving", "name": tag, "facets": {}},
        "inputs": [{"namespace": "feast://store", "name": name} for name in inputs],
        "outputs": [],
    }


def stored_rows(storage: Storage, tag: str) -> dict[str, int]:
    """Distinct rows (FINAL: duplicates by identity collapsed) mentioning ``tag`` per table."""
    pattern = f"%{tag}%"
    where = {
        "lineage_events": "raw LIKE {p:String}",
        "run_events": "job_name LIKE {p:String}",
        "dataset_updates": "dataset_name LIKE {p:String} OR job_name LIKE {p:String}",
        "lineage_edges": "dataset_name LIKE {p:String} OR job_name LIKE {p:String}",
        "dataset_schemas": "dataset_name LIKE {p:String}",
        "quality_assertions": "dataset_name LIKE {p:String}",
    }
    return {
        table: int(
            query(storage, f"SELECT count() FROM {table} FINAL WHERE {cond}", p=pattern)[0][0]
        )  # type: ignore[call-overload]
        for table, cond in where.items()
    }


def nothing_stored(storage: Storage, tag: str) -> bool:
    return not any(stored_rows(storage, tag).values())
