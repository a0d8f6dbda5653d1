"""OTLP/HTTP traces and metrics: wire formats to rows (docs/telemetry.md).

- :mod:`~collectors.otlp.receiver`: the receivers (the contract of ``collectors.contract``);
- :mod:`~collectors.otlp.traces` / :mod:`~collectors.otlp.metrics`: the row builders;
- :mod:`~collectors.otlp.semantic`: well-known metric names to host and queue samples;
- :mod:`~collectors.otlp.shadow`, :mod:`~collectors.otlp.anyvalue`: fast attribute decoding;
- :mod:`~collectors.otlp.jsonpb`: OTLP/JSON; :mod:`~collectors.otlp.http`: response bodies.
"""
