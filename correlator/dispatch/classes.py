"""Workload classes: inferred from the OpenLineage ``jobType`` facet, overridable by policy.

The class is the coarsest thing a rule can say about a workload, so inference is
deliberately simple and visible: the workload kind first (a model service is
``online-inference``, a training job ``retraining``), then keywords in ``jobType``
and ``processingType``, then ``etl-transform``. Policy ``classes:`` entries override
the result by glob on namespace, name, ``service.name`` or queue (first match wins).
"""

from __future__ import annotations

from dataclasses import dataclass

from loadsense.globs import compile_glob
from loadsense.vocabulary import CLASSES as CLASSES
from loadsense.vocabulary import ClassName

# Names for the classes of loadsense.vocabulary (the type checker holds each to it).
ONLINE_INFERENCE: ClassName = "online-inference"
BATCH_SCORING: ClassName = "batch-scoring"
FEATURE_REFRESH: ClassName = "feature-refresh"
ETL_TRANSFORM: ClassName = "etl-transform"
VALIDATION: ClassName = "validation"
RETRAINING: ClassName = "retraining"
EXPLORATORY: ClassName = "exploratory"

ETL_CLASSES = frozenset({FEATURE_REFRESH, ETL_TRANSFORM, BATCH_SCORING, VALIDATION})
"""Classes whose work keeps datasets fresh (the freshness-critical envelope applies)."""

# Keyword (upper case, matched as a substring of jobType) -> class, in priority order.
_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("EXPLOR", EXPLORATORY),
    ("NOTEBOOK", EXPLORATORY),
    ("ADHOC", EXPLORATORY),
    ("AD_HOC", EXPLORATORY),
    ("TRAIN", RETRAINING),
    ("FEATURE", FEATURE_REFRESH),
    ("SCOR", BATCH_SCORING),
    ("PREDICT", BATCH_SCORING),
    ("INFERENCE", BATCH_SCORING),
    ("VALIDAT", VALIDATION),
    ("QUALITY", VALIDATION),
    ("ASSERT", VALIDATION),
    ("TEST", VALIDATION),
)


def infer_class(kind: str, job_type: str, processing_type: str = "") -> str:
    """The class a workload has before policy overrides."""
    if kind == "service":
        return ONLINE_INFERENCE
    text = f"{job_type} {processing_type}".upper()
    for keyword, cls in _KEYWORDS:
        if keyword in text:
            return cls
    if kind == "training":
        return RETRAINING
    return ETL_TRANSFORM


@dataclass(frozen=True)
class ClassOverride:
    """A policy ``classes:`` entry: globs that must all match, and what they set."""

    index: int
    namespace: str | None = None
    name: str | None = None
    service_name: str | None = None
    queue: str | None = None
    cls: str | None = None
    protected: bool | None = None

    def matches(self, namespace: str, name: str, service_name: str, queue: str) -> bool:
        pairs = (
            (self.namespace, namespace),
            (self.name, name),
            (self.service_name, service_name),
            (self.queue, queue),
        )
        return all(glob is None or compile_glob(glob).match(value) for glob, value in pairs)
