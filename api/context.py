"""How a route reaches the running service's :class:`~loadsense.context.AppContext`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request

from loadsense.context import AppContext
from loadsense.errors import LoadsenseError

if TYPE_CHECKING:
    from loadsense.correlator.loop import Correlator
    from loadsense.correlator.snapshot import Snapshot

ELSEWHERE = (
    "this process does not run the correlator role (serve --roles); send the request to "
    "the process that does"
)


class CorrelatorUnavailable(LoadsenseError):
    code = "unavailable"
    status = 503


def context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def running_correlator(request: Request) -> Correlator:
    """The app's correlator; 503 when it is not running (it starts with the app)."""
    ctx = context(request)
    if ctx.correlator is None:
        raise CorrelatorUnavailable(ELSEWHERE if ctx.published else "the correlator is not running")
    return ctx.correlator


def latest_snapshot(request: Request) -> Snapshot:
    """The latest snapshot: the correlator's own, or on a process without the correlator
    role the one it published (api/published.py)."""
    published = context(request).published
    if published is not None:
        return published.snapshot
    return running_correlator(request).snapshot
