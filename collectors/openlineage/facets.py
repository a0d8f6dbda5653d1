"""Reading the facets Loadsense normalises, tolerantly.

Every reader returns an empty value when its facet is absent or not shaped as the spec
says: a facet is metadata about the event, and a malformed one must not cost the event
(the raw event still holds it). Which facet feeds which column is in docs/lineage.md.

Readers take a ``facets`` mapping (``run.facets``, ``job.facets``, a dataset's
``facets``, ``inputFacets`` or ``outputFacets``) as it came from JSON, possibly ``None``
or not a mapping at all. This is the ingest hot path: plain dict access, no models.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from loadsense.instants import MAX_NS, TimeFormatError, rfc3339_ns

_INT64_MAX = 9_223_372_036_854_775_807
_END = object()
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def canonical_uuid(text: str) -> str:
    """``text`` as a lower-case hyphenated UUID; ValueError when it is none.

    The regular expression settles the common spelling without building a UUID object.
    """
    lowered = text.lower()
    if _CANONICAL_UUID.fullmatch(lowered):
        return lowered
    return str(uuid.UUID(text))


def facet(container: Any, name: str) -> dict[str, Any] | None:
    """Facet ``name`` of a ``facets`` mapping, if both are objects."""
    if type(container) is not dict:
        return None
    value = container.get(name)
    return value if type(value) is dict else None


def _text(obj: Any, key: str) -> str:
    if type(obj) is dict:
        value = obj.get(key)
        if type(value) is str:
            return value
    return ""


def _count(obj: dict[str, Any] | None, key: str) -> int | None:
    if obj is None:
        return None
    value = obj.get(key)
    if type(value) is int and 0 <= value <= _INT64_MAX:  # type() excludes bool
        return value
    return None


@lru_cache(maxsize=4096)
def _cached_time(text: str) -> int | None:
    """Nominal times repeat across the runs of a schedule, hence the cache."""
    try:
        ns = rfc3339_ns(text)
    except TimeFormatError:
        return None
    return ns if 0 <= ns <= MAX_NS else None


def _time(obj: dict[str, Any], key: str) -> int | None:
    value = obj.get(key)
    return _cached_time(value) if type(value) is str else None


def nominal_time(run_facets: Any) -> tuple[int | None, int | None]:
    """``nominalTime`` start and end (``"nominalTime": null`` is accepted as absent)."""
    nominal = facet(run_facets, "nominalTime")
    if nominal is None:
        return None, None
    return _time(nominal, "nominalStartTime"), _time(nominal, "nominalEndTime")


def parent(run_facets: Any) -> tuple[str, str, str]:
    """Parent run id and job from ``parent`` (or the legacy key ``parentRun``).

    The run id is spelled like ``run_events.run_id`` when it is a UUID, and kept as
    sent otherwise: the parent is metadata, not the event's identity.
    """
    p = facet(run_facets, "parent") or facet(run_facets, "parentRun")
    if p is None:
        return "", "", ""
    run_id = _text(p.get("run"), "runId").strip()
    with contextlib.suppress(ValueError):
        run_id = canonical_uuid(run_id)
    job = p.get("job")
    return run_id, _text(job, "namespace"), _text(job, "name")


def error_message(run_facets: Any) -> str:
    return _text(facet(run_facets, "errorMessage"), "message")


def job_type(job_facets: Any) -> tuple[str, str, str]:
    """``jobType``: processingType (BATCH/STREAMING), integration, jobType."""
    jt = facet(job_facets, "jobType")
    if jt is None:
        return "", "", ""
    return _text(jt, "processingType"), _text(jt, "integration"), _text(jt, "jobType")


def identity(ds: dict[str, Any], ds_facets: Any) -> tuple[str, str]:
    """A dataset's canonical ``(namespace, name)``, resolving the ``symlinks`` facet.

    When ``symlinks`` lists identifiers of type ``TABLE``, the dataset is that table (a
    Spark job reading ``hdfs://.../warehouse/db.db/t`` and an Airflow task reading
    ``hive://metastore`` ``db.t`` touch one dataset); with several, the smallest
    ``(namespace, name)`` wins, so the choice does not depend on list order. Otherwise
    the dataset is its own ``(namespace, name)``.
    """
    own: tuple[str, str] = (ds["namespace"], ds["name"])
    links = facet(ds_facets, "symlinks")
    if links is None:
        return own
    ids = links.get("identifiers")
    if type(ids) is not list:
        return own
    best: tuple[str, str] | None = None
    for ident in ids:
        if type(ident) is not dict or _text(ident, "type").upper() != "TABLE":
            continue
        ns, name = _text(ident, "namespace"), _text(ident, "name")
        if ns and name and (best is None or (ns, name) < best):
            best = (ns, name)
    return best or own


def schema_fields(ds_facets: Any) -> tuple[list[str], list[str]] | None:
    """Flattened field names (``parent.child`` for nested fields) and types of ``schema``."""
    schema = facet(ds_facets, "schema")
    if schema is None or type(schema.get("fields")) is not list:
        return None
    names: list[str] = []
    types: list[str] = []
    # Pre-order walk with an explicit stack: nesting depth is the producer's choice.
    stack: list[tuple[str, Iterator[Any]]] = [("", iter(schema["fields"]))]
    while stack:
        prefix, fields = stack[-1]
        f = next(fields, _END)
        if f is _END:
            stack.pop()
            continue
        if type(f) is not dict:
            continue
        name = _text(f, "name")
        if not name:
            continue
        names.append(prefix + name)
        types.append(_text(f, "type"))
        nested = f.get("fields")
        if type(nested) is list and nested:
            stack.append((prefix + name + ".", iter(nested)))
    return names, types


def output_statistics(ds: dict[str, Any]) -> tuple[int | None, int | None, int | None]:
    """``outputStatistics`` rowCount, size (bytes) and fileCount of an output dataset."""
    stats = facet(ds.get("outputFacets"), "outputStatistics") or facet(
        ds.get("facets"), "outputStatistics"
    )
    if stats is None:
        return None, None, None
    return _count(stats, "rowCount"), _count(stats, "size"), _count(stats, "fileCount")


def lifecycle_state(ds_facets: Any) -> str:
    """``lifecycleStateChange`` (CREATE, ALTER, DROP, OVERWRITE, RENAME, TRUNCATE)."""
    return _text(facet(ds_facets, "lifecycleStateChange"), "lifecycleStateChange")


def assertions(ds: dict[str, Any]) -> list[tuple[str, str, bool, str]]:
    """``dataQualityAssertions`` as (assertion, column, success, severity).

    The spec places the facet in ``inputFacets``; producers also put it in ``facets``
    or ``outputFacets``, so all three are read.
    """
    dq = (
        facet(ds.get("inputFacets"), "dataQualityAssertions")
        or facet(ds.get("facets"), "dataQualityAssertions")
        or facet(ds.get("outputFacets"), "dataQualityAssertions")
    )
    if dq is None or type(dq.get("assertions")) is not list:
        return []
    out: list[tuple[str, str, bool, str]] = []
    for a in dq["assertions"]:
        name = _text(a, "assertion")
        if name and type(a.get("success")) is bool:
            out.append((name, _text(a, "column"), a["success"], _text(a, "severity")))
    return out
