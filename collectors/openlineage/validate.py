"""Validation of one OpenLineage event (spec 2-0-x): accept it whole or say what is wrong.

:func:`check` either returns a :class:`Checked` event, with the core fields already
parsed (event time in nanoseconds, canonical run UUID), or raises
:class:`~loadsense.errors.InvalidInput` naming the field (a JSON path such as
``inputs[2].name``) and the reason. Only the core of the event is validated; facets are
the extension point of OpenLineage, so a facet we do not know, or one we cannot read,
never rejects an event (the raw event keeps it).

Leniency for producers seen in the wild: ``schemaUrl`` for ``schemaURL``, ``null`` for
``facets``, ``inputs`` and ``outputs``, a lower-case ``eventType``. A RunEvent without
``eventType`` is stored as ``OTHER`` (the spec's type for extra metadata about a run).
Two more, which hand-written producers need, are reported in ``Checked.lenient`` (the
route counts them in ``loadsense_lineage_lenient_total``) so an operator can find who
leans on them: an ``eventTime`` without an offset (``datetime.now().isoformat()`` in
user code) is read as UTC (Marquez reads it in its server's zone; UTC does not depend on
where Loadsense runs), and a missing or null ``schemaURL`` is stored as empty.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from loadsense.collectors.openlineage.facets import canonical_uuid
from loadsense.errors import InvalidInput
from loadsense.instants import MAX_NS, TimeFormatError, naive_as_utc_ns, rfc3339_ns

RUN_EVENT_TYPES = frozenset({"START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"})

DEFAULT_MAX_FUTURE_SKEW_S = 300.0
"""An eventTime more than this far ahead of the receiver's clock is refused (clock bugs
would otherwise pin runs in the future and hide them from every time-window signal)."""

NAIVE_EVENT_TIME = "event_time_without_offset"
"""Leniency reason: ``eventTime`` had no UTC offset and was read as UTC."""
MISSING_SCHEMA_URL = "missing_schema_url"
"""Leniency reason: the event had no ``schemaURL`` (nor ``schemaUrl``)."""
LENIENCY_REASONS = (NAIVE_EVENT_TIME, MISSING_SCHEMA_URL)

_SHOWN = 80  # characters of a bad value echoed back in a message


class Checked(NamedTuple):
    """A valid event and its parsed core; ``raw`` is the event's JSON text as received."""

    kind: str  # run | job | dataset
    event: dict[str, Any]
    raw: str
    event_time: int  # ns since the epoch
    event_type: str  # RunEvent only; '' for job and dataset events
    run_id: str  # canonical lower-case UUID; '' unless a RunEvent
    job_namespace: str
    job_name: str
    dataset_namespace: str  # DatasetEvent only
    dataset_name: str
    producer: str
    schema_url: str
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    lenient: tuple[str, ...] = ()  # LENIENCY_REASONS this event was accepted under


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


def _required_string(obj: dict[str, Any], key: str, path: str) -> str:
    value = obj.get(key)
    if type(value) is str and value and not value.isspace():  # the common case first
        return value
    if value is None:
        raise InvalidInput(f"{path} is required", field=path)
    if not isinstance(value, str):
        raise InvalidInput(f"{path} must be a string, got {type(value).__name__}", field=path)
    if not value.strip():
        raise InvalidInput(f"{path} must not be empty", field=path)
    return value


