"""Queues: depth and oldest age over time, growth and time to breach."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from loadsense.dashboard import charts, timerange
from loadsense.dashboard.access import fetch
from loadsense.dashboard.ui import duration, number, preselected, rows, run_page


def render() -> None:
    span = timerange.current()
    queues = rows(fetch("queue signals", "signals", "queues", None))
    if not queues:
        st.info("No queues yet: send loadsense.queue.* metrics, Kafka lag or RabbitMQ metrics.")
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "queue": q["subject"],
                    "type": q["type"],
                    "depth (items)": q.get("depth"),
                    "oldest age": duration(q.get("oldest_age")),
                    "growth (items/s)": q.get("growth"),
                    "time to breach": duration(q.get("time_to_breach")),
                    "dispatch delay": duration(q.get("dispatch_delay")),
                }
                for q in queues
            ]
        ),
        hide_index=True,
    )
    names = [q["subject"] for q in queues]
    name = st.selectbox("Queue", names, index=preselected("queue", names), key="queue_pick")
    row = next(q for q in queues if q["subject"] == name)
    st.subheader(name)
    st.markdown(
        f"depth **{number(row.get('depth'), 'items')}** (limit {number(row.get('depth_limit'))}), "
        f"oldest **{duration(row.get('oldest_age'))}** (limit {duration(row.get('age_limit_s'))}), "
        f"growth {number(row.get('growth'), 'items/s')}, "
        f"time to breach **{duration(row.get('time_to_breach'))}**"
    )
    history = charts.series_frame(
        fetch("queue history", "signal_history", "queues", name, span.start, span.end)
    )
    a, b = st.columns(2)
    for col, field, title, limit in (
        (a, "depth", "depth (items)", row.get("depth_limit")),
        (b, "oldest_age", "oldest item age (s)", row.get("age_limit_s")),
    ):
        with col:
            points = history[history["field"] == field]
            if points.empty:
                st.caption(f"No stored {field} points over {span.label}.")
            else:
                rules = [("limit", float(limit))] if limit else []
                st.altair_chart(
                    charts.time_chart(points, title, "field", rules, domain=(span.start, span.end)),
                    width="stretch",
                )


if __name__ == "__main__":
    run_page("Queues", render)
