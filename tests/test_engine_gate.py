"""The engine gate: one call at a time, inserts before queries, queries never starved."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from loadsense.storage.client import Storage
from loadsense.storage.engine_gate import MAX_PASSES, EngineGate, GatedClient


def _queue_up(gate: EngineGate, kinds: str) -> list[str]:
    """Hold the gate, queue one waiter per letter of ``kinds`` (w = insert, r = query) in
    that order, release, and return the kinds in the order they were admitted (inserts
    among themselves are in no particular order)."""
    admitted: list[str] = []
    lock = threading.Lock()
    holder = gate.write()
    holder.__enter__()
    threads = []
    for i, kind in enumerate(kinds):
        turn = gate.write if kind == "w" else gate.read
        thread = threading.Thread(target=_admit, args=(turn, f"{kind}{i}", admitted, lock))
        thread.start()
        threads.append(thread)
        _wait_until_queued(gate, i + 1)
    holder.__exit__(None, None, None)
    for thread in threads:
        thread.join(10)
    return [label[0] for label in admitted]


def _admit(
    turn: Callable[[], AbstractContextManager[None]],
    label: str,
    admitted: list[str],
    lock: threading.Lock,
) -> None:
    with turn(), lock:
        admitted.append(label)


def _wait_until_queued(gate: EngineGate, count: int) -> None:
    """Poll (with a deadline) until ``count`` callers wait at the gate."""
    deadline = time.monotonic() + 10
    while gate._writes_waiting + gate._reads_waiting < count:
        assert time.monotonic() < deadline, "a waiter did not reach the gate"
        time.sleep(0.002)


def test_waiting_inserts_go_before_a_waiting_query() -> None:
    assert _queue_up(EngineGate(), "rww") == ["w", "w", "r"]


def test_a_query_is_passed_over_at_most_max_passes_times() -> None:
    order = _queue_up(EngineGate(), "r" + "w" * (MAX_PASSES + 2))
    assert order == ["w"] * MAX_PASSES + ["r", "w", "w"]


def test_gated_client_is_the_real_client(storage: Storage) -> None:
    gated = storage.client
    assert isinstance(gated, GatedClient)
    assert gated.query("SELECT 40 + 2").result_rows == [(42,)]
    assert gated.server_version  # not gated: passed through unchanged
