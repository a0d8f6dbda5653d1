"""OTLP/HTTP traces and metrics: wire formats to rows (docs/telemetry.md).

- :mod:`~collectors.otlp.receiver`: the receivers (the contract of ``collectors.contract``);
- :mod:`~collectors.otlp.traces`, :mod:`~collectors.otlp.metrics`: the row builders, with
  :mod:`~collectors.otlp.exphistogram` (exponential buckets as explicit ones) and
  :mod:`~collectors.otlp.resources` (the ``resources`` table and resource identity);
- :mod:`~collectors.otlp.semantic`: well-known metric names to host and queue samples;
- :mod:`~collectors.otlp.payload`, :mod:`~collectors.otlp.shadow`,
  :mod:`~collectors.otlp.anyvalue`, :mod:`~collectors.otlp.jsonpb`: bodies to messages,
  attributes to text;
- :mod:`~collectors.otlp.limits`, :mod:`~collectors.otlp.report`: what is rejected and how
  it is reported; :mod:`~collectors.otlp.http`: OTLP response and ``Status`` bodies.
"""
