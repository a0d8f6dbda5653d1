"""Datasets: the freshness table (searched, sorted and paged by the service, so 50 rows
cross the wire whatever the number of datasets), and one dataset's freshness history,
updates, schema and quality, lineage."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from loadsense.api.client import literal_glob
from loadsense.dashboard import charts, timerange
from loadsense.dashboard.access import Call, fetch, prefetch, target
from loadsense.dashboard.ui import duration, number, preselected, run_page, when

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
SORTS: dict[str, tuple[str, str]] = {
    "freshness (stalest first)": ("freshness", "asc"),
    "effective freshness (stalest first)": ("effective_freshness", "asc"),
    "age (oldest first)": ("age", "desc"),
    "criticality (highest first)": ("criticality", "desc"),
    "depth (deepest first)": ("depth", "desc"),
    "name": ("subject", "asc"),
}
"""Sort choices: (``sort`` key of ``GET /api/v1/datasets``, ``order``)."""

PAGE_KEY = "dataset_page"
QUERY_KEY = "dataset_query"
"""The (search, sort) that the shown page number belongs to."""


def frame_of(raw: list[dict[str, Any]]) -> pd.DataFrame:
    """One page of ``GET /api/v1/datasets`` rows as the table shows them."""
    return pd.DataFrame(
        {
            "dataset": [r["subject"] for r in raw],
            "freshness": [r["freshness"] for r in raw],
            "age_s": [r["age"] for r in raw],
            "deadline": pd.to_datetime([r["deadline"] for r in raw], unit="s", utc=True),
            "effective_freshness": [r["effective_freshness"] for r in raw],
            "criticality_rps": [r["criticality"] for r in raw],
            "depth": [r["depth"] for r in raw],
            "producer": [r["producer"] for r in raw],
        },
        columns=COLUMNS,
    )


def table_call(search: str, sort: str, page: int) -> Call:
    """The page'th page of the table as the service searches and sorts it."""
    key, order = SORTS[sort]
    return ("datasets", (search or None, key, order, PAGE_SIZE, (page - 1) * PAGE_SIZE))


def table_page(search: str, sort: str, page: int) -> dict[str, Any] | None:
    method, args = table_call(search, sort, page)
    return fetch("freshness table", method, *args)  # type: ignore[no-any-return]


def detail_calls(dataset: str, span: timerange.TimeRange) -> list[Call]:
    """What the selected dataset's charts read (asked for together)."""
    return [
        ("signal_history", ("freshness", dataset, span.start, span.end)),
        ("dataset_timeline", (dataset, span.start, span.end)),
        ("lineage_graph", (f"dataset:{dataset}", 2)),
    ]


def dataset_row(name: str) -> dict[str, Any] | None:
    """One dataset's row, by exact name (a preselected dataset off the current page)."""
    doc = fetch("dataset", "datasets", None, None, None, 1, 0, literal_glob(name))
    found = (doc or {}).get("rows") or [None]
    return found[0]  # type: ignore[no-any-return]


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
    left, mid, right = st.columns([3, 2, 1])
    search = left.text_input("Search datasets", key="dataset_search", placeholder="part of a name")
    sort = mid.selectbox("Sort by", list(SORTS), key="dataset_sort")
    query = (search, sort)
    if st.session_state.get(QUERY_KEY, query) != query:  # a new search starts on page 1
        st.session_state[PAGE_KEY] = 1
    st.session_state[QUERY_KEY] = query
    page = int(st.session_state.get(PAGE_KEY, 1))
    # On a refresh the selection is known already: its charts' answers come with the table.
    previous = st.session_state.get("dataset_pick")
    prefetch(table_call(search, sort, page), *(detail_calls(previous, span) if previous else ()))
    doc = table_page(search, sort, page)
    if doc is None:
        return
    if not doc["datasets"]:
        st.info(f"No datasets yet: send OpenLineage events to {target().url}/api/v1/lineage.")
        return
    pages = max(1, -(-doc["total"] // PAGE_SIZE))
    if page > pages:  # the search left fewer pages than the one shown
        page = pages
        st.session_state[PAGE_KEY] = page
        doc = table_page(search, sort, page) or doc
    right.number_input(f"Page (of {pages})", 1, pages, key=PAGE_KEY)
    window = frame_of(doc["rows"])
    st.caption(f"{doc['total']} of {doc['datasets']} datasets; showing {len(window)}.")
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
    by_name = {r["subject"]: r for r in doc["rows"]}
    options = list(by_name)
    wanted = st.query_params.get("dataset")
    if wanted and wanted not in by_name:
        row = dataset_row(wanted)
        if row is not None:
            by_name[wanted] = row
            options.insert(0, wanted)
    if not options:
        return
    dataset = st.selectbox(
        "Dataset", options, index=preselected("dataset", options), key="dataset_pick"
    )
    row = by_name.get(dataset, {})
    prefetch(*detail_calls(dataset, span))
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
