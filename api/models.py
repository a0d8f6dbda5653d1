"""The dispatch API's records over HTTP, shared by the routes and the typed client.

The routes (``api/routes/recommendations.py``, the replica) answer with these shapes and
the client (``api/client.py``) reads them back, so each record is declared once. This
module imports only pydantic and ``loadsense.vocabulary``: the client installs without
FastAPI, chDB or any server room (tests/test_import_direction.py holds it to that).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from loadsense.vocabulary import ActionName, ClassName, Confidence, RegimeName


class ErrorBody(BaseModel):
    error: str = Field(description="Stable machine code (invalid, not_found, unauthorized...)")
    message: str
    field: str | None = None


class ReasonModel(BaseModel):
    """One signal behind a decision: its value against a rule's threshold (the engine's
    ``correlator.dispatch.recommendation.Reason``, as JSON)."""

    model_config = ConfigDict(frozen=True)

    signal: str = Field(description="Fact or signal the rule compared (docs/dispatch.md)")
    subject: str = Field(description="What the value is about: a dataset, service or workload")
    value: float | bool | str | None
    op: str = Field(description="Comparison: eq, ne, lt, le, gt, ge, in, not_in, glob")
    threshold: float | bool | str | list[str] | None
    rule: str = Field(description="Policy rule, 'default', or 'envelope:<limit>'")


class RecommendationModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    workload: str
    class_: ClassName = Field(alias="class")
    action: ActionName
    priority: int = Field(ge=0, le=100)
    max_concurrency: int | None = Field(description="Cap when throttled or boosted")
    rate_per_s: float | None = Field(description="Rate limit when throttled by rate")
    recommended_concurrency: int = Field(description="What a scaler should run (KEDA value)")
    defer_until: datetime | None
    resume_when: str | None = Field(description="Condition that ends a deferral")
    reasons: list[ReasonModel]
    regime: RegimeName
    confidence: Confidence
    issued_at: datetime = Field(description="When this decision was first issued")
    expires_at: datetime = Field(description="Refreshed every tick; stale after this")
    policy_version: str


class RecommendationList(BaseModel):
    as_of: datetime | None = Field(description="Instant of the latest evaluation")
    regime: RegimeName
    policy_version: str
    recommendations: list[RecommendationModel]


class PressuresModel(BaseModel):
    etl: float = Field(ge=0, le=1, description="ETL load intensity")
    ml: float = Field(ge=0, le=1, description="ML latency criticality")
    etl_driver: str = Field(description="queues, dispatch-delay or hosts")
    ml_driver: str = Field(description="The service with the worst weighted slack")


class BoundsModel(BaseModel):
    enter: float
    exit: float
    min_dwell_s: float


class PolicyModel(BaseModel):
    version: str
    source: str
    reloads: int
    error: str | None = Field(description="Why the latest file change was not applied")


class RegimeModel(BaseModel):
    regime: RegimeName
    since: datetime | None
    as_of: datetime | None
    pressures: PressuresModel
    latched: dict[str, bool] = Field(description="Whether each pressure is latched high")
    bounds: BoundsModel
    policy: PolicyModel


class HistoryEntryModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    issued_at: datetime
    workload: str
    class_: str = Field(alias="class")
    action: str
    previous_action: str = Field(description="'' when the workload was first seen")
    priority: int
    max_concurrency: int | None
    regime: str
    confidence: str
    policy_version: str
    reasons: list[ReasonModel]


class HistoryModel(BaseModel):
    entries: list[HistoryEntryModel]


class KedaValue(BaseModel):
    value: int = Field(ge=0, description="Recommended concurrency")
