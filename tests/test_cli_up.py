"""``loadsense up``: one command starts the service and the dashboard, one Ctrl-C stops
both, and a supervisor killed outright takes its children with it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.service import free_port, loadsense_command, poll_until

pytestmark = pytest.mark.slow  # starts loadsense up: a service and a Streamlit process


@dataclass
class Up:
    process: subprocess.Popen[str]
    api: str
    dashboard: str
    lines: list[str]
    children: dict[str, int]  # name -> pid, from the supervisor's log


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@contextmanager
def up(
    tmp_path: Path, *extra: str, children: tuple[str, ...] = ("serve", "dashboard")
) -> Iterator[Up]:
    api_port, dash_port = free_port(), free_port()
    proc = subprocess.Popen(
        loadsense_command(
            "up",
            "--data-dir",
            str(tmp_path / "data"),
            "--port",
            str(api_port),
            "--dashboard-port",
            str(dash_port),
            *extra,
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    handle = Up(proc, f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{dash_port}", [], {})
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # until the banner's last line
            handle.lines.append(line)
            started = re.search(r"started (\w+) \(pid (\d+)\)", line)
            if started:
                handle.children[started.group(1)] = int(started.group(2))
            if "Ctrl-C stops everything" in line:
                break
        assert set(handle.children) == set(children), "".join(handle.lines)
        yield handle
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=60)
        for pid in handle.children.values():  # never leave a child behind, even on failure
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_up_prints_where_to_go_and_one_ctrl_c_stops_both(tmp_path: Path) -> None:
    with up(tmp_path) as u:
        banner = "".join(u.lines)
        assert f"Dashboard:  {u.dashboard}" in banner
        assert f"API docs:   {u.api}/docs" in banner
        assert f"OTEL_EXPORTER_OTLP_ENDPOINT={u.api}" in banner
        assert "OTEL_RESOURCE_ATTRIBUTES=host.name=" in banner
        assert httpx.get(f"{u.api}/readyz").status_code == 200
        assert httpx.get(f"{u.dashboard}/_stcore/health").text == "ok"
        # `/` leads to the dashboard, the docs and health (the link up passed to serve).
        landing = httpx.get(u.api).text
        assert f'href="{u.dashboard}"' in landing and 'href="docs"' in landing
        u.process.send_signal(signal.SIGINT)  # what a terminal's Ctrl-C sends
        assert u.process.wait(timeout=60) == 0
        for pid in u.children.values():
            poll_until(lambda pid=pid: not _alive(pid), timeout=30)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{u.api}/healthz")


def test_a_killed_supervisor_leaves_no_orphans(tmp_path: Path) -> None:
    with up(tmp_path) as u:
        u.process.kill()  # SIGKILL: no chance to clean up; the kernel tells the children
        u.process.wait(timeout=30)
        for pid in u.children.values():
            poll_until(lambda pid=pid: not _alive(pid), timeout=60)


def test_demo_joins_as_a_third_child_and_stops_with_the_others(tmp_path: Path) -> None:
    with up(tmp_path, "--demo", children=("serve", "dashboard", "demo")) as u:
        assert _alive(u.children["demo"])
        u.process.send_signal(signal.SIGINT)
        assert u.process.wait(timeout=60) == 0
        for pid in u.children.values():
            poll_until(lambda pid=pid: not _alive(pid), timeout=30)
