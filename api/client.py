"""A small typed client for Loadsense's dispatch API, for schedulers and their plug-ins.

    from loadsense.api.client import LoadsenseClient

    with LoadsenseClient("http://loadsense:4318", token="...") as ls:
        for rec in ls.recommendations(cls="etl-transform"):
            print(rec.workload, rec.action, rec.priority, rec.max_concurrency)
        changed = ls.wait_for_change(timeout=30)  # long poll; None when nothing changed

The client keeps the ETag of the latest list it fetched, so ``wait_for_change`` returns
only when the recommendations (for the same filters) differ from what it last saw.
Responses are frozen records (a recommendation's reasons are the API's own
``ReasonModel``); errors raise :class:`LoadsenseAPIError`. The client needs only
``httpx`` and ``pydantic``: it imports ``loadsense.api.models`` and
``loadsense.vocabulary`` and nothing of the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from loadsense.api.models import ReasonModel

Reason = ReasonModel
"""A recommendation's reason: the API's own record (``loadsense.api.models``)."""


class LoadsenseAPIError(Exception):
    """An HTTP error answer: status, the stable ``error`` code and the message."""

    def __init__(self, status: int, code: str, message: str, url: str = "") -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.url = url


@dataclass(frozen=True)
class Recommendation:
    workload: str
    cls: str
    action: str
    priority: int
    max_concurrency: int | None
    rate_per_s: float | None
    recommended_concurrency: int
    defer_until: datetime | None
    resume_when: str | None
    reasons: tuple[ReasonModel, ...]
    regime: str
    confidence: str
    issued_at: datetime
    expires_at: datetime
    policy_version: str

    @property
    def held(self) -> bool:
        """True when the workload should not start now (defer or pause)."""
        return self.action in {"defer", "pause"}


@dataclass(frozen=True)
class Regime:
    regime: str
    etl_pressure: float
    ml_pressure: float
    since: datetime | None
    as_of: datetime | None
    policy_version: str


def literal_glob(name: str) -> str:
    """A ``name`` filter matching exactly ``name`` (docs/signals.md#filters): each ``*``,
    ``?`` and ``[`` in a class of its own (``[*]``), as :func:`glob.escape` does."""
    return "".join(f"[{ch}]" if ch in "*?[" else ch for ch in name)


def _time(raw: str | None) -> datetime | None:
    return None if raw is None else datetime.fromisoformat(raw.replace("Z", "+00:00"))


def parse_recommendation(doc: dict[str, Any]) -> Recommendation:
    issued = _time(doc["issued_at"])
    expires = _time(doc["expires_at"])
    assert issued is not None and expires is not None
    return Recommendation(
        workload=doc["workload"],
        cls=doc["class"],
        action=doc["action"],
        priority=int(doc["priority"]),
        max_concurrency=doc.get("max_concurrency"),
        rate_per_s=doc.get("rate_per_s"),
        recommended_concurrency=int(doc["recommended_concurrency"]),
        defer_until=_time(doc.get("defer_until")),
        resume_when=doc.get("resume_when"),
        reasons=tuple(ReasonModel.model_validate(r) for r in doc.get("reasons", ())),
        regime=doc["regime"],
        confidence=doc["confidence"],
        issued_at=issued,
        expires_at=expires,
        policy_version=doc["policy_version"],
    )


class LoadsenseClient:
    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=base_url, headers=headers, timeout=timeout, transport=transport
        )
        self._timeout = timeout
        self._etags: dict[tuple[tuple[str, str], ...], str] = {}
        self.last: dict[tuple[tuple[str, str], ...], list[Recommendation]] = {}

    def __enter__(self) -> LoadsenseClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _get(self, path: str, **kwargs: Any) -> httpx.Response:
        response = self._http.get(path, **kwargs)
        if response.status_code >= 400:
            try:
                body = response.json()
                code, message = str(body.get("error", "")), str(body.get("message", ""))
            except ValueError:
                code, message = "http", response.text[:200]
            url = str(response.request.url)
            raise LoadsenseAPIError(response.status_code, code, message, url)
        return response

    @staticmethod
    def _params(cls: str | None, action: str | None, workload: str | None) -> dict[str, str]:
        raw = {"class": cls, "action": action, "workload": workload}
        return {k: v for k, v in raw.items() if v is not None}

    def recommendations(
        self, cls: str | None = None, action: str | None = None, workload: str | None = None
    ) -> list[Recommendation]:
        """Current recommendations, optionally filtered (``workload`` is a glob)."""
        params = self._params(cls, action, workload)
        response = self._get("/api/v1/recommendations", params=params)
        return self._remember(params, response)

    def _remember(self, params: dict[str, str], response: httpx.Response) -> list[Recommendation]:
        key = tuple(sorted(params.items()))
        recs = [parse_recommendation(d) for d in response.json()["recommendations"]]
        self._etags[key] = response.headers.get("etag", "")
        self.last[key] = recs
        return recs

    def wait_for_change(
        self,
        timeout: float = 30.0,
        cls: str | None = None,
        action: str | None = None,
        workload: str | None = None,
    ) -> list[Recommendation] | None:
        """Long-poll until the filtered recommendations differ from the last ones seen.

        Returns the new list, or None when ``timeout`` passed without a change. The first
        call with a given filter returns at once with the current list.
        """
        params = self._params(cls, action, workload)
        key = tuple(sorted(params.items()))
        etag = self._etags.get(key)
        if etag is None:
            return self.recommendations(cls, action, workload)
        response = self._get(
            "/api/v1/recommendations",
            params={**params, "wait": str(timeout)},
            headers={"If-None-Match": etag},
            timeout=timeout + self._timeout,
        )
        if response.status_code == 304:
            return None
        return self._remember(params, response)

    def recommendation(self, workload: str) -> Recommendation:
        path = f"/api/v1/recommendations/{quote(workload, safe='/')}"
        return parse_recommendation(self._get(path).json())

    def concurrency(self, workload: str) -> int:
        """What KEDA's metrics-api scaler reads: ``GET /api/v1/keda/{workload}``."""
        return int(self._get(f"/api/v1/keda/{quote(workload, safe='/')}").json()["value"])

    def regime(self) -> Regime:
        doc = self._get("/api/v1/regime").json()
        return Regime(
            regime=doc["regime"],
            etl_pressure=float(doc["pressures"]["etl"]),
            ml_pressure=float(doc["pressures"]["ml"]),
            since=_time(doc.get("since")),
            as_of=_time(doc.get("as_of")),
            policy_version=doc["policy"]["version"],
        )

    def history(
        self,
        workload: str | None = None,
        limit: int = 100,
        start: float | None = None,
        end: float | None = None,
    ) -> list[dict[str, Any]]:
        """Audit log entries (decision changes), newest first; times in epoch seconds."""
        params: dict[str, str | int | float] = {"limit": limit}
        if workload:
            params["workload"] = workload
        if start is not None:
            params["from"] = start
        if end is not None:
            params["to"] = end
        entries: list[dict[str, Any]] = self._get(
            "/api/v1/recommendations/history", params=params
        ).json()["entries"]
        return entries

    # --- read routes the dashboard uses: parsed JSON as the API documents it ----------

    def _json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        return self._get(path, params=clean).json()

    def regime_detail(self) -> dict[str, Any]:
        """``GET /api/v1/regime`` in full: pressures, drivers, latches, enter/exit bounds."""
        doc: dict[str, Any] = self._json("/api/v1/regime")
        return doc

    def signals(
        self,
        kind: str,
        name: str | None = None,
        sort: str | None = None,
        order: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> dict[str, Any]:
        """The latest snapshot's rows of one signal kind (``name``: a glob on the subject),
        sorted by ``sort`` (``order`` ``asc``/``desc``) and paged on the server when asked;
        ``total`` counts the rows before the page."""
        params = {"name": name, "sort": sort, "order": order, "limit": limit, "offset": offset}
        doc: dict[str, Any] = self._json(f"/api/v1/signals/{quote(kind)}", params)
        return doc

    def datasets(
        self,
        search: str | None = None,
        sort: str | None = None,
        order: str | None = None,
        limit: int = 50,
        offset: int = 0,
        name: str | None = None,
    ) -> dict[str, Any]:
        """``GET /api/v1/datasets``: one page of the freshness table (each dataset's
        freshness with its criticality); ``total`` rows matched ``search`` and ``name``."""
        params = {
            "search": search,
            "sort": sort,
            "order": order,
            "limit": limit,
            "offset": offset,
            "name": name,
        }
        doc: dict[str, Any] = self._json("/api/v1/datasets", params)
        return doc

    def signal_history(
        self,
        kind: str,
        name: str | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> dict[str, Any]:
        """Stored points per subject and field; ``start``/``end`` in epoch seconds."""
        params = {"name": name, "from": _seconds(start), "to": _seconds(end)}
        doc: dict[str, Any] = self._json(f"/api/v1/signals/{quote(kind)}/history", params)
        return doc

    def lineage_graph(self, node: str | None = None, depth: int = 2) -> dict[str, Any]:
        """Nodes and edges within ``depth`` hops of ``node`` (the whole graph when None)."""
        doc: dict[str, Any] = self._json("/api/v1/lineage/graph", {"node": node, "depth": depth})
        return doc

    def dataset_timeline(
        self, dataset: str, start: float | None = None, end: float | None = None
    ) -> dict[str, Any]:
        """One dataset's updates, schema versions and quality results, newest first."""
        params = {"dataset": dataset, "from": _seconds(start), "to": _seconds(end)}
        doc: dict[str, Any] = self._json("/api/v1/datasets/timeline", params)
        return doc

    def diagnostics(self) -> dict[str, Any]:
        """``GET /api/v1/diagnostics``: services sending telemetry without ``host.name``."""
        doc: dict[str, Any] = self._json("/api/v1/diagnostics")
        return doc

    def producer_settings(self) -> dict[str, Any]:
        """``GET /api/v1/producer-settings``: ``url`` and ``sections[{title, language, text}]``."""
        doc: dict[str, Any] = self._json("/api/v1/producer-settings")
        return doc

    def rules(self) -> dict[str, Any]:
        """``GET /api/v1/rules``: ``{"groups": [...]}`` in Prometheus' shape (the
        ``data`` of the answer); docs/alerts.md."""
        data: dict[str, Any] = self._get("/api/v1/rules").json()["data"]
        return data

    def alerts(self) -> list[dict[str, Any]]:
        """``GET /api/v1/alerts``: pending and firing alerts (``labels``, ``annotations``,
        ``state``, ``activeAt``, ``value``)."""
        alerts: list[dict[str, Any]] = self._get("/api/v1/alerts").json()["data"]["alerts"]
        return alerts

    def alert_history(
        self,
        start: str | float | None = None,
        end: str | float | None = None,
        alertname: str | None = None,
        limit: int = 1000,
    ) -> dict[str, Any]:
        """``GET /api/v1/alerts/history``: ``{"transitions": [...]}``, newest first;
        ``start``/``end`` are epoch seconds or RFC 3339."""
        params: dict[str, str | int | float] = {"limit": limit}
        if start is not None:
            params["from"] = start
        if end is not None:
            params["to"] = end
        if alertname:
            params["alertname"] = alertname
        body: dict[str, Any] = self._get("/api/v1/alerts/history", params=params).json()
        return body


def _seconds(value: float | None) -> str | None:
    """Epoch seconds as the API's instants accept them: plain digits, bounded fraction."""
    return None if value is None else f"{value:.3f}"
