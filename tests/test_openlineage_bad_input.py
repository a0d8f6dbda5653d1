"""Bad input to the OpenLineage endpoints: the right status, a message naming the problem,
and nothing of the request stored (each body carries a unique tag we look for after)."""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from loadsense.settings import Settings
from loadsense.storage.client import Storage
from tests.conftest import query
from tests.support.openlineage import TOKEN, nothing_stored, run_event, stored_rows
from tests.support.service import Service, running_service

SMALL_LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def svc(storage: Storage) -> Iterator[Service]:
    with running_service(storage, Settings(ingest_tokens=(TOKEN,))) as service:
        yield service


@pytest.fixture(scope="module")
def small(storage: Storage) -> Iterator[Service]:
    """A service with a 64 KiB body limit, so limit tests stay cheap."""
    settings = Settings(ingest_tokens=(TOKEN,), max_body_bytes=SMALL_LIMIT)
    with running_service(storage, settings) as service:
        yield service


@pytest.fixture
def tag() -> str:
    return f"bad_{uuid.uuid4().hex[:12]}"


def post(
    svc: Service, body: bytes | Any, path: str = "/api/v1/lineage", **headers: str
) -> httpx.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    with svc.client(TOKEN) as client:
        return client.post(
            path, content=data, headers={"Content-Type": "application/json", **headers}
        )


def _without(event: dict[str, Any], *path: str | int) -> dict[str, Any]:
    target: Any = event
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return event


def _with(event: dict[str, Any], value: Any, *path: str | int) -> dict[str, Any]:
    target: Any = event
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return event


def _in_future(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


# (name, event mutation, field named in the answer, words the message must contain)
INVALID_EVENTS: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]], str | None, str]] = [
    ("missing runId", lambda e: _without(e, "run", "runId"), "run.runId", "required"),
    ("non-UUID runId", lambda e: _with(e, "run-42", "run", "runId"), "run.runId", "not a UUID"),
    ("numeric runId", lambda e: _with(e, 42, "run", "runId"), "run.runId", "must be a string"),
    ("missing eventTime", lambda e: _without(e, "eventTime"), "eventTime", "required"),
    (
        "eventTime without offset, of a date that does not exist",
        lambda e: _with(e, "2024-02-30T12:00:00", "eventTime"),
        "eventTime",
        "invalid date",
    ),
    (
        "eventTime without offset or seconds",
        lambda e: _with(e, "2024-05-01T12:00", "eventTime"),
        "eventTime",
        "not an RFC 3339",
    ),
    (
        "eventTime not a date",
        lambda e: _with(e, "yesterday", "eventTime"),
        "eventTime",
        "not an RFC 3339",
    ),
    (
        "impossible date",
        lambda e: _with(e, "2024-02-30T00:00:00Z", "eventTime"),
        "eventTime",
        "date",
    ),
    (
        "eventTime an hour ahead",
        lambda e: _with(e, _in_future(3600), "eventTime"),
        "eventTime",
        "in the future",
    ),
    (
        "eventTime before the retention window",
        lambda e: _with(e, "2001-01-01T00:00:00Z", "eventTime"),
        "eventTime",
        "retention",
    ),
    ("missing producer", lambda e: _without(e, "producer"), "producer", "required"),
    ("empty producer", lambda e: _with(e, " ", "producer"), "producer", "empty"),
    ("empty schemaURL", lambda e: _with(e, " ", "schemaURL"), "schemaURL", "empty"),
    ("numeric schemaURL", lambda e: _with(e, 2, "schemaURL"), "schemaURL", "must be a string"),
    ("missing job", lambda e: _without(e, "job"), "job", "required"),
    (
        "job without namespace",
        lambda e: _without(e, "job", "namespace"),
        "job.namespace",
        "required",
    ),
    ("job without name", lambda e: _without(e, "job", "name"), "job.name", "required"),
    (
        "input without name",
        lambda e: _without(e, "inputs", 0, "name"),
        "inputs[0].name",
        "required",
    ),
    (
        "output without namespace",
        lambda e: _without(e, "outputs", 0, "namespace"),
        "outputs[0].namespace",
        "required",
    ),
    ("inputs not an array", lambda e: _with(e, {"a": 1}, "inputs"), "inputs", "must be an array"),
    ("unknown eventType", lambda e: _with(e, "DONE", "eventType"), "eventType", "is not one of"),
    (
        "no event kind",
        lambda e: {k: v for k, v in e.items() if k not in ("run", "job")},
        "run",
        "cannot tell the event kind",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "field", "words"),
    [case[1:] for case in INVALID_EVENTS],
    ids=[case[0] for case in INVALID_EVENTS],
)
def test_invalid_event_is_refused_and_nothing_stored(
    svc: Service,
    storage: Storage,
    tag: str,
    mutate: Callable[[dict[str, Any]], dict[str, Any]],
    field: str,
    words: str,
) -> None:
    event = mutate(run_event(tag, seconds=0))
    response = post(svc, event)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid"
    assert body["field"] == field
    assert words in body["message"]
    assert field in body["message"]
    assert nothing_stored(storage, tag)


