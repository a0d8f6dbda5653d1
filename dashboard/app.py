"""The Streamlit entry point: ``streamlit run`` this file (``loadsense dashboard`` does).

One page per module under ``pages/``; each draws the shared time range in the sidebar
(the same widget key on every page, so the choice carries over). The
dashboard reads only the HTTP API (dashboard/access.py), never storage.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from loadsense.dashboard.access import target

HERE = Path(__file__).parent

# (file, title, icon) of every page, the first one the default. (A comment, not a
# docstring: Streamlit would print a bare string of the entry script.)
PAGES: tuple[tuple[str, str, str], ...] = (
    ("pages/overview.py", "Overview", ":material/dashboard:"),
    ("pages/datasets.py", "Datasets", ":material/table:"),
    ("pages/models.py", "Models", ":material/model_training:"),
    ("pages/queues.py", "Queues", ":material/queue:"),
    ("pages/hosts.py", "Hosts", ":material/dns:"),
    ("pages/recommendations.py", "Recommendations", ":material/rule:"),
    ("pages/alerts.py", "Alerts", ":material/notifications:"),
)


def main() -> None:
    st.set_page_config(page_title="Loadsense", page_icon=":material/monitoring:", layout="wide")
    pages = [
        st.Page(str(HERE / path), title=title, icon=icon, default=i == 0)
        for i, (path, title, icon) in enumerate(PAGES)
    ]
    navigation = st.navigation(pages)
    st.sidebar.caption(f"API: {target().url}")
    navigation.run()


main()
