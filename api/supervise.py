"""Child processes for ``loadsense up``: start several, stop all of them together.

Each child runs in its own process group (so a terminal's Ctrl-C reaches only this
supervisor, which then stops every child in order) and asks the kernel for SIGTERM
when the supervisor dies (Linux ``prctl(PR_SET_PDEATHSIG)``), so a supervisor killed
with SIGKILL leaves no orphan serving a port. Stopping sends SIGTERM to each child's
group, waits up to ``grace_s``, then SIGKILLs what is left. When any child exits on its
own the others are stopped too and its exit code is returned: one command, one life.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Child:
    """A command to run: its name in messages, argv, and extra environment."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def start(child: Child) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 (our own argv: loadsense and streamlit)
        list(child.argv),
        env={**os.environ, **child.env},
        start_new_session=True,  # own process group: Ctrl-C goes to the supervisor only
        preexec_fn=_die_with_parent,  # the supervisor is single-threaded here
    )


def stop(procs: Sequence[tuple[Child, subprocess.Popen[bytes]]], grace_s: float) -> None:
    """SIGTERM every child's process group (in reverse start order), then SIGKILL after
    ``grace_s`` whatever still runs."""
    for child, proc in reversed(procs):
        if proc.poll() is None:
            logger.info("stopping %s (pid %d)", child.name, proc.pid)
            _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for child, proc in procs:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop within %.0f s: killing it", child.name, grace_s)
            _signal_group(proc, signal.SIGKILL)
            proc.wait()


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(proc.pid, sig)


def supervise(
    children: Sequence[Child],
    grace_s: float = 30.0,
    on_started: Callable[
        [Sequence[tuple[Child, subprocess.Popen[bytes]]], Callable[[], bool]], None
    ]
    | None = None,
    poll_s: float = 0.2,
) -> int:
    """Run ``children`` until SIGINT/SIGTERM or until one exits; stop all; exit code.

    ``on_started(procs, stopping)`` runs once every child is started (``loadsense up``
    waits for readiness there and prints the URLs; ``stopping()`` tells it a signal
    arrived meanwhile); an exception from it stops everything.
    """
    stopping: list[int] = []

    def request_stop(sig: int, frame: FrameType | None) -> None:
        stopping.append(sig)

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    procs: list[tuple[Child, subprocess.Popen[bytes]]] = []
    try:
        for child in children:
            proc = start(child)
            logger.info("started %s (pid %d): %s", child.name, proc.pid, " ".join(child.argv))
            procs.append((child, proc))
        if on_started is not None:
            on_started(procs, lambda: bool(stopping))
        while not stopping:
            for child, proc in procs:
                code = proc.poll()
                if code is not None:
                    logger.error("%s exited with %d: stopping the others", child.name, code)
                    return code or 1
            time.sleep(poll_s)
        logger.info("signal %d: stopping", stopping[0])
        return 0
    finally:
        stop(procs, grace_s)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
