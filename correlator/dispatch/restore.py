"""After a restart, dispatch carries on from the audit log instead of starting blank.

Without this, a restarted service would see every workload as new: the audit log would
record all of them again with an empty ``previous_action``, the change budget would not
apply to the first tick, and the regime's ``since`` would reset to the first tick.
``recommendation_log`` (audit.py) already holds what is needed:

* each workload's latest logged decision (action, class, priority, cap, regime,
  confidence, policy version, reasons) becomes the engine's previous recommendation,
  so an unchanged decision is not logged again and a changed one names its previous
  action;
* the regime is the latest row's; its ``since`` is the first row logged in that regime
  after the last row of any other regime (a regime change changes every decision, so
  every workload is logged at that tick); the latches follow from the regime.

The state applies at the first tick that sees workloads, if its ``as_of`` is at or
after the latest logged row (a restart, not a replay from an earlier instant) and some
of its workloads are in the log (the same world); previous decisions are kept for
those workloads only.

Not restored (they are not logged): ``rate_per_s``, ``defer_until`` / ``resume_when``
of active deferrals, which restart when their rule next holds. With ``dispatch.audit:
false`` nothing is restored.
"""

from __future__ import annotations

import json
import logging

from loadsense.correlator.dispatch.engine import DispatchEngine, Restored
from loadsense.correlator.dispatch.recommendation import Reason, Recommendation
from loadsense.correlator.dispatch.regime import (
    ETL_HEAVY,
    OVERLOAD,
    SERVING_CRITICAL,
    Pressures,
    RegimeState,
)
from loadsense.storage.client import Storage

logger = logging.getLogger(__name__)

_LATEST_SQL = """
SELECT workload,
       argMax(tuple(toUnixTimestamp64Milli(issued_at), class, action, priority,
                    max_concurrency, regime, confidence, policy_version, reasons), issued_at)
FROM recommendation_log
GROUP BY workload
"""

_REGIME_SQL = """
WITH (SELECT argMax(regime, issued_at) FROM recommendation_log) AS current,
     (SELECT max(issued_at) FROM recommendation_log WHERE regime != current) AS other
SELECT current, toUnixTimestamp64Milli(min(issued_at)), toUnixTimestamp64Milli(max(issued_at))
FROM recommendation_log
WHERE regime = current AND issued_at > other
"""


def _reason(doc: dict[str, object]) -> Reason:
    threshold = doc.get("threshold")
    if isinstance(threshold, list):
        threshold = tuple(str(t) for t in threshold)
    value = doc.get("value")
    return Reason(
        signal=str(doc.get("signal", "")),
        subject=str(doc.get("subject", "")),
        value=value if isinstance(value, int | float | bool | str) or value is None else None,
        threshold=threshold if isinstance(threshold, int | float | bool | str | tuple) else None,
        rule=str(doc.get("rule", "")),
        op=str(doc.get("op", "")),
    )


def restore(storage: Storage, engine: DispatchEngine) -> int:
    """Load the latest decisions and the regime into ``engine``; returns workloads restored."""
    previous: dict[str, Recommendation] = {}
    latest = 0.0
    for workload, row in storage.client.query(_LATEST_SQL).result_rows:
        ms, cls, action, priority, cap, regime, confidence, version, reasons = row
        issued = ms / 1000.0
        latest = max(latest, issued)
        previous[str(workload)] = Recommendation(
            workload=str(workload),
            cls=str(cls),
            action=str(action),
            priority=int(priority),
            regime=str(regime),
            confidence=str(confidence),
            issued_at=issued,
            expires_at=issued,
            policy_version=str(version),
            reasons=tuple(_reason(r) for r in json.loads(reasons)),
            max_concurrency=None if cap is None else int(cap),
        )
    if not previous:
        return 0
    regime_state = None
    rows = storage.client.query(_REGIME_SQL).result_rows
    if rows and rows[0][0]:
        regime, since_ms, _ = rows[0]
        regime = str(regime)
        regime_state = RegimeState(
            regime,
            since_ms / 1000.0,
            Pressures(0.0, 0.0, "", ""),
            etl_high=regime in (ETL_HEAVY, OVERLOAD),
            ml_high=regime in (SERVING_CRITICAL, OVERLOAD),
        )
    engine.restored = Restored(latest, previous, regime_state)
    logger.info("dispatch restored %d workloads from the audit log", len(previous))
    return len(previous)
