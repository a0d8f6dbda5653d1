"""Generated OpenLineage events against the receiver: it never fails with anything but a
400-class error, and every accepted event round-trips into the rows the docs promise,
through the pure normaliser and through real storage."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadsense.collectors.openlineage.receiver import LineageReceiver
from loadsense.errors import InvalidInput, LoadsenseError
from loadsense.selfmetrics import SelfMetrics
from loadsense.storage.client import Storage
from loadsense.storage.writer import RowBatch, Writer, WriterLimits
from tests.conftest import query

NOW = time.time_ns()
DAY = 86400 * 10**9
RECEIVER = LineageReceiver(retention_days=30)
PROFILE = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

text = st.text(st.characters(codec="utf-8"), min_size=1, max_size=20).filter(str.strip)
json_scalar = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False)
    | st.text(max_size=10)
)
json_value = st.recursive(
    json_scalar,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


@st.composite
def timestamps(draw: st.DrawFn) -> tuple[str, int]:
    """An RFC 3339 text inside the accepted window and the nanoseconds it denotes."""
    instant = draw(st.integers(NOW - 29 * DAY, NOW))
    offset_min = draw(st.sampled_from([0, 0, 60, -300, 330, 825, -720]))
    digits = draw(st.integers(0, 9))
    local = instant + offset_min * 60 * 10**9
    seconds, frac = divmod(local, 10**9)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f".{frac:09d}"[: digits + 1] if digits else ""
    sign = "+" if offset_min >= 0 else "-"
    zone = (
        draw(st.sampled_from(["Z", "+00:00"]))
        if offset_min == 0
        else (f"{sign}{abs(offset_min) // 60:02d}:{abs(offset_min) % 60:02d}")
    )
    kept = int(f"{frac:09d}"[:digits].ljust(9, "0")) if digits else 0
    return f"{stamp}{fraction}{zone}", instant - frac + kept


@st.composite
def datasets(draw: st.DrawFn, output: bool) -> dict[str, Any]:
    ds: dict[str, Any] = {"namespace": draw(text), "name": draw(text)}
    facets: dict[str, Any] = draw(
        st.dictionaries(st.sampled_from(["x_custom", "y"]), json_value, max_size=2)
    )
    if draw(st.booleans()):
        fields = draw(
            st.lists(st.fixed_dictionaries({"name": text, "type": text}), min_size=1, max_size=4)
        )
        facets["schema"] = {"fields": fields}
    if draw(st.booleans()):
        ids = draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "namespace": text,
                        "name": text,
                        "type": st.sampled_from(["TABLE", "table", "LOCATION"]),
                    }
                ),
                max_size=3,
            )
        )
        facets["symlinks"] = {"identifiers": ids}
    if output and draw(st.booleans()):
        facets["lifecycleStateChange"] = {
            "lifecycleStateChange": draw(st.sampled_from(["CREATE", "DROP"]))
        }
    ds["facets"] = facets
    if output and draw(st.booleans()):
        stats = {"rowCount": draw(st.integers(0, 2**62)), "size": draw(st.integers(0, 2**62))}
        ds["outputFacets"] = {"outputStatistics": stats}
    if not output and draw(st.booleans()):
        checks = draw(
            st.lists(
                st.fixed_dictionaries(
                    {"assertion": text, "success": st.booleans(), "column": text}
                ),
                max_size=3,
            )
        )
        ds["inputFacets"] = {"dataQualityAssertions": {"assertions": checks}}
    return ds


@st.composite
def events(draw: st.DrawFn) -> tuple[dict[str, Any], int]:
    """A RunEvent, JobEvent or DatasetEvent and its event time in nanoseconds."""
    when, when_ns = draw(timestamps())
    event: dict[str, Any] = {"eventTime": when, "producer": draw(text), "schemaURL": draw(text)}
    kind = draw(st.sampled_from(["run", "job", "dataset"]))
    if kind == "dataset":
        event["dataset"] = {"namespace": draw(text), "name": draw(text), "facets": {}}
        return event, when_ns
    event["job"] = {"namespace": draw(text), "name": draw(text), "facets": {}}
    event["inputs"] = draw(st.lists(datasets(output=False), max_size=3))
    event["outputs"] = draw(st.lists(datasets(output=True), max_size=3))
    if kind == "run":
        event["eventType"] = draw(
            st.sampled_from(["START", "RUNNING", "COMPLETE", "FAIL", "ABORT", "OTHER"])
        )
        run_facets: dict[str, Any] = {}
        if draw(st.booleans()):
            run_facets["nominalTime"] = {"nominalStartTime": draw(timestamps())[0]}
        if draw(st.booleans()):
            run_facets["parent"] = {
                "run": {"runId": str(uuid.uuid4())},
                "job": {"namespace": draw(text), "name": draw(text)},
            }
        if draw(st.booleans()):
            event["job"]["facets"]["jobType"] = {
                "processingType": "BATCH",
                "integration": draw(text),
                "jobType": draw(text),
            }
        event["run"] = {
            "runId": str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)))),
            "facets": run_facets,
        }
    return event, when_ns


def _identity(ds: dict[str, Any]) -> tuple[str, str]:
    """The documented symlink rule, restated independently of the implementation."""
    ids = ds.get("facets", {}).get("symlinks", {}).get("identifiers", [])
    tables = [(i["namespace"], i["name"]) for i in ids if i["type"].upper() == "TABLE"]
    return min(tables) if tables else (ds["namespace"], ds["name"])


def _rows(batches: tuple[RowBatch, ...]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for b in batches:
        out[b.table] = [dict(zip(b.columns, row, strict=True)) for row in zip(*b.data, strict=True)]
    return out


def expected_edges(event: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (d, *_identity(ds))
        for d, key in (("input", "inputs"), ("output", "outputs"))
        for ds in event.get(key, [])
    }


@PROFILE
@given(events())
def test_accepted_events_round_trip_through_the_normaliser(
    generated: tuple[dict[str, Any], int],
) -> None:
    event, when_ns = generated
    body = json.dumps(event)
    rows = _rows(RECEIVER.decode(body.encode(), "application/json", NOW).batches)

    (stored,) = rows["lineage_events"]
    assert json.loads(stored["raw"]) == event
    assert stored["event_time"] == when_ns
    assert stored["producer"] == event["producer"]
    if "dataset" in event:
        assert stored["kind"] == "dataset"
        assert (stored["dataset_namespace"], stored["dataset_name"]) == (
            event["dataset"]["namespace"],
            event["dataset"]["name"],
        )
        assert set(rows) == {"lineage_events"}
        return
    edges = {
        (r["direction"], r["dataset_namespace"], r["dataset_name"])
        for r in rows.get("lineage_edges", [])
    }
    assert edges == expected_edges(event)
    assert len(rows.get("lineage_edges", [])) == len(edges)
    schemas = {
        _identity(ds): ds["facets"]["schema"]["fields"]
        for ds in event["inputs"] + event["outputs"]
        if "schema" in ds["facets"]
    }
    assert {
        (r["dataset_namespace"], r["dataset_name"]) for r in rows.get("dataset_schemas", [])
    } == set(schemas)
    checks = {
        (*_identity(ds), a["assertion"], a["column"], int(a["success"]))
        for ds in event["inputs"]
        for a in ds.get("inputFacets", {}).get("dataQualityAssertions", {}).get("assertions", [])
    }
    assert {
        (r["dataset_namespace"], r["dataset_name"], r["assertion"], r["column"], r["success"])
        for r in rows.get("quality_assertions", [])
    } == checks
    if "run" not in event:
        assert stored["kind"] == "job"
        assert {r["source"] for r in rows.get("lineage_edges", [])} <= {"job"}
        assert "run_events" not in rows
        return
    (run,) = rows["run_events"]
    assert run["run_id"] == event["run"]["runId"]
    assert run["event_type"] == event["eventType"]
    assert (run["job_namespace"], run["job_name"]) == (
        event["job"]["namespace"],
        event["job"]["name"],
    )
    parent = event["run"]["facets"].get("parent")
    assert run["parent_run_id"] == (parent["run"]["runId"] if parent else "")
    assert run["integration"] == event["job"]["facets"].get("jobType", {}).get("integration", "")
    assert (run["nominal_start_time"] is None) == ("nominalTime" not in event["run"]["facets"])
    first_output: dict[tuple[str, str], dict[str, Any]] = {}
    for ds in event["outputs"]:
        first_output.setdefault(_identity(ds), ds)
    updates = {
        (r["dataset_namespace"], r["dataset_name"]): r for r in rows.get("dataset_updates", [])
    }
    if event["eventType"] != "COMPLETE":
        assert updates == {}
        return
    assert set(updates) == set(first_output)
    for ident, ds in first_output.items():
        stats = ds.get("outputFacets", {}).get("outputStatistics", {})
        assert updates[ident]["row_count"] == stats.get("rowCount")
        assert updates[ident]["lifecycle_state"] == ds["facets"].get(
            "lifecycleStateChange", {}
        ).get("lifecycleStateChange", "")


@PROFILE
@given(json_value)
def test_arbitrary_json_is_accepted_or_refused_never_crashes(value: Any) -> None:
    body = json.dumps(value).encode()
    for decode in (RECEIVER.decode, RECEIVER.decode_batch):
        try:
            decode(body, "application/json", NOW)
        except LoadsenseError as exc:
            assert 400 <= exc.status < 500
    RECEIVER.decode_batch(json.dumps([value, value]).encode(), "application/json", NOW)


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event with one value somewhere replaced by arbitrary JSON, or removed."""
    event, _ = draw(events())
    target: Any = event
    while True:
        keys = list(target) if isinstance(target, dict) else list(range(len(target)))
        if not keys:
            return event
        key = draw(st.sampled_from(keys))
        child = target[key]
        if isinstance(child, dict | list) and child and draw(st.booleans()):
            target = child
            continue
        if isinstance(target, dict) and draw(st.booleans()):
            del target[key]
        else:
            target[key] = draw(json_value)
        return event


