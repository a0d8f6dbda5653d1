"""Alerts: rules and their states, active alerts, recent transitions (the Prometheus
HTTP API shapes of ``/api/v1/rules`` and ``/api/v1/alerts``, docs/alerts.md)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from loadsense.dashboard import timerange
from loadsense.dashboard.access import fetch
from loadsense.dashboard.ui import run_page


def render() -> None:
    span = timerange.current()
    doc = fetch("alert rules", "rules")
    if doc is None:
        return
    rules = [
        {
            "group": g["name"],
            "rule": r["name"],
            "state": r.get("state", ""),
            "health": r.get("health", ""),
            "for": r.get("duration", 0),
            "query": r.get("query", ""),
            "last error": r.get("lastError", ""),
            "active": len(r.get("alerts", [])),
        }
        for g in doc.get("groups", [])
        for r in g.get("rules", [])
        if r.get("type", "alerting") == "alerting"
    ]
    firing = sum(1 for r in rules if r["state"] == "firing")
    pending = sum(1 for r in rules if r["state"] == "pending")
    st.markdown(f"**{len(rules)} rules**: {firing} firing, {pending} pending.")
    if rules:
        st.dataframe(pd.DataFrame(rules), hide_index=True)
    active = fetch("alerts", "alerts") or []
    st.subheader("Active alerts")
    if not active:
        st.success("No alert is pending or firing.", icon=":material/check_circle:")
    else:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "alert": a["labels"].get("alertname", ""),
                        "state": a["state"],
                        "since": a.get("activeAt", ""),
                        "value": a.get("value", ""),
                        "labels": ", ".join(
                            f"{k}={v}" for k, v in sorted(a["labels"].items()) if k != "alertname"
                        ),
                        "summary": a.get("annotations", {}).get("summary", ""),
                    }
                    for a in active
                ]
            ),
            hide_index=True,
        )
    st.subheader("Recent transitions")
    history = fetch("alert history", "alert_history", span.start, span.end, None, 200)
    transitions = (history or {}).get("transitions", [])
    if not transitions:
        st.caption(f"No transitions over {span.label}.")
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "at": t["at"],
                    "alert": t["alertname"],
                    "change": f"{t['from_state']} → {t['to_state']}",
                    "value": t.get("value"),
                    "labels": ", ".join(f"{k}={v}" for k, v in sorted(t.get("labels", {}).items())),
                }
                for t in transitions
            ]
        ),
        hide_index=True,
    )


if __name__ == "__main__":
    run_page("Alerts", render)
