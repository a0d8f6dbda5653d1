"""Alerting over HTTP, in Prometheus' HTTP API shape so tools that read Prometheus read us.

- ``GET /api/v1/rules``: every group and rule with its state, health and alerts;
- ``GET /api/v1/alerts``: the pending and firing alerts;
- ``GET /api/v1/alerts/history?from=&to=&alertname=&limit=``: stored state
  transitions, newest first (``from`` default ``to`` - 24 h, ``to`` default the latest
  tick, ``to`` before ``from``: none; ``limit`` 1..10000, default 1000).

Every route needs a read token when tokens are configured. See docs/alerts.md.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from loadsense.api.auth import require_read
from loadsense.api.context import context
from loadsense.api.routes.params import QUERY_ERRORS, instant_query
from loadsense.correlator.alerts.evaluator import AlertEvaluator
from loadsense.correlator.alerts.rules import ALERT_NAME_PATTERN
from loadsense.correlator.alerts.service import AlertStep
from loadsense.correlator.alerts.state import Alert, RuleState
from loadsense.correlator.alerts.store import read_history
from loadsense.correlator.alerts.templates import go_float
from loadsense.errors import LoadsenseError
from loadsense.instants import (
    parse_instant,
)
from loadsense.signals.contract import NS_PER_S

router = APIRouter(prefix="/api/v1", tags=["alerts"], dependencies=[Depends(require_read)])


class AlertsUnavailable(LoadsenseError):
    code = "alerts_unavailable"
    status = 503


def rfc3339(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


class AlertModel(BaseModel):
    labels: dict[str, str]
    annotations: dict[str, str]
    state: Literal["pending", "firing"]
    activeAt: str
    value: str = Field(description="The expression's value, as Prometheus formats it")


class RuleModel(BaseModel):
    type: Literal["alerting"] = "alerting"
    name: str
    query: str
    duration: float
    keepFiringFor: float
    labels: dict[str, str]
    annotations: dict[str, str]
    state: Literal["inactive", "pending", "firing"]
    health: Literal["ok", "err", "unknown"]
    lastError: str
    alerts: list[AlertModel]
    lastEvaluation: str | None
    evaluationTime: float


class GroupModel(BaseModel):
    name: str
    file: str
    interval: float
    rules: list[RuleModel]
    lastEvaluation: str | None
    evaluationTime: float


class RulesData(BaseModel):
    groups: list[GroupModel]


class RulesResponse(BaseModel):
    status: Literal["success"] = "success"
    data: RulesData


class AlertsData(BaseModel):
    alerts: list[AlertModel]


class AlertsResponse(BaseModel):
    status: Literal["success"] = "success"
    data: AlertsData


class TransitionModel(BaseModel):
    at: str
    alertname: str
    labels: dict[str, str]
    from_state: Literal["inactive", "pending", "firing"]
    to_state: Literal["pending", "firing", "resolved"]
    value: float | None


class HistoryResponse(BaseModel):
    transitions: list[TransitionModel]


def _step(request: Request) -> AlertStep:
    step = context(request).alerts
    if step is None:
        raise AlertsUnavailable("alerting is not running")
    return step


def _published(request: Request) -> dict[str, Any] | None:
    """On a process without the correlator role: the alert document it published
    (api/publish.py); 503 until there is one. ``None`` on the correlator's process."""
    published = context(request).published
    if published is None:
        return None
    if published.alerts is None:
        raise AlertsUnavailable("the correlator has not published its alert states yet")
    return published.alerts


def _alert(a: Alert) -> AlertModel:
    return AlertModel(
        labels=a.label_map,
        annotations=dict(a.annotations),
        state="firing" if a.state == "firing" else "pending",
        activeAt=rfc3339(a.active_at) or "",
        value=go_float(a.value),
    )


def _rule(r: RuleState) -> RuleModel:
    return RuleModel(
        name=r.rule.name,
        query=r.rule.expr,
        duration=r.rule.for_s,
        keepFiringFor=r.rule.keep_firing_for_s,
        labels=dict(r.rule.labels),
        annotations=dict(r.rule.annotations),
        state=r.state,  # type: ignore[arg-type]
        health=r.health,  # type: ignore[arg-type]
        lastError=r.last_error,
        alerts=[_alert(a) for a in r.active()],
        lastEvaluation=rfc3339(r.last_evaluation),
        evaluationTime=r.evaluation_seconds,
    )


