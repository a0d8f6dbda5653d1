"""The rendered JSON matches the API's pydantic models."""

from __future__ import annotations

import json

from loadsense.api.models import RecommendationList
from loadsense.correlator.dispatch.recommendation import Reason, Recommendation
from loadsense.correlator.dispatch.render import RenderedView

T0 = 1_790_000_000.0


def _rec(workload: str, action: str, value: float) -> Recommendation:
    return Recommendation(
        workload=workload,
        cls="etl-transform",
        action=action,
        priority=40,
        regime="calm",
        confidence="high",
        issued_at=T0,
        expires_at=T0 + 60,
        policy_version="v@1",
        reasons=(Reason("urgency", "d/a", value, ("calm", "etl-heavy"), "r1", "in"),),
        max_concurrency=2 if action == "throttle" else None,
        defer_until=T0 + 30 if action == "defer" else None,
    )


def test_rendered_body_validates_against_the_response_model() -> None:
    view = RenderedView(T0, "calm", "v@1", [_rec("a", "throttle", 0.5), _rec("b", "defer", 1)], 4)
    doc = RecommendationList.model_validate(json.loads(view.full_body))
    assert [(r.workload, r.recommended_concurrency) for r in doc.recommendations] == [
        ("a", 2),
        ("b", 0),
    ]
    raw = json.loads(view.full_body)["recommendations"][1]
    assert raw["defer_until"] == "2026-09-21T14:13:50Z"  # T0 + 30 s
    assert raw["reasons"][0]["threshold"] == ["calm", "etl-heavy"]


def test_etag_follows_decisions_not_reason_values_or_expiry() -> None:
    a = RenderedView(T0, "calm", "v@1", [_rec("a", "admit", 0.5)], 4)
    b = RenderedView(T0 + 5, "calm", "v@1", [_rec("a", "admit", 0.6)], 4)
    c = RenderedView(T0 + 5, "calm", "v@1", [_rec("a", "throttle", 0.6)], 4)
    d = RenderedView(T0 + 5, "overload", "v@1", [_rec("a", "admit", 0.6)], 4)
    assert a.full_tag == b.full_tag
    assert len({a.full_tag, c.full_tag, d.full_tag}) == 3
    assert a.full_body != b.full_body  # as_of and the reason value did change
