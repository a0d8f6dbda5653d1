"""Hosts: contention over time per host, the services and jobs on each, and the services
whose telemetry carries no ``host.name`` (so they appear on no host)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from loadsense.dashboard import charts, timerange
from loadsense.dashboard.access import fetch
from loadsense.dashboard.ui import number, rows, run_page, when


def _diagnostics() -> None:
    doc = fetch("diagnostics", "diagnostics")
    if doc is None:
        return
    missing = doc["missing_host_name"]
    if not missing:
        st.success("Every service sends host.name.", icon=":material/check_circle:")
        return
    st.warning(
        f"{len(missing)} services send telemetry without host.name, so they are on no host "
        f"and no co-location rule can involve them. Fix: {doc['fix']}.",
        icon=":material/warning:",
    )
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "service": m["service"],
                    "resources without host.name": m["resources_without_host"],
                    "resources with host.name": m["resources_with_host"],
                    "last seen": when(m["last_seen"]),
                }
                for m in missing
            ]
        ),
        hide_index=True,
    )


def render() -> None:
    span = timerange.current()
    hosts = rows(fetch("host signals", "signals", "hosts", None))
    if hosts:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "host": h["subject"],
                        "contention": h.get("contention"),
                        "cpu": h.get("cpu"),
                        "memory": h.get("memory"),
                        "io": h.get("io"),
                        "source": h["source"],
                        "services": ", ".join(h.get("services", ())),
                        "jobs": ", ".join(h.get("jobs", ())),
                    }
                    for h in hosts
                ]
            ),
            hide_index=True,
            column_config={
                c: st.column_config.ProgressColumn(c, min_value=0.0, max_value=1.0, format="%.2f")
                for c in ("contention", "cpu", "memory", "io")
            },
        )
        history = charts.series_frame(
            fetch("host history", "signal_history", "hosts", None, span.start, span.end)
        )
        points = history[history["field"] == "contention"]
        st.markdown("**Contention over time** (0 idle, 1 fully stalled)")
        if points.empty:
            st.caption(f"No stored contention points over {span.label}.")
        else:
            st.altair_chart(
                charts.time_chart(
                    points, "contention (0-1)", rules=[("0.9", 0.9)], domain=(span.start, span.end)
                ),
                width="stretch",
            )
        worst = max(hosts, key=lambda h: h.get("contention") or 0.0)
        st.caption(f"Most contended: {worst['subject']} at {number(worst.get('contention'))}.")
    else:
        st.info(
            "No host samples yet: run `loadsense agent --endpoint <this service>` on each host."
        )
    st.subheader("Telemetry without host.name")
    _diagnostics()


if __name__ == "__main__":
    run_page("Hosts", render)
