"""What every page shares: its title, auto-refresh, number formatting, subject links."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import streamlit as st

from loadsense.dashboard import timerange
from loadsense.dashboard.access import target

PAGE_OF_KIND = {
    "freshness": "pages/datasets.py",
    "lineage": "pages/datasets.py",
    "exposure": "pages/models.py",
    "latency": "pages/models.py",
    "queues": "pages/queues.py",
    "hosts": "pages/hosts.py",
}
QUERY_PARAM_OF_PAGE = {
    "pages/datasets.py": "dataset",
    "pages/models.py": "service",
    "pages/queues.py": "queue",
    "pages/hosts.py": "host",
}


def run_page(title: str, body: Callable[[], None]) -> None:
    """The shared time range, the title, then ``body`` as a fragment re-run every
    ``dashboard_refresh_s`` seconds. Each page draws the range itself, so a page run on
    its own (Streamlit's AppTest does that after switching pages) has it too."""
    timerange.sidebar()
    st.title(title)
    st.fragment(run_every=target().refresh_s)(body)()


def number(value: Any, unit: str = "", digits: int = 3) -> str:
    """A value for a person: unknown as an em dash, floats to ``digits`` significant."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    text = f"{value:.{digits}g}" if isinstance(value, float) else str(value)
    return f"{text} {unit}".rstrip()


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = abs(seconds)
    if s < 120:
        text = f"{s:.0f} s"
    elif s < 7200:
        text = f"{s / 60:.1f} min"
    elif s < 172_800:
        text = f"{s / 3600:.1f} h"
    else:
        text = f"{s / 86400:.1f} d"
    return f"-{text}" if seconds < 0 else text


def when(epoch_s: float | None) -> str:
    if epoch_s is None:
        return "—"
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def subject_link(kind: str, subject: str, label: str | None = None) -> None:
    """A link to the page of a signal ``kind``'s subject, preselecting it."""
    page = PAGE_OF_KIND.get(kind)
    if page is None:
        st.markdown(f"`{subject}`")
        return
    st.page_link(page, label=label or subject, query_params={QUERY_PARAM_OF_PAGE[page]: subject})


def rows(doc: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The ``rows`` of a signals answer (none when it failed)."""
    found: list[dict[str, Any]] = (doc or {}).get("rows", [])
    return found


def preselected(param: str, options: list[str]) -> int:
    """Index of the option named by the page's query parameter (0 when absent)."""
    wanted = st.query_params.get(param)
    return options.index(wanted) if wanted in options else 0