def _object(obj: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    value = obj.get(key)
    if value is None:
        raise InvalidInput(f"{path} is required", field=path)
    if not isinstance(value, dict):
        raise InvalidInput(f"{path} must be an object, got {type(value).__name__}", field=path)
    return value


def _datasets(event: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = event.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput(f"{key} must be an array, got {type(value).__name__}", field=key)
    for i, ds in enumerate(value):
        path = f"{key}[{i}]"
        if not isinstance(ds, dict):
            raise InvalidInput(f"{path} must be an object", field=path)
        _required_string(ds, "namespace", f"{path}.namespace")
        _required_string(ds, "name", f"{path}.name")
    return value


def _event_time(
    event: dict[str, Any], now_ns: int, max_skew_ns: int, max_age_ns: int
) -> tuple[int, bool]:
    """``(ns, naive)``: the instant, and whether it was read as UTC for want of an offset."""
    text = _required_string(event, "eventTime", "eventTime")
    naive = False
    try:
        ns = rfc3339_ns(text)
    except TimeFormatError as exc:
        try:
            naive_ns = naive_as_utc_ns(text)
        except TimeFormatError as naive_exc:
            raise InvalidInput(
                f"eventTime {_shown(text)}: {naive_exc}", field="eventTime"
            ) from None
        if naive_ns is None:
            raise InvalidInput(f"eventTime {_shown(text)}: {exc}", field="eventTime") from None
        ns, naive = naive_ns, True
    if ns < 0 or ns > MAX_NS:
        raise InvalidInput(
            f"eventTime {_shown(text)} is outside 1970-01-01..2262-04-11", field="eventTime"
        )
    if ns > now_ns + max_skew_ns:
        ahead = (ns - now_ns) / 1e9
        raise InvalidInput(
            f"eventTime {_shown(text)} is {ahead:.0f}s in the future "
            f"(allowed clock skew: {max_skew_ns / 1e9:.0f}s)",
            field="eventTime",
        )
    if max_age_ns and ns < now_ns - max_age_ns:
        raise InvalidInput(
            f"eventTime {_shown(text)} is older than the retention window "
            f"({max_age_ns / 86400e9:g} days): it would expire on arrival",
            field="eventTime",
        )
    return ns, naive


def _schema_url(event: dict[str, Any]) -> str | None:
    """The event's ``schemaURL`` (or ``schemaUrl``); None when neither is there or null."""
    key = "schemaUrl" if event.get("schemaURL") is None and "schemaUrl" in event else "schemaURL"
    if event.get(key) is None:
        return None
    return _required_string(event, key, "schemaURL")


def _run_id(run: dict[str, Any]) -> str:
    text = _required_string(run, "runId", "run.runId")
    try:
        return canonical_uuid(text)
    except ValueError:
        raise InvalidInput(f"run.runId is not a UUID: {_shown(text)}", field="run.runId") from None


def _event_type(event: dict[str, Any]) -> str:
    value = event.get("eventType")
    if value is None:
        return "OTHER"
    if isinstance(value, str) and value.upper() in RUN_EVENT_TYPES:
        return value.upper()
    allowed = ", ".join(sorted(RUN_EVENT_TYPES))
    raise InvalidInput(f"eventType {_shown(value)} is not one of {allowed}", field="eventType")


def check(event: Any, raw: str, now_ns: int, max_skew_ns: int, max_age_ns: int = 0) -> Checked:
    """Validate ``event`` (decoded JSON) received at ``now_ns``; see the module docstring.

    ``eventTime`` must lie within ``[now - max_age_ns, now + max_skew_ns]`` (no lower
    bound when ``max_age_ns`` is 0): rows older than the retention would be dropped by
    the table TTL as they arrive, and a refusal says so where silence would not.
    """
    if not isinstance(event, dict):
        raise InvalidInput(f"an event must be a JSON object, got {type(event).__name__}")
    event_time, naive = _event_time(event, now_ns, max_skew_ns, max_age_ns)
    producer = _required_string(event, "producer", "producer")
    schema_url = _schema_url(event)
    lenient: tuple[str, ...] = ()
    if naive or schema_url is None:
        lenient = (NAIVE_EVENT_TIME,) * naive + (MISSING_SCHEMA_URL,) * (schema_url is None)
        schema_url = schema_url or ""
    if "run" in event:
        run_id = _run_id(_object(event, "run", "run"))
        event_type = _event_type(event)
        job = _object(event, "job", "job")
        kind = "run"
    elif "dataset" in event:
        dataset = _object(event, "dataset", "dataset")
        return Checked(
            "dataset",
            event,
            raw,
            event_time,
            "",
            "",
            "",
            "",
            _required_string(dataset, "namespace", "dataset.namespace"),
            _required_string(dataset, "name", "dataset.name"),
            producer,
            schema_url,
            [],
            [],
            lenient,
        )
    elif "job" in event:
        run_id, event_type, kind = "", "", "job"
        job = _object(event, "job", "job")
    else:
        raise InvalidInput(
            "cannot tell the event kind: a RunEvent needs run and job, a JobEvent job, "
            "a DatasetEvent dataset",
            field="run",
        )
    return Checked(
        kind,
        event,
        raw,
        event_time,
        event_type,
        run_id,
        _required_string(job, "namespace", "job.namespace"),
        _required_string(job, "name", "job.name"),
        "",
        "",
        producer,
        schema_url,
        _datasets(event, "inputs"),
        _datasets(event, "outputs"),
        lenient,
    )


def _text_schema(description: str) -> dict[str, Any]:
    # Not empty nor only whitespace (Python's str.isspace, as _required_string reads it).
    return {"type": "string", "pattern": r"[^\s\x1c-\x1f\x85]", "description": description}


_NAMED = {
    "type": "object",
    "required": ["namespace", "name"],
    "properties": {"namespace": _text_schema("Namespace"), "name": _text_schema("Name")},
}
_DATASETS = {"type": ["array", "null"], "items": _NAMED}
_CORE = {
    "eventTime": {
        "type": "string",
        # Not "format: date-time": that requires the offset, which is optional here.
        "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
        r"([Zz]|[+-][0-9]{2}:[0-9]{2})?$",
        "description": "RFC 3339 date-time; without an offset it is read as UTC. Within "
        "the retention window before the receiver's clock and at most max_future_skew_s "
        "after it",
    },
    "producer": _text_schema("URI of the producer"),
    "schemaURL": {
        **_text_schema("URL of the event's schema (schemaUrl is read too); may be omitted"),
        "type": ["string", "null"],
    },
}
_REQUIRED = ["eventTime", "producer"]
_EVENT_TYPES = sorted(RUN_EVENT_TYPES) + sorted(t.lower() for t in RUN_EVENT_TYPES)

EVENT_SCHEMA: dict[str, Any] = {
    "description": "An OpenLineage RunEvent, JobEvent or DatasetEvent "
    "(https://openlineage.io/spec/2-0-2/OpenLineage.json): what check() enforces. "
    "Facets are never validated.",
    "anyOf": [
        {
            "title": "RunEvent",
            "type": "object",
            "required": [*_REQUIRED, "run", "job"],
            "properties": {
                **_CORE,
                "eventType": {"type": "string", "enum": _EVENT_TYPES},
                "run": {
                    "type": "object",
                    "required": ["runId"],
                    "properties": {"runId": {"type": "string", "format": "uuid"}},
                },
                "job": _NAMED,
                "inputs": _DATASETS,
                "outputs": _DATASETS,
            },
        },
        {
            "title": "JobEvent",
            "type": "object",
            "required": [*_REQUIRED, "job"],
            "not": {"anyOf": [{"required": ["run"]}, {"required": ["dataset"]}]},
            "properties": {**_CORE, "job": _NAMED, "inputs": _DATASETS, "outputs": _DATASETS},
        },
        {
            "title": "DatasetEvent",
            "type": "object",
            "required": [*_REQUIRED, "dataset"],
            "not": {"required": ["run"]},
            "properties": {**_CORE, "dataset": _NAMED},
        },
    ],
}
"""The JSON Schema of one event as :func:`check` accepts it (the OpenAPI document's
request body): required fields, their types and formats."""
