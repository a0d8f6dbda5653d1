"""Each fact is declared once: the dispatch vocabulary, the Reason record, table columns.

Where a second spelling cannot be avoided (a Literal type and the engine's named
constants; a receiver's column dict), it is tested equal to the declaration here.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, get_args

from loadsense.api import client
from loadsense.api.models import ReasonModel, RecommendationModel, RegimeModel
from loadsense.collectors.contract import Decoded
from loadsense.collectors.openlineage import LineageReceiver
from loadsense.collectors.otlp.receiver import MetricsReceiver, TracesReceiver
from loadsense.correlator.dispatch import classes, policy, regime
from loadsense.correlator.dispatch.recommendation import Reason
from loadsense.storage.schema import lineage, telemetry
from loadsense.storage.schema.model import Table
from loadsense.vocabulary import ACTIONS, CLASSES, CONFIDENCES, REGIMES
from tests.support.openlineage import run_event
from tests.support.otlp import PROTOBUF, now_ns, trace_request

TABLES: dict[str, Table] = {
    t.name: t for m in (lineage, telemetry) for t in vars(m).values() if isinstance(t, Table)
}


def _enum(schema: dict[str, Any], model: str, prop: str) -> list[str]:
    spec = schema["$defs"].get(model, schema) if "$defs" in schema else schema
    values: list[str] = spec["properties"][prop]["enum"]
    return values


def test_the_api_speaks_the_engines_vocabulary() -> None:
    schema = RecommendationModel.model_json_schema(by_alias=True)
    assert _enum(schema, "RecommendationModel", "action") == list(ACTIONS)
    assert _enum(schema, "RecommendationModel", "class") == list(CLASSES)
    assert _enum(schema, "RecommendationModel", "regime") == list(REGIMES)
    assert _enum(schema, "RecommendationModel", "confidence") == list(CONFIDENCES)
    assert _enum(RegimeModel.model_json_schema(), "RegimeModel", "regime") == list(REGIMES)
    # The engine validates against the very same tuples ...
    assert policy.ACTIONS is ACTIONS and classes.CLASSES is CLASSES and regime.REGIMES is REGIMES
    # ... and its named constants spell exactly those values, each once.
    class_names = [v for k, v in vars(classes).items() if k.isupper() and isinstance(v, str)]
    assert sorted(class_names) == sorted(CLASSES)
    regime_names = {regime.CALM, regime.ETL_HEAVY, regime.SERVING_CRITICAL, regime.OVERLOAD}
    assert regime_names == set(REGIMES) and len(REGIMES) == 4
    assert get_args(RecommendationModel.model_fields["action"].annotation) == ACTIONS


def test_reason_is_one_record_inside_and_one_over_http_which_the_client_reuses() -> None:
    engine_fields = [f.name for f in dataclasses.fields(Reason)]
    assert sorted(engine_fields) == sorted(ReasonModel.model_fields)
    reason = Reason("freshness", "lake/raw", 0.25, ("a", "b"), "refresh", "lt")
    over_http = ReasonModel.model_validate(json.loads(json.dumps(reason.as_dict())))
    assert over_http.model_dump() == {
        "signal": "freshness",
        "subject": "lake/raw",
        "value": 0.25,
        "op": "lt",
        "threshold": ["a", "b"],
        "rule": "refresh",
    }
    assert client.Reason is ReasonModel
    doc = {
        "workload": "etl/job",
        "class": "etl-transform",
        "action": "admit",
        "priority": 50,
        "recommended_concurrency": 4,
        "reasons": [reason.as_dict()],
        "regime": "calm",
        "confidence": "high",
        "issued_at": "2025-06-15T15:06:40Z",
        "expires_at": "2025-06-15T15:07:40Z",
        "policy_version": "v1",
    }
    assert client.parse_recommendation(doc).reasons == (over_http,)


def _tables_and_columns(decoded: Decoded) -> dict[str, set[str]]:
    return {b.table: set(b.columns) for b in decoded.batches}


def test_receivers_write_exactly_the_columns_the_schema_declares() -> None:
    at = now_ns()
    event = run_event("said-once")
    event["outputs"][0]["inputFacets"] = {}
    event["inputs"][0]["inputFacets"] = {
        "dataQualityAssertions": {"assertions": [{"assertion": "not_null", "success": True}]}
    }
    lineage_batches = LineageReceiver(max_future_skew_s=300, retention_days=30).decode(
        json.dumps(event).encode(), "application/json", at
    )
    spans = TracesReceiver().decode(trace_request("said-once", 2).SerializeToString(), PROTOBUF, at)
    resource = {
        "attributes": [
            {"key": "service.name", "value": {"stringValue": "said-once"}},
            {"key": "host.name", "value": {"stringValue": "h1"}},
        ]
    }
    point = {"timeUnixNano": str(at), "asDouble": 2.0}
    queue_point = {**point, "attributes": [{"key": "queue.name", "value": {"stringValue": "q"}}]}
    metrics = [
        {"name": "system.cpu.load_average.1m", "unit": "1", "gauge": {"dataPoints": [point]}},
        {"name": "loadsense.queue.depth", "unit": "1", "gauge": {"dataPoints": [queue_point]}},
    ]
    body = {"resourceMetrics": [{"resource": resource, "scopeMetrics": [{"metrics": metrics}]}]}
    points = MetricsReceiver().decode(json.dumps(body).encode(), "application/json", at)
    written: dict[str, set[str]] = {}
    for decoded in (lineage_batches, spans, points):
        assert decoded.rejected == 0, decoded.rejection_reason
        written |= _tables_and_columns(decoded)
    # Every table a receiver writes, and every one of its insertable columns.
    # runs and span_steps are filled by views, journal_watermarks by the lineage journal
    assert set(written) == set(TABLES) - {"runs", "span_steps", "journal_watermarks"}
    for name, columns in written.items():
        assert columns == set(TABLES[name].insert_columns), name
