"""The dashboard's only way to the service: ``api/client.py`` behind short caches.

Every page reads through :func:`fetch`, which

- caches answers for :data:`TTL_S` seconds, shared by every session and handed out
  as the same (read-only) objects, so a page re-run by a widget does not call the API
  again and a hit costs nothing;
- on failure shows what failed and which URL (a 401 names the missing read token) and
  returns the last answer it had for the same call, so a page keeps its data while the
  service restarts, never a traceback;
- returns ``None`` only when there never was an answer.

:func:`prefetch` asks for a page's independent answers at once, so a page past the TTL
waits for its slowest answer instead of the sum of them (the service answers them in
parallel); the ``fetch`` calls that follow read them from the cache.

The target (API URL, read token, refresh period) comes from the environment
(``loadsense dashboard`` passes ``LOADSENSE_DASHBOARD_API`` and
``LOADSENSE_DASHBOARD_TOKEN``).
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import streamlit as st

from loadsense.api.client import LoadsenseAPIError, LoadsenseClient

logger = logging.getLogger(__name__)

TTL_S = 5.0
"""How long one answer is reused (seconds)."""

TIMEOUT_S = 10.0
"""Longest wait for one answer; a slower API counts as failed."""

_LAST = "_loadsense_last"
"""Session-state key of the last good answer per call."""

_FAILED = "_loadsense_prefetch_failed"
"""Session-state key of the prefetches that failed, until ``fetch`` reports them."""

PREFETCH_THREADS = 8
_POOL = ThreadPoolExecutor(PREFETCH_THREADS, thread_name_prefix="dashboard-prefetch")

Call = tuple[str, tuple[Any, ...]]
"""A client method's name and its arguments: what :func:`prefetch` and :func:`fetch` ask."""


@dataclass(frozen=True)
class Target:
    url: str
    token: str
    refresh_s: float


API_ENV = "LOADSENSE_DASHBOARD_API"
TOKEN_ENV = "LOADSENSE_DASHBOARD_TOKEN"  # noqa: S105 (a variable name)
REFRESH_ENV = "LOADSENSE_DASHBOARD_REFRESH_S"
"""The dashboard's settings, documented with every other in ``loadsense/settings.py``
(a test keeps the names equal). The dashboard imports nothing of the server but the
client, so it reads them itself; ``loadsense dashboard`` has already validated them."""

DEFAULT_API = "http://127.0.0.1:4318"
DEFAULT_REFRESH_S = 10.0


def target() -> Target:
    refresh = os.environ.get(REFRESH_ENV, "")
    return Target(
        os.environ.get(API_ENV, DEFAULT_API).rstrip("/") or DEFAULT_API,
        os.environ.get(TOKEN_ENV, ""),
        float(refresh) if refresh else DEFAULT_REFRESH_S,
    )


@st.cache_resource(show_spinner=False)
def _client(url: str, token: str) -> LoadsenseClient:
    return LoadsenseClient(url, token=token or None, timeout=TIMEOUT_S)


@st.cache_resource(ttl=TTL_S, show_spinner=False, max_entries=256)
def _call(url: str, token: str, method: str, args: tuple[Any, ...]) -> Any:
    # cache_resource, not cache_data: a hit hands out the same object instead of
    # unpickling a copy (10k freshness rows cost seconds per page that way). Pages treat
    # answers as read-only.
    return getattr(_client(url, token), method)(*args)


def describe(exc: Exception, where: Target) -> str:
    """What went wrong, for a person: the URL and, on 401, which token is missing."""
    if isinstance(exc, LoadsenseAPIError):
        url = exc.url or where.url
        if exc.status == 401:
            if where.token:
                return (
                    f"{url} answered 401: the read token given to the dashboard was refused "
                    "(check --token / LOADSENSE_DASHBOARD_TOKEN against LOADSENSE_READ_TOKENS)"
                )
            return (
                f"{url} answered 401: the read token is missing; start the dashboard with "
                "--token <read token> (or set LOADSENSE_DASHBOARD_TOKEN)"
            )
        return f"{url} answered {exc.status} {exc.code}: {exc.message}"
    if isinstance(exc, httpx.TimeoutException):
        return f"{_url_of(exc, where)} did not answer within {TIMEOUT_S:g} s"
    if isinstance(exc, httpx.HTTPError):
        return f"cannot reach {_url_of(exc, where)}: {exc}"
    return f"unexpected answer from {where.url}: {type(exc).__name__}: {exc}"


def _url_of(exc: httpx.HTTPError, where: Target) -> str:
    try:
        return str(exc.request.url)
    except RuntimeError:  # no request attached
        return where.url


def prefetch(*calls: Call) -> None:
    """Ask for every ``(method, args)`` at once and wait for all: answers land in the
    cache, failures are kept for the :func:`fetch` of the same call to report (so a slow
    API costs one timeout, not two)."""
    where = target()
    failed: dict[Call, Exception] = st.session_state.setdefault(_FAILED, {})
    futures = [
        (_POOL.submit(_call, where.url, where.token, method, args), (method, args))
        for method, args in calls
    ]
    for future, call in futures:
        exc = future.exception()
        if isinstance(exc, Exception):
            failed[call] = exc


def fetch(what: str, method: str, *args: Any, quiet: bool = False) -> Any:
    """``LoadsenseClient.<method>(*args)``, cached; on failure the last answer (or None).

    ``what`` names the data in the message ("regime", "freshness table"...). ``quiet``
    failures (optional data, e.g. a route an older service lacks) are logged, not shown.
    """
    where = target()
    last: dict[tuple[Any, ...], tuple[float, Any]] = st.session_state.setdefault(_LAST, {})
    key = (method, args)
    failed: dict[Call, Exception] = st.session_state.get(_FAILED, {})
    try:
        prefetched = failed.pop(key, None)
        if prefetched is not None:
            raise prefetched
        value = _call(where.url, where.token, method, args)
    except Exception as exc:
        message = describe(exc, where)
        logger.warning("dashboard: %s: %s", what, message)
        kept = last.get(key)
        if not quiet:
            suffix = ""
            if kept is not None:
                stamp = time.strftime("%H:%M:%S", time.localtime(kept[0]))
                suffix = f" Showing the data from {stamp}."
            st.error(f"Could not load {what}: {message}.{suffix}", icon=":material/error:")
        return None if kept is None else kept[1]
    last[key] = (time.time(), value)
    return value