def rules_view(ev: AlertEvaluator, tick_s: float, rule_names: Sequence[str] = ()) -> RulesResponse:
    """Every group, or as Prometheus filters: only rules named in ``rule_names`` (exact
    names), leaving out groups with no rule left."""
    groups = []
    for g in ev.groups:
        rules = [_rule(r) for r in g.rules if not rule_names or r.rule.name in rule_names]
        if not rules and rule_names:
            continue
        groups.append(
            GroupModel(
                name=g.group.name,
                file=g.group.file,
                interval=g.group.interval_s if g.group.interval_s is not None else tick_s,
                rules=rules,
                lastEvaluation=rfc3339(g.last_evaluation),
                evaluationTime=g.evaluation_seconds,
            )
        )
    return RulesResponse(data=RulesData(groups=groups))


@router.get("/rules", response_model=RulesResponse, responses=QUERY_ERRORS)
def get_rules(
    request: Request,
    rule_name: str | None = Query(
        None,
        alias="rule_name[]",
        pattern=ALERT_NAME_PATTERN,
        max_length=200,
        description="Only the rule of this name (the link in each alert's generatorURL)",
    ),
) -> RulesResponse:
    """Alerting rules with their state (Prometheus' ``/api/v1/rules`` shape)."""
    names = (rule_name,) if rule_name is not None else ()
    published = _published(request)
    if published is not None:
        return _published_rules(published["rules"], names)
    tick = context(request).settings.tick_interval_s
    return rules_view(_step(request).evaluator, tick, names)


def _published_rules(doc: dict[str, Any], rule_names: Sequence[str]) -> RulesResponse:
    """The published rules, filtered as :func:`rules_view` filters the evaluator's."""
    full = RulesResponse.model_validate(doc)
    if not rule_names:
        return full
    groups = []
    for g in full.data.groups:
        rules = [r for r in g.rules if r.name in rule_names]
        if rules:
            groups.append(g.model_copy(update={"rules": rules}))
    return RulesResponse(data=RulesData(groups=groups))


@router.get("/alerts", response_model=AlertsResponse, responses=QUERY_ERRORS)
def get_alerts(request: Request) -> AlertsResponse:
    """Pending and firing alerts (Prometheus' ``/api/v1/alerts`` shape)."""
    published = _published(request)
    if published is not None:
        return AlertsResponse.model_validate(published["alerts"])
    alerts = [_alert(a) for a in _step(request).evaluator.active()]
    return AlertsResponse(data=AlertsData(alerts=alerts))


@router.get("/alerts/history", response_model=HistoryResponse, responses=QUERY_ERRORS)
async def get_alert_history(
    request: Request,
    start: str | None = instant_query("from", ". Default: `to` - 24 h"),
    end: str | None = instant_query("to", ". Default: the latest tick. Before from: none"),
    alertname: str = Query("", max_length=256, description="Only this rule's transitions"),
    limit: int = Query(1000, ge=1, le=10_000),
) -> HistoryResponse:
    """Stored alert state transitions, newest first (docs/alerts.md#history)."""
    ctx = context(request)
    end_ns = parse_instant(end, "to") if end is not None else None
    start_ns = parse_instant(start, "from") if start is not None else None
    published = _published(request)
    last = published["last_tick"] if published is not None else _step(request).evaluator.last_tick
    end_s = end_ns / NS_PER_S if end_ns is not None else (last or time.time())
    start_s = start_ns / NS_PER_S if start_ns is not None else end_s - 86_400
    if start_s > end_s:  # as the recommendation history: an empty range holds nothing
        return HistoryResponse(transitions=[])
    rows = await run_in_threadpool(read_history, ctx.storage, start_s, end_s, alertname, limit)
    return HistoryResponse(
        transitions=[
            TransitionModel(
                at=rfc3339(r.at) or "",
                alertname=r.alertname,
                labels=r.labels,
                from_state=r.from_state,  # type: ignore[arg-type]
                to_state=r.to_state,  # type: ignore[arg-type]
                value=r.value,
            )
            for r in rows
        ]
    )
