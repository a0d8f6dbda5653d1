"""How a route reaches the running service's :class:`~loadsense.context.AppContext`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request

from loadsense.context import AppContext
from loadsense.errors import LoadsenseError

if TYPE_CHECKING:
    from loadsense.correlator.loop import Correlator


class CorrelatorUnavailable(LoadsenseError):
    code = "unavailable"
    status = 503


def context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def running_correlator(request: Request) -> Correlator:
    """The app's correlator; 503 when it is not running (it starts with the app)."""
    correlator = context(request).correlator
    if correlator is None:
        raise CorrelatorUnavailable("the correlator is not running")
    return correlator
