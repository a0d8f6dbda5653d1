"""Recommendations as JSON, rendered once per published tick on the correlator's thread.

``GET /api/v1/recommendations`` is polled by every scheduler, often; rendering ~200
recommendations takes milliseconds, which must not happen on the event loop for each
request. :class:`RenderedView` holds each recommendation's JSON-ready dict, the full
body and its ETag; a filtered request only selects items, hashes their digests and
joins (api/routes/recommendations.py). The shapes match the API's pydantic models.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from correlator.dispatch.recommendation import Recommendation


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
        self._prefix = (
            json.dumps(
                {"as_of": iso(as_of), "regime": regime, "policy_version": policy_version},
                separators=(",", ":"),
            )[:-1].encode()
            + b',"recommendations":['
        )
        self._salt = f"{regime}|{policy_version}|".encode()
        self.items: list[tuple[Recommendation, bytes]] = [
            (
                rec,
                json.dumps(
                    recommendation_json(rec, default_concurrency), separators=(",", ":")
                ).encode(),
            )
            for rec in recommendations
        ]
        self.by_workload = {rec.workload: (rec, item) for rec, item in self.items}
        self.full_tag = self.tag(rec for rec, _ in self.items)
        self.full_body = self.body(item for _, item in self.items)

    def tag(self, recs: Iterable[Recommendation]) -> str:
        """Weak ETag over the decisions of ``recs`` and the regime and policy version."""
        h = hashlib.blake2b(self._salt, digest_size=12)
        for rec in recs:
            h.update(rec.digest.encode())
        return f'W/"{h.hexdigest()}"'

    def body(self, items: Iterable[bytes]) -> bytes:
        return self._prefix + b",".join(items) + b"]}"
