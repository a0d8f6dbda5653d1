"""The read replica against a real primary: both are real processes on ephemeral ports.

The primary (``serve --clock external``) changes only when the test posts lineage and
ticks it; the replica (``loadsense replica``) follows it over HTTP. Tests run in file
order: the first sees the replica before any primary exists, the last stops the primary.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from loadsense.bench import payloads
from loadsense.bench.harness import free_port, loadsense_command, wait_ready
from tests.support.service import ServiceProcess, poll_until

pytestmark = pytest.mark.e2e  # a primary and a replica, each a real process

INGEST, READ = "replica-test-ingest", "replica-test-read"
TOKENS = {"LOADSENSE_INGEST_TOKENS": INGEST, "LOADSENSE_READ_TOKENS": READ}
READER = {"Authorization": f"Bearer {READ}"}


@dataclass
class Replica:
    url: str
    upstream: str
    process: subprocess.Popen[str]

    def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        """GET with the read token (and ``headers``)."""
        return httpx.get(f"{self.url}{path}", headers={**READER, **(headers or {})}, timeout=30)


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOADSENSE_")}
    return {**env, "LOADSENSE_LOG_LEVEL": "WARNING", **extra}


@pytest.fixture(scope="module")
def replica() -> Iterator[Replica]:
    """A replica of a primary that is not running yet (its port is reserved by number)."""
    upstream = f"http://127.0.0.1:{free_port()}"
    port = free_port()
    env = _clean_env(
        **TOKENS, LOADSENSE_REPLICA_WAIT_S="0.5", LOADSENSE_REPLICA_MAX_STALENESS_S="1.5"
    )
    command = loadsense_command("replica", "--upstream", upstream, "--port", str(port))
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    handle = Replica(f"http://127.0.0.1:{port}", upstream, proc)

    def alive() -> bool:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            return httpx.get(f"{handle.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        poll_until(alive, timeout=20)
        yield handle
    finally:
        proc.kill()
        proc.communicate(timeout=30)


@pytest.fixture(scope="module")
def primary(replica: Replica, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """The primary, on the port the replica already follows; the replica is ready after."""
    data_dir: Path = tmp_path_factory.mktemp("replica-primary") / "data"
    port = replica.upstream.rsplit(":", 1)[1]
    command = loadsense_command(
        "serve", "--data-dir", str(data_dir), "--port", port, "--clock", "external"
    )
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_clean_env(**TOKENS),
    )
    try:
        wait_ready(replica.upstream, proc)
        poll_until(lambda: httpx.get(f"{replica.url}/readyz").status_code == 200, timeout=10)
        yield ServiceProcess(url=replica.upstream, process=proc, data_dir=data_dir)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def _long_polls_waiting(replica: Replica) -> float:
    """The replica's own count of parked long polls, from its ``/metrics``."""
    for line in replica.get("/metrics").text.splitlines():
        if line.startswith("loadsense_replica_long_polls_waiting "):
            return float(line.split()[1])
    raise AssertionError("/metrics has no loadsense_replica_long_polls_waiting")


def _feed_and_tick(primary: ServiceProcess, seed: int, runs: int = 30) -> set[str]:
    """New ETL workloads (a unique namespace) and one tick; returns their names."""
    namespace = f"replica-{uuid.uuid4().hex[:8]}"
    events = payloads.run_events(random.Random(seed), runs, time.time_ns())
    for event in events:
        event["job"]["namespace"] = namespace
    headers = {"Authorization": f"Bearer {INGEST}", "Content-Type": "application/json"}
    r = httpx.post(
        f"{primary.url}/api/v1/lineage/batch", content=json.dumps(events), headers=headers
    )
    assert r.status_code == 200, r.text
    tick = httpx.post(
        f"{primary.url}/api/v1/tick",
        params={"as_of": str(int(time.time()))},
        headers={"Authorization": f"Bearer {INGEST}"},  # a tick writes: ingest rights
        timeout=60,
    )
    assert tick.status_code == 200, tick.text
    return {f"{namespace}/{e['job']['name']}" for e in events}


def _same_full_tag(primary: ServiceProcess, replica: Replica) -> str:
    def check() -> str | None:
        tag = httpx.get(f"{primary.url}/api/v1/recommendations", headers=READER).headers["etag"]
        return tag if replica.get("/api/v1/recommendations").headers.get("etag") == tag else None

    tag: str = poll_until(check, timeout=10)
    return tag


def test_not_ready_before_the_primary_answers(replica: Replica) -> None:
    ready = httpx.get(f"{replica.url}/readyz")
    assert ready.status_code == 503
    body = ready.json()
    assert body["error"] == "unavailable"
    assert replica.upstream in body["message"] and "yet" in body["message"]
    listed = replica.get("/api/v1/recommendations")
    assert listed.status_code == 503 and listed.json()["error"] == "unavailable"
    assert httpx.get(f"{replica.url}/healthz").json() == {"status": "ok"}


def test_refuses_a_public_bind_without_a_read_token() -> None:
    command = loadsense_command("replica", "--host", "0.0.0.0", "--port", str(free_port()))
    done = subprocess.run(
        command, capture_output=True, text=True, env=_clean_env(), timeout=60, check=False
    )
    assert done.returncode == 1
    assert "refusing to listen on 0.0.0.0 without authentication" in done.stderr


