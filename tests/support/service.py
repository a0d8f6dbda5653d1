"""A real Loadsense service for tests: in-process on an ephemeral port, or a subprocess.

In-process services share the test process's one embedded chDB engine (chDB allows one
data directory per process); each gets its own app, writer and settings. The subprocess
variant runs ``loadsense serve`` for behaviour that needs a process (signals, locks).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from loadsense.api.app import create_app
from loadsense.bench.harness import free_port, loadsense_command, serve_in_thread, wait_ready
from loadsense.context import AppContext
from loadsense.settings import Settings
from loadsense.storage.client import Storage


@dataclass
class Service:
    url: str
    settings: Settings
    app: Any

    @property
    def ctx(self) -> AppContext:
        ctx: AppContext = self.app.state.ctx
        return ctx

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0, **kwargs)


_RUNNING: list[Service] = []


def settle_running() -> None:
    """Wait until the rows derived from every lineage event the in-process services
    acknowledged are committed (api/journal.py), as a tick does:
    tests that read storage right after a 201 call this first."""
    for svc in list(_RUNNING):
        ctx = getattr(svc.app.state, "ctx", None)
        if ctx is not None:
            assert ctx.journal.settle(30), "derived lineage rows not committed within 30 s"


@contextmanager
def running_service(storage: Storage, settings: Settings | None = None) -> Iterator[Service]:
    """Serve ``create_app(settings, storage)`` on 127.0.0.1:<ephemeral> for the block."""
    settings = settings or Settings()
    app = create_app(settings, storage)
    with serve_in_thread(app, "test-service") as url:
        svc = Service(url=url, settings=settings, app=app)
        _RUNNING.append(svc)
        try:
            yield svc
        finally:
            _RUNNING.remove(svc)


@dataclass
class ServiceProcess:
    url: str
    process: subprocess.Popen[str]
    data_dir: Path

    def terminate(self, sig: int = signal.SIGTERM, timeout: float = 60) -> tuple[int, str]:
        self.process.send_signal(sig)
        out, _ = self.process.communicate(timeout=timeout)
        return self.process.returncode, out


@contextmanager
def service_process(
    data_dir: Path, *extra: str, env: dict[str, str] | None = None
) -> Iterator[ServiceProcess]:
    """Run ``loadsense serve`` on a free port with its own data dir; wait for /readyz."""
    port = free_port()
    proc = subprocess.Popen(
        loadsense_command("serve", "--data-dir", str(data_dir), "--port", str(port), *extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    handle = ServiceProcess(url=url, process=proc, data_dir=data_dir)
    try:
        wait_ready(url, proc)
        yield handle
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)


def poll_until(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``predicate()`` until truthy (returned) or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        time.sleep(interval)


_COUNT_SCRIPT = """
import sys
from loadsense.storage.client import open_storage
s = open_storage("chdb://" + sys.argv[1], "loadsense")
for t in sys.argv[2:]:
    print(s.client.query(f"SELECT count() FROM {t} FINAL").result_rows[0][0])
"""


def stored_counts(data_dir: Path, tables: tuple[str, ...]) -> list[int]:
    """Rows per table (FINAL) in the stopped service's data directory, read by another
    process (chDB opens one data directory per process)."""
    out = subprocess.run(
        [sys.executable, "-c", _COUNT_SCRIPT, str(data_dir / "db"), *tables],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[2],
    ).stdout
    return [int(x) for x in out.strip().splitlines()[-len(tables) :]]
