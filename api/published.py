"""What an API replica without the correlator serves: the state the correlator published.

A background thread (:class:`PublishedState`) reads ``published_state`` every
:data:`POLL_S` seconds, asking only for documents newer than those it holds, and swaps
them in: the snapshot for the signal routes, the recommendation list (parsed into the
same :class:`~loadsense.correlator.dispatch.render.RenderedView` as the correlator's, so
the bodies and ETags are the same and long polls wake on a change) and the regime, and
the alert rules and alerts. Reads never touch ClickHouse: the cache is at most one poll
old. The loop never dies; a failed read is logged and counted, the last state is served.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from loadsense.api.auth import require_read
from loadsense.api.models import RegimeModel
from loadsense.api.publish import snapshot_of
from loadsense.api.routes.recommendations import DispatchUnavailable
from loadsense.context import AppContext
from loadsense.correlator.dispatch.render import Entry, RenderedView
from loadsense.correlator.dispatch.store import ViewSource, ViewStore
from loadsense.correlator.snapshot import EMPTY, Snapshot
from loadsense.selfmetrics import SelfMetrics
from loadsense.storage.client import Storage
from loadsense.storage.schema.published import PUBLISHED_STATE

logger = logging.getLogger(__name__)

POLL_S = 1.0
"""Seconds between reads of ``published_state``: how far a replica may lag the correlator."""

NOT_YET = "the correlator has not published its state yet (it runs in another process)"

_READ_SQL = (
    f"SELECT name, version, body FROM {PUBLISHED_STATE.name} FINAL WHERE version > {{seen:UInt64}}"
)


@dataclass(frozen=True)
class PublishedView:
    """The published recommendation list and regime, as a long-pollable view."""

    seq: int
    rendered: RenderedView
    regime: RegimeModel | None


_NO_VIEW = PublishedView(0, RenderedView.from_entries(None, "calm", "", ()), None)


def rendered_of(body: bytes) -> RenderedView:
    doc = json.loads(body)
    entries = [Entry.of(item) for item in doc["recommendations"]]
    return RenderedView.from_entries(doc["as_of"], doc["regime"], doc["policy_version"], entries)


class PublishedState:
    """The latest publication, refreshed by :meth:`refresh` (its thread calls it)."""

    def __init__(self, storage: Storage, metrics: SelfMetrics | None = None) -> None:
        self._storage = storage
        self._metrics = metrics
        self._seen = 0
        self.snapshot: Snapshot = EMPTY
        self.alerts: dict[str, Any] | None = None
        self.store: ViewStore[PublishedView] = ViewStore(_NO_VIEW)
        self.reads = 0
        self.failures = 0
        self._failing = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> bool:
        """Adopt the documents published since the last read; True when any was new."""
        rows = self._storage.client.query(_READ_SQL, parameters={"seen": self._seen}).result_rows
        self.reads += 1
        docs = {str(name): (int(version), str(body).encode()) for name, version, body in rows}
        if not docs:
            return False
        if "snapshot" in docs:
            self.snapshot = snapshot_of(docs["snapshot"][1])
        if "alerts" in docs:
            self.alerts = json.loads(docs["alerts"][1])
        self._adopt_view(docs)
        self._seen = max(self._seen, *(version for version, _ in docs.values()))
        return True

    def _adopt_view(self, docs: dict[str, tuple[int, bytes]]) -> None:
        prev = self.store.current
        rendered = prev.rendered
        if "recommendations" in docs:
            rendered = rendered_of(docs["recommendations"][1])
        regime = prev.regime
        if "regime" in docs:
            regime = RegimeModel.model_validate_json(docs["regime"][1])
        changed = rendered.full_tag != prev.rendered.full_tag or (
            regime is not None and (prev.regime is None or regime.regime != prev.regime.regime)
        )
        self.store.swap(PublishedView(prev.seq + 1 if changed else prev.seq, rendered, regime))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
                self._failing = False
            except Exception as exc:  # the loop never dies: count, log, keep the last state
                self.failures += 1
                if self._metrics is not None:
                    self._metrics.published_read_failures.inc()
                # once per outage (the table does not exist until the correlator migrates)
                log = logger.debug if self._failing else logger.warning
                log("reading the published state failed: %s", type(exc).__name__)
                self._failing = True
            self._stop.wait(POLL_S)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="published-state", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


class PublishedRecommendations:
    """The recommendation routes' source on an API replica: the published list."""

    def __init__(self, state: PublishedState, max_wait_s: float) -> None:
        self._state = state
        self._max_wait_s = max_wait_s

    @property
    def max_wait_s(self) -> float:
        return self._max_wait_s

    def views(self) -> ViewSource:
        if self._state.store.current.regime is None:
            raise DispatchUnavailable(NOT_YET)
        return self._state.store

    def regime(self) -> RegimeModel:
        regime = self._state.store.current.regime
        if regime is None:
            raise DispatchUnavailable(NOT_YET)
        return regime

    def require_read(self, request: Request) -> None:
        require_read(request)


def start_published(ctx: AppContext) -> Callable[[], None] | None:
    """``REPLICA_HOOKS`` entry (a process without the correlator role): follow what the
    correlator publishes."""
    roles = ctx.settings.roles
    if "correlator" in roles or "api" not in roles:  # nothing to follow, or nobody reads it
        return None
    state = PublishedState(ctx.storage, ctx.metrics)
    ctx.published = state
    state.start()
    return state.stop
