"""The audit log: every change of a workload's decision, with its reasons.

One row per change in ``recommendation_log`` (storage/schema/state.py), appended on the
correlator's thread right after the evaluation; reasons are stored as a JSON list.
``read_history`` serves ``GET /api/v1/recommendations/history`` with bound parameters.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from loadsense.correlator.dispatch.engine import Change
from loadsense.storage.client import Storage

TABLE = "recommendation_log"
COLUMNS = (
    "issued_at",
    "workload",
    "class",
    "action",
    "previous_action",
    "priority",
    "max_concurrency",
    "regime",
    "confidence",
    "policy_version",
    "reasons",
)


def audit_columns(changes: Sequence[Change]) -> list[list[Any]]:
    cols: list[list[Any]] = [[] for _ in COLUMNS]
    for change in changes:
        rec = change.recommendation
        values = (
            datetime.fromtimestamp(rec.issued_at, UTC),
            rec.workload,
            rec.cls,
            rec.action,
            change.previous_action,
            rec.priority,
            rec.max_concurrency,
            rec.regime,
            rec.confidence,
            rec.policy_version,
            json.dumps([r.as_dict() for r in rec.reasons], separators=(",", ":")),
        )
        for col, value in zip(cols, values, strict=True):
            col.append(value)
    return cols


def append_changes(storage: Storage, changes: Sequence[Change]) -> int:
    if not changes:
        return 0
    storage.client.insert(
        TABLE, audit_columns(changes), column_names=list(COLUMNS), column_oriented=True
    )
    return len(changes)


@dataclass(frozen=True)
class AuditEntry:
    issued_at: float
    workload: str
    cls: str
    action: str
    previous_action: str
    priority: int
    max_concurrency: int | None
    regime: str
    confidence: str
    policy_version: str
    reasons: list[dict[str, Any]]


_HISTORY_SQL = """
SELECT toUnixTimestamp64Milli(issued_at), workload, class, action, previous_action, priority,
       max_concurrency, regime, confidence, policy_version, reasons
FROM recommendation_log
WHERE ({workload:String} = '' OR workload = {workload:String})
  AND issued_at >= fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC')
  AND issued_at <= fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
ORDER BY issued_at DESC, workload
LIMIT {limit:UInt32}
"""


def read_history(
    storage: Storage, workload: str, from_s: float, to_s: float, limit: int
) -> list[AuditEntry]:
    """Changes between ``from_s`` and ``to_s`` (inclusive), newest first."""
    params = {
        "workload": workload,
        "from_ms": int(from_s * 1000),
        "to_ms": int(to_s * 1000),
        "limit": limit,
    }
    rows = storage.client.query(_HISTORY_SQL, parameters=params).result_rows
    return [
        AuditEntry(
            issued_at=ms / 1000.0,
            workload=str(w),
            cls=str(c),
            action=str(a),
            previous_action=str(p),
            priority=int(pr),
            max_concurrency=None if mc is None else int(mc),
            regime=str(rg),
            confidence=str(cf),
            policy_version=str(pv),
            reasons=json.loads(rs),
        )
        for ms, w, c, a, p, pr, mc, rg, cf, pv, rs in rows
    ]
