"""The panel a new user sees instead of empty charts: where to point the producers,
as the service itself states them (``GET /api/v1/producer-settings``)."""

from __future__ import annotations

import streamlit as st

from loadsense.dashboard.access import fetch, target


def panel() -> None:
    doc = fetch("producer settings", "producer_settings")
    url = doc["url"] if doc else target().url
    st.info(
        f"No data yet. Point your producers at {url} and this page fills in within a tick. "
        "Set host.name on every service: without it a service is never tied to its host.",
        icon=":material/rocket_launch:",
    )
    for section in (doc or {}).get("sections", []):
        st.markdown(f"**{section['title']}**")
        st.code(section["text"], language=section["language"])