def test_bodies_and_etags_equal_the_primarys(primary: ServiceProcess, replica: Replica) -> None:
    workloads = sorted(_feed_and_tick(primary, seed=1))
    _same_full_tag(primary, replica)
    one = workloads[0]
    paths = [
        "/api/v1/recommendations",
        "/api/v1/recommendations?class=etl-transform",
        "/api/v1/recommendations?action=admit",
        "/api/v1/recommendations?action=pause",
        f"/api/v1/recommendations?workload={one.split('/')[0]}/*",
        "/api/v1/recommendations?workload=no-such-*",
        f"/api/v1/recommendations/{one}",
        f"/api/v1/keda/{one}",
        "/api/v1/regime",
    ]
    # The regime's pressures and as_of refresh with the long poll's period (0.5 s here).
    for path in paths:
        theirs = httpx.get(f"{primary.url}{path}", headers=READER)
        ours = replica.get(path)
        assert (ours.status_code, ours.headers.get("etag")) == (
            theirs.status_code,
            theirs.headers.get("etag"),
        ), path
        assert ours.content == theirs.content, path
    listed = replica.get("/api/v1/recommendations").json()["recommendations"]
    assert set(workloads) <= {r["workload"] for r in listed}
    missing = replica.get("/api/v1/keda/no-such-workload")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_if_none_match_answers_304(primary: ServiceProcess, replica: Replica) -> None:
    tag = _same_full_tag(primary, replica)
    for inm in (tag, tag.removeprefix("W/"), f'W/"other", {tag}', "*"):
        r = replica.get("/api/v1/recommendations", headers={"If-None-Match": inm})
        assert (r.status_code, r.headers["etag"], r.content) == (304, tag, b""), inm
    r = replica.get("/api/v1/recommendations", headers={"If-None-Match": 'W/"other"'})
    assert r.status_code == 200 and r.headers["etag"] == tag
    filtered = replica.get("/api/v1/recommendations?class=etl-transform")
    again = replica.get(
        "/api/v1/recommendations?class=etl-transform",
        headers={"If-None-Match": filtered.headers["etag"]},
    )
    assert again.status_code == 304


def test_long_poll_returns_when_the_primary_changes(
    primary: ServiceProcess, replica: Replica
) -> None:
    tag = _same_full_tag(primary, replica)
    started = time.monotonic()
    quiet = replica.get("/api/v1/recommendations?wait=0.3", headers={"If-None-Match": tag})
    assert quiet.status_code == 304 and time.monotonic() - started >= 0.3
    answer: list[httpx.Response] = []
    poll = threading.Thread(
        target=lambda: answer.append(
            replica.get("/api/v1/recommendations?wait=20", headers={"If-None-Match": tag})
        )
    )
    poll.start()
    poll_until(lambda: _long_polls_waiting(replica) == 1, timeout=10)
    new = _feed_and_tick(primary, seed=2)
    changed_at = time.monotonic()
    poll.join(timeout=20)
    assert answer and answer[0].status_code == 200
    assert time.monotonic() - changed_at < 5
    assert answer[0].headers["etag"] != tag
    assert new <= {r["workload"] for r in answer[0].json()["recommendations"]}


def test_auth_and_unknown_paths(primary: ServiceProcess, replica: Replica) -> None:
    bare = httpx.get(f"{replica.url}/api/v1/recommendations")
    assert bare.status_code == 401 and bare.json()["error"] == "unauthorized"
    wrong = httpx.get(
        f"{replica.url}/api/v1/regime", headers={"Authorization": f"Bearer {INGEST}x"}
    )
    assert wrong.status_code == 401
    assert httpx.get(f"{replica.url}/metrics").status_code == 401
    metrics = replica.get("/metrics").text
    assert "loadsense_replica_exchanges_total" in metrics
    assert "loadsense_replica_upstream_failures_total" in metrics
    unknown = ("/api/v1/signals/freshness", "/api/v1/recommendations/history", "/openapi.json")
    for path in (*unknown, "/version"):
        r = replica.get(path)
        assert r.status_code == 404 and r.json()["error"] == "not_found", path
    assert "primary" in replica.get("/api/v1/recommendations/history").json()["message"]
    posted = httpx.post(f"{replica.url}/api/v1/tick", headers=READER)
    assert posted.status_code in {404, 405} and "error" in posted.json()


def test_not_ready_once_the_primary_is_gone_too_long(
    primary: ServiceProcess, replica: Replica
) -> None:
    tag = _same_full_tag(primary, replica)
    primary.terminate()

    def unready() -> httpx.Response | None:
        r = httpx.get(f"{replica.url}/readyz")
        return r if r.status_code == 503 else None

    gone = poll_until(unready, timeout=15)
    assert gone.json()["error"] == "unavailable"
    assert "no successful exchange with the primary" in gone.json()["message"]
    kept = replica.get("/api/v1/recommendations")  # the last view is still served
    assert kept.status_code == 200 and kept.headers["etag"] == tag
    failures = [
        line
        for line in replica.get("/metrics").text.splitlines()
        if line.startswith("loadsense_replica_upstream_failures_total")
    ]
    assert float(failures[0].split()[1]) >= 1


def test_the_replica_is_hardened_like_the_primary(replica: Replica) -> None:
    # Same server config and handlers: bounded URLs, globs and instants in the house format.
    long_url = replica.get("/api/v1/recommendations?workload=" + "a" * 9000)
    assert long_url.status_code == 414
    assert long_url.json()["error"] == "uri_too_long"
    assert "server" not in long_url.headers
    glob = replica.get("/api/v1/recommendations?workload=" + "*" * 513)
    assert glob.status_code == 400  # parameters are checked before the view is read
    assert glob.json()["field"] == "workload"
    junk = replica.get("/api/v1/recommendations?wait=1e400000")
    assert junk.status_code == 400
    assert junk.json() == {
        "error": "invalid",
        "message": "wait must be a number of seconds >= 0",
        "field": "wait",
    }
