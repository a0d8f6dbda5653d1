"""Datasets: the freshness table (filtered and paged from a cached frame, fast at 10k
datasets), and one dataset's freshness history, updates, schema and quality, lineage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from loadsense.dashboard import charts, timerange
from loadsense.dashboard.access import fetch, target
from loadsense.dashboard.ui import duration, number, preselected, rows, run_page, when

PAGE_SIZE = 50
COLUMNS = [
    "dataset",
    "freshness",
    "age_s",
    "deadline",
    "effective_freshness",
    "criticality_rps",
    "depth",
    "producer",
]
SORTS = {
    "freshness (stalest first)": ("freshness", True),
    "effective freshness (stalest first)": ("effective_freshness", True),
    "age (oldest first)": ("age_s", False),
    "criticality (highest first)": ("criticality_rps", False),
    "depth (deepest first)": ("depth", False),
    "name": ("dataset", True),
}


@dataclass(frozen=True)
class Table:
    """The freshness table of one pair of answers: the frame and the rows by name."""

    fresh: Any  # the answers it was built from (kept: their identity is the cache key)
    lineage: Any
    frame: pd.DataFrame
    rows: dict[str, dict[str, Any]]


_TABLE: list[Table] = []
"""The latest table: rebuilt only when an answer changes (answers are shared objects)."""


def build(fresh: dict[str, Any], lineage: dict[str, Any] | None) -> Table:
    crit = {r["subject"]: r["criticality"] for r in rows(lineage)}
    raw = fresh["rows"]
    frame = pd.DataFrame(
        {
            "dataset": [r["subject"] for r in raw],
            "freshness": [r["freshness"] for r in raw],
            "age_s": [r["age"] for r in raw],
            "deadline": pd.to_datetime([r["deadline"] for r in raw], unit="s", utc=True),
            "effective_freshness": [r["effective_freshness"] for r in raw],
            "criticality_rps": [crit.get(r["subject"]) for r in raw],
            "depth": [r["depth"] for r in raw],
            "producer": [r["producer"] for r in raw],
        },
        columns=COLUMNS,
    )
    return Table(fresh, lineage, frame, {r["subject"]: r for r in raw})


def freshness_table() -> Table | None:
    fresh = fetch("freshness table", "signals", "freshness", None)
    if fresh is None:
        return None
    lineage = fetch("lineage signals", "signals", "lineage", None)
    if _TABLE and _TABLE[0].fresh is fresh and _TABLE[0].lineage is lineage:
        return _TABLE[0]
    table = build(fresh, lineage)
    _TABLE[:] = [table]
    return table


def filtered(frame: pd.DataFrame, search: str, sort: str) -> pd.DataFrame:
    if search:
        frame = frame[frame["dataset"].str.contains(search, case=False, regex=False)]
    column, ascending = SORTS[sort]
    return frame.sort_values(column, ascending=ascending, na_position="last", kind="stable")


def _history(dataset: str, row: dict[str, Any], span: timerange.TimeRange) -> None:
    history = charts.series_frame(
        fetch("freshness history", "signal_history", "freshness", dataset, span.start, span.end)
    )
    curve = history[history["field"].isin(["freshness", "effective_freshness"])]
    st.markdown("**Freshness over time** (1 = just updated; 0.5 one half-life past grace)")
    if curve.empty:
        st.caption(f"No stored freshness points over {span.label}.")
    else:
        st.altair_chart(
            charts.time_chart(
                curve,
                "freshness (0-1)",
                colour="field",
                rules=[("one half-life past grace: 0.5", 0.5)],
                domain=(span.start, span.end),
            ),
            width="stretch",
        )
    st.caption(
        f"Deadline (last update + grace + half-life): {when(row.get('deadline'))}; "
        f"grace {duration(row.get('grace'))}, half-life {duration(row.get('half_life'))}, "
        f"expected interval {duration(row.get('expected_interval'))}."
    )


def _timeline(dataset: str, row: dict[str, Any], span: timerange.TimeRange) -> None:
    doc = fetch("dataset timeline", "dataset_timeline", dataset, span.start, span.end)
    if doc is None:
        return
    events = [("update", u["at"], f"{u['job']} run {u['run_id'][:8]}") for u in doc["updates"]]
    events += [
        ("schema change", s["at"], ", ".join(f"{n}:{t}" for n, t in s["fields"]))
        for s in doc["schemas"]
    ]
    events += [
        ("quality pass" if q["success"] else "quality FAIL", q["at"], q["assertion"])
        for q in doc["quality"]
    ]
    st.markdown("**Updates, schema changes and quality results**")
    if not events:
        st.caption(f"Nothing recorded over {span.label}.")
        return
    frame = pd.DataFrame(events, columns=["what", "t", "detail"])
    frame["time"] = pd.to_datetime(frame["t"], unit="s", utc=True)
    deadline = row.get("deadline")
    rules = [("deadline", deadline)] if deadline else []
    st.altair_chart(
        charts.event_chart(frame, "event", rules, (span.start, span.end)), width="stretch"
    )
    with st.expander(
        f"{len(doc['schemas'])} schema versions, {len(doc['quality'])} quality results"
    ):
        st.dataframe(frame[["time", "what", "detail"]], hide_index=True)


def lineage_dot(graph: dict[str, Any], focus: str) -> str:
    """The neighbourhood as Graphviz DOT: sources left, model services right."""
    shapes = {"dataset": "box", "job": "ellipse", "service": "component"}
    lines = ["digraph lineage {", "rankdir=LR;", 'node [fontname="sans-serif", fontsize=10];']
    for node in graph["nodes"]:
        style = ', style=filled, fillcolor="#fde0a6"' if node["name"] == focus else ""
        label = node["name"].replace('"', '\\"')
        lines.append(
            f'"{node["id"]}" [label="{label}", shape={shapes.get(node["type"], "box")}{style}];'
        )
    for edge in graph["edges"]:
        lines.append(
            f'"{edge["source"]}" -> "{edge["target"]}" [label="{edge["relation"]}", fontsize=8];'
        )
    lines.append("}")
    return "\n".join(lines)


def _lineage(dataset: str) -> None:
    st.markdown(
        "**Lineage neighbourhood** (2 hops: producing jobs, inputs, reading jobs and services)"
    )
    graph = fetch("lineage graph", "lineage_graph", f"dataset:{dataset}", 2)
    if graph is None or not graph["nodes"]:
        st.caption("Not in the lineage graph yet.")
        return
    st.graphviz_chart(lineage_dot(graph, dataset))


def render() -> None:
    span = timerange.current()
    table = freshness_table()
    if table is None:
        return
    frame = table.frame
    if frame.empty:
        st.info(f"No datasets yet: send OpenLineage events to {target().url}/api/v1/lineage.")
        return
    left, mid, right = st.columns([3, 2, 1])
    search = left.text_input("Search datasets", key="dataset_search", placeholder="part of a name")
    sort = mid.selectbox("Sort by", list(SORTS), key="dataset_sort")
    shown = filtered(frame, search, sort)
    pages = max(1, -(-len(shown) // PAGE_SIZE))
    page = int(right.number_input(f"Page (of {pages})", 1, pages, 1, key="dataset_page"))
    window = shown.iloc[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    st.caption(f"{len(shown)} of {len(frame)} datasets; showing {len(window)}.")
    st.dataframe(
        window,
        hide_index=True,
        column_config={
            "freshness": st.column_config.ProgressColumn(
                "freshness", min_value=0.0, max_value=1.0, format="%.2f"
            ),
            "effective_freshness": st.column_config.ProgressColumn(
                "effective freshness", min_value=0.0, max_value=1.0, format="%.2f"
            ),
            "age_s": st.column_config.NumberColumn("age (s)", format="%.0f"),
            "criticality_rps": st.column_config.NumberColumn("criticality (req/s)", format="%.3g"),
            "deadline": st.column_config.DatetimeColumn("deadline (UTC)"),
        },
    )
    options = list(window["dataset"])
    wanted = st.query_params.get("dataset")
    if wanted and wanted not in options and wanted in table.rows:
        options.insert(0, wanted)
    if not options:
        return
    dataset = st.selectbox(
        "Dataset", options, index=preselected("dataset", options), key="dataset_pick"
    )
    row = table.rows.get(dataset, {})
    st.subheader(dataset)
    st.markdown(
        f"freshness **{number(row.get('freshness'))}**, "
        f"age {duration(row.get('age'))}, {row.get('updates', 0)} updates, "
        f"last by `{row.get('producer') or '—'}`; "
        f"inputs: {', '.join(row.get('inputs') or ()) or '—'}"
    )
    a, b = st.columns(2)
    with a:
        _history(dataset, row, span)
        _timeline(dataset, row, span)
    with b:
        _lineage(dataset)


if __name__ == "__main__":
    run_page("Datasets", render)
