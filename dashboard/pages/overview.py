"""Overview: which regime we are in and why, what fires, what changed, the headlines."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from loadsense.dashboard import charts, onboarding, timerange
from loadsense.dashboard.access import fetch, prefetch
from loadsense.dashboard.ui import duration, number, rows, run_page, when


def _extreme(
    items: list[dict[str, Any]], field: str, highest: bool = True
) -> tuple[str, float] | None:
    known = [(r["subject"], r[field]) for r in items if r.get(field) is not None]
    if not known:
        return None
    pick = max if highest else min
    return pick(known, key=lambda kv: kv[1])


HEADLINE_SORTS = (
    ("exposure", "exposure_ratio", "desc"),
    ("latency", "latency_slack", "asc"),
    ("queues", "oldest_age", "desc"),
    ("hosts", "contention", "desc"),
)
"""(kind, field, order) whose first row is each headline's extreme."""


def headlines(signals: dict[str, list[dict[str, Any]]]) -> list[tuple[str, str, str]]:
    """(label, value, subject) of the four headline numbers."""
    found = [
        ("Stale-prediction exposure", _extreme(signals["exposure"], "exposure_ratio"), "%"),
        ("Worst latency slack", _extreme(signals["latency"], "latency_slack", False), "%"),
        ("Oldest queue item", _extreme(signals["queues"], "oldest_age"), "s"),
        ("Most contended host", _extreme(signals["hosts"], "contention"), "1"),
    ]
    out = []
    for label, pair, unit in found:
        if pair is None:
            out.append((label, "—", "no data"))
        elif unit == "%":
            out.append((label, f"{pair[1] * 100:.1f} %", pair[0]))
        elif unit == "s":
            out.append((label, duration(pair[1]), pair[0]))
        else:
            out.append((label, number(pair[1]), pair[0]))
    return out


def _regime(regime: dict[str, Any], span: timerange.TimeRange) -> None:
    p, bounds = regime["pressures"], regime["bounds"]
    st.subheader(f"Regime: {regime['regime']}")
    since = regime.get("since")
    st.markdown(
        f"ETL load intensity **{p['etl']:.2f}** (driven by `{p['etl_driver'] or '—'}`), "
        f"ML latency criticality **{p['ml']:.2f}** (driven by `{p['ml_driver'] or '—'}`). "
        f"A pressure counts as high from **{bounds['enter']:g}** and lets go below "
        f"**{bounds['exit']:g}**; a regime holds at least {bounds['min_dwell_s']:g} s. "
        f"In this regime since {since or '—'}; policy {regime['policy']['version']}."
    )
    history = fetch("regime trail", "signal_history", "regime", "pressures", span.start, span.end)
    trail = charts.trail_frame(history)
    chart = charts.regime_map(bounds["enter"], bounds["exit"], (p["etl"], p["ml"]), trail)
    st.altair_chart(chart, width="stretch")
    st.caption(f"Trail: {len(trail)} ticks over {span.label}; the diamond is the latest tick.")


def _alerts() -> None:
    st.subheader("Firing alerts")
    doc = fetch("alerts", "alerts", quiet=True)
    if doc is None:
        st.caption("Alerting is not available from this service.")
        return
    firing = [a for a in doc if a.get("state") == "firing"]
    if not firing:
        st.success("No alert is firing.", icon=":material/check_circle:")
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "alert": a["labels"].get("alertname", ""),
                    "summary": a.get("annotations", {}).get("summary", ""),
                    "since": a.get("activeAt", ""),
                    "value": a.get("value", ""),
                }
                for a in firing
            ]
        ),
        hide_index=True,
    )


def _changes(span: timerange.TimeRange) -> None:
    st.subheader("Recent recommendation changes")
    entries = fetch("recommendation changes", "history", None, 10, span.start, span.end)
    if not entries:
        st.caption(f"No decision changed over {span.label}.")
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "at": e["issued_at"],
                    "workload": e["workload"],
                    "change": f"{e['previous_action'] or 'new'} → {e['action']}",
                    "why": "; ".join(
                        f"{r['signal']}({r['subject']}) {r['op']} {r['threshold']}"
                        for r in e["reasons"]
                    ),
                }
                for e in entries
            ]
        ),
        hide_index=True,
    )


def render() -> None:
    span = timerange.current()
    prefetch(
        *(("signals", (kind, None, field, order, 1)) for kind, field, order in HEADLINE_SORTS),
        ("signal_history", ("regime", "pressures", span.start, span.end)),
        ("alerts", ()),
        ("history", (None, 10, span.start, span.end)),
    )
    regime = fetch("regime", "regime_detail")
    # Each headline is one row the service sorted out (not 10k rows to scan here).
    signals = {
        kind: rows(fetch(f"{kind} signals", "signals", kind, None, field, order, 1))
        for kind, field, order in HEADLINE_SORTS
    }
    # Freshness is read only to tell an empty service apart.
    if not any(signals.values()) and not rows(
        fetch("freshness", "signals", "freshness", None, None, None, 1)
    ):
        onboarding.panel()
        return
    cols = st.columns(4)
    for col, (label, value, subject) in zip(cols, headlines(signals), strict=True):
        col.metric(label, value, help=subject)
        col.caption(subject)
    left, right = st.columns([3, 2])
    with left:
        if regime is not None:
            _regime(regime, span)
    with right:
        _alerts()
        _changes(span)
    st.caption(f"Range {span.label}: {when(span.start)} to {when(span.end)}")


if __name__ == "__main__":
    run_page("Overview", render)
