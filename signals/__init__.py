"""Signals: what a delay means, as pure functions of stored data and an instant.

One module per family (``freshness``, ``exposure``, ``queues``, ``latency``, ``hosts``,
``lineage``) under the contract of ``contract``, run together by ``evaluate``; plus the
lineage ``graph``, workload ``activity`` for dispatch, and the shared SQL pieces
(``sql``, ``served``, ``histograms``). Formulas: docs/signals.md.
"""
