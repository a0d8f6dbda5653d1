"""The regime's pressures over time, for the dashboard's regime-map trail.

After each tick the dispatch step appends the published ETL and ML pressures to
``signal_points`` under the kind :data:`KIND` (subject :data:`SUBJECT`, fields ``etl``
and ``ml``), so ``GET /api/v1/signals/regime/history`` returns the trail like any other
signal's history. Best effort, like the audit log: a failed append is logged, and
recommendations still flow.
"""

from __future__ import annotations

from datetime import UTC, datetime

from loadsense.correlator.dispatch.store import Published
from loadsense.storage.client import Storage

KIND = "regime"
SUBJECT = "pressures"
FIELDS = ("etl", "ml")


def append_regime_point(storage: Storage, pub: Published) -> int:
    """Store ``pub``'s pressures at its ``as_of``; nothing before the first evaluation."""
    if pub.as_of is None:
        return 0
    at = datetime.fromtimestamp(pub.as_of, UTC)
    values = [float(pub.regime.pressures.etl), float(pub.regime.pressures.ml)]
    storage.client.insert(
        "signal_points",
        [[at, at], [KIND, KIND], [SUBJECT, SUBJECT], list(FIELDS), values],
        column_names=["as_of", "kind", "subject", "field", "value"],
        column_oriented=True,
    )
    return len(FIELDS)
