"""Recommendations: the current table, each one's reasons expanded into the signals
behind them (linked to their subjects' pages), and the audit history."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from loadsense.api.client import Recommendation
from loadsense.dashboard import timerange
from loadsense.dashboard.access import fetch
from loadsense.dashboard.ui import number, rows, run_page, subject_link

ACTIONS = ("boost", "admit", "throttle", "defer", "pause")
KINDS = ("freshness", "exposure", "latency", "queues", "hosts")


def subject_kinds() -> dict[str, str]:
    """Which signal kind each subject belongs to, for links (later kinds win ties)."""
    found: dict[str, str] = {}
    for kind in KINDS:
        for row in rows(fetch(f"{kind} signals", "signals", kind, None, quiet=True)):
            found.setdefault(row["subject"], kind)
    return found


def reason_text(reason: Any) -> str:
    """``signal of subject = value op threshold (rule)``; no comparison for a default."""
    compared = f" {reason.op} {reason.threshold}" if reason.op else ""
    return (
        f"{reason.signal} of {reason.subject} = {number(reason.value)}{compared} "
        f"(rule {reason.rule})"
    )


def _current(recs: list[Recommendation]) -> None:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "workload": r.workload,
                    "class": r.cls,
                    "action": r.action,
                    "priority": r.priority,
                    "concurrency": r.recommended_concurrency,
                    "max concurrency": r.max_concurrency,
                    "confidence": r.confidence,
                    "first reason": reason_text(r.reasons[0]) if r.reasons else "",
                }
                for r in recs
            ]
        ),
        hide_index=True,
    )
    kinds = subject_kinds()
    held = [r for r in recs if r.action != "admit"] or recs
    st.markdown(f"**Why** ({len(held)} not simply admitted)" if held is not recs else "**Why**")
    for r in held[:50]:
        with st.expander(
            f"{r.workload}: {r.action} (priority {r.priority}, {r.confidence} confidence)"
        ):
            st.caption(
                f"class {r.cls}; regime {r.regime}; issued {r.issued_at:%Y-%m-%d %H:%M:%S} UTC"
            )
            for reason in r.reasons:
                st.markdown(f"- {reason_text(reason)}")
                if reason.subject in kinds:
                    subject_link(kinds[reason.subject], reason.subject, f"open {reason.subject}")


def _audit(workloads: list[str], span: timerange.TimeRange) -> None:
    st.subheader("Audit history")
    a, b = st.columns(2)
    workload = a.selectbox("Workload", ["(all)", *workloads], key="audit_workload")
    actions = b.multiselect("Action", ACTIONS, key="audit_actions")
    chosen = None if workload == "(all)" else workload
    entries = fetch("audit history", "history", chosen, 500, span.start, span.end) or []
    if actions:
        entries = [e for e in entries if e["action"] in actions]
    if not entries:
        st.caption(f"No decision changes over {span.label} for this filter.")
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "at": e["issued_at"],
                    "workload": e["workload"],
                    "from": e["previous_action"] or "new",
                    "to": e["action"],
                    "priority": e["priority"],
                    "regime": e["regime"],
                    "reasons": "; ".join(f"{x['signal']}({x['subject']})" for x in e["reasons"]),
                }
                for e in entries
            ]
        ),
        hide_index=True,
    )


def render() -> None:
    span = timerange.current()
    recs: list[Recommendation] = fetch("recommendations", "recommendations") or []
    if not recs:
        st.info("No recommendations yet: they appear after the first tick with workloads.")
    else:
        _current(recs)
    _audit(sorted(r.workload for r in recs), span)


if __name__ == "__main__":
    run_page("Recommendations", render)
