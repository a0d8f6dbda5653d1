"""Bearer tokens on reads, open health endpoints, and the refuse-to-expose rule."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loadsense.api.auth import check_exposure
from loadsense.api.tokens import is_loopback
from loadsense.errors import ConfigError
from loadsense.settings import Settings
from loadsense.storage.client import Storage
from tests.support.service import Service, running_service


@pytest.fixture(scope="module")
def secured(storage: Storage) -> Iterator[Service]:
    settings = Settings(ingest_tokens=("ingest-secret",), read_tokens=("read-secret",))
    with running_service(storage, settings) as svc:
        yield svc


@pytest.mark.parametrize(
    ("token", "status"),
    [(None, 401), ("wrong", 401), ("read-secret-but-longer", 401), ("read-secret", 200)],
)
def test_reads_need_a_valid_read_token(secured: Service, token: str | None, status: int) -> None:
    with secured.client(token) as http:
        response = http.get("/metrics")
    assert response.status_code == status
    if status == 401:
        assert response.json()["error"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"


def test_ingest_token_is_not_a_read_token_when_read_tokens_exist(secured: Service) -> None:
    with secured.client("ingest-secret") as http:
        assert http.get("/metrics").status_code == 401


def test_tick_needs_an_ingest_token_not_a_read_token(storage: Storage) -> None:
    """A tick moves the published clock and writes history: writing rights only."""
    settings = Settings(
        ingest_tokens=("ingest-secret",), read_tokens=("read-secret",), clock="external"
    )
    as_of = {"as_of": "2021-01-01T00:00:00Z"}  # before any test's telemetry: empty rows
    with running_service(storage, settings) as svc:
        with svc.client("read-secret") as http:
            refused = http.post("/api/v1/tick", params=as_of)
        assert refused.status_code == 401
        assert refused.json()["error"] == "unauthorized"
        with svc.client("ingest-secret") as http:
            accepted = http.post("/api/v1/tick", params=as_of)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["as_of_iso"] == "2021-01-01T00:00:00Z"


def test_malformed_authorization_header_is_401(secured: Service) -> None:
    with secured.client() as http:
        r = http.get("/metrics", headers={"Authorization": "Basic cmVhZC1zZWNyZXQ="})
    assert r.status_code == 401
    assert "missing bearer token" in r.json()["message"]


def test_health_endpoints_stay_open(secured: Service) -> None:
    with secured.client() as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        ready = http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["schema_version"] >= 1
        assert http.get("/version").json()["service"] == "loadsense"


def test_single_token_setups_read_with_the_ingest_token(storage: Storage) -> None:
    with running_service(storage, Settings(ingest_tokens=("only",))) as svc:
        with svc.client("only") as http:
            assert http.get("/metrics").status_code == 200
        with svc.client() as http:
            assert http.get("/metrics").status_code == 401


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"])
def test_loopback_addresses(host: str) -> None:
    assert is_loopback(host)
    check_exposure(Settings(host=host))


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "example.internal"])
def test_exposure_without_tokens_is_refused(host: str) -> None:
    with pytest.raises(ConfigError, match=f"refusing to listen on {host} without auth"):
        check_exposure(Settings(host=host))
    check_exposure(Settings(host=host, insecure=True))
    check_exposure(Settings(host=host, ingest_tokens=("t",), read_tokens=("r",)))


def test_unknown_paths_answer_in_the_house_error_format(service: Service) -> None:
    with service.client() as http:
        r = http.get("/no/such/path")
        assert r.status_code == 404
        assert r.json() == {"error": "not_found", "message": "Not Found"}
        r = http.delete("/healthz")
        assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
