"""The time range every page shares (sidebar), anchored at the latest evaluation.

A range ends at the service's latest tick (the regime's ``as_of``), not at the
browser's clock: on the external clock (simulations, replays) "the last hour" means the
last simulated hour. Without any tick yet it ends now.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import streamlit as st

from loadsense.dashboard.access import fetch

RANGES: dict[str, float | None] = {
    "Last 15 min": 15 * 60.0,
    "Last 1 h": 3600.0,
    "Last 6 h": 6 * 3600.0,
    "Last 24 h": 24 * 3600.0,
    "Custom": None,
}
KEY = "time_range"
CUSTOM_KEY = "time_range_custom"


@dataclass(frozen=True)
class TimeRange:
    start: float  # epoch seconds
    end: float
    label: str


def sidebar() -> None:
    """The range widgets (drawn once by the app, so every page sees the same state)."""
    st.sidebar.radio("Time range", list(RANGES), index=1, key=KEY)
    if st.session_state.get(KEY) == "Custom":
        today = datetime.now(UTC).date()
        st.sidebar.date_input(
            "From - to (UTC days)", value=(today - timedelta(days=1), today), key=CUSTOM_KEY
        )


def latest_as_of() -> float | None:
    regime = fetch("regime", "regime_detail", quiet=True)
    raw = regime.get("as_of") if regime else None
    return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp() if raw else None


def current() -> TimeRange:
    label = str(st.session_state.get(KEY, "Last 1 h"))
    span = RANGES.get(label, 3600.0)
    if span is None:
        days: tuple[Any, ...] = tuple(st.session_state.get(CUSTOM_KEY) or ())
        if len(days) == 2 and all(isinstance(d, date) for d in days):
            start = datetime.combine(days[0], datetime.min.time(), UTC).timestamp()
            end = datetime.combine(days[1], datetime.min.time(), UTC).timestamp() + 86_400
            return TimeRange(start, end, f"{days[0]} - {days[1]}")
        span = 3600.0
    end = latest_as_of() or time.time()
    return TimeRange(end - span, end, label)
