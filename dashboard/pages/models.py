"""Models: per serving service, stale-prediction exposure over time, latency against the
SLO, request rate, and each input's freshness at serve time (which table is to blame)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
import streamlit as st

from loadsense.api.client import literal_glob
from loadsense.dashboard import charts, timerange
from loadsense.dashboard.access import Call, fetch, prefetch
from loadsense.dashboard.ui import number, preselected, rows, run_page, subject_link


def blame_table(exposure: dict[str, Any], freshness: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Each input of a service: its share of stale requests and its freshness now."""
    return pd.DataFrame(
        [
            {
                "input dataset": p["dataset"],
                "stale requests": p["stale_requests"],
                "exposure ratio": p["exposure_ratio"],
                "freshness now": freshness.get(p["dataset"], {}).get("freshness"),
            }
            for p in sorted(exposure.get("per_input", ()), key=lambda p: -p["stale_requests"])
        ],
        columns=["input dataset", "stale requests", "exposure ratio", "freshness now"],
    )


def input_call(name: str) -> Call:
    return ("signals", ("freshness", literal_glob(name)))


def detail_calls(service: str, inputs: Iterable[str], span: timerange.TimeRange) -> list[Call]:
    """What the selected service's tables and charts read (asked for together)."""
    return [
        *(input_call(name) for name in inputs),
        ("signal_history", ("exposure", service, span.start, span.end)),
        ("signal_history", ("latency", service, span.start, span.end)),
    ]


def input_freshness(inputs: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Each declared input's freshness row, asked for by exact name (a few rows, not
    the whole table)."""
    found: dict[str, dict[str, Any]] = {}
    for name in inputs:
        method, args = input_call(name)
        doc = fetch(f"freshness of {name}", method, *args)
        for row in rows(doc):
            found[row["subject"]] = row
    return found


def render() -> None:
    span = timerange.current()
    # On a refresh the selection is known already: its charts' answers come with the lists.
    previous = st.session_state.get("model_pick")
    prefetch(
        ("signals", ("latency", None)),
        ("signals", ("exposure", None)),
        *(detail_calls(previous, (), span) if previous else ()),
    )
    latency = {r["subject"]: r for r in rows(fetch("latency signals", "signals", "latency", None))}
    exposure = {
        r["subject"]: r for r in rows(fetch("exposure signals", "signals", "exposure", None))
    }
    services = sorted(set(latency) | set(exposure))
    if not services:
        st.info("No serving telemetry yet: send SERVER spans or http.server.request.duration.")
        return
    summary = pd.DataFrame(
        [
            {
                "service": s,
                "exposure ratio": exposure.get(s, {}).get("exposure_ratio"),
                "p99 (ms)": latency.get(s, {}).get("p99_ms"),
                "SLO (ms)": latency.get(s, {}).get("slo_ms"),
                "latency slack": latency.get(s, {}).get("latency_slack"),
                "req/s": latency.get(s, {}).get("rps"),
            }
            for s in services
        ]
    )
    st.dataframe(summary, hide_index=True)
    service = st.selectbox(
        "Service", services, index=preselected("service", services), key="model_pick"
    )
    lat, exp = latency.get(service, {}), exposure.get(service, {})
    st.subheader(service)
    st.markdown(
        f"exposure ratio **{number(exp.get('exposure_ratio'))}** "
        f"({number(exp.get('stale_requests'))} of {number(exp.get('requests'))} requests stale), "
        f"p99 **{number(lat.get('p99_ms'), 'ms')}** "
        f"against an SLO of {number(lat.get('slo_ms'), 'ms')}, "
        f"slack {number(lat.get('latency_slack'))}, {number(lat.get('rps'), 'req/s')}"
    )
    prefetch(*detail_calls(service, exp.get("inputs", ()), span))
    freshness = input_freshness(exp.get("inputs", ()))
    blame = blame_table(exp, freshness)
    st.markdown("**Inputs at serve time** (which table is to blame)")
    if blame.empty:
        st.caption("No declared inputs (a JobEvent with the service's name declares them).")
    else:
        st.dataframe(blame, hide_index=True)
        for name in blame["input dataset"]:
            subject_link("freshness", name, f"{name} on the Datasets page")
    a, b = st.columns(2)
    ex = charts.series_frame(
        fetch("exposure history", "signal_history", "exposure", service, span.start, span.end)
    )
    with a:
        st.markdown("**Stale-prediction exposure**")
        ratio = ex[ex["field"] == "exposure_ratio"]
        if ratio.empty:
            st.caption(f"No stored points over {span.label}.")
        else:
            st.altair_chart(
                charts.time_chart(
                    ratio,
                    "exposure ratio (share of requests, 0-1)",
                    "field",
                    domain=(span.start, span.end),
                ),
                width="stretch",
            )
    la = charts.series_frame(
        fetch("latency history", "signal_history", "latency", service, span.start, span.end)
    )
    with b:
        st.markdown("**Latency against the SLO**")
        pct = la[la["field"].isin(["p50_ms", "p95_ms", "p99_ms"])]
        if pct.empty:
            st.caption(f"No stored points over {span.label}.")
        else:
            slo = lat.get("slo_ms")
            rules = [(f"SLO {slo:g} ms", float(slo))] if slo else []
            st.altair_chart(
                charts.time_chart(
                    pct, "latency (ms)", "field", rules, domain=(span.start, span.end)
                ),
                width="stretch",
            )
    rps = la[la["field"] == "rps"]
    if not rps.empty:
        st.markdown("**Request rate**")
        st.altair_chart(
            charts.time_chart(
                rps,
                "requests per second (req/s)",
                "field",
                height=200,
                domain=(span.start, span.end),
            ),
            width="stretch",
        )


if __name__ == "__main__":
    run_page("Models", render)
