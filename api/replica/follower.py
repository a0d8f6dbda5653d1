"""The replica's copy of the primary's recommendations, kept current by its long poll.

One background task (:meth:`Follower.run`) repeats an exchange with the primary:

1. ``GET /api/v1/recommendations?wait=W`` with ``If-None-Match``: the primary answers as
   soon as a decision changes (200), else 304 after ``W`` seconds;
2. ``GET /api/v1/regime``; when its ``as_of`` is newer than the list's (a tick that
   changed no decision, so the long poll stayed quiet), ``GET`` the list once more so
   ``as_of`` and ``expires_at`` follow the primary within ``W`` seconds.

Each new list is parsed once into a :class:`~loadsense.correlator.dispatch.render.RenderedView`
(same bodies, same ETags as the primary) and swapped into a
:class:`~loadsense.correlator.dispatch.store.ViewStore`, which wakes the replica's own long polls
when the decisions changed. The loop never dies: a failed exchange is logged, counted
and retried with a capped exponential back-off; the last view keeps being served.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime

import httpx

from loadsense.api.models import RegimeModel
from loadsense.correlator.dispatch.render import Entry, RenderedView
from loadsense.correlator.dispatch.store import ViewStore
from loadsense.errors import LoadsenseError

logger = logging.getLogger(__name__)

LIST_PATH = "/api/v1/recommendations"
REGIME_PATH = "/api/v1/regime"
RENDER_SLICE = 20
"""Recommendations parsed between two yields to the event loop (~0.6 ms of work)."""
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 2.0
"""Retry delays after failed exchanges: doubling from the first, capped."""


class UpstreamError(LoadsenseError):
    code = "unavailable"
    status = 503


@dataclass(frozen=True)
class Mirrored:
    """The replica's current state: the primary's list (rendered) and its regime."""

    seq: int
    rendered: RenderedView
    upstream_tag: str  # the primary's ETag of the full list, sent as If-None-Match
    regime: RegimeModel | None  # None until the first exchange succeeded


EMPTY = Mirrored(0, RenderedView.from_entries(None, "calm", "", ()), "", None)


def _instant(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


class Follower:
    def __init__(self, upstream: str, token: str | None, wait_s: float) -> None:
        self.upstream = upstream
        self.wait_s = wait_s
        self.store: ViewStore[Mirrored] = ViewStore(EMPTY)
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.exchanges = 0  # successful exchanges
        self.updates = 0  # lists adopted (a decision or as_of changed)
        self.failures = 0
        self.consecutive_failures = 0
        self.last_error = ""
        self.last_ok: float | None = None  # time.monotonic() of the last success
        self.mismatched_tags = 0  # primary's ETag differs from ours (version skew)

    def age_s(self) -> float | None:
        """Seconds since the last successful exchange (None: never)."""
        return None if self.last_ok is None else time.monotonic() - self.last_ok

    async def run(self) -> None:
        """Follow the primary until cancelled."""
        timeout = httpx.Timeout(self.wait_s + 10.0, connect=5.0)
        async with httpx.AsyncClient(
            base_url=self.upstream, headers=self._headers, timeout=timeout
        ) as http:
            while True:
                try:
                    await self.exchange(http)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the loop never dies: count, log, back off
                    self._failed(exc)
                    delay = BACKOFF_FIRST_S * 2 ** min(self.consecutive_failures - 1, 8)
                    await asyncio.sleep(min(BACKOFF_MAX_S, delay))

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        self.consecutive_failures += 1
        self.last_error = str(exc) if isinstance(exc, UpstreamError) else type(exc).__name__
        if self.consecutive_failures == 1:
            logger.warning("replica: exchange with %s failed: %s", self.upstream, exc)
        else:
            logger.debug("replica: exchange with %s failed again: %s", self.upstream, exc)

    async def exchange(self, http: httpx.AsyncClient) -> None:
        """One round: long poll the list, read the regime, catch up on ``as_of``."""
        current = self.store.current
        if current.regime is None:
            await self._fetch_list(http)
        else:
            params = {"wait": str(self.wait_s)}
            await self._fetch_list(http, params, {"If-None-Match": current.upstream_tag})
        response = await http.get(REGIME_PATH)
        _check(response, REGIME_PATH)
        regime = RegimeModel.model_validate_json(response.content)
        if regime.as_of != _instant(self.store.current.rendered.as_of):
            await self._fetch_list(http)
        self._publish(regime=regime)
        self.exchanges += 1
        if self.consecutive_failures:
            logger.info("replica: %s answers again", self.upstream)
        self.consecutive_failures = 0
        self.last_error = ""
        self.last_ok = time.monotonic()

    async def _fetch_list(
        self,
        http: httpx.AsyncClient,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        response = await http.get(LIST_PATH, params=params, headers=headers)
        if response.status_code == 304:
            return
        _check(response, LIST_PATH)
        rendered = await _render(response.content)
        tag = response.headers.get("etag", "")
        if tag != rendered.full_tag:
            self.mismatched_tags += 1
            if self.mismatched_tags == 1:
                logger.warning(
                    "replica: the primary's ETag %s differs from the replica's %s "
                    "(different versions?); filtered ETags may differ",
                    tag,
                    rendered.full_tag,
                )
        self._publish(rendered=rendered, upstream_tag=tag)
        self.updates += 1

    def _publish(
        self,
        rendered: RenderedView | None = None,
        upstream_tag: str | None = None,
        regime: RegimeModel | None = None,
    ) -> None:
        prev = self.store.current
        new = rendered or prev.rendered
        changed = new.full_tag != prev.rendered.full_tag
        self.store.swap(
            Mirrored(
                seq=prev.seq + 1 if changed else prev.seq,
                rendered=new,
                upstream_tag=prev.upstream_tag if upstream_tag is None else upstream_tag,
                regime=prev.regime if regime is None else regime,
            )
        )


async def _render(body: bytes) -> RenderedView:
    """The view of a list body, built in slices: replica reads wait at most one slice."""
    doc = json.loads(body)
    entries: list[Entry] = []
    for item in doc["recommendations"]:
        entries.append(Entry.of(item))
        if len(entries) % RENDER_SLICE == 0:
            await asyncio.sleep(0)
    return RenderedView.from_entries(doc["as_of"], doc["regime"], doc["policy_version"], entries)


def _check(response: httpx.Response, path: str) -> None:
    if response.status_code == 200:
        return
    try:
        detail = str(response.json().get("message", ""))
    except ValueError:
        detail = response.text[:200]
    raise UpstreamError(f"GET {path} answered {response.status_code}: {detail}")