def test_dataset_event_without_name_is_refused(svc: Service, storage: Storage, tag: str) -> None:
    event = {
        "eventTime": datetime.now(UTC).isoformat(),
        "producer": "p",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent",
        "dataset": {"namespace": tag, "facets": {"schema": {"fields": [{"name": tag}]}}},
    }
    response = post(svc, event)
    assert response.status_code == 400
    assert response.json()["field"] == "dataset.name"
    assert nothing_stored(storage, tag)


def test_eventtime_within_the_allowed_skew_is_accepted(
    svc: Service, storage: Storage, tag: str
) -> None:
    """Clocks disagree a little: 60 s ahead is inside the default 300 s skew."""
    event = run_event(tag, eventTime=_in_future(60))
    assert post(svc, event).status_code == 201
    assert stored_rows(storage, tag)["run_events"] == 1


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"eventTime": "2024-05-01T12:00:00Z", "producer": ', "invalid JSON"),
        (b"", "invalid JSON"),
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'"just a string"', "must be a JSON object"),
        (b"[]", "send arrays to /api/v1/lineage/batch"),
    ],
    ids=["truncated", "empty", "not utf-8", "deep nesting", "string", "array"],
)
def test_malformed_body_is_refused(svc: Service, storage: Storage, body: bytes, words: str) -> None:
    response = post(svc, body)
    assert response.status_code == 400, response.text
    assert words in response.json()["message"]


