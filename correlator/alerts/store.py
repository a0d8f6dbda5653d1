"""Alert state in ClickHouse: the latest state per series, and every transition.

``alert_states`` (ReplacingMergeTree on ``(rule, subject)``, latest ``updated_at``
wins) holds each series' current state with its ``active_at`` in ``since``: what a
restart restores, as Prometheus restores ``for`` progress from ``ALERTS_FOR_STATE``.
``alert_transitions`` appends every change for ``GET /api/v1/alerts/history``. Every
value is a bound parameter or a column of an insert; label values never reach SQL
text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from loadsense.correlator.alerts.state import Alert, Transition
from loadsense.storage.client import Storage

STATE_COLUMNS = (
    "rule",
    "subject",
    "state",
    "value",
    "since",
    "updated_at",
    "labels",
    "annotations",
)
TRANSITION_COLUMNS = ("at", "rule", "fingerprint", "from_state", "to_state", "value", "labels")


def _ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _state_row(a: Alert, state: str, at: float) -> list[Any]:
    labels = dict(a.labels)
    return [
        a.rule,
        a.fingerprint,
        state,
        a.value,
        _ts(a.active_at),
        _ts(at),
        labels,
        dict(a.annotations),
    ]


def append_transitions(
    storage: Storage,
    transitions: Sequence[Transition],
    refreshed: Sequence[Alert] = (),
    at: float = 0.0,
) -> None:
    """Record ``transitions`` in both tables, and rewrite the stored state of the
    ``refreshed`` (still active) alerts as of ``at`` (one insert per table)."""
    states = [_state_row(t.alert, t.to_state, t.at) for t in transitions]
    states.extend(_state_row(a, a.state, at) for a in refreshed)
    if states:
        storage.client.insert("alert_states", states, column_names=list(STATE_COLUMNS))
    if transitions:
        history = [
            [
                _ts(t.at),
                t.alert.rule,
                t.alert.fingerprint,
                t.from_state,
                t.to_state,
                t.alert.value,
                dict(t.alert.labels),
            ]
            for t in transitions
        ]
        storage.client.insert("alert_transitions", history, column_names=list(TRANSITION_COLUMNS))


_RESTORE_SQL = """
SELECT rule, subject, argMax(since, updated_at) AS active_at
FROM alert_states
WHERE updated_at <= fromUnixTimestamp64Milli({at:Int64}, 'UTC')
GROUP BY rule, subject
HAVING argMax(state, updated_at) IN ('pending', 'firing')
   AND max(updated_at) >= fromUnixTimestamp64Milli({oldest:Int64}, 'UTC')
"""
"""Each series' latest state as of ``at`` (not merely the newest row: a replay at an
earlier instant restores what was true then)."""


def load_active(storage: Storage, at: float, oldest: float) -> dict[str, dict[str, float]]:
    """``rule -> fingerprint -> active_at`` of the series stored as pending or firing,
    last written in ``[oldest, at]`` (older progress is not restored)."""
    params = {"at": int(at * 1000), "oldest": int(oldest * 1000)}
    rows = storage.client.query(_RESTORE_SQL, parameters=params).result_rows
    out: dict[str, dict[str, float]] = {}
    for rule, subject, since in rows:
        out.setdefault(str(rule), {})[str(subject)] = since.timestamp()
    return out


@dataclass(frozen=True)
class HistoryEntry:
    at: float
    alertname: str
    labels: dict[str, str]
    from_state: str
    to_state: str
    value: float | None


_HISTORY_SQL = """
SELECT toUnixTimestamp64Milli(at) / 1e3, rule, labels, from_state, to_state, value
FROM alert_transitions
WHERE at >= fromUnixTimestamp64Milli({start:Int64}, 'UTC')
  AND at <= fromUnixTimestamp64Milli({end:Int64}, 'UTC')
  AND ({alertname:String} = '' OR rule = {alertname:String})
ORDER BY at DESC, rule, fingerprint
LIMIT {limit:UInt32}
"""


def read_history(
    storage: Storage, start: float, end: float, alertname: str, limit: int
) -> list[HistoryEntry]:
    """Transitions in ``[start, end]``, newest first (``alertname`` empty: every rule)."""
    params = {
        "start": int(start * 1000),
        "end": int(end * 1000),
        "alertname": alertname,
        "limit": limit,
    }
    rows = storage.client.query(_HISTORY_SQL, parameters=params).result_rows
    return [
        HistoryEntry(
            float(at), str(rule), dict(labels), str(f), str(t), None if v is None else float(v)
        )
        for at, rule, labels, f, t, v in rows
    ]
