"""The harness bench/ and tests share (bench/harness.py), on real processes and ports."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from loadsense.bench.harness import (
    free_port,
    loadsense_command,
    stop_process,
    wait_for_quiet,
    wait_ready,
)


def test_a_process_that_exits_before_it_is_ready_is_reported_with_its_output() -> None:
    code = "import sys; print('no storage here'); sys.exit(3)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(RuntimeError, match="exited with 3 before it was ready:\nno storage here"):
        wait_ready(url, proc, timeout=30)
    with pytest.raises(TimeoutError, match=r"not ready within 0s"):
        wait_ready(url, None, timeout=0.3)


def test_stop_process_terminates_and_reports_whether_it_had_to_kill() -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    assert stop_process(sleeper, timeout=30) is True and sleeper.returncode == -15
    ignores = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print(1, flush=True); time.sleep(60)"
    )
    stubborn = subprocess.Popen([sys.executable, "-c", ignores], stdout=subprocess.PIPE)
    assert stubborn.stdout is not None and stubborn.stdout.readline()  # handler installed
    assert stop_process(stubborn, timeout=0.5) is False and stubborn.returncode == -9


def test_free_port_is_bindable_and_the_command_runs_this_interpreter() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", free_port()))
    assert loadsense_command("serve")[:3] == [sys.executable, "-m", "loadsense.api.cli"]


def test_wait_for_quiet_waits_for_the_load_to_fall_and_gives_up_at_the_timeout() -> None:
    readings = iter([3.0, 2.5, 1.2, 9.0])
    slept: list[float] = []
    said: list[str] = []
    got = wait_for_quiet(1.5, 60, said.append, lambda: (next(readings),), slept.append)
    assert got == 1.2 and slept == [5.0, 5.0]  # two waits: 3.0 and 2.5 are not below 1.5
    assert said == ["waiting for the load average (3.00) to fall below 1.5"]
    busy = wait_for_quiet(1.5, 10, None, lambda: (4.0,), slept.append)
    assert busy == 4.0 and slept == [5.0] * 4  # 10 s of 5 s waits, then it gives up
