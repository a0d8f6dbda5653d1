"""Recommendations as JSON, rendered once per published tick on the correlator's thread.

``GET /api/v1/recommendations`` is polled by every scheduler, often; rendering ~200
recommendations takes milliseconds, which must not happen on the event loop for each
request. :class:`RenderedView` holds each recommendation's JSON, the full body and its
ETag; a filtered request only selects entries, hashes their digests and joins
(api/routes/recommendations.py). The shapes match the API's pydantic models.

A view is built from the JSON documents alone (:meth:`RenderedView.from_entries`), so a
read replica holding only the primary's response (api/replica/) serves byte-identical
bodies and the same ETags for every filter: each entry's digest hashes the decision
fields of its JSON, not the in-memory :class:`Recommendation`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from loadsense.correlator.dispatch.recommendation import Recommendation
from loadsense.correlator.steps import yield_to_evaluation

DECISION_KEYS = (
    "workload",
    "class",
    "action",
    "priority",
    "max_concurrency",
    "rate_per_s",
    "defer_until",
    "resume_when",
    "regime",
    "confidence",
    "policy_version",
)
"""The JSON fields of :attr:`Recommendation.decision`; with the reasons' (rule, signal,
subject) they are what an ETag covers (not reason values, not ``expires_at``)."""


def iso(ts: float | None) -> str | None:
    """RFC 3339 UTC (``...Z``), or None for unknown or non-finite instants."""
    if ts is None or not math.isfinite(ts):
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, tuple):
        return list(value)
    return value


def recommendation_json(rec: Recommendation, default_concurrency: int) -> dict[str, Any]:
    return {
        "workload": rec.workload,
        "class": rec.cls,
        "action": rec.action,
        "priority": rec.priority,
        "max_concurrency": rec.max_concurrency,
        "rate_per_s": rec.rate_per_s,
        "recommended_concurrency": rec.concurrency(default_concurrency),
        "defer_until": iso(rec.defer_until),
        "resume_when": rec.resume_when,
        "reasons": [{k: _json_value(v) for k, v in r.as_dict().items()} for r in rec.reasons],
        "regime": rec.regime,
        "confidence": rec.confidence,
        "issued_at": iso(rec.issued_at),
        "expires_at": iso(rec.expires_at),
        "policy_version": rec.policy_version,
    }


def decision_digest(doc: Mapping[str, Any]) -> str:
    """A short stable hash of the decision part of one recommendation's JSON."""
    reasons = sorted({(r["rule"], r["signal"], r["subject"]) for r in doc["reasons"]})
    decision = (*(doc[k] for k in DECISION_KEYS), tuple(reasons))
    return hashlib.blake2b(repr(decision).encode(), digest_size=8).hexdigest()


@dataclass(frozen=True)
class Entry:
    """One recommendation as the routes select and answer it."""

    workload: str
    cls: str
    action: str
    concurrency: int  # recommended_concurrency: what KEDA's scaler reads
    digest: str
    body: bytes

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> Entry:
        return cls(
            workload=doc["workload"],
            cls=doc["class"],
            action=doc["action"],
            concurrency=int(doc["recommended_concurrency"]),
            digest=decision_digest(doc),
            body=json.dumps(doc, separators=(",", ":")).encode(),
        )


class RenderedView:
    """One tick's recommendations as JSON fragments, the full body and its weak ETag."""

    def __init__(
        self,
        as_of: float | None,
        regime: str,
        policy_version: str,
        recommendations: Sequence[Recommendation],
        default_concurrency: int,
    ) -> None:
        entries = []
        for i, rec in enumerate(recommendations):
            if i % 256 == 0:
                yield_to_evaluation()  # on the wall clock's steps thread: signals first
            entries.append(Entry.of(recommendation_json(rec, default_concurrency)))
        self._build(iso(as_of), regime, policy_version, entries)

    @classmethod
    def from_entries(
        cls, as_of: str | None, regime: str, policy_version: str, entries: Sequence[Entry]
    ) -> RenderedView:
        """The view of an already rendered list (a replica's copy of the primary's)."""
        view = cls.__new__(cls)
        view._build(as_of, regime, policy_version, entries)
        return view

    @classmethod
    def from_json(cls, body: bytes) -> RenderedView:
        """The view of a ``GET /api/v1/recommendations`` response body."""
        doc = json.loads(body)
        entries = [Entry.of(item) for item in doc["recommendations"]]
        return cls.from_entries(doc["as_of"], doc["regime"], doc["policy_version"], entries)

    def _build(
        self, as_of: str | None, regime: str, policy_version: str, entries: Sequence[Entry]
    ) -> None:
        self.as_of = as_of
        self._prefix = (
            json.dumps(
                {"as_of": as_of, "regime": regime, "policy_version": policy_version},
                separators=(",", ":"),
            )[:-1].encode()
            + b',"recommendations":['
        )
        self._salt = f"{regime}|{policy_version}|".encode()
        self.items: list[Entry] = list(entries)
        self.by_workload = {e.workload: e for e in self.items}
        self.full_tag = self.tag(self.items)
        self.full_body = self.body(self.items)

    def tag(self, entries: Iterable[Entry]) -> str:
        """Weak ETag over the decisions of ``entries`` and the regime and policy version."""
        h = hashlib.blake2b(self._salt, digest_size=12)
        for entry in entries:
            h.update(entry.digest.encode())
        return f'W/"{h.hexdigest()}"'

    def body(self, entries: Iterable[Entry]) -> bytes:
        return self._prefix + b",".join(e.body for e in entries) + b"]}"
