"""Benchmarks of a real Loadsense on this machine, and the harness they share with the tests.

``python -m loadsense.bench.ingest`` (ingest throughput and acknowledgement latency),
``python -m loadsense.bench.correlate`` (tick cost on a generated world) and
``python -m loadsense.bench.recommendations`` (recommendation polls, primary and
replica). Each prints a Markdown table and writes its runs as JSON; how to read them is
in docs/performance.md. ``harness`` starts, waits for and stops services.
"""
