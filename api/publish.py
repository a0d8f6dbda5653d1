"""The correlator role's last tick step: publish what the read routes serve to ClickHouse.

API replicas that do not run the correlator (``serve --roles ingest,api``) serve these
documents (api/published.py), so every replica answers every read route with the same
bodies and ETags as the correlator process. Each document is the JSON the correlator's
own routes answer with: the snapshot's rows per kind, the full recommendation list, the
regime and the alert rules and alerts. A failed publication is logged and counted; the
replicas keep serving the previous one (and the recommendations' ``expires_at`` tells
consumers when to stop trusting it).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, TypeAdapter, create_model

from loadsense.api.routes.alerts import AlertsData, AlertsResponse, _alert, rules_view
from loadsense.api.routes.recommendations import regime_model
from loadsense.context import AppContext
from loadsense.correlator.snapshot import Snapshot
from loadsense.settings import ROLES
from loadsense.signals.contract import KINDS
from loadsense.signals.evaluate import FAMILIES
from loadsense.storage.schema.published import PUBLISHED_STATE

logger = logging.getLogger(__name__)


def _rows_type(row_type: Any) -> Any:
    return tuple.__class_getitem__((row_type, ...))  # a row type known at run time


ROWS: dict[str, TypeAdapter[Any]] = {
    kind: TypeAdapter(_rows_type(FAMILIES[kind].row_type)) for kind in KINDS
}
"""Each kind's rows to JSON (frozen dataclasses, serialised as the routes serialise them)."""

_ROW_FIELDS: dict[str, Any] = {kind: (_rows_type(FAMILIES[kind].row_type), ()) for kind in KINDS}
_PublishedRows: Any = create_model("PublishedRows", **_ROW_FIELDS)


class _SnapshotDocument(BaseModel):
    as_of: float
    tick_seconds: float
    rows: _PublishedRows


def snapshot_document(snap: Snapshot) -> bytes:
    """The snapshot's rows per kind as one JSON document, each kind serialised once."""
    rows = b",".join(b'"%s":%s' % (k.encode(), ROWS[k].dump_json(snap.rows(k))) for k in KINDS)
    head = json.dumps({"as_of": snap.as_of, "tick_seconds": snap.tick_seconds})[:-1]
    return head.encode() + b',"rows":{' + rows + b"}}"


def snapshot_of(body: bytes) -> Snapshot:
    """The snapshot a replica serves: the published rows (no lineage graph: the read
    routes that need one load it from storage), validated in one pass."""
    doc = _SnapshotDocument.model_validate_json(body)
    rows = {kind: getattr(doc.rows, kind) for kind in KINDS}
    return Snapshot(as_of=doc.as_of, tick_seconds=doc.tick_seconds, **rows)


class PublishStep:
    """Writes one publication per tick (a tick step, registered after dispatch and
    alerts so it sees their results for the same snapshot)."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx
        self.publications = 0
        self.failures = 0

    def documents(self, snap: Snapshot) -> dict[str, bytes]:
        ctx = self._ctx
        docs = {"snapshot": snapshot_document(snap)}
        if ctx.dispatch is not None:
            pub = ctx.dispatch.store.current
            docs["recommendations"] = pub.rendered.full_body
            docs["regime"] = regime_model(pub, ctx.dispatch.source).model_dump_json().encode()
        if ctx.alerts is not None:
            ev = ctx.alerts.evaluator
            rules = rules_view(ev, ctx.settings.tick_interval_s)
            alerts = AlertsResponse(data=AlertsData(alerts=[_alert(a) for a in ev.active()]))
            alert_doc = {
                "rules": rules.model_dump(mode="json", by_alias=True),
                "alerts": alerts.model_dump(mode="json", by_alias=True),
                "last_tick": ev.last_tick,
            }
            docs["alerts"] = json.dumps(alert_doc, separators=(",", ":")).encode()
        return docs

    def on_tick(self, snapshot: Snapshot) -> None:
        try:
            docs = self.documents(snapshot)
            version = time.time_ns()
            as_of = datetime.fromtimestamp(snapshot.as_of, UTC)
            rows = [(name, version, as_of, body.decode()) for name, body in docs.items()]
            self._ctx.storage.client.insert(
                PUBLISHED_STATE.name, rows, column_names=list(PUBLISHED_STATE.insert_columns)
            )
            self.publications += 1
        except Exception:
            self.failures += 1
            self._ctx.metrics.publish_failures.inc()
            logger.exception("publishing the correlator state failed (replicas keep the last)")


def start_publisher(ctx: AppContext) -> Callable[[], None] | None:
    """``STARTUP_HOOKS`` entry after the correlator's, dispatch's and alerts' hooks.

    One process with every role on embedded storage publishes nothing: no other process
    can open its data directory, so nobody could read it."""
    alone = ctx.storage.embedded and set(ctx.settings.roles) == set(ROLES)
    if ctx.correlator is None or alone:
        return None
    ctx.correlator.add_step(PublishStep(ctx))
    return None