def test_truncated_json_stores_nothing(svc: Service, storage: Storage, tag: str) -> None:
    text = json.dumps(run_event(tag, seconds=0))
    response = post(svc, text[: len(text) // 2].encode())
    assert response.status_code == 400
    assert response.json()["message"].startswith("invalid JSON: ")
    assert nothing_stored(storage, tag)


def test_wrong_content_type_is_refused(svc: Service, storage: Storage, tag: str) -> None:
    body = json.dumps(run_event(tag, seconds=0)).encode()
    with svc.client(TOKEN) as client:
        response = client.post(
            "/api/v1/lineage", content=body, headers={"Content-Type": "text/plain"}
        )
    assert response.status_code == 415
    assert "application/json" in response.json()["message"]
    assert nothing_stored(storage, tag)


@pytest.mark.parametrize("token", [None, "wrong"], ids=["missing", "invalid"])
@pytest.mark.parametrize("path", ["/api/v1/lineage", "/api/v1/lineage/batch"])
def test_unauthenticated_requests_are_refused(
    svc: Service, storage: Storage, tag: str, token: str | None, path: str
) -> None:
    event = run_event(tag, seconds=0)
    body = json.dumps(event if path.endswith("lineage") else [event]).encode()
    with svc.client(token) as client:
        response = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "bearer token" in response.json()["message"]
    assert nothing_stored(storage, tag)


def test_one_megabyte_facet_value_is_accepted_under_the_body_limit(
    svc: Service, storage: Storage, tag: str
) -> None:
    """Big values are the producer's business while the body fits the limit (20 MiB)."""
    big = "x" * (1024 * 1024)
    event = run_event(tag, seconds=0)
    event["run"]["facets"]["custom"] = {"_producer": "p", "_schemaURL": "s", "blob": big}
    assert post(svc, event).status_code == 201
    assert query(
        storage,
        "SELECT length(raw) > 1048576, position(raw, {b:String}) > 0 FROM lineage_events "
        "WHERE job_name = {j:String}",
        b=big,
        j=tag,
    ) == [(1, 1)]


def test_body_over_the_limit_is_413(small: Service, storage: Storage, tag: str) -> None:
    event = run_event(tag, seconds=0)
    event["run"]["facets"]["custom"] = {"blob": "x" * SMALL_LIMIT}
    response = post(small, event)
    assert response.status_code == 413
    assert f"limit of {SMALL_LIMIT} bytes" in response.json()["message"]
    assert nothing_stored(storage, tag)


def test_gzip_bomb_is_413_without_inflating_it(small: Service, storage: Storage, tag: str) -> None:
    """50 MiB of padding compresses to ~50 KiB; decompression stops at the 64 KiB limit."""
    event = json.dumps(run_event(tag, seconds=0))
    bomb = gzip.compress(event[:-1].encode() + b"," + b" " * (50 * 1024 * 1024) + b"}", 9)
    assert len(bomb) < SMALL_LIMIT
    response = post(small, bomb, **{"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert "after decompression" in response.json()["message"]
    assert nothing_stored(storage, tag)


def test_corrupt_gzip_is_400(svc: Service, storage: Storage, tag: str) -> None:
    body = gzip.compress(json.dumps(run_event(tag, seconds=0)).encode())
    response = post(svc, body[: len(body) // 2], **{"Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert "gzip" in response.json()["message"]
    assert nothing_stored(storage, tag)


def test_batch_over_the_event_limit_is_413(svc: Service, storage: Storage, tag: str) -> None:
    """10,001 small events (about 3 MB) exceed the 10,000-event batch limit."""
    event = run_event(tag, seconds=0)
    batch = [event] * 10_001
    response = post(svc, batch, path="/api/v1/lineage/batch")
    assert response.status_code == 413
    assert "at most 10000 events" in response.json()["message"]
    assert nothing_stored(storage, tag)


def test_batch_that_is_not_an_array_is_400(svc: Service, storage: Storage, tag: str) -> None:
    response = post(svc, run_event(tag, seconds=0), path="/api/v1/lineage/batch")
    assert response.status_code == 400
    assert "JSON array" in response.json()["message"]
    assert nothing_stored(storage, tag)


def test_batch_with_broken_json_is_refused_whole(svc: Service, storage: Storage, tag: str) -> None:
    good = json.dumps(run_event(tag, seconds=0))
    body = f"[{good}, {good[:-5]}]".encode()
    response = post(svc, body, path="/api/v1/lineage/batch")
    assert response.status_code == 400
    assert "invalid JSON" in response.json()["message"]
    assert nothing_stored(storage, tag)  # not even the first, well-formed event


def test_refusals_are_counted_in_metrics(svc: Service, tag: str) -> None:
    def rejected() -> float:
        value = svc.ctx.metrics.registry.get_sample_value(
            "loadsense_rows_rejected_total", {"table": "lineage_events", "reason": "invalid"}
        )
        return value or 0.0

    before = rejected()
    post(svc, _without(run_event(tag, seconds=0), "producer"))
    good = run_event(tag, seconds=0)
    post(svc, [good, _without(run_event(tag), "eventTime")], path="/api/v1/lineage/batch")
    assert rejected() == before + 2  # one single event + one batch element
