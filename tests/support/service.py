"""A real Loadsense service for tests: in-process on an ephemeral port, or a subprocess.

In-process services share the test process's one embedded chDB engine (chDB allows one
data directory per process); each gets its own app, writer and settings. The subprocess
variant runs ``loadsense serve`` for behaviour that needs a process (signals, locks).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from loadsense.api.app import create_app
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


@contextmanager
def running_service(storage: Storage, settings: Settings | None = None) -> Iterator[Service]:
    """Serve ``create_app(settings, storage)`` on 127.0.0.1:<ephemeral> for the block."""
    settings = settings or Settings()
    app = create_app(settings, storage)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="test-service", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test service failed to start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Service(url=f"http://127.0.0.1:{port}", settings=settings, app=app)
    finally:
        server.should_exit = True
        thread.join(timeout=60)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class ServiceProcess:
    url: str
    process: subprocess.Popen[str]
    data_dir: Path

    def terminate(self, sig: int = signal.SIGTERM, timeout: float = 60) -> tuple[int, str]:
        self.process.send_signal(sig)
        out, _ = self.process.communicate(timeout=timeout)
        return self.process.returncode, out


def loadsense_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "loadsense.api.cli", *args]


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


def wait_ready(url: str, proc: subprocess.Popen[str] | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise RuntimeError(f"service exited with {proc.returncode}:\n{out}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready within {timeout}s")


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
