"""The dispatch vocabulary, declared once: actions, workload classes, regimes, confidences.

Each is a ``Literal`` type (the HTTP models and the client's users type-check against
it) and the tuple of its values, derived from the type (the engine validates policy
files and query parameters against it). Their meaning is in docs/dispatch.md.

Standard library only: the scheduler-side client installs with this module, the HTTP
models (``loadsense.api.models``) and nothing else of the server.
"""

from __future__ import annotations

from typing import Literal, get_args

ActionName = Literal["boost", "admit", "throttle", "defer", "pause"]
ACTIONS: tuple[ActionName, ...] = get_args(ActionName)
"""What a recommendation tells a scheduler to do with a workload."""

ClassName = Literal[
    "online-inference",
    "batch-scoring",
    "feature-refresh",
    "etl-transform",
    "validation",
    "retraining",
    "exploratory",
]
CLASSES: tuple[ClassName, ...] = get_args(ClassName)
"""Workload classes (inferred from ``jobType``, overridable by policy)."""

RegimeName = Literal["calm", "etl-heavy", "serving-critical", "overload"]
REGIMES: tuple[RegimeName, ...] = get_args(RegimeName)
"""Which of ETL and serving is under pressure (none, one, or both)."""

Confidence = Literal["high", "medium", "low"]
CONFIDENCES: tuple[Confidence, ...] = get_args(Confidence)
"""How much of what a recommendation rests on was known (``low``: the neutral answer)."""
