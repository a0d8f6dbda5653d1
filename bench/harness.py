"""Running a real Loadsense for a benchmark or a test: ports, commands, readiness, stop.

The benchmarks drive services the way the tests do, so both use these helpers; they live
here because ``bench/`` is distributed and ``tests/`` is not (``tests/support`` imports
them). In-process services run uvicorn on a thread, on an ephemeral port; subprocesses
run ``python -m loadsense.api.cli`` with the interpreter running the caller.
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
from pathlib import Path
from typing import Any

import httpx
import psutil
import uvicorn


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_quiet(
    threshold: float,
    timeout: float,
    say: Any = None,
    load: Any = os.getloadavg,
    sleep: Any = time.sleep,
) -> float:
    """Wait until the 1-minute load average is below ``threshold`` (at most ``timeout``
    seconds); return it. A run that starts while the previous run's storage-limit phase
    still weighs on the 2 cores measures that, not the service."""
    waited = 0.0
    current = float(load()[0])
    while current >= threshold and waited < timeout:
        if say is not None and waited % 30 == 0:
            say(f"waiting for the load average ({current:.2f}) to fall below {threshold}")
        sleep(5.0)
        waited += 5.0
        current = float(load()[0])
    return current


def loadsense_command(*args: str) -> list[str]:
    """The ``loadsense`` command line with this interpreter (no console script needed)."""
    return [sys.executable, "-m", "loadsense.api.cli", *args]


def _output(proc: subprocess.Popen[Any]) -> str:
    if proc.stdout is None:
        return ""
    out = proc.stdout.read()
    return out.decode(errors="replace") if isinstance(out, bytes) else str(out)


def wait_ready(
    url: str,
    proc: subprocess.Popen[Any] | None = None,
    timeout: float = 60.0,
    path: str = "/readyz",
    log: Path | None = None,
) -> None:
    """Until ``GET {url}{path}`` answers 200. RuntimeError (with the process's output:
    ``log`` when it writes there, else its pipe) if ``proc`` exits first; TimeoutError
    after ``timeout`` seconds."""

    def output() -> str:
        if log is not None:
            return log.read_text(errors="replace") if log.exists() else ""
        return _output(proc) if proc is not None else ""

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = output()
            raise RuntimeError(
                f"{proc.args!r} exited with {proc.returncode} before it was ready"
                + (f":\n{out}" if out else "")
            )
        try:
            if httpx.get(f"{url}{path}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    out = output() if log is not None else ""
    raise TimeoutError(f"{url} not ready within {timeout:.0f}s" + (f":\n{out}" if out else ""))


def stop_process(proc: subprocess.Popen[Any], timeout: float = 60.0) -> bool:
    """SIGTERM (a service drains its write queue), then SIGKILL after ``timeout`` seconds.
    True when the process stopped on its own (or had already exited)."""
    if proc.poll() is not None:
        return True
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return False


@contextmanager
def serve_in_thread(
    app: Any,
    name: str = "loadsense",
    timeout: float = 30.0,
    config: uvicorn.Config | None = None,
) -> Iterator[str]:
    """Serve the ASGI ``app`` (with its lifespan) on 127.0.0.1:<ephemeral> on a thread;
    yields its base URL and stops it when the block ends. ``config`` replaces the plain
    uvicorn configuration (e.g. the house server's, port 0)."""
    if config is None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{name} failed to start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)


class ServerSampler(threading.Thread):
    """RSS and cumulative CPU seconds of the server process, every ``period`` seconds."""

    def __init__(self, pid: int, period: float = 0.25) -> None:
        super().__init__(daemon=True)
        self._proc = psutil.Process(pid)
        self._period = period
        self._halt = threading.Event()
        self.samples: list[tuple[float, int, float]] = []  # (wall time, rss, cpu seconds)

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                cpu = self._proc.cpu_times()
                rss = self._proc.memory_info().rss
            except psutil.Error:
                return
            self.samples.append((time.time(), rss, cpu.user + cpu.system))
            self._halt.wait(self._period)

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def window(self, start: float, end: float) -> tuple[float, float]:
        """Peak RSS (MiB) and mean CPU use (cores) between two wall-clock times."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            return 0.0, 0.0
        peak = max(s[1] for s in inside) / 2**20
        cores = (inside[-1][2] - inside[0][2]) / (inside[-1][0] - inside[0][0])
        return peak, cores
