"""The panel a new user sees instead of empty charts: where to point the producers."""

from __future__ import annotations

import streamlit as st

from loadsense.dashboard.access import target
from loadsense.onboarding import producer_settings


def panel() -> None:
    url = target().url
    st.info(
        f"No data yet. Point your producers at {url} and this page fills in within a tick. "
        "Set host.name on every service: without it a service is never tied to its host.",
        icon=":material/rocket_launch:",
    )
    for section in producer_settings(url):
        st.markdown(f"**{section.title}**")
        st.code(section.text, language=section.language)
