"""One dataset's recent history as stored: updates, schema versions, quality results.

The dashboard's dataset page shows these beside the freshness curve, so an operator sees
*why* a table is stale (no update since, a failed assertion, a retyped column). Rows
come straight from the lineage tables (deduplicated with ``FINAL``) for the dataset
whose subject (``namespace/name``, as in every signal) is bound as a parameter, between
two instants, newest first and bounded by ``limit``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loadsense.storage.client import Storage


@dataclass(frozen=True)
class Update:
    at: float  # epoch seconds
    job: str  # namespace/name of the producing job
    run_id: str
    row_count: int | None


@dataclass(frozen=True)
class SchemaVersion:
    at: float
    fields: tuple[tuple[str, str], ...]  # (name, type)


@dataclass(frozen=True)
class QualityResult:
    at: float
    assertion: str
    column: str
    success: bool


@dataclass(frozen=True)
class DatasetTimeline:
    dataset: str
    updates: tuple[Update, ...]
    schemas: tuple[SchemaVersion, ...]
    quality: tuple[QualityResult, ...]


_WHERE = """
WHERE concat(dataset_namespace, '/', dataset_name) = {dataset:String}
  AND event_time >= fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC')
  AND event_time <= fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
ORDER BY event_time DESC
LIMIT {limit:UInt32}
"""

_UPDATES_SQL = (
    "SELECT toUnixTimestamp64Milli(event_time) / 1e3, concat(job_namespace, '/', job_name), "
    "run_id, row_count FROM dataset_updates FINAL" + _WHERE
)
_SCHEMAS_SQL = (
    "SELECT toUnixTimestamp64Milli(event_time) / 1e3, field_names, field_types "
    "FROM dataset_schemas FINAL" + _WHERE
)
_QUALITY_SQL = (
    "SELECT toUnixTimestamp64Milli(event_time) / 1e3, assertion, column, success "
    "FROM quality_assertions FINAL" + _WHERE
)


def dataset_timeline(
    storage: Storage, dataset: str, from_s: float, to_s: float, limit: int = 500
) -> DatasetTimeline:
    """``dataset``'s updates, schema versions and assertion results in ``[from, to]``."""
    params = {
        "dataset": dataset,
        "from_ms": int(from_s * 1000),
        "to_ms": int(to_s * 1000),
        "limit": limit,
    }

    def rows(sql: str) -> list[Any]:
        result: list[Any] = storage.client.query(sql, parameters=params).result_rows
        return result

    return DatasetTimeline(
        dataset=dataset,
        updates=tuple(
            Update(float(t), str(j), str(r), None if n is None else int(n))
            for t, j, r, n in rows(_UPDATES_SQL)
        ),
        schemas=tuple(
            SchemaVersion(float(t), tuple(zip(names, types, strict=True)))
            for t, names, types in rows(_SCHEMAS_SQL)
        ),
        quality=tuple(
            QualityResult(float(t), str(a), str(c), bool(ok)) for t, a, c, ok in rows(_QUALITY_SQL)
        ),
    )