@PROFILE
@given(mutated())
def test_mutated_events_are_accepted_or_refused_with_a_field(event: dict[str, Any]) -> None:
    body = json.dumps(event).encode()
    try:
        decoded = RECEIVER.decode(body, "application/json", NOW)
    except InvalidInput as exc:
        assert exc.message
        return
    assert decoded.accepted == 1
    result = RECEIVER.decode_batch(b"[" + body + b"]", "application/json", NOW)
    assert result.received == 1 and not result.failed


@pytest.fixture(scope="module")
def writer(storage: Storage) -> Iterator[Writer]:
    w = Writer(storage, WriterLimits(batch_max_delay_s=0.01), SelfMetrics())
    yield w
    w.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events())
def test_accepted_events_round_trip_through_storage(
    writer: Writer, storage: Storage, generated: tuple[dict[str, Any], int]
) -> None:
    event, when_ns = generated
    marker = uuid.uuid4().hex  # unique per example, so repeated examples stay apart
    event["producer"] = marker
    # Identities must be unique per example too: a job or dataset event's identity is
    # (namespace, name, eventTime), and an earlier example with the same identity would
    # legitimately replace (or be replaced by) this one in the shared database.
    if "run" in event:
        event["run"]["runId"] = str(uuid.uuid4())
    elif "job" in event:
        event["job"]["name"] += marker
    if "dataset" in event:
        event["dataset"]["name"] += marker
    body = json.dumps(event)
    writer.write_sync(RECEIVER.decode(body.encode(), "application/json", NOW).batches, timeout=30)

    stored = query(
        storage,
        "SELECT raw, toUnixTimestamp64Nano(event_time), kind FROM lineage_events "
        "WHERE producer = {m:String}",
        m=marker,
    )
    assert len(stored) == 1
    assert json.loads(str(stored[0][0])) == event
    assert stored[0][1] == when_ns
    if "run" not in event:
        return
    run_id = event["run"]["runId"]
    edges = query(
        storage,
        "SELECT direction, dataset_namespace, dataset_name FROM lineage_edges FINAL "
        "WHERE run_id = {r:String}",
        r=run_id,
    )
    assert {tuple(e) for e in edges} == expected_edges(event)
    assert query(
        storage,
        "SELECT event_type, job_namespace, job_name FROM run_events WHERE producer = {m:String}",
        m=marker,
    ) == [(event["eventType"], event["job"]["namespace"], event["job"]["name"])]
