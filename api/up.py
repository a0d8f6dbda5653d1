"""``loadsense dashboard`` and ``loadsense up``: the dashboard process, and the service
with its dashboard (and any extra child, such as the live demo) under one supervisor.

``up`` starts ``serve`` and ``dashboard`` as children (api/supervise.py), waits until
the API answers ``/readyz`` and the dashboard its health check, then prints where to go
next: the dashboard URL, the API docs URL and the producer settings
(loadsense/onboarding.py). One Ctrl-C stops all of them.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from loadsense.api.supervise import Child, supervise
from loadsense.errors import LoadsenseError
from loadsense.onboarding import producer_settings_text
from loadsense.settings import (
    LOADSENSE_DASHBOARD_API,
    LOADSENSE_DASHBOARD_REFRESH_S,
    LOADSENSE_DASHBOARD_TOKEN,
    LOADSENSE_DASHBOARD_URL,
)


class ChildFailed(LoadsenseError):
    code = "child_failed"


def app_path() -> Path:
    """The dashboard's entry script, found without importing the dashboard (the API
    never imports it: data flows one way)."""
    spec = importlib.util.find_spec("loadsense.dashboard")
    if spec is None or spec.origin is None:
        raise ChildFailed("the loadsense.dashboard package is not installed")
    return Path(spec.origin).parent / "app.py"


READY_TIMEOUT_S = 180.0
"""How long ``up`` waits for its children to answer (a first start applies migrations)."""


def streamlit_argv(host: str, port: int) -> list[str]:
    """``streamlit run`` of the dashboard app: headless, no telemetry, no file watcher."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_path()),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--global.developmentMode",
        "false",
        "--runner.magicEnabled",
        "false",
    ]


def run_dashboard(api: str, host: str, port: int, token: str, refresh_s: float) -> int:
    """Replace this process with Streamlit serving the dashboard (the token travels in
    the environment, never on a command line others can read)."""
    env = {
        **os.environ,
        LOADSENSE_DASHBOARD_API: api,
        LOADSENSE_DASHBOARD_TOKEN: token,
        LOADSENSE_DASHBOARD_REFRESH_S: str(refresh_s),
    }
    argv = streamlit_argv(host, port)
    os.execve(argv[0], argv, env)  # noqa: S606 (our own argv)
    return 0  # not reached


def cli(*args: str) -> tuple[str, ...]:
    return (sys.executable, "-m", "loadsense.api.cli", *args)


def _wait(
    url: str, procs: Sequence[tuple[Child, subprocess.Popen[bytes]]], stopping: Callable[[], bool]
) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline and not stopping():
        for child, proc in procs:
            if proc.poll() is not None:
                raise ChildFailed(f"{child.name} exited with {proc.returncode} while starting")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    if stopping():
        return False
    raise ChildFailed(f"{url} did not answer within {READY_TIMEOUT_S:.0f} s")


def banner(api: str, dashboard: str) -> str:
    return (
        "\nLoadsense is up.\n"
        f"  Dashboard:  {dashboard}\n"
        f"  API docs:   {api}/docs\n"
        f"  Health:     {api}/readyz\n\n"
        "Point your producers at it:\n\n"
        f"{producer_settings_text(api)}\n"
        "Ctrl-C stops everything.\n"
    )


def run_up(
    serve_args: Sequence[str],
    api: str,
    dashboard_host: str,
    dashboard_port: int,
    token: str,
    extra: Sequence[Child] = (),
    out: Callable[[str], None] = print,
) -> int:
    """Supervise ``serve`` (with ``serve_args``), the dashboard and ``extra`` children."""
    dashboard = f"http://{dashboard_host}:{dashboard_port}"
    children = [
        Child("serve", cli("serve", *serve_args), {LOADSENSE_DASHBOARD_URL: dashboard}),
        Child(
            "dashboard",
            cli("dashboard", "--api", api, "--host", dashboard_host, "--port", str(dashboard_port)),
            {LOADSENSE_DASHBOARD_TOKEN: token},
        ),
        *extra,
    ]

    def started(
        procs: Sequence[tuple[Child, subprocess.Popen[bytes]]], stopping: Callable[[], bool]
    ) -> None:
        if _wait(f"{api}/readyz", procs, stopping) and _wait(
            f"{dashboard}/_stcore/health", procs, stopping
        ):
            out(banner(api, dashboard))
            sys.stdout.flush()

    return supervise(children, on_started=started)
